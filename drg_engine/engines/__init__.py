"""Scale-out adapters: the streaming batch function run by Dask or Spark over Parquet row groups.

Every engine runs the same three steps over the row groups ("pieces") of a Parquet file, each
step a pure function of one piece defined here, so a piece can run on any worker:

1. :func:`piece_hash_buckets` - the 64-bit hashes of the piece's normalised claim ids, split
   into buckets by their top bits; per bucket, :func:`repeated_hashes` keeps the hashes seen
   more than once (a shuffle on the engine, never one list on the driver);
2. :func:`piece_first_rows` - for the rows whose hash repeats (few), the first clean row of
   each claim id in the piece; :func:`merge_first_rows` gives the first over the whole file;
3. :func:`piece_batch` - ``stream.process_batch`` and ``stream.finish_batch`` on the piece,
   with row numbers counted over the file and duplicates decided by the map of step 2.

So the results and rejects equal, row for row, those of the local engine
(``stream.group_file_stream``) and of ``pipeline.group_file``. The rule set is compiled once
on the driver and shipped to each worker once (a Dask graph key, a Spark broadcast).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from drg_engine.rules import CompiledRules, load_rules
from drg_engine.schema import ColumnResolution, resolve_columns
from drg_engine.stream import (
    FinishedBatch,
    _ParquetSource,
    _repeated,
    _single,
    clean_text,
    finish_batch,
    id_hashes,
    normalise_batch,
    process_batch,
)

HASH_BUCKETS = 16


@dataclass(frozen=True)
class Piece:
    """One row group of a Parquet file, with the number of input rows before it."""

    path: str
    index: int
    row_group: int
    row_offset: int
    rows: int


def row_group_pieces(path: str | Path) -> list[Piece]:
    """The row groups of a Parquet file, in order."""
    source = _source(str(Path(path).resolve()))
    metadata = source.file.metadata
    pieces, offset = [], 0
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        pieces.append(Piece(str(source.path), group, group, offset, rows))
        offset += rows
    return pieces


_SOURCES: dict[tuple[str, int, int], _ParquetSource] = {}
_SOURCES_LOCK = threading.Lock()


def _source(path: str) -> _ParquetSource:
    """The reader of a Parquet file, opened once per worker process (and again if the file
    is replaced)."""
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    with _SOURCES_LOCK:
        if key not in _SOURCES:
            _SOURCES[key] = _ParquetSource(Path(path), batch_rows=1 << 62)
        return _SOURCES[key]


def _resolution(source: _ParquetSource) -> ColumnResolution:
    return resolve_columns(source.file.schema_arrow.names)


def _read(piece: Piece, columns: list[str] | None = None) -> pa.Table:
    return _source(piece.path)._file().read_row_group(piece.row_group, columns=columns)


def _claim_ids(piece: Piece) -> pa.Array:
    source = _source(piece.path)
    name = source.file.schema_arrow.names[_resolution(source).sources["claim_id"]]
    return clean_text(_single(_read(piece, [name]).column(0)))


def piece_hash_buckets(piece: Piece, buckets: int = HASH_BUCKETS) -> list[np.ndarray]:
    """Step 1: the piece's claim-id hashes, split into ``buckets`` by their top bits."""
    hashes = id_hashes(_claim_ids(piece))
    bucket = (hashes >> np.uint64(64 - int(np.log2(buckets)))).astype(np.intp)
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    hashes = hashes[order]
    return [hashes[bounds[b]:bounds[b + 1]] for b in range(buckets)]


def repeated_hashes(parts: list[np.ndarray]) -> np.ndarray:
    """Step 1, per bucket: the sorted hashes that occur more than once."""
    return _repeated(np.concatenate(parts) if parts else np.zeros(0, np.uint64))


def piece_first_rows(piece: Piece, repeated: np.ndarray) -> dict[str, int]:
    """Step 2: for each repeated claim id of the piece, its first clean row (over the file)."""
    if len(repeated) == 0:
        return {}
    ids = _claim_ids(piece)
    hashes = id_hashes(ids)
    valid = np.flatnonzero(np.asarray(ids.is_valid())) if ids.null_count else np.arange(len(ids))
    where = np.minimum(np.searchsorted(repeated, hashes), len(repeated) - 1)
    rows = valid[repeated[where] == hashes]
    if len(rows) == 0:
        return {}
    source = _source(piece.path)
    raw = _read(piece).take(pa.array(rows))
    clean = normalise_batch(raw, _resolution(source), carry_input=False).clean
    first: dict[str, int] = {}
    local = np.asarray(clean.column("row_number")) - 1
    for claim_id, row in zip(clean.column("claim_id").to_pylist(),
                             (rows[local] + piece.row_offset + 1).tolist(), strict=True):
        first.setdefault(claim_id, row)
    return first


def merge_first_rows(parts: list[dict[str, int]]) -> dict[str, int]:
    """Step 2 on the driver: the first row of each repeated claim id over the file."""
    merged: dict[str, int] = {}
    for part in parts:
        for claim_id, row in part.items():
            if row < merged.get(claim_id, row + 1):
                merged[claim_id] = row
    return merged


def piece_batch(piece: Piece, rules: CompiledRules | str, repeated: np.ndarray,
                first_rows: dict[str, int], *, evidence: bool = False,
                keep_input: bool = False, dictionary: bool = False) -> FinishedBatch:
    """Step 3: the piece grouped, duplicates decided, row numbers counted over the file.

    ``dictionary`` returns the label columns dictionary-encoded (as the local engine writes
    Parquet; not for Spark, whose Arrow conversion wants plain strings).
    """
    source = _source(piece.path)
    outcome = process_batch(_read(piece), rules, repeated=repeated,
                            resolution=_resolution(source), evidence=evidence,
                            keep_input=keep_input,
                            dictionary=dictionary and isinstance(rules, CompiledRules))
    return finish_batch(outcome, piece.row_offset, first_rows, record=False)


def compiled_rules(rules: str | Path | CompiledRules) -> CompiledRules | str:
    """Rules as the batch function takes them: compiled, or ``"auto"``."""
    if isinstance(rules, CompiledRules) or rules == "auto":
        return rules
    return load_rules(rules)
