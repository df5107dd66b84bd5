import re

import pytest
from pypdf import PdfWriter

from embedlab.data import corpus as corpus_mod
from embedlab.data.corpus import download, load_path
from embedlab.errors import EmbedlabError


def _labels(blocks, pattern):
    return {h.label for b in blocks for h in b.headings if re.fullmatch(pattern, h.label)}


def test_eurlex_html_structure(corpora):
    blocks = load_path(corpora / "eu_ai_act" / "EN.html")
    assert _labels(blocks, r"Article \d+") == {f"Article {n}" for n in range(1, 114)}
    assert len(_labels(blocks, r"Recital \(\d+\)")) == 180
    assert len(_labels(blocks, r"ANNEX [IVXLC]+")) == 13
    art5 = [b for b in blocks if b.headings and b.headings[-1].label == "Article 5"]
    assert [h.display() for h in art5[0].headings] == [
        "CHAPTER II — PROHIBITED AI PRACTICES",
        "Article 5 — Prohibited AI practices",
    ]
    assert "subliminal techniques" in art5[0].text
    assert not any("oj-" in b.text for b in blocks)


def test_markdown_structure_en_fr(corpora):
    for lang in ("EN", "FR"):
        blocks = load_path(corpora / "eu_ai_act" / f"{lang}.md")
        arts = _labels(blocks, r"Article (\d+|premier)")
        assert len(arts) == 113, lang
        assert len(_labels(blocks, r"Recital \(\d+\)")) == 180, lang
        if lang == "EN":
            art3 = next(b for b in blocks if b.headings and b.headings[-1].label == "Article 3")
            assert "(1) ‘AI system’" in art3.text  # definitions are not mistaken for recitals


@pytest.mark.parametrize("name", ["securities_law_2019.md", "securities_law_2019.pdf"])
def test_securities_law_articles_and_chapters(corpora, name):
    blocks = load_path(corpora / "securities_law" / name)
    articles = [b.headings[-1].label for b in blocks if b.headings and b.headings[-1].label.endswith("条")]
    assert len(articles) == 226 and len(set(articles)) == 226
    assert articles[0] == "第一条" and articles[-1] == "第二百二十六条"
    b40 = next(b for b in blocks if b.headings and b.headings[-1].label == "第四十条")
    assert [h.display() for h in b40.headings] == ["第三章 证券交易", "第一节 一般规定", "第四十条"]
    if name.endswith(".pdf"):
        assert b40.page_at(0) == 6
        # wrapped lines are re-joined without spaces between CJK characters
        assert "不得直接或者以化名、借他人名义持有、买卖股票" in b40.text


def test_folder_source_skips_unknown_formats_and_counts(tmp_path, caplog):
    (tmp_path / "a.md").write_text("# T\n\n## CHAPTER I — X\n\nSome text here.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("Article 1 — Scope\n\nMore text.\n", encoding="utf-8")
    (tmp_path / "c.xlsx").write_bytes(b"PK\x03\x04")
    blocks = load_path(tmp_path, corpus="mine")
    assert {b.source for b in blocks} == {"a.md", "sub/b.txt"}
    assert "skipped 1 unsupported file" in caplog.text


def _pdf_with_text_pages(corpora, path, encrypt=None):
    writer = PdfWriter()
    writer.append(str(corpora / "securities_law" / "securities_law_2019.pdf"), pages=(0, 1))
    if encrypt:
        writer.encrypt(encrypt)
    writer.write(path)


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.pdf", b"", "not a readable PDF"),
        ("corrupt.pdf", b"%PDF-1.4\ngarbage\n" * 20, "not a readable PDF"),
        ("notext.html", b"<html><body><div><img src='x.png'></div></body></html>", "no extractable text"),
        ("notes.xlsx", b"PK\x03\x04", "unknown format '.xlsx'"),
        ("latin1.txt", "Article 1 - Scope\n\nCaf\u00e9 cr\u00e8me".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_files_fail_with_one_clear_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EmbedlabError) as err:
        load_path(path, corpus="law/zh")
    text = str(err.value)
    assert message in text and "law/zh" in text and name in text and "\n" not in text


def test_encrypted_and_blank_pdfs(tmp_path, corpora):
    enc = tmp_path / "enc.pdf"
    _pdf_with_text_pages(corpora, enc, encrypt="secret")
    with pytest.raises(EmbedlabError, match="encrypted with a password"):
        load_path(enc, corpus="c")
    blank = tmp_path / "blank.pdf"
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.write(blank)
    with pytest.raises(EmbedlabError, match="no extractable text"):
        load_path(blank, corpus="c")


def test_missing_source(tmp_path):
    with pytest.raises(EmbedlabError, match="does not exist"):
        load_path(tmp_path / "nope.pdf", corpus="c")


def test_download_unreachable_url_names_url_and_destination(tmp_path):
    dest = tmp_path / "eu" / "EN.html"
    url = "http://127.0.0.1:9/never"  # discard port: connection refused at once
    with pytest.raises(EmbedlabError) as err:
        download(url, dest, timeout=2)
    assert url in str(err.value) and str(dest) in str(err.value)
    assert not dest.exists() and not list(tmp_path.rglob("*.html*"))


def test_download_writes_atomically(tmp_path, monkeypatch):
    import http.server
    import threading

    body = b"<html><body><h1>T</h1><p>Hello world.</p></body></html>"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dest = tmp_path / "doc.html"
        corpus_mod.download(f"http://127.0.0.1:{server.server_port}/doc", dest)
        assert dest.read_bytes() == body
    finally:
        server.shutdown()
