"""Code lists as flat integer arrays, and prefix lookups done once per distinct code.

A claim batch's ``diagnoses`` / ``procedures`` list column becomes offsets plus, per cell, the
index of its value among the batch's distinct codes (Arrow dictionary encoding: each cell is
hashed once, each distinct code is then worked on once). A :class:`PrefixIndex` answers "which
catalogue prefixes does this code start with" for all distinct codes at once: one slice and
one hash lookup per prefix length the catalogue uses, never a Python loop over codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class CodeList:
    """One list column: offsets (int64[n+1], from 0), per-cell distinct index, distinct codes."""

    offsets: np.ndarray
    cell: np.ndarray  # int32 per cell: index into ``distinct`` (-1 for a null cell)
    distinct: pa.Array  # string

    @property
    def claims(self) -> int:
        return len(self.offsets) - 1

    def owner(self) -> np.ndarray:
        """The claim of each cell."""
        return np.repeat(np.arange(self.claims, dtype=np.int32), np.diff(self.offsets))

    def first(self) -> np.ndarray:
        """The distinct index of each claim's first cell (-1 for an empty list)."""
        starts = self.offsets[:-1]
        out = np.full(self.claims, -1, dtype=np.int32)
        has = np.flatnonzero(self.offsets[1:] > starts)
        out[has] = self.cell[starts[has]]
        return out

    def slice(self, start: int, stop: int) -> CodeList:
        low, high = int(self.offsets[start]), int(self.offsets[stop])
        return CodeList(self.offsets[start:stop + 1] - low, self.cell[low:high], self.distinct)


