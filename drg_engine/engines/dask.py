"""Group a Parquet claims file with Dask: a bag over its row groups, the local batch function.

Local threads (the default), processes, or a ``dask.distributed`` cluster::

    from drg_engine.engines.dask import group_parquet
    run = group_parquet("claims.parquet", "chs_drg_1_1")                   # local threads
    run = group_parquet("claims.parquet", "chs_drg_1_1",
                        scheduler="tcp://10.0.0.5:8786")                    # a cluster
    run.results, run.rejects                                               # pyarrow tables

``group_file`` writes the results and rejects files instead (in input order, in bounded
memory on the driver), and :func:`batches_bag` gives the lazy ``dask.bag.Bag`` of finished
batches for use in a larger graph. With a cluster, every worker must be able to read the
file at the same path and have ``drg-engine`` installed. Results equal the local engine's.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.bag as db
import numpy as np
import pyarrow as pa

from drg_engine.engines import (
    HASH_BUCKETS,
    Piece,
    compiled_rules,
    merge_first_rows,
    piece_batch,
    piece_first_rows,
    piece_hash_buckets,
    repeated_hashes,
    row_group_pieces,
)
from drg_engine.rules import CompiledRules
from drg_engine.schema import REJECT_SCHEMA
from drg_engine.stream import FinishedBatch, StreamSummary, _empty_results, write_batches

Scheduler = str | Any  # "threads", "processes", "sync", a scheduler address, or a Client


@dataclass(frozen=True)
class DaskGroupRun:
    """Results and rejects of a whole file, as Arrow tables in input order."""

    results: pa.Table
    rejects: pa.Table
    input_rows: int


class _Runner:
    """Computes Dask collections on the chosen scheduler."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.client: Any = None
        self.scheduler: str | None = None
        self._own_client = False
        if isinstance(scheduler, str) and "://" in scheduler:
            from distributed import Client

            self.client = Client(scheduler)
            self._own_client = True
        elif isinstance(scheduler, str):
            self.scheduler = scheduler
        else:
            self.client = scheduler

    def compute(self, *collections: Any) -> tuple[Any, ...]:
        if self.client is not None:
            return tuple(self.client.gather(self.client.compute(list(collections))))
        return dask.compute(*collections, scheduler=self.scheduler)

    def share(self, value: Any) -> Any:
        """A value every task reads, shipped to each worker once."""
        if self.client is not None:
            return self.client.scatter(value, broadcast=True)
        return dask.delayed(value, pure=True, traverse=False)

    def workers(self) -> int:
        if self.client is not None:
            return max(len(self.client.scheduler_info().get("workers", {})), 1)
        return os.cpu_count() or 1

    def close(self) -> None:
        if self._own_client:
            self.client.close()


def _plan(pieces: list[Piece], runner: _Runner) -> tuple[np.ndarray, dict[str, int]]:
    """Steps 1 and 2: the repeated claim-id hashes and the first row of each repeated id."""
    delayed = dask.delayed
    hashed = [delayed(piece_hash_buckets)(piece, HASH_BUCKETS) for piece in pieces]
    per_bucket = [
        delayed(repeated_hashes)([delayed(operator.getitem)(h, b) for h in hashed])
        for b in range(HASH_BUCKETS)
    ]
    buckets = runner.compute(*per_bucket)
    repeated = np.concatenate(buckets) if buckets else np.zeros(0, np.uint64)
    if len(repeated) == 0:
        return repeated, {}
    shared = runner.share(repeated)
    parts = runner.compute(*[delayed(piece_first_rows)(piece, shared) for piece in pieces])
    return repeated, merge_first_rows(list(parts))


def batches_bag(path: str | Path, rules: str | Path | CompiledRules = "chs_drg_1_1", *,
                evidence: bool = False, keep_input: bool = False,
                scheduler: Scheduler = "threads") -> db.Bag:
    """A bag with one finished batch per row group (partition i = row group i).

    The duplicate plan (steps 1 and 2) is computed here, on ``scheduler``; the bag itself is
    lazy.
    """
    runner = _Runner(scheduler)
    try:
        pieces = row_group_pieces(path)
        repeated, first_rows = _plan(pieces, runner)
        return _bag(pieces, compiled_rules(rules), repeated, first_rows, runner,
                    evidence=evidence, keep_input=keep_input)
    finally:
        runner.close()


def _bag(pieces: list[Piece], rules: CompiledRules | str, repeated: np.ndarray,
         first_rows: dict[str, int], runner: _Runner, *, evidence: bool,
         keep_input: bool, dictionary: bool = False) -> db.Bag:
    bag = db.from_sequence(pieces, npartitions=max(len(pieces), 1))
    return bag.map(piece_batch, runner.share(rules), runner.share(repeated),
                   runner.share(first_rows), evidence=evidence, keep_input=keep_input,
                   dictionary=dictionary)


def iter_batches(path: str | Path, rules: str | Path | CompiledRules = "chs_drg_1_1", *,
                 evidence: bool = False, keep_input: bool = False,
                 scheduler: Scheduler = "threads", window: int | None = None,
                 dictionary: bool = False) -> Iterator[FinishedBatch]:
    """The finished batches in input order, computed ``window`` row groups at a time.

    ``dictionary`` returns the label columns dictionary-encoded (cheaper to write Parquet).
    """
    runner = _Runner(scheduler)
    try:
        pieces = row_group_pieces(path)
        repeated, first_rows = _plan(pieces, runner)
        bag = _bag(pieces, compiled_rules(rules), repeated, first_rows, runner,
                   evidence=evidence, keep_input=keep_input, dictionary=dictionary)
        partitions = bag.to_delayed()
        window = window or 2 * runner.workers()
        for start in range(0, len(partitions), window):
            for partition in runner.compute(*partitions[start:start + window]):
                yield from partition
    finally:
        runner.close()


def group_parquet(path: str | Path, rules: str | Path | CompiledRules = "chs_drg_1_1", *,
                  evidence: bool = False, keep_input: bool = False,
                  scheduler: Scheduler = "threads") -> DaskGroupRun:
    """Group a Parquet file with Dask; the results and rejects come back as Arrow tables."""
    batches = list(iter_batches(path, rules, evidence=evidence, keep_input=keep_input,
                                scheduler=scheduler))
    tables = [batch.output(keep_input) for batch in batches]
    empty = _empty_results(evidence, keep_input)
    results = pa.concat_tables(tables) if tables else pa.Table.from_batches([], empty)
    rejects = pa.concat_tables([b.rejects for b in batches] or
                               [pa.Table.from_batches([], REJECT_SCHEMA)])
    return DaskGroupRun(results, rejects, sum(b.input_rows for b in batches))


def group_file(path: str | Path, output_path: str | Path,
               rules: str | Path | CompiledRules = "chs_drg_1_1", *,
               rejects_path: str | Path | None = None, evidence: bool = False,
               keep_input: bool = False, scheduler: Scheduler = "threads",
               progress: Callable[[int], None] | None = None) -> StreamSummary:
    """Group a Parquet file with Dask into results and rejects files (as the local engine)."""
    batches = iter_batches(path, rules, evidence=evidence, keep_input=keep_input,
                           scheduler=scheduler,
                           dictionary=str(output_path).lower().endswith(".parquet"))
    return write_batches(batches, output_path, rejects_path=rejects_path,
                         keep_input=keep_input, empty=_empty_results(evidence, keep_input),
                         progress=progress)
