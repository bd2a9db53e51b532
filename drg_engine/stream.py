"""Group a claims file of any size in bounded memory: batch by batch, two workers, ordered output.

``group_file_stream(IN, OUT, rules)`` gives the same results and rejects as
``pipeline.group_file`` followed by ``io.write_table`` (the tests check it row for row), but
never holds more than a few batches:

* **Batches.** Parquet is read one row group at a time (row groups larger than ``batch_rows``
  in slices of one row group; pyarrow cannot slice nested dictionary columns across row
  groups), with the code-list columns dictionary-encoded so that only the distinct codes of a
  row group are hashed (DESIGN §3). CSV and JSON Lines are read in chunks, Arrow IPC by record
  batch.
* **Normalisation** (:func:`normalise_batch`). Columns that already have the canonical types
  (typed Parquet: what ``drg group --keep-input``, the synthetic generator and database
  exports write) are used as they are after a vectorized check; the rows that check flags are
  exactly the rows ``validate.normalize_claims`` rejects, and they go through
  ``normalize_claims`` itself for their reason and message. A batch with a column that needs
  parsing (text numbers or dates, CSV) goes through ``normalize_claims`` whole. Either way the
  clean rows and rejects are those of the whole-file path.
* **Duplicate claim ids** are rejected across the whole input, first occurrence kept, in two
  passes: the first reads only the claim-id column and finds the 64-bit hashes of normalised
  ids that occur more than once (spilling hashes to temporary files past 16 million claims,
  so memory stays flat); the second decides, in input order, only for rows with such a hash,
  comparing the ids themselves. The second pass's first batches are queued behind the first
  pass, so the workers never wait between the passes.
* **Two workers** read, normalise and group separate batches; the calling thread writes
  results and rejects in input order (atomically: a temporary file, then a rename). Only the
  results (claim id + group columns) are written unless ``keep_input`` asks for the
  normalised input columns as well, and only the input columns the output needs are read.
* **Memory** holds at most four batches in flight (``batch_rows`` rows each), the first-pass
  hashes (8 bytes a claim, up to ``SPILL_HASHES``) and the repeated claim ids themselves.

:func:`process_batch` and :func:`finish_batch` are the batch function the Dask and Spark
adapters (``drg_engine.engines``) run on row groups.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from drg_engine.errors import InputFormatError, OutputPathError
from drg_engine.grouping.drg import empty_table, group_batch, result_schema
from drg_engine.io import (
    LIST_SEPARATOR,
    claims_file,
    default_rejects_path,
    file_format,
    publish,
)
from drg_engine.rules import CompiledRules, load_rules
from drg_engine.schema import (
    CLAIM_SCHEMA,
    REJECT_SCHEMA,
    ColumnResolution,
    RejectReason,
    resolve_columns,
)
from drg_engine.selection import AUTO
from drg_engine.validate import (
    CODE_LIST_COLUMNS,
    DATE_COLUMNS,
    FLOAT_COLUMNS,
    INT32_MAX,
    INTEGER_COLUMNS,
    NUMBER_COLUMNS,
    TEXT_COLUMNS,
    normalize_claims,
)

DEFAULT_BATCH_ROWS = 262_144
DEFAULT_WORKERS = 2
# Hashes of claim ids kept in memory before they are spilled to partition files (8 bytes each:
# 128 MB, during the first pass only).
SPILL_HASHES = 16_000_000
_SPILL_PARTITIONS = 64
_CSV_BLOCK_BYTES = 32 << 20
_JSONL_BLOCK_BYTES = 32 << 20
# Largest integer a decimal(18, 2) amount holds.
_MONEY_LIMIT = 10**16

RulesArg = str | Path | CompiledRules
# The input columns results-only output reads: what grouping reads, and what the reject
# checks read (numbers, dates, the claim id); the other text columns are only carried.
_RESULT_INPUTS = ("claim_id", "sex", *NUMBER_COLUMNS, *DATE_COLUMNS, *CODE_LIST_COLUMNS)


# --- exact text cleaning (validate's ``_text``: strip, empty -> null) -----------------------------

# A string needs no stripping when its first character is printable ASCII or a CJK ideograph
# (UTF-8 lead bytes E4-E9) and so is its last; anything else is checked exactly by polars.
_SAFE_FIRST = np.zeros(256, dtype=bool)
_SAFE_FIRST[0x21:0x7F] = True
_SAFE_FIRST[0xE4:0xEA] = True
_SAFE_LAST_ASCII = np.zeros(256, dtype=bool)
_SAFE_LAST_ASCII[0x21:0x7F] = True


def _may_change(array: pa.Array) -> bool:
    """Whether stripping might change a value or a value is empty (a fast, safe over-estimate)."""
    if len(array) == 0 or array.null_count == len(array):
        return False
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[array.offset:array.offset + len(array)
                                                           + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else None
    starts, ends = offsets[:-1], offsets[1:]
    if array.null_count:
        valid = np.asarray(array.is_valid())
        starts, ends = starts[valid], ends[valid]
    if data is None or (ends <= starts).any():
        return True  # an empty string becomes null
    if not _SAFE_FIRST[data[starts]].all():
        return True
    last = ends - 1
    safe_last = _SAFE_LAST_ASCII[data[last]]
    if safe_last.all():
        return False
    # A last byte beyond ASCII: safe when it ends a CJK ideograph (lead byte E4-E9).
    lead_at = last[~safe_last] - 2
    if (lead_at < starts[~safe_last]).any():
        return True
    lead = data[lead_at]
    return not bool(((lead >= 0xE4) & (lead <= 0xE9)).all())


def _strip(array: pa.Array) -> pa.Array:
    """Every value stripped of surrounding whitespace, exactly as polars ``strip_chars``."""
    series = pl.Series("v", array)
    if series.dtype != pl.String:
        series = series.cast(pl.String)
    return series.str.strip_chars().to_arrow().cast(pa.string())


def clean_text(array: pa.Array) -> pa.Array:
    """A text column as ``validate`` reads it: stripped, empty text as null, type string."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    if not pa.types.is_string(array.type) or _may_change(array):
        stripped = _strip(array)
        return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)
    return array


# --- the typed fast path of normalisation ---------------------------------------------------------

