"""Markup out, text in: Markdown (markdown-it-py token stream) and HTML fragments as headings, prose and code.

Users bring docs written for a site generator (MkDocs, Docusaurus, VitePress, Sphinx-Markdown): front matter,
heading anchors `{ #id }`, link definitions, HTML, admonition boxes and `:::` containers, include directives
and template tags are instructions to that tool, not text a reader searches for. Left in, they become
"words" of chunks and heading queries. The parser (not line regexes) decides what is code, so a `# comment`
in a code block is never a heading and template tags inside code stay.

Code is kept as a paragraph fenced with ``` (opening fence always with an info word), so later stages can
tell code from prose even in a chunk that holds only part of a code block (`code_spans`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from embedlab.data.outline import Heading, OutlineBuilder, TextStructure, split_title
from embedlab.text import is_cjk

FENCE = "```"
_HEADING_ATTRS = re.compile(r"\s*\{:?\s*[#.][^{}]*\}\s*$")  # {#id}, { #id .cls }, {: #id }
_TEMPLATE_TAGS = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.S)  # Jinja/Django/Liquid, outside code
# Lines that are instructions to the site generator: pymdownx blocks `/// tip | Title` … `///`,
# includes `{* path hl[1:2] *}` and snippets `--8<-- "file"`.
_DIRECTIVE_LINE = re.compile(r"^(?:/{3}.*|\{\*.*\*\}|-{2}8<-{2}.*)$")
_CODE_FENCE_LINE = re.compile(r"^```(\S*)[ \t]*$", re.M)
# A `:::` container's opening line after its colons: the box's type, then a title in brackets (Docusaurus
# `:::note[Title]`) or after a space (VitePress `::: details Title`), then optional `{attributes}`.
_CONTAINER_PARAMS = re.compile(
    r"^\s*(?P<kind>[\w-]*)\s*(?:\[(?P<bracket>[^\]]*)\])?(?P<rest>.*?)\s*(?:\{[^{}]*\})?\s*$"
)


def heading_of(text: str) -> Heading:
    """A heading line as a Heading: split_title finds "label — title" and "第N章 title"; a line it leaves
    untitled is a plain title, unless it is an untitled numbered provision (第…条)."""
    heading = split_title(strip_heading_attrs(text))
    if heading.title or re.fullmatch(r"第\S+条", heading.label):
        return heading
    return Heading(label="", title=heading.label)  # only a title: no number or label before it


def strip_heading_attrs(text: str) -> str:
    return _HEADING_ATTRS.sub("", text).strip()


def strip_template_tags(text: str) -> str:
    return _TEMPLATE_TAGS.sub("", text)


def code_paragraph(code: str, info: str = "") -> str:
    """Code as a fenced paragraph; the opening fence always has an info word, the closing one never."""
    lang = (info.split() or ["text"])[0]
    return f"{FENCE}{lang}\n{code.strip(chr(10))}\n{FENCE}"


def is_code(paragraph: str) -> bool:
    return paragraph.startswith(FENCE)


def code_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` that are code. A chunk may hold part of a code block: a closing fence
    with no opening one before it means the chunk starts inside code, an opening one with no closing one
    means it ends inside code."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for m in _CODE_FENCE_LINE.finditer(text):
        opening = bool(m.group(1))
        if start is None:
            if opening:
                start = m.start()
            else:  # a bare fence first: the chunk began inside a code block
                spans.append((0, m.end()))
        elif not opening:
            spans.append((start, m.end()))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def split_code(paragraph: str, count: Any, limit: int) -> list[str]:
    """A fenced code paragraph longer than `limit` tokens as several fenced pieces (whole lines), so every
    chunk cut from it still holds a fence and can be told from prose."""
    lines = paragraph.split("\n")
    opening, body = lines[0], lines[1:-1]
    pieces: list[list[str]] = [[]]
    size = 0
    for line in body:
        tokens = len(count(line)) + 1
        if pieces[-1] and size + tokens > limit:
            pieces.append([])
            size = 0
        pieces[-1].append(line)
        size += tokens
    return ["\n".join([opening, *piece, FENCE]) for piece in pieces]


def prose(text: str) -> str:
    """`text` without its code blocks (what a reader, a query generator or a markup check looks at)."""
    out, cursor = [], 0
    for start, end in code_spans(text):
        out.append(text[cursor:start])
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


# --- Markdown ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One unit of a document: a heading (level 1-6), a prose paragraph, or a code block."""

    kind: str  # "heading" | "text" | "code"
    text: str
    level: int = 0


