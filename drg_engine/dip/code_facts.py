"""Facts per distinct diagnosis and procedure code under a DIP rule set, kept across batches.

What assignment needs to know about a code (its catalogue prefixes, validity, exclusion, CCI
component, severity level, category, the groups it anchors as a principal diagnosis; for a
procedure its exact id, exclusion and treatment type) takes string work: normalisation, one
slice and hash lookup per prefix length. A :class:`KnownCodes` keeps these facts for every
code a rule set has met, in a universe that only grows (ids never change), so that a batch
costs one hash lookup per cell - or per dictionary entry of a dictionary-encoded list - and the
string work is done once per new code. The universe is bounded (:data:`MAX_KNOWN_CODES`): past
it, a batch still extends its own copy but the shared one stays as it is.

A batch works on its own :class:`CodeUniverse` (a snapshot it may extend), so two threads
assigning batches under one rule set never see each other's half-built state.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.dip.codes import CodeList, expand, longest, normalised_dx, normalised_px
from drg_engine.dip.compiled import COMPREHENSIVE, TREATMENTS

if TYPE_CHECKING:
    from drg_engine.dip.compiled import CompiledDip

MAX_KNOWN_CODES = 1 << 18
# Packed per-code bits of the auxiliary typing: CCI components in the low bits (at most
# drg_engine.dip.tables.MAX_CCI_COMPONENTS = 26), then the severity lists and malignancy.
CCI_MASK = np.uint32((1 << 26) - 1)
SEVERITY_SHIFT = np.uint32(26)  # (bits >> 26) & 3: 1 = moderate, 2 = severe
MODERATE_BIT = np.uint32(1 << 26)
SEVERE_BIT = np.uint32(1 << 27)
MALIGNANT_BIT = np.uint32(1 << 28)
# A claim's kind, as far as the principal-diagnosis candidates care: its treatment type and
# whether it is conservative (no procedure beyond conservative ones).
CLAIM_KINDS = len(TREATMENTS) * 2


def claim_kind(treatment: np.ndarray, conservative: np.ndarray) -> np.ndarray:
    return treatment.astype(np.int64) * 2 + conservative


def kind_allows(rules: CompiledDip) -> np.ndarray:
    """bool[CLAIM_KINDS, G]: the groups a claim of each kind can enter at all.

    A comprehensive group only takes claims of its treatment type; a medical core group (no
    procedures) only conservative claims, unless the rule set has the conservative fallback.
    """
    kinds = np.arange(CLAIM_KINDS)
    treatment, conservative = kinds // 2, (kinds % 2).astype(bool)
    comprehensive = rules.stage == COMPREHENSIVE
    by_treatment = ~comprehensive[None, :] | (rules.treatment[None, :] == treatment[:, None])
    medical = rules.needs_conservative & (not rules.options.conservative_fallback)
    by_procedures = ~medical[None, :] | conservative[:, None]
    return by_treatment & by_procedures


@dataclass(frozen=True)
class DxFacts:
    """Facts per known diagnosis code (index = code id)."""

    codes: pa.Array  # string: the codes as written on claims
    ids: np.ndarray  # int32[D, L] prefix id of each prefix length, -1 none
    valid: np.ndarray  # bool[D]
    excluded: np.ndarray  # bool[D]
    cci: np.ndarray  # int8[D], -1 none
    severity: np.ndarray  # int8[D]
    malignant: np.ndarray  # bool[D]
    z51: np.ndarray  # bool[D]: Z51.x (chemotherapy / other care for a tumour)
    category: np.ndarray  # int32[D]: id of the 3-character category
    categories: pa.Array  # string per category id
    anydx: np.ndarray  # bool[D]: some prefix anchors an any-position group
    on_sdx: np.ndarray  # bool[D]: some prefix is on a group's secondary-diagnosis list
    aux_bits: np.ndarray  # uint32[D]: CCI component bit, severity and malignancy bits
    # Principal-diagnosis candidates per (code, claim kind): all of them (evidence ranks them
    # all), and the contenders, those that can still win (the result needs only the winner).
    candidates: Candidates
    contenders: Candidates

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def of(cls, rules: CompiledDip, codes: pa.Array, allows: np.ndarray) -> DxFacts:
        norm = normalised_dx(codes)
        ids = rules.dx_index.lookup(norm)
        valid = np.asarray(pc.match_substring_regex(norm, r"^[A-Z][0-9]{2}").fill_null(False))
        excluded = (longest(ids, rules.excluded_dx.astype(np.int8), 0) == 1) & valid
        encoded = pc.dictionary_encode(pc.utf8_slice_codeunits(norm, 0, 3))
        safe_ids = np.maximum(ids, 0)
        has_anydx = np.zeros(len(codes), dtype=bool)
        if not rules.anchor_anydx.empty:
            counts = np.where(ids >= 0, rules.anchor_anydx.counts(safe_ids), 0)
            has_anydx = counts.sum(axis=1) > 0
        sdx_prefix = np.zeros(len(rules.dx_index.prefixes) + 1, dtype=bool)
        if len(rules.sdx_keys) and len(rules.dx_index.prefixes):
            sdx_prefix[rules.sdx_keys % len(rules.dx_index.prefixes)] = True
        on_sdx = ((ids >= 0) & sdx_prefix[safe_ids]).any(axis=1)
        cci = longest(ids, rules.cci_component, -1)
        severity = longest(ids, rules.severity_level, 0)
        malignant = np.asarray(pc.starts_with(norm, "C").fill_null(False)) & valid
        aux_bits = (
            np.where(cci >= 0, np.left_shift(np.uint32(1), np.maximum(cci, 0).astype(np.uint32)),
                     0).astype(np.uint32)
            | np.where(severity == 2, SEVERE_BIT, 0).astype(np.uint32)
            | np.where(severity == 1, MODERATE_BIT, 0).astype(np.uint32)
            | np.where(malignant, MALIGNANT_BIT, 0).astype(np.uint32))
        candidates = _principal_candidates(rules, ids, allows)
        return cls(
            codes=codes,
            ids=ids,
            valid=valid,
            excluded=excluded,
            cci=cci,
            severity=severity,
            malignant=malignant,
            z51=np.asarray(pc.starts_with(norm, "Z51").fill_null(False)),
            category=np.asarray(encoded.indices.fill_null(0), dtype=np.int32),
            categories=encoded.dictionary,
            anydx=has_anydx,
            on_sdx=on_sdx,
            aux_bits=aux_bits,
            candidates=candidates,
            contenders=candidates.contenders(rules),
        )

    def extended(self, other: DxFacts) -> DxFacts:
        """These codes followed by ``other``'s (ids of these codes stay the same)."""
        merged = pc.dictionary_encode(pa.concat_arrays([self.categories, other.categories]))
        remap = np.asarray(merged.indices, dtype=np.int32)
        cut = len(self.categories)
        return DxFacts(
            codes=pa.concat_arrays([self.codes, other.codes]),
            ids=np.concatenate([self.ids, other.ids]),
            valid=np.concatenate([self.valid, other.valid]),
            excluded=np.concatenate([self.excluded, other.excluded]),
            cci=np.concatenate([self.cci, other.cci]),
            severity=np.concatenate([self.severity, other.severity]),
            malignant=np.concatenate([self.malignant, other.malignant]),
            z51=np.concatenate([self.z51, other.z51]),
            category=np.concatenate([remap[:cut][self.category], remap[cut:][other.category]]),
            categories=merged.dictionary,
            anydx=np.concatenate([self.anydx, other.anydx]),
            on_sdx=np.concatenate([self.on_sdx, other.on_sdx]),
            aux_bits=np.concatenate([self.aux_bits, other.aux_bits]),
            candidates=self.candidates.extended(other.candidates),
            contenders=self.contenders.extended(other.contenders),
        )


