"""Language facts in one place: CJK characters by Unicode block, everything else from langcodes.

A corpus language is a config key (ISO 639-1 or 639-3). Names for prompts, ISO 639-3 + script for MTEB and
"is this written without spaces" all derive from that code through langcodes + language_data, so a new
language needs no table here; only the character test is ours, because it is a property of Unicode
blocks, not of languages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from embedlab.errors import EmbedlabError

# Unicode blocks of the CJK scripts: Han ideographs (with extensions and compatibility forms), Hiragana,
# Katakana, Bopomofo, Hangul (syllables and jamo), CJK symbols and punctuation, enclosed/compatibility
# forms, and the halfwidth/fullwidth forms block.
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation (、。「」 and the ideographic space)
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility jamo, Kanbun, CJK strokes, Katakana extensions
    (0x3200, 0x4DBF),  # enclosed CJK, CJK compatibility, Han extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended-A
    (0xAC00, 0xD7FF),  # Hangul syllables, Jamo extended-B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # halfwidth and fullwidth forms
    (0x20000, 0x3FFFF),  # Han extensions B and later (supplementary ideographic planes)
)
CJK_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in CJK_RANGES)
CJK_CHAR = re.compile(f"[{CJK_CLASS}]")

# A word: one CJK letter (ideograph, kana, Hangul syllable), or a run of other letters/digits starting with a
# letter; punctuation counts nothing. The same length measure means the same in every language.
_NOT_CJK = f"(?![{CJK_CLASS}])"
_WORD = re.compile(f"(?=[{CJK_CLASS}])[^\\W\\d_]|{_NOT_CJK}[^\\W\\d_](?:{_NOT_CJK}[\\w'’-])*")

# ISO 15924 scripts written without spaces between words among the CJK ones (Han, its simplified and
# traditional variants, Japanese and its kana); Korean (Kore, Hang) is CJK but spaces its words.
_UNSPACED_CJK_SCRIPTS = frozenset({"Hani", "Hans", "Hant", "Jpan", "Hira", "Kana"})
_CJK_SCRIPTS = _UNSPACED_CJK_SCRIPTS | {"Kore", "Hang"}


def is_cjk(ch: str) -> bool:
    """True for a character of a CJK script block: ideographs, kana, Hangul, CJK and fullwidth punctuation."""
    return CJK_CHAR.match(ch) is not None


def cjk_ratio(text: str) -> float:
    """Share of CJK characters among all letters (Latin acronyms like "AI" inside Chinese are fine)."""
    cjk = letters = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            cjk += is_cjk(ch)
    return cjk / letters if letters else 0.0


def words(text: str) -> list[str]:
    """Words for spaced scripts, single characters for CJK (Chinese, Japanese kana/kanji, Korean Hangul)."""
    return _WORD.findall(text)


def count_words(text: str) -> int:
    """A length measure that means the same in every language: `words(text)` counted."""
    return len(words(text))


@dataclass(frozen=True)
class LanguageFacts:
    """What the pipeline needs to know about a corpus language, derived from its code."""

    code: str  # as configured
    name: str  # English display name, for prompts and reports ("Polish")
    iso639_3: str  # "pol"
    script: str  # likely ISO 15924 script ("Latn", "Hans", "Jpan", "Kore")

    @property
    def cjk(self) -> bool:
        """Written in a CJK script (Chinese, Japanese, Korean): split, counted and cleaned by character."""
        return self.script in _CJK_SCRIPTS

    @property
    def unspaced(self) -> bool:
        """Written without spaces between words (Chinese, Japanese; not Korean)."""
        return self.script in _UNSPACED_CJK_SCRIPTS

    @property
    def mteb(self) -> str:
        """MTEB's language label: ISO 639-3 + script, e.g. "eng-Latn", "zho-Hans"."""
        return f"{self.iso639_3}-{self.script}"


def _invalid(code: object) -> str:
    return f"{code!r} is not a language code (ISO 639-1/639-3, e.g. en, de, zh)"


@cache
def _facts(code: str) -> LanguageFacts | str:
    """The facts, or the reason `code` is not a language code (cached either way)."""
    import langcodes

    if not re.fullmatch(r"[a-z]{2,3}", code) or not langcodes.tag_is_valid(code):
        return _invalid(code)
    language = langcodes.Language.get(code)
    if language.language in (None, "und"):
        return _invalid(code)
    try:
        iso3 = language.to_alpha3()
    except LookupError:
        return _invalid(code)
    script = language.maximize().script or "Zyyy"
    return LanguageFacts(code, language.display_name("en"), iso3, script)


def is_language_code(code: object) -> bool:
    """A bare ISO 639-1 or 639-3 code that langcodes knows ("en", "hu", "zho"; not "xx" or "english")."""
    return isinstance(code, str) and isinstance(_facts(code), LanguageFacts)


def invalid_reason(code: object) -> str:
    """The one-line reason a value is not a language code (for config errors)."""
    return _invalid(code)


def language(code: str) -> LanguageFacts:
    """Facts for `code`; an EmbedlabError naming the code when it is not a language code."""
    facts = _facts(code) if isinstance(code, str) else _invalid(code)
    if isinstance(facts, str):
        raise EmbedlabError(f"language {facts}: use the corpus language's code in the config")
    return facts


# --- comparing texts ------------------------------------------------------------------------------------
# One family of normal forms, from strict to loose, so every place that asks "is this the same text?" says
# which sameness it means: a chunk or query label (spacing), a query (spacing + case), an LLM question
# (spacing + case + punctuation), a query inside a chunk (case, no spaces at all: PDF line breaks split CJK
# text anywhere).
_NON_WORD = re.compile(r"[\W_]+")


def squash(text: str) -> str:
    """Whitespace runs (line breaks of a PDF, indentation) become one space; ends stripped."""
    return " ".join(text.split())


def fold(text: str) -> str:
    """`squash` + case folded: what makes two query texts the same query."""
    return squash(text.casefold())


def fold_words(text: str) -> str:
    """`fold` + punctuation and symbols dropped: LLM questions that differ only in punctuation are one."""
    return squash(_NON_WORD.sub(" ", text.casefold()))


def loose(text: str) -> str:
    """Letters and digits only, case folded: a quote survives re-wrapping, PDF hyphenation and punctuation."""
    return _NON_WORD.sub("", text.casefold())


def compact(text: str) -> str:
    """Case folded with no whitespace at all: the form a "query occurs in chunk" test compares."""
    return "".join(text.casefold().split())
