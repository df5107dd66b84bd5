"""The `llm` generator's prompts: the tutorial's reverse-HyDE instructions per language, a generic one for
any other language, the question types and personas a chunk's prompt may add, and the hash that names the
instructions behind every query."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from embedlab.errors import EmbedlabError
from embedlab.text import language

_SEP = "---------------------"
# The tutorial's English prompt (llama-index's DEFAULT_QA_GENERATE_PROMPT_TMPL, without its stray quote),
# and the same instructions in the other tutorial languages, each asking for questions in that language.
DEFAULT_PROMPTS: dict[str, str] = {
    "en": (
        f"Context information is below.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "Given the context information and not prior knowledge, generate only questions based on the below "
        "query.\n\nYou are a Teacher/ Professor. Your task is to setup {num_questions_per_chunk} "
        "questions for "
        "an upcoming quiz/examination. The questions should be diverse in nature across the "
        "document. Restrict "
        "the questions to the context information provided.\n"
    ),
    "zh": (
        f"以下是上下文信息。\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "请仅根据上述上下文信息（而不是已有知识）生成问题。\n\n"
        "你是一名教师/教授。你的任务是为即将到来的测验/考试设计 {num_questions_per_chunk} 个问题。"
        "问题应当形式多样，覆盖文档的不同内容，并且只限于上面提供的上下文信息。请用中文提问。\n"
    ),
    "fr": (
        f"Les informations de contexte figurent ci-dessous.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "À partir de ces informations de contexte, et non de connaissances préalables, génère uniquement des "
        "questions.\n\nTu es enseignant / professeur. Ta tâche est de préparer {num_questions_per_chunk} "
        "questions pour un prochain quiz / examen. Les questions doivent être de nature variée et couvrir "
        "l'ensemble du document. Limite les questions aux informations de contexte fournies. Rédige les "
        "questions en français.\n"
    ),
    "cs": (
        f"Níže jsou kontextové informace.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "Na základě kontextových informací, nikoli předchozích znalostí, vytvoř pouze otázky.\n\n"
        "Jsi učitel / profesor. Tvým úkolem je připravit otázky pro nadcházející test / zkoušku "
        "(počet otázek: "
        "{num_questions_per_chunk}). Otázky by měly být různorodé a pokrývat celý dokument. Omez otázky na "
        "poskytnuté kontextové informace. Otázky piš česky.\n"
    ),
    "hu": (
        f"Az alábbiakban a kontextus információi találhatók.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "A kontextus információi alapján, és nem előzetes tudás alapján, csak kérdéseket hozz létre.\n\n"
        "Tanár / professzor vagy. A feladatod, hogy {num_questions_per_chunk} kérdést állíts össze "
        "egy közelgő "
        "kvízhez / vizsgához. A kérdések legyenek változatosak, és fedjék le a dokumentum egészét. A "
        "kérdéseket "
        "korlátozd a megadott kontextusinformációkra. A kérdéseket magyarul írd.\n"
    ),
}


# Any other language: the English instructions, asking for questions in the language (its English name from
# langcodes, e.g. "Polish"); the rendered template, name included, is what prompt_hash identifies.
GENERIC_PROMPT = (
    f"Context information is below.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
    "Given the context information and not prior knowledge, generate only questions based on the below "
    "query.\n\nYou are a Teacher/ Professor. Your task is to setup {num_questions_per_chunk} questions for "
    "an upcoming quiz/examination. The questions should be diverse in nature across the document. Restrict "
    "the questions to the context information provided. Write the questions in {language_name}, the "
    "language of the context.\n"
)


# Appended to a chunk's prompt when its reply had a line in another language: asked once more, with this.
LANGUAGE_REMINDER = "\nWrite every question in {language_name} only, the language of the context above.\n"


# Question types (generators.llm.types): one instruction appended to the prompt of each chunk drawn for the
# type, so that a team sees which kinds of question each model fails (the recipes that report gains mix
# facts, reasons, short search queries and comparisons). generators.llm.type_prompts adds or overrides them.
TYPE_INSTRUCTIONS: dict[str, str] = {
    "specific": (
        "Each question asks for one specific fact the context states: a name, a number, a condition, a "
        "deadline or a definition."
    ),
    "abstract": (
        "Each question asks why or how: about the purpose, the reasons or the consequences of what the "
        "context describes, in general words rather than the context's own phrasing."
    ),
    "keyword": (
        "Write each question as a short search query of three to eight words, the way someone types it "
        "into a search box, without a question mark."
    ),
    "comparison": "Each question asks how two things the context describes differ or relate to each other.",
    "multi_hop": (
        "Each question needs every passage above to be answered: it combines facts stated in different "
        "passages, so that no single passage answers it."
    ),
}
MULTI_HOP = "multi_hop"  # the type asked over a chunk and the chunks after it in its group
PERSONA_LINE = "Ask them the way {persona} would ask them."
TYPE_LANGUAGE_LINE = "Write them in {language_name}."


@dataclass(frozen=True)
class ChunkPrompt:
    """What one chunk is asked with: the template (type and persona lines included), what it drew, and
    for a multi-hop question the chunks read with it (all of them its positives)."""

    template: str
    query_type: str | None = None
    persona: str | None = None
    with_chunks: tuple[str, ...] = ()

    def context(self, texts: Mapping[str, str], chunk_id: str) -> str:
        """The text the template's {context_str} holds: the chunk, or each passage of a multi-hop one."""
        if not self.with_chunks:
            return texts[chunk_id]
        ids = (chunk_id, *self.with_chunks)
        return "\n\n".join(f"Passage {i}:\n{texts[c]}" for i, c in enumerate(ids, 1))


