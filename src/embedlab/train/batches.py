"""Batches without in-batch false negatives, the `finetune.<name>.batches: no_false_negatives` sampler.

MNRL (and GIST) score each query against every positive and negative of its batch, so a batch that holds two
pairs where one's chunk is relevant to the other's query teaches the model to push apart what belongs
together. Heading queries make this common: one heading query counts dozens of chunks as relevant, and a
chunk is often the positive of an ICT query and of a heading query at once. sentence-transformers'
no-duplicates sampler only keeps identical texts apart; this one keeps two pairs apart when either's chunks
(positive and hard negatives) are relevant to the other's query, or they share a text (query, positive or
negative; so it also never puts duplicates together).

How an epoch is planned (`plan_batches`): the pairs in a seeded order (seed + epoch, so each epoch differs and
every run repeats), each placed into the first open batch it has room in and no conflict with, or a new
batch; a pair that conflicts with the batch being filled is *moved* to a later one. Every pair is used once
per epoch. Full batches come first, in the order they were opened; the batches still short when the pairs
run out (pairs that conflict with each other: a heading query's pairs and the chunks it covers) come last,
smaller (fewer in-batch negatives), or are dropped with `drop_last` (data-parallel runs, where every rank
must take a batch of the same size: those pairs sit out this epoch and are counted as `dropped`).

Data-parallel runs gather every rank's embeddings into one loss, so the unit that must be free of false
negatives is a round of `ranks` batches: the sampler plans batches of `ranks` x batch_size and hands them
out as `ranks` consecutive batches of batch_size, which accelerate deals to the ranks in turn (batch r of
a round to rank r). Two ranks at batch 8 thus train on the same rounds as one process at batch 16.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from embedlab.data.training_data import Pair


@dataclass(frozen=True)
class RowKeys:
    """What decides whether a pair (a row of the training dataset) may share a batch with another."""

    texts: frozenset[str]  # query, positive and negative texts: a shared text is a duplicate
    offers: frozenset[str]  # chunks the row puts into the batch as candidates (positive, negatives)
    relevant: frozenset[str]  # chunks relevant to the row's query: never a candidate for it


def row_keys(pairs: Sequence[Pair]) -> list[RowKeys]:
    """One RowKeys per pair, in dataset order (hard negatives already mined into the pairs)."""
    return [
        RowKeys(
            texts=frozenset((p.query, p.positive, *p.negatives)),
            offers=frozenset((p.chunk_id, *p.negative_ids)),
            relevant=p.relevant_chunks,
        )
        for p in pairs
    ]


class _Batch:
    """An open batch and the union of its rows' keys (conflict tests are set disjointness)."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.texts: set[str] = set()
        self.offers: set[str] = set()
        self.relevant: set[str] = set()

    def fits(self, row: RowKeys) -> bool:
        return (
            self.texts.isdisjoint(row.texts)
            and self.relevant.isdisjoint(row.offers)
            and self.offers.isdisjoint(row.relevant)
        )

    def add(self, index: int, row: RowKeys) -> None:
        self.rows.append(index)
        self.texts |= row.texts
        self.offers |= row.offers
        self.relevant |= row.relevant


def plan_batches(
    rows: Sequence[RowKeys], batch_size: int, seed: int, drop_last: bool = False, ranks: int = 1
) -> tuple[list[list[int]], dict[str, int]]:
    """One epoch's batches (row indices) and its counts: batches, short (smaller than batch_size; after the
    full ones), moved (pairs placed in a later batch than the first open one because of a conflict) and
    dropped (pairs of short batches under `drop_last`). See the module docstring."""
    size = batch_size * ranks
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    full: list[list[int]] = []
    open_: list[_Batch] = []
    moved = 0
    for index in order:
        row = rows[index]
        slot = next((i for i, b in enumerate(open_) if b.fits(row)), None)
        if slot is None:
            slot = len(open_)
            open_.append(_Batch())
        moved += slot > 0
        batch = open_[slot]
        batch.add(index, row)
        if len(batch.rows) == size:
            full.append(batch.rows)
            del open_[slot]
    short = [b.rows for b in open_]
    dropped = sum(len(b) for b in short) if drop_last else 0
    rounds = full if drop_last else full + short
    batches = [r[i : i + batch_size] for r in rounds for i in range(0, len(r), batch_size)]
    counts = {"batches": len(batches), "short": len(short), "moved": moved, "dropped": dropped}
    return batches, counts