def _local_codes(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(index per cell into a local dictionary, -1 for null; the dictionary) of one chunk.

    Dictionary-encoded input (Parquet read with ``read_dictionary``) is used as it is, so no
    string is touched per cell; plain strings are hashed once per cell.
    """
    if not isinstance(values, pa.DictionaryArray):
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        values = pc.dictionary_encode(values)
    indices = values.indices
    cells = np.asarray(indices.fill_null(-1) if indices.null_count else indices,
                       dtype=np.int32)
    dictionary = values.dictionary
    if not pa.types.is_string(dictionary.type):
        dictionary = dictionary.cast(pa.string())
    return cells, dictionary


def code_list(column: pa.ChunkedArray | pa.Array) -> CodeList:
    """Flatten a ``list<string>`` (or ``list<dictionary<string>>``) column."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    offsets_parts: list[np.ndarray] = []
    cell_parts: list[np.ndarray] = []
    dictionaries: list[pa.Array] = []
    base = 0
    for chunk in chunks:
        raw = np.asarray(chunk.offsets, dtype=np.int64)
        values = chunk.values.slice(int(raw[0]), int(raw[-1] - raw[0]))
        local = raw - raw[0]
        offsets_parts.append(local[1:] + base if offsets_parts else local + base)
        cells, dictionary = _local_codes(values)
        cell_parts.append(cells)
        dictionaries.append(dictionary)
        base += int(local[-1])
    # An empty batch or one without any code still gets one (unused) distinct value, so that
    # gathers by a masked index 0 stay in bounds.
    if not offsets_parts:
        return CodeList(np.zeros(1, np.int64), np.zeros(0, np.int32), pa.array([""]))
    offsets = offsets_parts[0] if len(offsets_parts) == 1 else np.concatenate(offsets_parts)
    if len(dictionaries) == 1:
        cell, distinct = cell_parts[0], dictionaries[0]
    else:
        # One dictionary for the batch: the chunks' dictionaries, encoded once more.
        merged = pc.dictionary_encode(pa.concat_arrays(dictionaries))
        global_ids = np.asarray(merged.indices, dtype=np.int32)
        parts, start = [], 0
        for cells, dictionary in zip(cell_parts, dictionaries, strict=True):
            mapping = np.append(global_ids[start:start + len(dictionary)], -1)
            parts.append(mapping[cells])  # a null cell (-1) maps to the appended -1
            start += len(dictionary)
        cell = np.concatenate(parts).astype(np.int32)
        distinct = merged.dictionary
    distinct = distinct if len(distinct) else pa.array([""])
    return CodeList(offsets, cell, distinct)


def normalised_dx(values: pa.Array) -> pa.Array:
    """Vectorised :func:`drg_engine.dip.specs.normalise_dx` over an array of codes."""
    text = pc.replace_substring_regex(pc.utf8_upper(values), pattern=r"\s", replacement="")
    return pc.replace_substring_regex(text, pattern=r"[+*†].*$", replacement="")


def normalised_px(values: pa.Array) -> pa.Array:
    """Vectorised :func:`drg_engine.dip.specs.normalise_px` over an array of codes."""
    return pc.replace_substring_regex(pc.utf8_lower(values), pattern=r"\s", replacement="")


@dataclass(frozen=True)
class PrefixIndex:
    """A sorted universe of prefixes; ids are positions in ``prefixes`` (-1 = no prefix)."""

    prefixes: tuple[str, ...]
    lengths: tuple[int, ...]  # the distinct prefix lengths, ascending

    @classmethod
    def build(cls, prefixes: set[str] | list[str]) -> PrefixIndex:
        ordered = tuple(sorted(set(prefixes)))
        return cls(ordered, tuple(sorted({len(p) for p in ordered})))

    def id_of(self, prefix: str) -> int:
        return self.prefixes.index(prefix)

    def ids(self) -> dict[str, int]:
        return {prefix: i for i, prefix in enumerate(self.prefixes)}

    def lookup(self, codes: pa.Array) -> np.ndarray:
        """int32[len(codes), len(lengths)]: the id of each code's prefix of each length.

        ``codes`` must already be normalised. A code shorter than a length has no prefix of it.
        """
        out = np.full((len(codes), len(self.lengths)), -1, dtype=np.int32)
        if not len(codes) or not self.prefixes:
            return out
        universe = pa.array(self.prefixes, type=pa.string())
        size = np.asarray(pc.utf8_length(codes).fill_null(0), dtype=np.int64)
        for column, length in enumerate(self.lengths):
            head = pc.utf8_slice_codeunits(codes, 0, length)
            found = np.array(pc.index_in(head, value_set=universe).fill_null(-1),
                             dtype=np.int32)
            found[size < length] = -1
            out[:, column] = found
        return out


def longest(ids: np.ndarray, role: np.ndarray, missing: int = -1) -> np.ndarray:
    """Per row of ``ids`` (from :meth:`PrefixIndex.lookup`), ``role`` of its longest prefix
    whose role value is not ``missing``; ``missing`` when none."""
    values = np.where(ids >= 0, role[np.maximum(ids, 0)], missing)
    has = values != missing
    if values.shape[1] == 0:
        return np.full(len(ids), missing, dtype=role.dtype)
    last = values.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1)
    chosen = values[np.arange(len(values)), last]
    return np.where(has.any(axis=1), chosen, missing).astype(role.dtype)


def member_any(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """bool per key: whether it is in the sorted int64 ``table``."""
    if len(table) == 0 or len(keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    position = np.searchsorted(table, keys)
    position = np.minimum(position, len(table) - 1)
    return table[position] == keys


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts per row: (row of each expanded item, rank of the item within its row)."""
    counts = counts.astype(np.int64, copy=False)
    total = int(counts.sum())
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    return rows, rank


def segment_any(flags: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """bool[n]: whether any flag is set per owner."""
    out = np.zeros(n, dtype=bool)
    out[owner[flags]] = True
    return out


def segment_count(owner: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(owner, minlength=n)


def list_column(values: pa.Array, owner: np.ndarray, n: int) -> pa.Array:
    """A ``list<string>`` column of ``n`` rows from items in owner order (owner ascending)."""
    counts = np.bincount(owner, minlength=n) if len(owner) else np.zeros(n, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)