def _directive_rule(state: Any, start: int, end: int, silent: bool) -> bool:
    if state.sCount[start] - state.blkIndent >= 4:
        return False  # indented: code
    line = state.src[state.bMarks[start] + state.tShift[start] : state.eMarks[start]].rstrip()
    if not _DIRECTIVE_LINE.match(line):
        return False
    if not silent:
        token = state.push("directive", "", 0)
        token.content = line
        token.map = [start, start + 1]
    state.line = start + 1
    return True


def container_title(params: str) -> str:
    """The title a `:::` container's opening line gives after its type, or "" (`::: tip` has none)."""
    m = _CONTAINER_PARAMS.match(params)
    assert m is not None  # every part of the pattern is optional
    title = (m.group("bracket") or m.group("rest") or "").strip()
    return "" if title.casefold() == m.group("kind").casefold() else title


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.admon import admon_plugin
    from mdit_py_plugins.container import container_plugin
    from mdit_py_plugins.front_matter import front_matter_plugin

    md = MarkdownIt("commonmark").enable("table").use(front_matter_plugin).use(admon_plugin)
    # VitePress, Docusaurus and markdown-it-container boxes, whatever their type (tip, details, note, …);
    # a container left unclosed ends with the document.
    md.use(container_plugin, "box", validate=lambda params, markup: True)
    md.block.ruler.before(
        "paragraph", "directive", _directive_rule, {"alt": ["paragraph", "reference", "blockquote", "list"]}
    )
    return md


def markdown_items(text: str) -> list[Item]:
    """Markdown source as headings, prose paragraphs (inline markup and tags removed) and code blocks. A
    `:::` container keeps its content and its title as a paragraph, unless the title only repeats the box's
    type or labels several boxes of the document ("Tip", "提示": a label, not text)."""
    md = _markdown()
    tokens = md.parse(text)
    titles = Counter(container_title(t.info) for t in tokens if t.type == "container_box_open")
    items: list[Item] = []
    row: list[str] = []
    heading_level = 0
    in_title = in_cell = False
    open_html = 0  # block elements an html_block opened and has not closed yet
    for token in tokens:
        kind = token.type
        if kind == "code_block" and open_html > 0:
            kind = "html_block"  # indented lines inside an open <div>: HTML, not code (as MkDocs reads it)
        if kind == "html_block":
            open_html = max(0, open_html + _html_balance(token.content))
            items.extend(html_items(token.content))
        elif kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind == "heading_close":
            heading_level = 0
        elif kind == "container_box_open":
            title = container_title(token.info)
            if title and titles[title] == 1:
                items.append(Item("text", render_inline(md.parseInline(title)[0].children or [])))
        elif kind == "admonition_title_open":
            in_title = True  # "Note", "Warning": the box's label, not its text
        elif kind == "admonition_title_close":
            in_title = False
        elif kind in ("fence", "code_block"):
            if token.content.strip():
                items.append(Item("code", code_paragraph(token.content, token.info)))
        elif kind in ("th_open", "td_open", "th_close", "td_close"):
            in_cell = kind.endswith("open")
        elif kind == "tr_close":
            if any(row):
                items.append(Item("text", " | ".join(row)))
            row = []
        elif kind == "inline" and not in_title:
            inline = render_inline(token.children or [], code_marks=not heading_level)
            if in_cell:
                row.append(inline)
            elif heading_level:
                title = strip_heading_attrs(inline.rstrip("`"))
                if title:
                    items.append(Item("heading", title, heading_level))
            elif inline:
                items.append(Item("text", inline))
    return items


def _html_balance(html: str) -> int:
    """Opened minus closed block elements in an HTML snippet."""
    balance = 0
    for closing, name in re.findall(r"<(/?)([A-Za-z][\w-]*)", html):
        if name.lower() in _BLOCK_TAGS:
            balance += -1 if closing else 1
    return balance