@dataclass(frozen=True)
class Candidates:
    """Groups per (code, claim kind), key = code * CLAIM_KINDS + kind: the groups
    ``group[start[key]:start[key + 1]]``, each with the prefix that reached it."""

    start: np.ndarray  # int64[D * CLAIM_KINDS + 1]
    group: np.ndarray  # int32
    length: np.ndarray  # int16: the prefix length (longest code first)
    prefix: np.ndarray  # int32: the prefix id

    @classmethod
    def of(cls, key: np.ndarray, group: np.ndarray, length: np.ndarray, prefix: np.ndarray,
           n_keys: int) -> Candidates:
        order = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=n_keys) if len(key) else np.zeros(n_keys, np.int64)
        return cls(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                   group[order].astype(np.int32), length[order], prefix[order])

    def keys(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.start) - 1, dtype=np.int64), np.diff(self.start))

    def contenders(self, rules: CompiledDip) -> Candidates:
        """The candidates that can still be chosen: a group without claim conditions (newborn,
        secondary diagnosis, procedures) always holds, so a candidate ranked after it on the
        first keys of the choice (stage, then longest code) never wins."""
        key, group = self.keys(), self.group
        stage = rules.stage[group].astype(np.int64)
        head = stage * 64 - np.where(stage != 0, self.length, 0)  # as _choose compares them
        unconditional = ~(rules.has_newborn | rules.has_sdx | rules.has_px | rules.has_related)
        sure = unconditional[group]
        best = np.full(len(self.start) - 1, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, key[sure], head[sure])
        keep = head <= best[key]
        return Candidates.of(key[keep], group[keep], self.length[keep], self.prefix[keep],
                             len(self.start) - 1)

    def extended(self, other: Candidates) -> Candidates:
        """These keys followed by ``other``'s."""
        return Candidates(np.concatenate([self.start, other.start[1:] + self.start[-1]]),
                          np.concatenate([self.group, other.group]),
                          np.concatenate([self.length, other.length]),
                          np.concatenate([self.prefix, other.prefix]))