_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_null)


def _is_text(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return any(check(data_type) for check in _TEXT_TYPES)


def _is_number(data_type: pa.DataType) -> bool:
    return (pa.types.is_integer(data_type) or pa.types.is_floating(data_type)
            or pa.types.is_null(data_type))


def _is_money(data_type: pa.DataType) -> bool:
    if pa.types.is_decimal128(data_type):
        return data_type.scale in (0, 1, 2) and data_type.precision - data_type.scale <= 16
    return pa.types.is_integer(data_type) or pa.types.is_null(data_type)


def _is_code_list(data_type: pa.DataType) -> bool:
    if pa.types.is_null(data_type):
        return True
    if not (pa.types.is_list(data_type) or pa.types.is_large_list(data_type)):
        return False
    return _is_text(data_type.value_type) and not pa.types.is_null(
        data_type.value_type.value_type if pa.types.is_dictionary(data_type.value_type)
        else data_type.value_type
    )


_FAST_TYPES: dict[str, Callable[[pa.DataType], bool]] = {
    **dict.fromkeys(TEXT_COLUMNS, _is_text),
    "sex": lambda t: _is_number(t) or _is_text(t),
    **dict.fromkeys(FLOAT_COLUMNS + INTEGER_COLUMNS, _is_number),
    **dict.fromkeys(DATE_COLUMNS, lambda t: pa.types.is_date32(t) or pa.types.is_null(t)),
    "total_cost": _is_money,
    **dict.fromkeys(CODE_LIST_COLUMNS, _is_code_list),
}


def _single(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    if column.num_chunks == 0:
        return pa.array([], type=column.type)
    is_list = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
    if is_list and pa.types.is_dictionary(column.type.value_type):
        # Chunks may carry different dictionaries; decode them to join the chunks.
        plain = pa.list_(column.type.value_type.value_type)
        return pa.concat_arrays([chunk.cast(plain) for chunk in column.chunks])
    return column.combine_chunks()


def _as_float(array: pa.Array) -> np.ndarray:
    """float64 values with NaN for null (and for NaN)."""
    if pa.types.is_null(array.type):
        return np.full(len(array), np.nan)
    values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
    if array.null_count and not pa.types.is_floating(array.type):
        values = np.where(np.asarray(array.is_valid()), values, np.nan)
    elif array.null_count:
        values = values.copy()
        values[~np.asarray(array.is_valid())] = np.nan
    return values


def _sex_codes(array: pa.Array) -> pa.Array:
    """Sex as validate reads it: 1 male, 2 female, 0 unrecognised, null missing."""
    if _is_text(array.type) and not pa.types.is_null(array.type):
        # Text sex (1/2, 男/女, M/F, ...): the few distinct values go through validate itself.
        text = array.dictionary_decode() if pa.types.is_dictionary(array.type) else array
        distinct = pc.unique(text)
        probe = pa.table({
            "claim_id": pa.array([str(i) for i in range(len(distinct))], pa.string()),
            "sex": distinct,
            "age_years": pa.nulls(len(distinct), pa.float64()),
            "diagnoses": pa.nulls(len(distinct), pa.list_(pa.string())),
            "procedures": pa.nulls(len(distinct), pa.list_(pa.string())),
        })
        codes = normalize_claims(probe).clean.column("sex").combine_chunks()
        return codes.take(pc.index_in(text, value_set=distinct))
    values = _as_float(array)
    codes = np.where(values == 1, 1, np.where(values == 2, 2, 0)).astype(np.int8)
    return pa.array(codes, type=pa.int8(), mask=np.isnan(values))


def _code_lists(array: pa.Array) -> pa.Array:
    """Code lists as validate reads them: codes stripped, empty and null codes dropped, a null
    list empty. Dictionary-encoded codes stay dictionary-encoded (cleaned once per entry)."""
    n = len(array)
    if pa.types.is_null(array.type):
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)),
                                        pa.array([], pa.string()))
    offsets = np.asarray(array.offsets, dtype=np.int64)
    values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    offsets = offsets - offsets[0]
    list_valid = np.asarray(array.is_valid()) if array.null_count else None
    dictionary = pa.types.is_dictionary(values.type)
    texts = values.dictionary if dictionary else values
    if pa.types.is_large_string(texts.type):
        texts = texts.cast(pa.string())
    changed = _may_change(texts)
    if changed:
        texts = _strip(texts)
    text_keep = np.asarray(pc.and_(pc.is_valid(texts), pc.not_equal(texts, "")).fill_null(False))
    if dictionary:
        indices = values.indices
        keep = text_keep[np.asarray(indices.fill_null(0))]
        if indices.null_count:
            keep &= np.asarray(indices.is_valid())
    else:
        keep = text_keep
    if list_valid is not None:
        keep &= np.repeat(list_valid, np.diff(offsets))
    if not changed and list_valid is None and keep.all():
        # Nothing to clean: the codes as they came (the common case, at no cost).
        if not dictionary:
            return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), texts)
        if values.type == pa.dictionary(pa.int32(), pa.string()):
            return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    kept = np.flatnonzero(keep)
    owner = np.repeat(np.arange(n), np.diff(offsets))
    counts = np.bincount(owner[kept], minlength=n)
    new_offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    if dictionary:
        kept_values: pa.Array = pa.DictionaryArray.from_arrays(
            pa.array(np.asarray(values.indices.fill_null(0))[kept].astype(np.int32)), texts)
    else:
        kept_values = texts.take(pa.array(kept))
    return pa.ListArray.from_arrays(new_offsets, kept_values)


@dataclass(frozen=True)
class _Typed:
    """The fast path's view of a batch: canonical columns for every row, and the rows that
    ``normalize_claims`` would reject (flagged), before duplicate checks."""

    columns: dict[str, pa.Array]
    flagged: np.ndarray


