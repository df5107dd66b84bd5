"""Ordinary document sets (Markdown docs in three languages, report PDFs) through the default generators.

Markup tokens: what a site generator or a PDF would leave in chunk or heading text if it were not parsed.
Counted outside code (``` fenced paragraphs and `inline code`, where `{% … %}`, `<div>` or `# comment`
are the code itself):
  {#id / { #id     heading anchors             {*  include directive     --8<--  snippet include
  ///  pymdownx block fence                    !!! admonition fence      <tag / </tag  HTML tag
  ]: http          link reference definition   {% / {{  template tag      --- + key:  YAML front matter
"""

import itertools
import re

import pytest
from prepared_corpora import prepared

from embedlab import io
from embedlab.data.markup import prose

MARKUP = {
    "anchor": re.compile(r"\{:?\s*#[\w-]"),
    "include": re.compile(r"\{\*|--8<--"),
    "block_fence": re.compile(r"(?m)^\s*///"),
    "admonition": re.compile(r"!!!\s*\w"),
    "html_tag": re.compile(r"</?[a-zA-Z][\w-]*(?:\s[^<>]*)?/?>"),
    "link_definition": re.compile(r"\]:\s*https?://"),
    "template_tag": re.compile(r"\{%|\{\{"),
    "front_matter": re.compile(r"(?m)^---\s*\n[\w-]+:"),
}


def markup_tokens(text: str) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", prose(text))  # inline code: `<FieldName>` is code, not a tag
    return [name for name, pattern in MARKUP.items() if pattern.search(text)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("## Path { #path-params }", ["anchor"]),
        ("{* ../docs_src/x.py hl[3] *}", ["include"]),
        ("/// tip | 提示", ["block_fence"]),
        ('!!! note "x"', ["admonition"]),
        ('see <abbr title="x">HTTP</abbr>', ["html_tag"]),
        ("[cite]: https://example.org", ["link_definition"]),
        ("{% url 'x' %}", ["template_tag"]),
        ("---\nsource: x.py\n---", ["front_matter"]),
        ("```html\n<div>{% x %}</div>\n```", []),
        ("a < b and c > d, `<abbr>` in code", []),
    ],
)
def test_markup_token_check_can_fail(text, found):
    assert markup_tokens(text) == found


@pytest.fixture(scope="module", params=["product_docs", "zh_docs", "de_docs", "report_pdf"])
def docs_run(request, corpora, tmp_path_factory):
    return request.param, prepared(request.param, corpora, tmp_path_factory)


def test_heading_queries_survive_the_split(docs_run):
    name, out = docs_run
    headings = io.read_json(out / "headings.json")
    train, val = io.read_json(out / "train.json"), io.read_json(out / "val.json")
    assert train["queries"] and val["queries"]
    kept = [q for q in (*train["queries"], *val["queries"]) if q.startswith("headings.")]
    assert headings["stats"]["headings"] > 20
    assert len(kept) * 3 >= headings["stats"]["headings"], (name, len(kept), headings["stats"])


def test_no_markup_left_in_chunk_or_heading_text(docs_run):
    _, out = docs_run
    chunks = io.read_json(out / "chunks.json")["chunks"]
    left = {
        c["id"]: markup_tokens(text)
        for c in chunks
        for text in (c["text"], *(h["label"] + " " + (h["title"] or "") for h in c["headings"]))
        if markup_tokens(text)
    }
    assert not left, list(left.items())[:5]
    queries = io.read_json(out / "dataset.json")["queries"]
    assert not [q for q in queries.values() if markup_tokens(q)]


def test_no_overlap_straddles_the_split(docs_run):
    """Consecutive chunks of one file and heading that share overlap text (the head of the next is in
    the previous) are on one side; the split's groups hold whole headings (no heading query straddles)."""
    _, out = docs_run
    chunks = io.read_json(out / "chunks.json")["chunks"]
    split = io.read_json(out / "split.json")
    side = split["side"]
    shared = [
        (a, b)
        for a, b in itertools.pairwise(chunks)
        if (a["source"], a["heading_path"]) == (b["source"], b["heading_path"])
        and len(b["text"]) > 40
        and b["text"][:40] in a["text"]
    ]
    assert shared  # the check below has cases to look at
    assert not [(a["id"], b["id"]) for a, b in shared if side[a["id"]] != side[b["id"]]]
    assert split["queries"]["dropped_straddling"] == 0
    assert len({c["group"] for c in chunks}) > 30