def _principal_candidates(rules: CompiledDip, ids: np.ndarray, allows: np.ndarray
                          ) -> Candidates:
    """The groups each code anchors as a principal diagnosis, per claim kind."""
    start, groups = rules.anchor_pdx.start, rules.anchor_pdx.groups
    code_parts, group_parts, length_parts, prefix_parts = [], [], [], []
    for column, length in enumerate(rules.dx_index.lengths):
        prefix = ids[:, column]
        has = np.flatnonzero(prefix >= 0)
        keys = prefix[has].astype(np.int64)
        rows, rank = expand(start[keys + 1] - start[keys])
        code_parts.append(has[rows])
        group_parts.append(groups[start[keys[rows]] + rank].astype(np.int64))
        length_parts.append(np.full(len(rows), length, dtype=np.int16))
        prefix_parts.append(keys[rows].astype(np.int32))
    code = np.concatenate(code_parts) if code_parts else np.zeros(0, np.int64)
    group = np.concatenate(group_parts) if group_parts else np.zeros(0, np.int64)
    length = np.concatenate(length_parts) if length_parts else np.zeros(0, np.int16)
    prefix = np.concatenate(prefix_parts) if prefix_parts else np.zeros(0, np.int32)
    if rules.nested_pdx and len(code) > 1:  # one group reached through two of its prefixes
        key = code * max(rules.n_groups, 1) + group
        order = np.lexsort((-length, key))
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        keep = np.sort(order[first])
        code, group, length, prefix = code[keep], group[keep], length[keep], prefix[keep]
    # One entry per (code, kind the group allows).
    kind, item = np.nonzero(allows[:, group]) if len(group) else (np.zeros(0, np.int64),) * 2
    return Candidates.of(code[item] * CLAIM_KINDS + kind, group[item], length[item],
                         prefix[item], len(ids) * CLAIM_KINDS)


@dataclass(frozen=True)
class PxFacts:
    """Facts per known procedure code (index = code id)."""

    codes: pa.Array
    exact: np.ndarray  # int32[Q]: exact id (0 = not in any expression)
    excluded: np.ndarray  # bool[Q]
    rank: np.ndarray  # int8[Q]: treatment type of the procedure
    anchor: np.ndarray  # bool[Q]: anchors a group that takes any diagnosis

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def of(cls, rules: CompiledDip, codes: pa.Array) -> PxFacts:
        exact, excluded, rank = procedure_facts(rules, codes)
        anchor = rules.anchor_px.counts(exact) > 0 if not rules.anchor_px.empty else np.zeros(
            len(exact), dtype=bool)
        return cls(codes=codes, exact=exact, excluded=excluded, rank=rank, anchor=anchor)

    def extended(self, other: PxFacts) -> PxFacts:
        return PxFacts(
            codes=pa.concat_arrays([self.codes, other.codes]),
            exact=np.concatenate([self.exact, other.exact]),
            excluded=np.concatenate([self.excluded, other.excluded]),
            rank=np.concatenate([self.rank, other.rank]),
            anchor=np.concatenate([self.anchor, other.anchor]),
        )