def render_inline(children: list[Any], code_marks: bool = True) -> str:
    """Inline tokens as plain text: emphasis, links, HTML tags and template tags go, their text stays;
    images go (alt texts of logos and badges repeat the title); inline code keeps its `backticks` (not in
    headings: a query has none) and its text, template tags included; line breaks
    join without a space between two CJK characters."""
    pieces: list[tuple[str, bool]] = []  # (text, is code)
    for child in children:
        if child.type in ("text", "text_special"):
            pieces.append((child.content, False))
        elif child.type == "code_inline":
            pieces.append((f"`{child.content}`" if code_marks else child.content, True))
        elif child.type in ("softbreak", "hardbreak"):
            pieces.append(("\n", False))
        elif child.type == "html_inline" and re.match(r"<br\b", child.content, re.I):
            pieces.append((" ", False))
    out: list[str] = []
    run: list[str] = []
    for text, code in pieces:
        if code:
            out.append(strip_template_tags("".join(run)))
            run = []
            out.append(text)
        else:
            run.append(text)
    out.append(strip_template_tags("".join(run)))
    return join_lines("".join(out))


def join_lines(text: str) -> str:
    """Collapse whitespace; a line break between two CJK characters joins them without a space."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    joined = ""
    for line in lines:
        if not line:
            continue
        if joined and not (is_cjk(joined[-1]) and is_cjk(line[0])):
            joined += " "
        joined += line
    return joined


# --- HTML --------------------------------------------------------------------------------------------------

_DROP_TAGS = ("script", "style", "noscript", "template", "head", "nav", "iframe", "svg")
_BLOCK_TAGS = frozenset(
    ("address", "article", "aside", "blockquote", "body", "dd", "details", "div", "dl", "dt", "figcaption",
     "figure", "footer", "form", "header", "li", "main", "ol", "p", "section", "summary", "table", "tbody",
     "thead", "tfoot", "tr", "td", "th", "ul")
)  # fmt: skip


def html_items(html: str) -> list[Item]:
    """An HTML fragment (a Markdown html_block, or a whole page's body) as headings, paragraphs and code."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    return list(node_items(soup))


def node_items(node: Any) -> Iterator[Item]:
    """Walk an HTML tree in document order: h1-h6 are headings, <pre> is code, block elements end a
    paragraph, inline elements keep their text; scripts, styles and navigation are dropped."""
    buffer: list[str] = []

    def flush() -> Iterator[Item]:
        text = join_lines(strip_template_tags(" ".join(buffer).replace("\xa0", " ")))
        buffer.clear()
        if text:
            yield Item("text", text)

    def walk(el: Any) -> Iterator[Item]:
        for child in el.children:
            name = getattr(child, "name", None)
            if name is None:
                if type(child).__name__ in ("NavigableString", "CData"):
                    buffer.append(str(child).replace("\n", " "))
                continue
            if name in _DROP_TAGS:
                continue
            if re.fullmatch(r"h[1-6]", name):
                yield from flush()
                title = join_lines(child.get_text(" "))
                if title:
                    yield Item("heading", title, int(name[1]))
            elif name == "pre":
                yield from flush()
                if child.get_text().strip():
                    yield Item("code", code_paragraph(child.get_text()))
            elif name == "br":
                buffer.append(" ")
            elif name in _BLOCK_TAGS:
                yield from flush()
                yield from walk(child)
                yield from flush()
            else:
                yield from walk(child)

    yield from walk(node)
    yield from flush()


# --- outline -----------------------------------------------------------------------------------------------


def feed_outline(items: list[Item], builder: OutlineBuilder) -> None:
    """Headings open path levels, prose goes through TextStructure (articles, recitals inside paragraphs),
    code is a paragraph of its own.

    A document's single H1 is its title. In a document of plain titles it is the top of every path, so a
    section "Example" reads "Serializers › Example" and files of a folder never share a path. In a numbered
    document (Article 5 — …, 第三章 …) it is left out, so paths match the same text read from HTML or PDF.
    """
    structure = TextStructure(builder, [item.text for item in items if item.kind == "text"])
    headings = [(item, heading_of(item.text)) for item in items if item.kind == "heading"]
    numbered = any(h.label for _, h in headings)
    skip_title = numbered and sum(item.level == 1 for item, _ in headings) == 1
    heading_at = {id(item): heading for item, heading in headings}
    for item in items:
        if item.kind == "heading":
            if skip_title and item.level == 1:
                continue
            heading = heading_at[id(item)]
            builder.heading(item.level, heading)
            structure.in_preamble = False
            if re.fullmatch(r"第\S+条", heading.label):
                structure.last_zh_article += 1
        elif item.kind == "code" or not structure.feed(item.text):
            builder.paragraph(item.text)
