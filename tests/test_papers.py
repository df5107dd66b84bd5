"""Research papers as PDFs: two columns, no bookmarks, numbered sections, captions and a reference list.

The paper is built here with reportlab's canvas the way LaTeX lays one out: a title block across the page,
then column by column (the content stream holds the left column, then the right one), section titles in a
bold face, captions in an italic one, the references at the end.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from embedlab.data.pdf import load_pdf

pytest.importorskip("reportlab")

WORDS = ["cluster", "detector", "gossip", "membership", "failure", "node", "latency", "bandwidth", "replica"]
WORDS += ["leader", "quorum", "timeout", "probe", "heartbeat", "suspicion", "view", "protocol", "round"]


def _sentences(rng: random.Random, n: int) -> str:
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(9, 16))).capitalize() + "." for _ in range(n)
    )


def make_paper(path: Path, roman: bool = False) -> Path:
    """A two-column paper; `roman`: IEEE-style "II. BACKGROUND" sections with "A." subsections."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    rng = random.Random(7)
    width, height = letter
    margin, gutter, lead = 54, 18, 11
    column = (width - 2 * margin - gutter) / 2
    sec = (
        (lambda n, t: f"{('I', 'II', 'III', 'IV', 'V')[n - 1]}. {t.upper()}")
        if roman
        else (lambda n, t: f"{n} {t}")
    )
    sub = (lambda n, k, t: f"{'AB'[k - 1]}. {t}") if roman else (lambda n, k, t: f"{n}.{k} {t}")
    flow = [("h", sec(1, "Introduction")), ("p", _sentences(rng, 9))]
    flow += [
        ("c", "Figure 1: The time to detect a failure grows with the size of the cluster, for every probe"),
        ("p", _sentences(rng, 5)),
    ]
    flow += [("h", sec(2, "Background")), ("p", _sentences(rng, 6)), ("h", sub(2, 1, "Gossip Protocols"))]
    flow += [
        ("p", _sentences(rng, 7)),
        ("c", "Table 1: Parameters of the testbed"),
        ("h", sub(2, 2, "Failure Detectors")),
    ]
    flow += [
        ("p", _sentences(rng, 8)),
        ("c", "Figure 2: Suspicion timeouts under load."),
        ("h", sec(3, "Design")),
    ]
    flow += [
        ("p", _sentences(rng, 12)),
        ("c", "Figure 3: The probe rounds of one node."),
        ("h", sec(4, "Evaluation")),
    ]
    flow += [
        ("p", _sentences(rng, 9)),
        ("c", "Table 2: Detection latency in milliseconds"),
        ("p", _sentences(rng, 6)),
    ]
    flow += [
        ("h", sec(5, "Conclusion")),
        ("p", _sentences(rng, 5)),
        ("h", "REFERENCES" if roman else "References"),
    ]
    flow += [
        (
            "r",
            f"[{i}] A. Author{i} and B. Writer. A study of gossip number {i}. In Proceedings of the "
            f"Symposium on Systems, pages {i}0-{i}9, 20{10 + i}.",
        )
        for i in range(1, 9)
    ]
    pdf = canvas.Canvas(str(path), pagesize=letter)
    pdf.setFont("Helvetica-Bold", 17)
    pdf.drawCentredString(width / 2, height - 72, "Fast Failure Detection in Large Clusters")
    pdf.setFont("Helvetica", 10)
    pdf.drawCentredString(width / 2, height - 92, "Ada Lovelace and Charles Babbage, Analytical Engines Ltd.")
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawCentredString(width / 2, height - 116, "ABSTRACT" if roman else "Abstract")
    y = height - 130
    for line in _wrap(_sentences(rng, 4), "Helvetica", 9, width - 2 * margin - 60, stringWidth):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(margin + 30, y, line)
        y -= lead
    top = y - 16  # page 1's columns start here: "1 Introduction" level with the right column's first line
    col = 0
    for kind, text in flow:
        font, size = {"h": ("Helvetica-Bold", 11), "c": ("Helvetica-Oblique", 8), "r": ("Helvetica", 8)}.get(
            kind, ("Helvetica", 9)
        )
        if kind == "h" and y != top:
            y -= 6  # space above a heading, but none at a column's top: level with the other column's line
        for line in _wrap(text, font, size, column, stringWidth):
            if y < 60:
                col, y = (col + 1) % 2, top
                if col == 0:
                    pdf.showPage()
                    top = y = height - 60
            pdf.setFont(font, size)
            pdf.drawString(margin + col * (column + gutter), y, line)
            y -= lead
        y -= 4
    pdf.save()
    return path


def _wrap(text: str, font: str, size: float, width: float, measure) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and measure(f"{line} {word}", font, size) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line]


@pytest.mark.parametrize("roman", [False, True], ids=["arabic", "ieee"])
def test_two_column_paper_gets_its_sections_not_its_captions(tmp_path, roman):
    blocks = load_pdf(make_paper(tmp_path / "paper.pdf", roman), "paper.pdf")
    paths = [tuple(h.display() for h in b.headings) for b in blocks]
    sections = ["I — INTRODUCTION", "II — BACKGROUND", "III — DESIGN", "IV — EVALUATION", "V — CONCLUSION"]
    subs = ["A — Gossip Protocols", "B — Failure Detectors"]
    if not roman:
        sections = ["1 — Introduction", "2 — Background", "3 — Design", "4 — Evaluation", "5 — Conclusion"]
        subs = ["2.1 — Gossip Protocols", "2.2 — Failure Detectors"]
    assert (
        paths
        == [
            ("Fast Failure Detection in Large Clusters",),  # the title heads the front matter (authors)
            ("ABSTRACT" if roman else "Abstract",),
            (sections[0],),
            (sections[1],),
            (sections[1], subs[0]),
            (sections[1], subs[1]),
            *((s,) for s in sections[2:]),
        ]
    )
    text = {path: b.text for path, b in zip(paths, blocks, strict=True)}
    assert text[paths[0]] == "Ada Lovelace and Charles Babbage, Analytical Engines Ltd."
    # captions are paragraphs of the section they sit in, whole (a wrapped caption too), never headings
    assert (
        "\n\nFigure 1: The time to detect a failure grows with the size of the cluster, for every probe\n\n"
        in text[paths[2]]
    )
    assert "\n\nTable 2: Detection latency in milliseconds\n\n" in text[paths[-2]]
    # the reference list is left out: no citation reaches a chunk, and "References" heads nothing
    everything = "\n".join(text.values())
    assert "Proceedings of the Symposium" not in everything and not re.search(r"\[\d\]", everything)
    # two columns: the right column's first line, level with "1 Introduction", is not glued to the heading
    # (the paths above are exact), it continues the paragraph the left column's last line leaves open
    assert (
        re.search(r"[a-z] [a-z]", text[paths[2]].split("\n\n")[0][300:]) and text[paths[2]].count("\n\n") == 3
    )