def _typed_columns(raw: pa.Table, sources: dict[str, int], carry_input: bool) -> _Typed | None:
    """Canonical columns straight from typed input, or None when a column needs parsing.

    Without ``carry_input`` the text columns grouping does not read (all but claim_id) are left
    null: they cannot cause a reject, and only ``keep_input`` writes them.
    """
    n = raw.num_rows
    arrays: dict[str, pa.Array] = {}
    for name, accepts in _FAST_TYPES.items():
        if name not in sources:
            arrays[name] = pa.nulls(n, pa.null())
            continue
        column = raw.column(sources[name])
        if not accepts(column.type):
            return None
        arrays[name] = _single(column)
    flagged = np.zeros(n, dtype=bool)
    columns: dict[str, pa.Array] = {
        "row_number": pa.array(np.arange(1, n + 1, dtype=np.int64)),
    }
    for name in TEXT_COLUMNS:
        if carry_input or name == "claim_id":
            columns[name] = clean_text(arrays[name])
        else:
            columns[name] = pa.nulls(n, pa.string())
    flagged |= np.asarray(columns["claim_id"].is_null())
    columns["sex"] = _sex_codes(arrays["sex"])
    for name in FLOAT_COLUMNS:
        values = _as_float(arrays[name])
        flagged |= np.isinf(values)  # BAD_NUMBER: present but not finite
        columns[name] = pa.array(values, type=pa.float64(), mask=np.isnan(values))
    integers: dict[str, np.ndarray] = {}
    for name in INTEGER_COLUMNS:
        values = _as_float(arrays[name])
        present = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            usable = (values == np.floor(values)) & (np.abs(values) <= INT32_MAX)
        flagged |= present & ~usable  # BAD_NUMBER: not a whole number in range
        integers[name] = np.where(usable, values, 0).astype(np.int32)
        columns[name] = pa.array(integers[name], type=pa.int32(), mask=~usable)
    for name in DATE_COLUMNS:
        columns[name] = arrays[name].cast(pa.date32())
    cost = arrays["total_cost"]
    if pa.types.is_integer(cost.type):
        too_big = np.abs(_as_float(cost)) >= _MONEY_LIMIT  # NaN (null) compares False
        flagged |= too_big  # BAD_NUMBER: out of range for an amount
        if too_big.any():
            cost = pc.if_else(pa.array(too_big), pa.scalar(None, cost.type), cost)
    columns["total_cost"] = cost.cast(CLAIM_SCHEMA.field("total_cost").type)
    for name in CODE_LIST_COLUMNS:
        columns[name] = _code_lists(arrays[name])

    admit = columns["admit_date"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    discharge = columns["discharge_date"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    los = columns["los_days"]
    with np.errstate(invalid="ignore"):
        flagged |= np.asarray(pc.less(los, 0).fill_null(False))  # NEGATIVE_LOS
        stay = np.asarray(discharge, dtype=np.float64) - np.asarray(admit, dtype=np.float64)
    flagged |= stay < 0  # DISCHARGE_BEFORE_ADMISSION (NaN when a date is missing)
    if los.null_count:
        # The national convention: a same-day stay counts as one day.
        derivable = ~np.isnan(stay) & np.asarray(los.is_null())
        if derivable.any():
            derived = np.where(stay == 0, 1, np.nan_to_num(stay)).astype(np.int32)
            filled = np.where(derivable, derived, integers["los_days"])
            columns["los_days"] = pa.array(
                filled, type=pa.int32(), mask=np.asarray(los.is_null()) & ~derivable)
    return _Typed(columns, flagged)


# --- normalising one batch ------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalisedBatch:
    """One batch normalised: ``clean`` rows (code lists possibly dictionary-encoded) and
    ``rejects``; row numbers count from 1 within the batch."""

    clean: pa.Table
    rejects: pa.Table


def _clean_table(columns: dict[str, pa.Array]) -> pa.Table:
    fields = []
    for schema_field in CLAIM_SCHEMA:
        if schema_field.name in CODE_LIST_COLUMNS:
            fields.append(pa.field(schema_field.name, columns[schema_field.name].type, False))
        else:
            fields.append(schema_field)
    return pa.Table.from_arrays([columns[f.name] for f in fields], schema=pa.schema(fields))


def normalise_batch(raw: pa.Table, resolution: ColumnResolution | None = None, *,
                    carry_input: bool = True) -> NormalisedBatch:
    """Normalise one raw batch exactly as ``validate.normalize_claims``, duplicates aside.

    Duplicates within the batch are not rejected here (``finish_batch`` decides them over the
    whole input); everything else - clean values, reject reasons, fields and messages - is
    ``normalize_claims``'s. Without ``carry_input`` the text columns other than claim_id may
    be left null (the results do not need them).
    """
    resolution = resolution or resolve_columns(raw.column_names)
    typed = _typed_columns(raw, resolution.sources, carry_input)
    if typed is None:
        return _normalise_whole(raw)
    clean = _clean_table(typed.columns)
    if not typed.flagged.any():
        return NormalisedBatch(clean, empty_table(REJECT_SCHEMA))
    flagged = np.flatnonzero(typed.flagged)
    checked = normalize_claims(raw.take(pa.array(flagged)))
    if checked.clean.num_rows:
        # The check flagged a row validate accepts; trust validate for the whole batch.
        return _normalise_whole(raw)
    rejects = checked.rejects.set_column(
        0, "row_number", pa.array(flagged[np.asarray(checked.rejects.column("row_number")) - 1]
                                  + 1, type=pa.int64()))
    return NormalisedBatch(clean.filter(pa.array(~typed.flagged)), rejects)


def _normalise_whole(raw: pa.Table) -> NormalisedBatch:
    """The general path: ``normalize_claims`` on the batch, its duplicate verdicts undone.

    In-batch duplicates are returned as clean rows again (in row order), so that
    ``finish_batch`` decides every duplicate, across batches, the same way.
    """
    normalised = normalize_claims(raw)
    rejects = normalised.rejects
    duplicate = pc.equal(rejects.column("reason_code"), str(RejectReason.DUPLICATE_CLAIM_ID))
    if not pc.any(duplicate).as_py():
        return NormalisedBatch(normalised.clean, rejects)
    rows = np.asarray(rejects.filter(duplicate).column("row_number")) - 1
    again = normalize_claims(_with_unique_ids(raw.take(pa.array(rows)), raw)).clean
    again = again.set_column(0, "row_number", pa.array(rows + 1, type=pa.int64()))
    again = again.set_column(1, "claim_id", rejects.filter(duplicate).column("claim_id"))
    clean = pa.concat_tables([normalised.clean, again.cast(normalised.clean.schema)])
    order = pc.sort_indices(clean, [("row_number", "ascending")])
    return NormalisedBatch(clean.take(order), rejects.filter(pc.invert(duplicate)))


def _with_unique_ids(rows: pa.Table, raw: pa.Table) -> pa.Table:
    """``rows`` with claim ids made unique, to normalise duplicate rows once more."""
    source = resolve_columns(raw.column_names).sources["claim_id"]
    unique = pa.array([f"dup{i}" for i in range(rows.num_rows)], pa.string())
    return rows.set_column(source, rows.field(source).with_type(pa.string()), unique)


# --- duplicate claim ids over the whole input -----------------------------------------------------


def id_hashes(ids: pa.Array) -> np.ndarray:
    """64-bit hashes of normalised claim ids (nulls dropped); equal ids, equal hashes."""
    ids = ids.drop_null() if ids.null_count else ids
    return pl.Series("id", ids).cast(pl.String).hash().to_numpy()


class DuplicateIndex:
    """The hashes of every normalised claim id; finds those seen more than once.

    Up to ``spill`` hashes stay in memory; beyond that they go to partition files in a
    temporary folder (by their top bits), so memory does not grow with the file.
    """

    def __init__(self, spill: int = SPILL_HASHES) -> None:
        self._spill = spill
        self._parts: list[np.ndarray] = []
        self._held = 0
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._files: list[io.BufferedWriter] = []

    def add(self, hashes: np.ndarray) -> None:
        self._parts.append(hashes)
        self._held += len(hashes)
        if self._held > self._spill:
            self._flush()

    def _flush(self) -> None:
        if not self._parts:
            return
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="drg-ids-")
            self._files = [
                open(Path(self._folder.name) / f"{p:02d}.u64", "wb")  # noqa: SIM115
                for p in range(_SPILL_PARTITIONS)
            ]
        # Sorted, a block splits into the partitions (by the top 6 bits) with a binary search.
        hashes = np.sort(np.concatenate(self._parts))
        edges = np.arange(1, _SPILL_PARTITIONS, dtype=np.uint64) << np.uint64(58)
        bounds = [0, *np.searchsorted(hashes, edges).tolist(), len(hashes)]
        for p in range(_SPILL_PARTITIONS):
            hashes[bounds[p]:bounds[p + 1]].tofile(self._files[p])
        self._parts, self._held = [], 0

    def repeated(self) -> np.ndarray:
        """The sorted hashes that occur more than once."""
        try:
            if self._folder is None:
                return _repeated(np.concatenate(self._parts) if self._parts
                                 else np.zeros(0, np.uint64))
            self._flush()
            found = []
            for p, handle in enumerate(self._files):
                handle.close()
                found.append(_repeated(np.fromfile(Path(self._folder.name) / f"{p:02d}.u64",
                                                   dtype=np.uint64)))
            return np.concatenate(found)
        finally:
            self.close()

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self._files, self._parts = [], []


def _repeated(hashes: np.ndarray) -> np.ndarray:
    """The sorted distinct values occurring more than once."""
    hashes = np.sort(hashes)
    again = hashes[1:][hashes[1:] == hashes[:-1]]
    return again[np.r_[True, again[1:] != again[:-1]]] if len(again) else again


def _suspects(ids: pa.Array, repeated: np.ndarray) -> np.ndarray:
    """Positions of the ids whose hash occurs more than once in the input."""
    if len(repeated) == 0 or len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    hashes = pl.Series("id", ids).cast(pl.String).hash().to_numpy()
    where = np.minimum(np.searchsorted(repeated, hashes), len(repeated) - 1)
    return np.flatnonzero(repeated[where] == hashes)


def _duplicate_message(claim_id: str, first_row: int) -> str:
    # The wording of validate's DUPLICATE_CLAIM_ID message.
    return (f"claim_id '{claim_id}' already appears on row {first_row} "
            "(the first occurrence is kept)")


# --- the batch function ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOutcome:
    """One batch grouped; row numbers count from 1 within the batch, duplicates not decided."""

    input_rows: int
    results: pa.Table  # one row per clean claim, in input order
    rejects: pa.Table
    clean: pa.Table | None  # the clean input columns, with keep_input
    rows: np.ndarray  # the batch row number of each result row
    suspects: np.ndarray  # result rows whose claim id may occur elsewhere in the input
    rule_sets: tuple[str, ...]


def _group(clean: pa.Table, rules: CompiledRules | str, evidence: bool,
           dictionary: bool) -> tuple[pa.Table, tuple[str, ...]]:
    if isinstance(rules, CompiledRules):
        return group_batch(clean, rules, evidence=evidence, dictionary=dictionary), (
            rules.rule_set_id,)
    from drg_engine.pipeline import _group_auto  # the whole-file path's own auto selection

    plain = clean
    for name in CODE_LIST_COLUMNS:
        plain = plain.set_column(plain.schema.get_field_index(name),
                                 CLAIM_SCHEMA.field(name), plain.column(name).cast(
                                     CLAIM_SCHEMA.field(name).type))
    results, used = _group_auto(plain, evidence, None)
    return results, tuple(used)


def process_batch(
    raw: pa.Table,
    rules: CompiledRules | str,
    *,
    repeated: np.ndarray | None = None,
    resolution: ColumnResolution | None = None,
    evidence: bool = False,
    keep_input: bool = False,
    dictionary: bool = False,
) -> BatchOutcome:
    """Normalise and group one raw batch: the unit of work of every engine.

    ``rules`` is compiled rules or ``"auto"``; ``repeated`` the sorted claim-id hashes that
    occur more than once in the whole input (:class:`DuplicateIndex`).
    """
    normalised = normalise_batch(raw, resolution,
                                 carry_input=keep_input or not isinstance(rules, CompiledRules))
    clean = normalised.clean
    results, used = _group(clean, rules, evidence, dictionary)
    ids = clean.column("claim_id").combine_chunks() if clean.num_rows else pa.array(
        [], pa.string())
    suspects = _suspects(ids, repeated if repeated is not None else np.zeros(0, np.uint64))
    rows = np.asarray(clean.column("row_number").combine_chunks()) if clean.num_rows else \
        np.zeros(0, dtype=np.int64)
    return BatchOutcome(raw.num_rows, results, normalised.rejects,
                        clean if keep_input else None, rows, suspects, used)


def with_suspects(outcome: BatchOutcome, repeated: np.ndarray) -> BatchOutcome:
    """``outcome`` with its suspects found, for a batch processed before ``repeated`` was known
    (the local job overlaps the two passes)."""
    if len(repeated) == 0 or outcome.results.num_rows == 0:
        return outcome
    ids = outcome.results.column("claim_id").combine_chunks()
    return dataclasses.replace(outcome, suspects=_suspects(ids, repeated))


@dataclass(frozen=True)
class FinishedBatch:
    """A batch ready to write: duplicates decided, row numbers counted over the input."""

    input_rows: int
    results: pa.Table
    rejects: pa.Table
    clean: pa.Table | None
    rule_sets: tuple[str, ...] = ()

    def output(self, keep_input: bool) -> pa.Table:
        """The results, followed by the clean input columns with ``keep_input``."""
        if not keep_input:
            return self.results
        assert self.clean is not None, "process_batch(keep_input=True) keeps the clean columns"
        return _with_input(self.results, self.clean)


def finish_batch(outcome: BatchOutcome, row_offset: int, first_rows: dict[str, int],
                 *, record: bool = True) -> FinishedBatch:
    """Decide duplicates and make row numbers global (``row_offset`` rows precede the batch).

    ``first_rows`` maps a repeated claim id to the row of its first clean occurrence. Called
    on batches in input order with ``record`` it is filled as it goes (the local stream); the
    distributed engines pass the complete map, computed beforehand, with ``record=False``.
    """
    rejects = outcome.rejects
    if rejects.num_rows:
        rejects = rejects.set_column(0, "row_number", pc.add(rejects.column("row_number"),
                                                             row_offset))
    results, clean = outcome.results, outcome.clean
    if len(outcome.suspects):
        ids = results.column("claim_id").take(pa.array(outcome.suspects)).to_pylist()
        rows = (outcome.rows[outcome.suspects] + row_offset).tolist()
        duplicate_at, duplicate_rows, messages = [], [], []
        for position, claim_id, row in zip(outcome.suspects.tolist(), ids, rows, strict=True):
            first = first_rows.get(claim_id)
            if first is None:
                if record:
                    first_rows[claim_id] = row
            elif first != row:
                duplicate_at.append(position)
                duplicate_rows.append(row)
                messages.append(_duplicate_message(claim_id, first))
        if duplicate_at:
            keep = np.ones(results.num_rows, dtype=bool)
            keep[duplicate_at] = False
            duplicates = pa.table({
                "row_number": pa.array(duplicate_rows, pa.int64()),
                "claim_id": results.column("claim_id").take(pa.array(duplicate_at)),
                "field": pa.array(["claim_id"] * len(duplicate_at), pa.string()),
                "reason_code": pa.array([str(RejectReason.DUPLICATE_CLAIM_ID)]
                                        * len(duplicate_at), pa.string()),
                "message": pa.array(messages, pa.string()),
            }, schema=REJECT_SCHEMA)
            rejects = pa.concat_tables([rejects, duplicates])
            rejects = rejects.take(pc.sort_indices(rejects, [("row_number", "ascending")]))
            results = results.filter(pa.array(keep))
            if clean is not None:
                clean = clean.filter(pa.array(keep))
    if clean is not None:
        clean = clean.set_column(0, "row_number", pc.add(clean.column("row_number"),
                                                         row_offset))
    return FinishedBatch(outcome.input_rows, results, rejects, clean, outcome.rule_sets)


# --- input batches --------------------------------------------------------------------------------


class _Source(Protocol):
    """An input file as batches: loaders run in the workers, in input order."""

    def loaders(self, columns: list[int] | None = None) -> Iterator[Callable[[], pa.Table]]: ...
    def claim_ids(self, resolution: ColumnResolution) -> Iterator[Callable[[], pa.Array]]: ...
    def first(self) -> pa.Table: ...


class _ParquetSource:
    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path = path
        self.batch_rows = batch_rows
        self.file = pq.ParquetFile(path)
        schema = self.file.schema_arrow
        resolution = resolve_columns(schema.names, required=())
        lists = [schema.names[i] for name, i in resolution.sources.items()
                 if name in CODE_LIST_COLUMNS and _is_code_list(schema.field(i).type)
                 and not pa.types.is_null(schema.field(i).type)]
        parquet_schema = self.file.schema
        self.read_dictionary = [
            parquet_schema.column(i).path for i in range(len(parquet_schema))
            if parquet_schema.column(i).path.split(".")[0] in lists
        ]
        self._local = threading.local()

    def _file(self) -> pq.ParquetFile:
        handle = getattr(self._local, "file", None)
        if handle is None:
            handle = self._local.file = pq.ParquetFile(self.path,
                                                       read_dictionary=self.read_dictionary)
        return handle

    def _tables(self, columns: list[str] | None = None) -> Iterator[Callable[[], pa.Table]]:
        metadata = self.file.metadata
        for group in range(metadata.num_row_groups):
            if metadata.row_group(group).num_rows <= self.batch_rows:
                # A worker reads the row group.
                yield lambda g=group: self._file().read_row_group(g, columns=columns)
                continue
            # A large row group is read here in slices of one row group (pyarrow cannot
            # slice nested dictionary columns across row groups), through a small buffer.
            reader = pq.ParquetFile(self.path, read_dictionary=self.read_dictionary,
                                    buffer_size=1 << 20, pre_buffer=False)
            for batch in reader.iter_batches(batch_size=self.batch_rows, row_groups=[group],
                                             columns=columns):
                table = pa.Table.from_batches([batch])
                yield lambda t=table: t

    def loaders(self, columns: list[int] | None = None) -> Iterator[Callable[[], pa.Table]]:
        names = self.file.schema_arrow.names
        return self._tables(None if columns is None else [names[i] for i in columns])

    def claim_ids(self, resolution: ColumnResolution) -> Iterator[Callable[[], pa.Array]]:
        name = self.file.schema_arrow.names[resolution.sources["claim_id"]]
        for load in self._tables([name]):
            yield lambda load=load: _single(load().column(0))

    def first(self) -> pa.Table:
        return empty_table(self.file.schema_arrow)


def _read_csv_header(path: Path) -> list[str]:
    from drg_engine.io import _read_csv_header as header  # the whole-file reader's header rule

    return header(path)


class _CsvSource:
    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path = path
        self.batch_rows = batch_rows
        self.header = _read_csv_header(path)
        self.placeholders = [f"c{i}" for i in range(len(self.header))]

    def _reader(self, include: list[str] | None = None) -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            pa.input_stream(str(self.path), compression="detect"),
            read_options=pacsv.ReadOptions(column_names=self.placeholders, skip_rows=1,
                                           block_size=_CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(self.placeholders, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
                include_columns=include,
            ),
        )

    def _tables(self, include: list[str] | None = None) -> Iterator[pa.Table]:
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in self._reader(include):
            pending.append(batch)
            held += batch.num_rows
            while held >= self.batch_rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, self.batch_rows)
                rest = table.slice(self.batch_rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield pa.Table.from_batches(pending)

    def loaders(self, columns: list[int] | None = None) -> Iterator[Callable[[], pa.Table]]:
        include = None if columns is None else [self.placeholders[i] for i in columns]
        names = self.header if columns is None else [self.header[i] for i in columns]
        for table in self._tables(include):
            yield lambda t=table: t.rename_columns(names)

    def claim_ids(self, resolution: ColumnResolution) -> Iterator[Callable[[], pa.Array]]:
        column = self.placeholders[resolution.sources["claim_id"]]
        for table in self._tables([column]):
            yield lambda t=table: _single(t.column(0))

    def first(self) -> pa.Table:
        return empty_table(pa.schema([(name, pa.string()) for name in self.header]))


class _JsonLinesSource:
    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path = path
        if path.stat().st_size == 0:
            raise InputFormatError(
                f"{path}: the file is empty (expected one JSON object a line)")
        self.block_bytes = _JSONL_BLOCK_BYTES

    def _blocks(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            carry = b""
            while chunk := handle.read(self.block_bytes):
                block = carry + chunk
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    carry = block
                    continue
                carry = block[cut:]
                yield block[:cut]
            if carry.strip():
                yield carry

    def _parse(self, block: bytes) -> pa.Table:
        try:
            return pajson.read_json(io.BytesIO(block))
        except pa.ArrowException as exc:
            raise InputFormatError(f"{self.path}: cannot be read as jsonl: {exc}") from None

    def loaders(self, columns: list[int] | None = None) -> Iterator[Callable[[], pa.Table]]:
        # Every block infers its own columns, so none are dropped here.
        for block in self._blocks():
            yield lambda b=block: self._parse(b)

    def claim_ids(self, resolution: ColumnResolution) -> Iterator[Callable[[], pa.Array]]:
        for block in self._blocks():
            yield lambda b=block: self._claim_column(self._parse(b))

    def _claim_column(self, table: pa.Table) -> pa.Array:
        sources = resolve_columns(table.column_names).sources
        return _single(table.column(sources["claim_id"]))

    def first(self) -> pa.Table:
        for block in self._blocks():
            return empty_table(self._parse(block).schema)
        raise InputFormatError(f"{self.path}: the file is empty (expected one JSON object "
                               "a line)")  # pragma: no cover


class _IpcSource:
    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path = path
        self.batch_rows = batch_rows
        source = pa.memory_map(str(path))
        try:
            self.reader: Any = pa.ipc.open_file(source)
            self.batches = [self.reader.get_batch(i)
                            for i in range(self.reader.num_record_batches)]
        except pa.ArrowInvalid:
            # The IPC stream format; its batches are read once, memory-mapped.
            self.batches = list(pa.ipc.open_stream(pa.memory_map(str(path))))
        self.schema = self.batches[0].schema if self.batches else self.reader.schema

    def _slices(self) -> Iterator[pa.Table]:
        for batch in self.batches:
            for start in range(0, batch.num_rows, self.batch_rows):
                yield pa.Table.from_batches([batch.slice(start, self.batch_rows)])

    def loaders(self, columns: list[int] | None = None) -> Iterator[Callable[[], pa.Table]]:
        for table in self._slices():
            yield lambda t=table: t if columns is None else t.select(columns)

    def claim_ids(self, resolution: ColumnResolution) -> Iterator[Callable[[], pa.Array]]:
        index = resolution.sources["claim_id"]
        for table in self._slices():
            yield lambda t=table: _single(t.column(index))

    def first(self) -> pa.Table:
        return empty_table(self.schema)


_SOURCES: dict[str, Callable[[Path, int], _Source]] = {
    "parquet": _ParquetSource,
    "csv": _CsvSource,
    "jsonl": _JsonLinesSource,
    "ipc": _IpcSource,
}


def open_source(path: str | os.PathLike[str], batch_rows: int = DEFAULT_BATCH_ROWS) -> _Source:
    """The batches of a claims file (format by extension, as ``io.read_claims``)."""
    source, kind = claims_file(path)
    try:
        return _SOURCES[kind](source, batch_rows)
    except (pa.ArrowException, pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputFormatError(f"{source}: cannot be read as {kind}: {exc}") from None


# --- output ---------------------------------------------------------------------------------------


class _Sink:
    """One output file written batch by batch, atomically (temp file, then rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = file_format(path)
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise OutputPathError(f"cannot write {path}: folder {folder} does not exist")
        descriptor, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(descriptor)
        self.temp = Path(temp)
        self._writer: Any = None
        self._handle: Any = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self.kind != "parquet":
            table = _plain(table)
        if self.kind == "parquet":
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.temp, table.schema,
                                                **parquet_options(table.schema))
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        elif self.kind == "ipc":
            if self._writer is None:
                self._handle = pa.OSFile(str(self.temp), "wb")
                self._writer = pa.ipc.new_file(self._handle, table.schema)
            self._writer.write_table(table)
        elif self.kind == "jsonl":
            if self._handle is None:
                self._handle = self.temp.open("wb")
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            frame.write_ndjson(self._handle)
        else:
            flat = _joined_lists(table)
            if self._writer is None:
                self._handle = (pa.CompressedOutputStream(str(self.temp), "gzip")
                                if self.path.name.lower().endswith(".gz")
                                else pa.OSFile(str(self.temp), "wb"))
                self._writer = pacsv.CSVWriter(self._handle, flat.schema)
            self._writer.write_table(flat)
        self.rows += table.num_rows

    def close(self, schema: pa.Schema) -> None:
        if self._writer is None and self._handle is None:
            self.write(empty_table(schema))
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None:
            self._handle.close()
        publish(self.temp, self.path)

    def abort(self) -> None:
        for closable in (self._writer, self._handle):
            if closable is not None:
                with contextlib.suppress(OSError, pa.ArrowException, ValueError):
                    closable.close()
        self.temp.unlink(missing_ok=True)


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """ParquetWriter options for results: dictionary pages except for the unique ids (hashing
    a claim id for a dictionary is wasted work); min/max statistics only for the carried
    input columns that are not text (dates, numbers: what readers filter on) - for the label
    columns they would take longer than writing them; the Arrow schema is not stored, so
    dictionary-encoded labels read back as plain strings."""
    unique = ("claim_id", "row_number", "patient_id")
    return {
        "use_dictionary": [name for name in schema.names if name not in unique],
        "write_statistics": [f.name for f in schema if f.name not in unique
                             and not _is_text(f.type) and not pa.types.is_list(f.type)],
        "store_schema": False,
    }


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded (the written types are the whole-file path's)."""
    if not any(pa.types.is_dictionary(t) or (
            (pa.types.is_list(t) or pa.types.is_large_list(t))
            and pa.types.is_dictionary(t.value_type)) for t in table.schema.types):
        return table
    fields, columns = [], []
    for schema_field, column in zip(table.schema, table.columns, strict=True):
        data_type = schema_field.type
        if pa.types.is_dictionary(data_type):
            data_type = data_type.value_type
        elif pa.types.is_list(data_type) and pa.types.is_dictionary(data_type.value_type):
            data_type = pa.list_(data_type.value_type.value_type)
        fields.append(schema_field.with_type(data_type))
        columns.append(column.cast(data_type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _joined_lists(table: pa.Table) -> pa.Table:
    columns = []
    for column in table.columns:
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.binary_join(column.cast(pa.list_(pa.string())), LIST_SEPARATOR)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _with_input(results: pa.Table, clean: pa.Table) -> pa.Table:
    """``GroupRun.results_with_input`` for one batch: results, then the clean columns."""
    carried = clean.drop_columns(["claim_id"])
    for name in carried.column_names:
        column = carried.column(name)
        target = CLAIM_SCHEMA.field(name).type
        if column.type != target:
            column = column.cast(target)
        results = results.append_column(CLAIM_SCHEMA.field(name), column)
    return results


# --- the streaming job ----------------------------------------------------------------------------


@dataclass
class StreamSummary:
    """What a streaming run did: counts for the closing summary, and where files went."""

    input_rows: int = 0
    grouped_rows: int = 0
    rejected_rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    reject_reasons: Counter[str] = field(default_factory=Counter)
    drgs: Counter[str] = field(default_factory=Counter)  # successful claims per DRG
    rule_sets: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    output: Path | None = None
    rejects_path: Path | None = None

    @property
    def rule_set_label(self) -> str:
        return ", ".join(self.rule_sets) or "none"

    def add(self, batch: FinishedBatch, input_rows: int) -> None:
        self.add_tables(batch.results, batch.rejects, input_rows)

    def add_tables(self, results: pa.Table, rejects: pa.Table, input_rows: int) -> None:
        """Count one batch's results and rejects (``input_rows`` rows read)."""
        self.input_rows += input_rows
        self.grouped_rows += results.num_rows
        self.rejected_rows += rejects.num_rows
        status = results.column("status")
        self.statuses.update(_value_counts(status))
        self.reject_reasons.update(_value_counts(rejects.column("reason_code")))
        success = pc.equal(status.cast(pa.string()) if pa.types.is_dictionary(status.type)
                           else status, pa.scalar("SUCCESS"))
        self.drgs.update(_value_counts(results.column("drg").filter(success)))


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    """Occurrences of each value (nulls left out); dictionary columns count their indices."""
    counts: Counter[str] = Counter()
    for chunk in column.chunks:
        if isinstance(chunk, pa.DictionaryArray):
            indices = chunk.indices.drop_null() if chunk.indices.null_count else chunk.indices
            tally = np.bincount(np.asarray(indices), minlength=len(chunk.dictionary))
            labels = chunk.dictionary.to_pylist()
            counts.update({labels[i]: int(tally[i]) for i in np.flatnonzero(tally)})
        else:
            for row in pc.value_counts(chunk.drop_null()).to_pylist():
                counts[row["values"]] += row["counts"]
    return counts


def _resolve(rules: RulesArg) -> CompiledRules | str:
    if isinstance(rules, CompiledRules):
        return rules
    if rules == AUTO:
        return AUTO
    return load_rules(rules)


class _Workers:
    """Worker threads running tasks a bounded number ahead, their results taken in order."""

    def __init__(self, workers: int) -> None:
        self.depth = 2 * max(workers, 1)
        self.pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drg-stream")
                     if workers > 1 else None)

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def ordered(self, tasks: Iterable[Callable[[], Any]],
                then: Callable[[], None] | None = None) -> Iterator[Any]:
        """The tasks' results in order; ``then`` runs once all tasks are submitted (to queue
        the next stage's first tasks behind them, so no worker waits between stages)."""
        if self.pool is None:
            for task in tasks:
                yield task()
            if then is not None:
                then()
            return
        pending: deque[Future[Any]] = deque()
        try:
            for task in tasks:
                pending.append(self.pool.submit(task))
                if len(pending) >= self.depth:
                    yield pending.popleft().result()
            if then is not None:
                then()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def queued(self, tasks: Iterator[Callable[[], Any]]) -> _Queued:
        return _Queued(self, tasks)


class _Queued:
    """A stage whose first tasks can be queued early (``start``) and whose results are taken
    in order afterwards, ``depth`` tasks ahead."""

    def __init__(self, workers: _Workers, tasks: Iterator[Callable[[], Any]]) -> None:
        self.workers, self.tasks = workers, tasks
        self.pending: deque[Future[Any]] = deque()

    def _submit(self) -> bool:
        task = next(self.tasks, None)
        if task is None:
            return False
        assert self.workers.pool is not None
        self.pending.append(self.workers.pool.submit(task))
        return True

    def start(self) -> None:
        if self.workers.pool is not None:
            while len(self.pending) < self.workers.depth and self._submit():
                pass

    def __iter__(self) -> Iterator[Any]:
        if self.workers.pool is None:
            for task in self.tasks:
                yield task()
            return
        self.start()
        try:
            while self.pending:
                result = self.pending.popleft().result()
                self._submit()
                yield result
        finally:
            for future in self.pending:
                future.cancel()


def _ordered(tasks: Iterable[Callable[[], Any]], workers: int) -> Iterator[Any]:
    """Run tasks on ``workers`` threads, a bounded number ahead, yielding results in order."""
    with _Workers(workers) as pool:
        yield from pool.ordered(tasks)


def group_file_stream(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    rules: RulesArg = "chs_drg_1_1",
    *,
    rejects_path: str | os.PathLike[str] | None = None,
    evidence: bool = False,
    keep_input: bool = False,
    workers: int = DEFAULT_WORKERS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
    spill: int = SPILL_HASHES,
) -> StreamSummary:
    """Group a claims file into ``output_path`` (results, or results and input columns with
    ``keep_input``); rejected rows go to ``rejects_path`` (by default OUT with ``.rejects``
    before the extension, written only when there are rejects or the path was given).

    ``rules`` is a rule-set id, a folder, compiled rules or ``"auto"``. ``progress`` is called
    with the number of input rows finished after each batch. Memory stays within a few
    batches of ``batch_rows`` rows whatever the file's size.
    """
    output = Path(output_path)
    source = open_source(input_path, batch_rows)
    first = source.first()
    ignored = normalize_claims(first).ignored_columns  # column-level errors, as the whole file
    resolution = resolve_columns(first.column_names)
    compiled = _resolve(rules)
    # Label columns go to Parquet dictionary-encoded as they come out of the kernel.
    dictionary = file_format(output) == "parquet" and isinstance(compiled, CompiledRules)
    same_columns = not isinstance(source, _JsonLinesSource)  # JSON blocks infer their own
    # Read only the columns the output needs: the results need those grouping and the
    # reject checks read; other input columns cannot change a result or a reject.
    needed = CLAIM_SCHEMA.names if keep_input or not isinstance(compiled, CompiledRules) \
        else _RESULT_INPUTS
    columns = sorted(i for name, i in resolution.sources.items() if name in needed)
    projected = resolve_columns([first.column_names[i] for i in columns])

    def task(load: Callable[[], pa.Table]) -> BatchOutcome:
        return process_batch(load(), compiled,
                             resolution=projected if same_columns else None,
                             evidence=evidence, keep_input=keep_input, dictionary=dictionary)

    def finished() -> Iterator[FinishedBatch]:
        with _Workers(workers) as pool:
            # Pass two's first batches are queued behind pass one's, so the workers go
            # straight on; their duplicates are decided here once pass one is complete.
            grouped = pool.queued(lambda load=load: task(load)
                                  for load in source.loaders(columns))
            index = DuplicateIndex(spill)
            try:
                hashing = (lambda load=load: id_hashes(clean_text(load()))
                           for load in source.claim_ids(resolution))
                for hashes in pool.ordered(hashing, then=grouped.start):
                    index.add(hashes)
                repeated = index.repeated()
            finally:
                index.close()
            first_rows: dict[str, int] = {}
            offset = 0
            for outcome in grouped:
                yield finish_batch(with_suspects(outcome, repeated), offset, first_rows)
                offset += outcome.input_rows

    summary = write_batches(finished(), output, rejects_path=rejects_path,
                            keep_input=keep_input,
                            empty=_empty_results(evidence, keep_input), progress=progress)
    summary.ignored_columns = ignored
    if not summary.rule_sets and isinstance(compiled, CompiledRules):
        summary.rule_sets = [compiled.rule_set_id]
    return summary


def write_batches(
    batches: Iterable[FinishedBatch],
    output_path: str | os.PathLike[str],
    *,
    rejects_path: str | os.PathLike[str] | None = None,
    keep_input: bool = False,
    empty: pa.Schema | None = None,
    progress: Callable[[int], None] | None = None,
) -> StreamSummary:
    """Write finished batches, in the order given, to the results and rejects files.

    The files appear atomically when the last batch is written; on any error neither is left
    behind. ``empty`` is the results schema written when there are no batches.
    """
    output = Path(output_path)
    summary = StreamSummary(output=output)
    sink = _Sink(output)
    rejects_sink: _Sink | None = None
    schema: pa.Schema | None = None
    used: dict[str, None] = {}
    try:
        for batch in batches:
            table = batch.output(keep_input)
            schema = schema or table.schema
            sink.write(table)
            if batch.rejects.num_rows:
                if rejects_sink is None:
                    rejects_sink = _Sink(Path(rejects_path) if rejects_path
                                         else default_rejects_path(output))
                rejects_sink.write(batch.rejects)
            summary.add(batch, batch.input_rows)
            used.update(dict.fromkeys(batch.rule_sets))
            if progress is not None:
                progress(batch.input_rows)
        if rejects_sink is None and rejects_path is not None:
            rejects_sink = _Sink(Path(rejects_path))
        sink.close(schema or empty or _empty_results(False, keep_input))
        if rejects_sink is not None:
            rejects_sink.close(REJECT_SCHEMA)
            summary.rejects_path = rejects_sink.path
    except BaseException:
        sink.abort()
        if rejects_sink is not None:
            rejects_sink.abort()
        raise
    summary.rule_sets = list(used)
    return summary


def _empty_results(evidence: bool, keep_input: bool) -> pa.Schema:
    schema = result_schema(evidence=evidence)
    if keep_input:
        schema = pa.schema(list(schema) + [f for f in CLAIM_SCHEMA if f.name != "claim_id"])
    return schema