@dataclass(eq=False)
class NoFalseNegatives:
    """The trainer's `batch_sampler` argument for mode no_false_negatives: a callable that
    SentenceTransformerTrainer calls with (dataset, batch_size, drop_last, valid_label_columns, generator,
    seed) and that returns the sampler. Plain data, because the trainer pickles its arguments into every
    checkpoint; `epochs` collects each planned epoch's counts for training.json."""

    rows: list[RowKeys]
    ranks: int = 1
    epochs: dict[int, dict[str, int]] = field(default_factory=dict)

    def __call__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: Any = None,
        seed: int = 0,
    ) -> Any:
        if len(self.rows) != len(dataset):
            raise ValueError(f"{len(self.rows)} row keys for a dataset of {len(dataset)} rows")
        sampler = _sampler_class()
        return sampler(dataset, batch_size, drop_last, valid_label_columns, generator, seed, plan=self)


@functools.cache
def _sampler_class() -> type:
    """The sampler: a DefaultBatchSampler subclass (what the trainer and accelerate expect: set_epoch,
    batch_size, drop_last), defined on first use so that importing this module does not import torch."""
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class NoFalseNegativesBatchSampler(DefaultBatchSampler):
        """The batches of `plan_batches` for the current epoch (the trainer calls set_epoch)."""

        def __init__(self, *args: Any, plan: NoFalseNegatives, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.plan = plan
            self._planned: tuple[int, list[list[int]]] | None = None

        def _batches(self) -> list[list[int]]:
            if self._planned is None or self._planned[0] != self.epoch:
                plan = self.plan
                batches, counts = plan_batches(
                    plan.rows, self.batch_size, self.seed + self.epoch, self.drop_last, plan.ranks
                )
                plan.epochs[self.epoch] = counts
                self._planned = (self.epoch, batches)
            return self._planned[1]

        def __iter__(self) -> Iterator[list[int]]:
            yield from self._batches()

        def __len__(self) -> int:
            return len(self._batches())

    return NoFalseNegativesBatchSampler


def batch_sampler(mode: str, pairs: Sequence[Pair], ranks: int = 1) -> Any:
    """SentenceTransformerTrainingArguments' `batch_sampler` for `mode` (the schema's `batches`)."""
    if mode == "no_duplicates":
        from sentence_transformers.base.sampler import BatchSamplers

        return BatchSamplers.NO_DUPLICATES
    return NoFalseNegatives(row_keys(pairs), ranks)


def steps_per_epoch(sampler: Any, pairs: int, batch_size: int, ranks: int, seed: int) -> int:
    """Optimizer steps of the first epoch: one batch per rank per step; data-parallel runs drop the last
    incomplete round (the trainer's drop_last there)."""
    if isinstance(sampler, NoFalseNegatives):
        batches, _ = plan_batches(sampler.rows, batch_size, seed, ranks > 1, ranks)
        return len(batches) // ranks
    return pairs // (batch_size * ranks) if ranks > 1 else -(-pairs // batch_size)


def batch_plan_facts(sampler: Any) -> dict[str, Any] | None:
    """training.json's `batch_plan` (mode no_false_negatives; None otherwise): the ranks of a round and each
    planned epoch's counts (batches, short, moved, dropped)."""
    if not isinstance(sampler, NoFalseNegatives):
        return None
    epochs = [{"epoch": e, **c} for e, c in sorted(sampler.epochs.items())]
    return {"ranks_per_round": sampler.ranks, "epochs": epochs}
