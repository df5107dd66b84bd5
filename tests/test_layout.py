"""Every output's file name is spelled once: `workflow/layout.py` composes every path, `embedlab/filenames.py`
names the files a stage module writes inside a folder it is handed. Anything else that looks like a file
name (or a `results/` / `logs/` path) in the library, the rules or the rule scripts is a second spelling,
unless ALLOWED says whose name it is."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from conftest import REPO

NAME = re.compile(r"^[\w.-]+\.(json|jsonl|csv|tsv|png|svg|md|onnx|npy|npz|txt|html|yml|log)$")
OWNERS = {"src/embedlab/workflow/layout.py", "src/embedlab/filenames.py"}

# (file, literal) pairs that are not our outputs' names: inputs, or names a third party dictates.
ALLOWED = {
    # BEIR's folder format (an input corpus)
    ("src/embedlab/data/beir.py", "corpus.jsonl"),
    ("src/embedlab/data/beir.py", "queries.jsonl"),
    ("src/embedlab/data/corpus.py", "corpus.jsonl"),
    # a Hugging Face tokenizer folder (an input)
    ("src/embedlab/data/chunking.py", "tokenizer.json"),
    # sentence-transformers' model folder format: read from models, written into the ONNX export
    ("src/embedlab/models/onnx.py", "modules.json"),
    ("src/embedlab/models/onnx.py", "config.json"),
    ("src/embedlab/models/onnx.py", "sentence_bert_config.json"),
    ("src/embedlab/train/common.py", "modules.json"),
    ("src/embedlab/train/common.py", "config.json"),
    ("src/embedlab/workflow/needs.py", "config.json"),  # a hub model's file looked up in the local HF cache
    ("src/embedlab/train/autotrain.py", "modules.json"),
    ("src/embedlab/train/autotrain.py", "sentence_bert_config.json"),
    # AutoTrain's project folder: its checkpoints, and its own card and parameters (not copied out of it)
    ("src/embedlab/train/autotrain.py", "README.md"),
    ("src/embedlab/train/autotrain.py", "training_params.json"),
    ("src/embedlab/train/autotrain.py", "checkpoint-*/trainer_state.json"),
    # the DDP launcher's hand-off to its ranks, in a temporary folder it deletes: never an output
    ("src/embedlab/train/distributed.py", "job.json"),
}


def _looks_like_output(text: str) -> bool:
    return bool(NAME.match(text.rsplit("/", 1)[-1])) or "results/" in text or "logs/" in text


def _python_strings(path: Path) -> Iterator[str]:
    """String constants of a module that are code (docstrings excluded), f-strings' literal parts too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def _snakemake_strings(path: Path) -> Iterator[str]:
    """Quoted strings of a .smk file or the Snakefile (comments are not quoted)."""
    yield from re.findall(r"\"([^\"\n]*)\"|'([^'\n]*)'", path.read_text(encoding="utf-8"))


def _spelled() -> set[tuple[str, str]]:
    """(file, literal) of every file-name-like literal outside layout.py and filenames.py."""
    out = set()
    for path in [*(REPO / "src" / "embedlab").rglob("*.py"), *(REPO / "scripts").glob("*.py")]:
        rel = path.relative_to(REPO).as_posix()
        if rel not in OWNERS:
            out |= {(rel, s) for s in _python_strings(path) if _looks_like_output(s)}
    for path in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")]:
        rel = path.relative_to(REPO).as_posix()
        out |= {(rel, s) for pair in _snakemake_strings(path) for s in pair if s and _looks_like_output(s)}
    return out


def test_every_output_file_name_comes_from_the_layout():
    """A name here belongs in layout.py (a path) or filenames.py (a file a stage module writes)."""
    spelled = _spelled()
    assert not spelled - ALLOWED, "\n".join(f"{f}: {s!r}" for f, s in sorted(spelled - ALLOWED))
    assert not ALLOWED - spelled, f"allowed but no longer spelled (drop them): {sorted(ALLOWED - spelled)}"