def type_instructions(types: Mapping[str, float], type_prompts: Mapping[str, str]) -> dict[str, str]:
    """The instruction of each configured type: `type_prompts` over the built-in ones; a type with neither
    is a config error."""
    known = {**TYPE_INSTRUCTIONS, **type_prompts}
    missing = [t for t in types if t not in known]
    if missing:
        raise EmbedlabError(
            f"config error at generators.llm.types.{missing[0]}: no instruction for this type: add "
            f"generators.llm.type_prompts.{missing[0]}, or use a built-in type "
            f"({', '.join(TYPE_INSTRUCTIONS)})"
        )
    return {t: known[t] for t in types}


def _draw(options: Sequence[str], weights: Sequence[float], seed: int, what: str, chunk_id: str) -> str:
    """One option by weight, seeded by seed and chunk id only: adding a chunk never changes another's."""
    return random.Random(f"{seed}:llm-{what}:{chunk_id}").choices(list(options), weights=list(weights))[0]


def chunk_prompt(
    template: str,
    lang: str,
    chunk_id: str,
    seed: int,
    instructions: Mapping[str, str],
    shares: Mapping[str, float],
    personas: Sequence[str],
    partners: Sequence[str] = (),
) -> ChunkPrompt:
    """The template of one chunk: `template` plus the instruction of the type it draws (by `shares`) and
    the persona it draws (uniformly), both seeded; `template` itself when neither is configured. A chunk
    that draws `multi_hop` is read with its `partners` (the chunks after it in its group); one without
    partners draws again among the other types (none left: no type)."""
    query_type = _draw(list(shares), list(shares.values()), seed, "type", chunk_id) if shares else None
    if query_type == MULTI_HOP and not partners:
        others = {t: w for t, w in shares.items() if t != MULTI_HOP}
        query_type = _draw(list(others), list(others.values()), seed, "alone", chunk_id) if others else None
    persona = _draw(personas, [1.0] * len(personas), seed, "persona", chunk_id) if personas else None
    if query_type is None and persona is None:
        return ChunkPrompt(template)
    lines = [instructions[query_type]] if query_type else []
    if persona:
        lines.append(PERSONA_LINE.replace("{persona}", persona))
    lines.append(TYPE_LANGUAGE_LINE.replace("{language_name}", language(lang).name))
    with_chunks = tuple(partners) if query_type == MULTI_HOP else ()
    typed = template.rstrip("\n") + "\n" + " ".join(lines) + "\n"
    return ChunkPrompt(typed, query_type, persona, with_chunks)


def reminded(template: str, lang: str) -> str:
    """The prompt asked again for a chunk whose reply strayed from `lang` (named in English, by langcodes)."""
    return template + LANGUAGE_REMINDER.replace("{language_name}", language(lang).name)


def prompt_hash(template: str) -> str:
    """sha256 of the prompt template (docs/formats.md): which instructions produced a query."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def render(template: str, context: str, num_questions: int) -> str:
    """Fill the two placeholders only (a template may hold other braces, e.g. a JSON example)."""
    return template.replace("{context_str}", context).replace("{num_questions_per_chunk}", str(num_questions))


def prompt_template(lang: str, prompts: dict[str, str]) -> str:
    """The configured (`prompts`) or tuned prompt of `lang`, else the generic one naming the language
    (langcodes)."""
    merged = {**DEFAULT_PROMPTS, **prompts}
    if lang in merged:
        template = merged[lang]
    else:
        template = GENERIC_PROMPT.replace("{language_name}", language(lang).name)
    if "{context_str}" not in template:
        raise EmbedlabError(f"generators.llm.prompts.{lang} lacks {{context_str}}: the chunk text goes there")
    return template
