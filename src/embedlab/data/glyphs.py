"""Symbol-font glyphs as text, and no private-use characters anywhere in chunk text or headings.

Office keeps a character typed in a symbol font (a Wingdings bullet, a Symbol arrow, Word's "-->"
autocorrect) as a private-use code point, U+F000 plus the font's byte (U+F0E0 is Wingdings' right arrow):
without its font it means nothing, and in a chunk it is a "word" no query has. The run's font says what it
draws: the Symbol font's bytes are Adobe's Symbol encoding (the Unicode Consortium's table, as pypdf ships
it), Wingdings' common bullets and arrows are mapped below. Any other private-use character (another
symbol font, an icon font) is dropped.
"""

from __future__ import annotations

import re
from functools import cache

SYMBOL_BASE = 0xF000  # a symbol font's byte b is stored as U+F000 + b

# Wingdings bytes that Office documents use as bullets, arrows and check marks, as the characters they draw.
_WINGDINGS = {
    0x6C: "\u25cf",  # ● black circle
    0x6E: "\u25a0",  # ■ black square
    0x6F: "\u25a1",  # □ white square
    0x71: "\u2751",  # ❑ shadowed white square
    0x75: "\u25c6",  # ◆ black diamond
    0x76: "\u2756",  # ❖ black diamond minus white X
    0xA7: "\u25aa",  # ▪ small black square
    0xD8: "\u27a2",  # ➢ arrowhead
    0xDF: "\u2190",  # ← leftwards arrow
    0xE0: "\u2192",  # → rightwards arrow (Word's "-->" autocorrect)
    0xE1: "\u2191",  # ↑ upwards arrow
    0xE2: "\u2193",  # ↓ downwards arrow
    0xE8: "\u2794",  # ➔ heavy rightwards arrow
    0xF0: "\u21e8",  # ⇨ white rightwards arrow
    0xFB: "\u2717",  # ✗ ballot x
    0xFC: "\u2713",  # ✓ check mark
    0xFD: "\u2612",  # ☒ ballot box with x
    0xFE: "\u2611",  # ☑ ballot box with check
}
_PRIVATE_USE = re.compile("[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]")


def has_private_use(text: str) -> bool:
    return _PRIVATE_USE.search(text) is not None


def drop_private_use(text: str) -> str:
    """`text` without private-use characters (meaningless without the font that drew them)."""
    return _PRIVATE_USE.sub("", text) if has_private_use(text) else text


def symbol_char(char: str, font: str | None) -> str:
    """What a private-use character set in `font` draws ("" when the font does not say)."""
    code = ord(char) - SYMBOL_BASE
    if not 0x20 <= code <= 0xFF or not font:
        return ""
    name = font.strip().casefold()
    if name == "wingdings":
        return _WINGDINGS.get(code, "")
    if name == "symbol":
        drawn = _symbol_encoding()[code]
        return "" if drawn == chr(code) and code >= 0x7F else drawn  # the table leaves a gap as its byte
    return ""


@cache
def _symbol_encoding() -> list[str]:
    from pypdf._codecs import charset_encoding  # only where a document has symbol-font text

    return charset_encoding["/Symbol"]


def symbol_text(text: str, fonts: dict[str, str]) -> str:
    """`text` with each private-use character replaced by what its font (`fonts`: character -> the font of
    the run that holds it) draws, or dropped."""
    if not has_private_use(text):
        return text
    return _PRIVATE_USE.sub(lambda m: symbol_char(m.group(0), fonts.get(m.group(0))), text)
