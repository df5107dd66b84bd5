from embedlab.data.markdown import load_markdown
from embedlab.data.markup import Item, code_spans, html_items, markdown_items, prose

DOC = """---
source:
    - views.py
---

# Path parameters { #path-parameters }

Intro with a [link][cite], a <abbr title="Hypertext">HTTP</abbr> tag and {% url 'x' %} a template tag.

{* ../../docs_src/path_params/tutorial001.py hl[6:7] *}
--8<-- "snippets/note.md"

/// tip | 提示

类型声明将为函数
提供支持。

///

!!! note
    Admonition text stays.

        # not a heading: indented code inside the box

```python
# a comment, not a heading
x = "{{ kept }}"
```

## Example {#example}

<div class="x">
<style>.a { color: red }</style>
<p>Block <b>HTML</b> text.</p>
</div>

[cite]: https://example.org/cite
"""


def test_markdown_markup_is_removed_and_code_kept():
    items = markdown_items(DOC)
    headings = [(i.level, i.text) for i in items if i.kind == "heading"]
    assert headings == [(1, "Path parameters"), (2, "Example")]
    texts = [i.text for i in items if i.kind == "text"]
    assert texts == [
        "Intro with a link, a HTTP tag and a template tag.",
        "类型声明将为函数提供支持。",
        "Admonition text stays.",
        "Block HTML text.",
    ]
    code = [i.text for i in items if i.kind == "code"]
    assert code[0].startswith("```text\n# not a heading")
    assert code[1] == '```python\n# a comment, not a heading\nx = "{{ kept }}"\n```'


def test_title_is_the_top_of_plain_paths_but_not_of_numbered_ones(tmp_path):
    plain = tmp_path / "a.md"
    plain.write_text(DOC, encoding="utf-8")
    paths = [[h.display() for h in b.headings] for b in load_markdown(plain, "a.md")]
    assert paths == [["Path parameters"], ["Path parameters", "Example"]]
    numbered = tmp_path / "b.md"
    numbered.write_text("# The Act\n\n## CHAPTER I — Scope\n\nText.\n", encoding="utf-8")
    assert [h.display() for h in load_markdown(numbered, "b.md")[0].headings] == ["CHAPTER I — Scope"]


def test_code_spans_cover_partial_blocks():
    assert prose("a\n```py\nx\n```\nb") == "a\n\nb"
    assert code_spans("x = 1\n```\nafter") == [(0, 9)]  # began inside code
    assert prose("before\n```sh\n$ run") == "before\n"  # ends inside code


def test_html_fragment_headings_paragraphs_and_pre():
    items = html_items(
        "<h2>Title</h2><p>One <i>two</i></p><script>x()</script><pre>code()</pre><td>cell</td>"
    )
    assert items == [
        Item("heading", "Title", 2),
        Item("text", "One two"),
        Item("code", "```text\ncode()\n```"),
        Item("text", "cell"),
    ]


CONTAINERS = """# 配置

::: tip
VitePress 的提示框内容保留。
:::

::: details 点击查看完整配置
展开后的配置说明。
:::

::: warning 注意
第一处警告。
:::

::: warning 注意
第二处警告。
:::

## Docusaurus

::::info[Nested boxes]
Outer box text.

:::danger[Do **not** run this]
Inner box text.
:::
::::

:::note
```yaml
key: value # ::: inside code stays
```
:::

::: custom-block {.wide}
A markdown-it-container with attributes.

:::tip
The file ends inside this box.
"""


def test_containers_keep_content_and_titles_never_fences(tmp_path):
    path = tmp_path / "config.md"
    path.write_text(CONTAINERS, encoding="utf-8")
    blocks = load_markdown(path, "config.md")
    paragraphs = [p for b in blocks for p in b.paragraphs]
    assert paragraphs == [
        "VitePress 的提示框内容保留。",
        "点击查看完整配置",  # a details title says what the box holds
        "展开后的配置说明。",
        "第一处警告。",  # "注意" labels two boxes: a label, not text
        "第二处警告。",
        "Nested boxes",
        "Outer box text.",
        "Do not run this",
        "Inner box text.",
        "```yaml\nkey: value # ::: inside code stays\n```",
        "A markdown-it-container with attributes.",
        "The file ends inside this box.",
    ]
    assert [[h.display() for h in b.headings] for b in blocks][-1] == ["配置", "Docusaurus"]
    assert not [p for p in paragraphs if ":::" in prose(p)]
