"""The test documents ship with the project: every file under tests/corpora has a SOURCES.md row (licence,
sha256) that matches its bytes, and nothing in the tests, benchmarks, CI or docs reads beside the checkout."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from conftest import CORPORA, REPO

ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+) \| ([\d,]+) \| `([0-9a-f]{64})` \|$", re.M)


def test_every_test_document_has_a_matching_sources_row():
    root = REPO / "tests" / "corpora"
    rows = {m[1]: m for m in ROW.finditer((root / "SOURCES.md").read_text(encoding="utf-8"))}
    files = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    files.pop("SOURCES.md")
    assert len(files) > 100 and set(files) == set(rows)
    for name, path in files.items():
        data = path.read_bytes()
        licence, size, digest = rows[name][2].strip(), int(rows[name][3].replace(",", "")), rows[name][4]
        assert licence and size == len(data) and hashlib.sha256(data).hexdigest() == digest, name


def test_default_documents_live_once_in_data():
    """The default run's two documents are symlinks to data/corpora, not second copies."""
    for rel in ("eu_ai_act/EN.html", "securities_law/securities_law_2019.pdf"):
        link = REPO / "tests" / "corpora" / rel
        assert link.is_symlink() and link.resolve() == (REPO / "data" / "corpora" / rel).resolve()


def test_nothing_reads_beside_the_checkout():
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "benchmarks", ".ci", ".test", "README.md", "CONTRIBUTING.md"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    pattern = re.compile(r"\.\./shared|parent\s*/\s*\"shared\"|parents\[\d\]\s*/\s*\"shared\"")
    me = Path(__file__).relative_to(REPO).as_posix()
    hits = [
        f"{name}:{n}"
        for name in tracked
        if name != me and (REPO / name).is_file() and not name.startswith("tests/corpora/")
        for n, line in enumerate((REPO / name).read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits
    assert os.environ.get("EMBEDLAB_TEST_CORPORA") or (REPO / "tests" / "corpora").resolve() == CORPORA
