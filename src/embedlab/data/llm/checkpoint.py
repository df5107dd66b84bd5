"""The `llm` generator's checkpoint: every answer received, so a killed run resumes without asking again."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError

CHECKPOINT_FORMAT = "embedlab.llm_checkpoint/1"


class Checkpoint:
    """Answers received so far, one JSON line each, appended as they arrive and fsync'd.

    A record is written and flushed at once (it survives a killed process), then fsync'd by a background
    thread that batches whatever arrived meanwhile (group commit: durable against a crash within one
    fsync, without stalling the event loop for every record). Only this process writes the file (an
    exclusive lock, released by the OS even on SIGKILL). A line cut short by a kill is skipped on reading,
    and a newline is appended first so the next record starts clean.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: Any = None
        self._sync_task: asyncio.Task[None] | None = None
        self._want_sync = False
        self.bad_lines = 0
        self.fsync_s = 0.0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    self.bad_lines += 1
                    continue
                if isinstance(rec, dict) and rec.get("format") == CHECKPOINT_FORMAT:
                    records.append(rec)
        return records

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open for the run)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise EmbedlabError(
                f"another run is writing {self.path}: wait for it to finish (two runs would ask twice)"
            ) from None
        with open(self.path, "rb") as raw:
            raw.seek(0, os.SEEK_END)
            if raw.tell() > 0:
                raw.seek(-1, os.SEEK_END)
                if raw.read(1) != b"\n":
                    fh.write("\n")
        self._fh = fh
        if new:  # make the new directory entry durable too
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def append(self, record: dict[str, Any]) -> None:
        """Write and flush one record, then have it fsync'd soon (inside an event loop) or now."""
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self._want_sync = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._fsync()
            return
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while self._want_sync:
            self._want_sync = False
            await asyncio.to_thread(self._fsync)

    def _fsync(self) -> None:
        t0 = time.perf_counter()
        os.fsync(self._fh.fileno())
        self.fsync_s += time.perf_counter() - t0

    async def drain(self) -> None:
        """Wait until every record appended so far is on disk."""
        if self._sync_task is not None:
            await self._sync_task

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            if self._want_sync:
                self._fsync()
            self._fh.close()
            self._fh = None
