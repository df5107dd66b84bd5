"""Which language a text is written in, for texts as short as a query: lingua over all its languages.

lingua was the most accurate of the offline candidates on query-length texts of the test corpora (English,
French, German, Chinese; benchmarks/README.md "Language identification"): fastText's lid.176 and langid.py
take short Chinese for Japanese. Its models ship inside the wheel, so nothing is downloaded. Codes are ISO
639-1 where the language has one (langcodes' normal form), so they compare with the config's corpus codes;
`same_language` compares them the way langcodes does ("no" and "nb" are one language).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

SAME_LANGUAGE_DISTANCE = 10
"""langcodes' tag distance below which two codes name one language (regional or standard variants: no/nb is
1, da/nb 12)."""


@cache
def _detector() -> Any:
    from lingua import LanguageDetectorBuilder

    # all languages, high-accuracy mode: models load on first use (~1 GB, ~10 s, once per process)
    return LanguageDetectorBuilder.from_all_languages().build()


def _code(language: Any) -> str:
    import langcodes

    return langcodes.standardize_tag(language.iso_code_639_3.name.lower())


@cache
def detectable_languages() -> frozenset[str]:
    """Codes of the languages the detector can answer (a corpus in another one cannot be checked)."""
    from lingua import Language

    return frozenset(_code(language) for language in Language.all())


def detectable(code: str) -> bool:
    """Whether `code` (a config language code) is a language the detector knows."""
    return any(same_language(code, known) for known in detectable_languages())


def detect_language(texts: Iterable[str]) -> list[str | None]:
    """The language of each text (ISO 639-1 where there is one, else 639-3); None when it tells nothing (no
    letters, or no language stands out)."""
    detector = _detector()
    out: list[str | None] = []
    for text in texts:
        found = detector.detect_language_of(text) if any(ch.isalpha() for ch in text) else None
        out.append(_code(found) if found is not None else None)
    return out


def same_language(a: str, b: str) -> bool:
    """Two language codes name one language (ISO 639-1 or -3, macrolanguage or member: zho/zh, no/nb)."""
    import langcodes

    return langcodes.tag_distance(a, b) < SAME_LANGUAGE_DISTANCE


CONFIDENT = 0.5
"""lingua's confidence (0-1, over all its languages) above which a text is taken to be in that language: short
technical English ("How do I add a login link to the browsable API?") gets Dutch 0.15, so a bare top guess
is not evidence enough to refuse a question a person wrote."""
OWN_LANGUAGE_FLOOR = 0.05
"""A text whose corpus-language confidence is at least this is never called another language."""


OUTWEIGHED = 0.35
"""For text written on request in a language (LLM questions): it is in another one when lingua's confidence in
the requested language is under this share of its confidence in its top language. On query-length sentences
of the test corpora (`benchmarks/langid.py --outweighed`) 0.35 calls 0-1 % of each language's own texts
foreign and 98-100 % of the others' (0.5 would also drop "How do I add a login link to the browsable API?":
Dutch 0.15, English 0.06); "GDPR Article 22?" asked in French stays (English 0.15, French 0.12: names and
codes carry no language)."""


def _confidences(texts: Iterable[str], code: str) -> Iterator[tuple[Any, float, Any]]:
    """Per text: lingua's top language with its confidence (None: no letters), its confidence in `code`, and
    `code` as a lingua language."""
    import langcodes
    from lingua import IsoCode639_3, Language

    detector = _detector()
    own = Language.from_iso_code_639_3(IsoCode639_3.from_str(langcodes.get(code).to_alpha3()))
    for text in texts:
        values = detector.compute_language_confidence_values(text) if any(c.isalpha() for c in text) else []
        own_value = detector.compute_language_confidence(text, own) if values else 0.0
        yield (values[0] if values else None), own_value, own


def other_language(texts: Iterable[str], code: str) -> list[bool]:
    """Per text: whether it is confidently in another language than `code` (another language at
    `CONFIDENT` or more, `code` under `OWN_LANGUAGE_FLOOR`); False when the detector cannot tell."""
    return [
        top is not None and top.language != own and top.value >= CONFIDENT and value < OWN_LANGUAGE_FLOOR
        for top, value, own in _confidences(texts, code)
    ]


def outweighed(texts: Iterable[str], code: str) -> list[bool]:
    """Per text asked for in `code`: whether another language outweighs it (`OUTWEIGHED`); False when the
    detector cannot tell."""
    return [
        top is not None and top.language != own and value < OUTWEIGHED * top.value
        for top, value, own in _confidences(texts, code)
    ]