def procedure_facts(rules: CompiledDip, codes: pa.Array
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact id, excluded, treatment type) of procedure codes under a rule set."""
    norm = normalised_px(codes)
    universe = pa.array(rules.px_universe, type=pa.string())
    exact = np.asarray(pc.index_in(norm, value_set=universe).fill_null(-1), dtype=np.int32) + 1
    rank = longest(rules.attr_index.lookup(norm), rules.attr_rank, -1)
    rank = np.where(rank < 0, rules.unknown_px_rank, rank).astype(np.int8)
    return exact, rules.px_excluded[exact], rank


class CodeUniverse:
    """The known codes of one role as one batch sees them: a snapshot it may extend."""

    def __init__(self, facts: DxFacts | PxFacts, make: object) -> None:
        self.facts = facts
        self._make = make  # codes -> facts of those codes

    def ids(self, values: pa.Array) -> np.ndarray:
        """int32 code id per value (-1 for a null value); unknown codes are added first."""
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        found = pc.index_in(values, value_set=self.facts.codes)
        if found.null_count == values.null_count:
            return np.asarray(found.fill_null(-1) if found.null_count else found,
                              dtype=np.int32)
        ids = np.array(found.fill_null(-1), dtype=np.int32)
        missing = np.flatnonzero((ids < 0) & np.asarray(values.is_valid()))
        unknown = values.take(pa.array(missing, type=pa.int64()))
        new = pc.unique(unknown)
        base = len(self.facts)
        self.facts = self.facts.extended(self._make(new))  # type: ignore[operator]
        ids[missing] = base + np.asarray(pc.index_in(unknown, value_set=new), dtype=np.int32)
        return ids

    def code_list(self, column: pa.ChunkedArray | pa.Array) -> CodeList:
        """Flatten a ``list<string>`` (or ``list<dictionary<string>>``) column to code ids.

        A dictionary-encoded list is looked up once per dictionary entry, not per cell.
        ``distinct`` of the result is the universe as it stands after this column.
        """
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        offsets_parts: list[np.ndarray] = []
        cell_parts: list[np.ndarray] = []
        base = 0
        for chunk in chunks:
            raw = np.asarray(chunk.offsets, dtype=np.int64)
            values = chunk.values.slice(int(raw[0]), int(raw[-1] - raw[0]))
            local = raw - raw[0]
            offsets_parts.append(local[1:] + base if offsets_parts else local + base)
            if isinstance(values, pa.DictionaryArray):
                dictionary_ids = np.append(self.ids(values.dictionary), -1)
                indices = values.indices
                index = np.asarray(indices.fill_null(-1) if indices.null_count else indices)
                cell_parts.append(dictionary_ids[index])  # a null index takes the last -1
            else:
                cell_parts.append(self.ids(values))
            base += int(local[-1])
        if not offsets_parts:
            return CodeList(np.zeros(1, np.int64), np.zeros(0, np.int32), self.facts.codes)
        offsets = offsets_parts[0] if len(offsets_parts) == 1 else np.concatenate(offsets_parts)
        cell = cell_parts[0] if len(cell_parts) == 1 else np.concatenate(cell_parts)
        return CodeList(offsets, cell.astype(np.int32, copy=False), self.facts.codes)


class KnownCodes:
    """The diagnosis and procedure codes one rule set has met, with their facts."""

    def __init__(self, rules: CompiledDip) -> None:
        self.allows = kind_allows(rules)
        # Code id 0 is the empty code, so that a universe is never empty and gathers by a
        # masked index 0 stay in bounds.
        empty = pa.array([""], type=pa.string())
        self.dx = DxFacts.of(rules, empty, self.allows)
        self.px = PxFacts.of(rules, empty)
        # The assignment's output labels and typing tables (drg_engine.grouping.dip).
        self.kernel_tables: object | None = None

    def universes(self, rules: CompiledDip) -> tuple[CodeUniverse, CodeUniverse]:
        allows = self.allows
        return (CodeUniverse(self.dx, lambda codes: DxFacts.of(rules, codes, allows)),
                CodeUniverse(self.px, lambda codes: PxFacts.of(rules, codes)))

    def keep(self, dx: CodeUniverse, px: CodeUniverse) -> None:
        """Keep what a batch learnt (the last batch to finish wins; both are valid)."""
        if len(self.dx) < len(dx.facts) <= MAX_KNOWN_CODES:
            self.dx = dx.facts  # type: ignore[assignment]
        if len(self.px) < len(px.facts) <= MAX_KNOWN_CODES:
            self.px = px.facts  # type: ignore[assignment]


_KNOWN: dict[int, tuple[weakref.ref, KnownCodes]] = {}
_LOCK = threading.Lock()


def known_codes(rules: CompiledDip) -> KnownCodes:
    """The :class:`KnownCodes` of a compiled rule set (one per object, freed with it)."""
    key = id(rules)
    entry = _KNOWN.get(key)
    if entry is not None and entry[0]() is rules:
        return entry[1]
    with _LOCK:
        entry = _KNOWN.get(key)
        if entry is not None and entry[0]() is rules:
            return entry[1]
        known = KnownCodes(rules)

        def forget(_: object, key: int = key) -> None:
            # No lock here: a collection may run this while the lock is held.
            current = _KNOWN.get(key)
            if current is not None and current[0]() is None:
                _KNOWN.pop(key, None)

        _KNOWN[key] = (weakref.ref(rules, forget), known)
        return known
