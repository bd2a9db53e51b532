"""CHS-DRG grouping of a clean claim batch: integer gathers, bitsets and segmented reductions.

The algorithm is the reference's (shared/reference/chs_drg_1_1/README.md §4-§5), evaluated for
all claims at once (DESIGN §3):

1. codes -> integer ids of the rule set (unknown -> 0); a dictionary-encoded code list is
   looked up once per distinct code, not once per cell;
2. MDC entry as a bitmask per claim (principal-list bits, then sex, age, multi-trauma and
   valid-OR conditions);
3. the candidate ADRGs of an entered MDC whose conditions hold, as one 64-bit word per claim
   (bit i = the MDC's i-th candidate in evaluation order): the principal-diagnosis and
   main-procedure atoms are precompiled per code (:class:`_KernelTables`), so the word is two
   gathers and an AND; the list atoms (any-position lists, label combinations) are tested
   only for the few claims that carry a listed code, and the flag atoms (newborn and weight
   bands, valid-OR tests) with one gather in a table indexed by which flags hold;
4. the winner is the lowest set bit of the first entered MDC, in evaluation order, whose word
   is not empty - exactly the published MDC loop with fall-through to the next MDC. Claims go
   through their entered MDCs in rounds (nearly all finish in the first); an MDC entered only
   by a valid OR main procedure is skipped where none of its ADRGs can hold for that
   procedure. (A rule set with an MDC of more than 64 candidates uses bitsets over all
   candidates instead: same answer, more work.)
5. severity = the highest non-excluded CC/MCC level among secondary diagnoses, computed over
   the CC/MCC positions only;
6. DRG = the first split of the winner that the severity satisfies: one gather in a
   (candidate, severity) table, with the split loop kept for the ADRGs that have age or
   length-of-stay bounds.

No Python loop runs over claims; loops run over MDC rounds, atoms and split positions only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.rules.compiled import SEVERITY_LABELS, BandAtom, CompiledRules

CHUNK_ROWS = 131_072
ALL_BITS = np.uint64(0xFFFF_FFFF_FFFF_FFFF)

# Reason codes of non-success results, in the order the checks run, with their text.
REASONS: dict[str, str] = {
    "": "",
    "ZD_NOT_MAPPING": "a diagnosis code is not a source code of the rule set's dx_map",
    "SS_NOT_MAPPING": "a procedure code is not a source code of the rule set's px_map",
    "SEX_MISSING": "sex is missing",
    "SEX_INVALID": "sex is not one of 1/2, 男/女, M/F",
    "AGE_MISSING": "age in years is missing",
    "AGE_DAYS_MISSING": "age is under one year but age in days is missing",
    "BIRTH_WEIGHT_MISSING": "newborn (age in days <= 28) without a birth weight",
    "NO_DIAGNOSIS": "the claim has no diagnosis",
    "NO_MDC": "the principal diagnosis is in no MDC's principal list "
    "and the main procedure is not a valid OR procedure",
    "NO_ADRG": "the claim entered one or more MDCs but matched none of their ADRGs",
    "LOS_MISSING": "the DRG split of the matched ADRG needs the length of stay, which is missing",
    "QY": "a valid OR procedure unrelated to the principal diagnosis (QY step)",
}
REASON_CODES = list(REASONS)
_REASON = {code: i for i, code in enumerate(REASON_CODES)}
STATUSES = ["SUCCESS", "FAIL", "CHECK_FAILED", "ZD_NOT_MAPPING", "SS_NOT_MAPPING", "QY"]
_STATUS = {status: i for i, status in enumerate(STATUSES)}
_CHECK_FAILED_REASONS = (
    "SEX_MISSING",
    "SEX_INVALID",
    "AGE_MISSING",
    "AGE_DAYS_MISSING",
    "BIRTH_WEIGHT_MISSING",
    "NO_DIAGNOSIS",
)

RESULT_FIELDS = [
    pa.field("claim_id", pa.string()),
    pa.field("status", pa.string()),
    pa.field("mdc", pa.string()),
    pa.field("adrg", pa.string()),
    pa.field("drg", pa.string()),
    pa.field("drg_name", pa.string()),
    pa.field("severity", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("rule_set", pa.string()),
]
EVIDENCE_FIELDS = [
    pa.field("mdcs_entered", pa.list_(pa.string())),
    pa.field("matched_dx", pa.list_(pa.string())),
    pa.field("matched_px", pa.list_(pa.string())),
    pa.field("mcc_codes", pa.list_(pa.string())),
    pa.field("cc_codes", pa.list_(pa.string())),
    pa.field("excluded_cc_mcc", pa.list_(pa.string())),
    pa.field("exclusion_table", pa.int32()),
    pa.field("unknown_codes", pa.list_(pa.string())),
]
RESULT_SCHEMA = pa.schema(RESULT_FIELDS)
EVIDENCE_SCHEMA = pa.schema(RESULT_FIELDS + EVIDENCE_FIELDS)
# The label columns (every result column after claim_id); with ``dictionary=True`` they come
# back dictionary-encoded, which writers and DuckDB take without copying a string per row.
LABEL_COLUMNS = tuple(field.name for field in RESULT_FIELDS[1:])
LABEL_DICTIONARY_TYPE = pa.dictionary(pa.int32(), pa.string())


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table with no rows (``Schema.empty_table`` would import pandas, a slow start)."""
    return pa.Table.from_batches([], schema=schema)


def result_schema(*, evidence: bool = False, dictionary: bool = False) -> pa.Schema:
    """The schema ``group_batch`` returns for these options."""
    schema = EVIDENCE_SCHEMA if evidence else RESULT_SCHEMA
    if not dictionary:
        return schema
    return pa.schema(
        field.with_type(LABEL_DICTIONARY_TYPE) if field.name in LABEL_COLUMNS else field
        for field in schema
    )


# --- code ids ------------------------------------------------------------------------------------

_UNIVERSE_ARRAYS: dict[tuple[str, str], pa.Array] = {}


def _universe_array(rules: CompiledRules, kind: str) -> pa.Array:
    key = (rules.content_hash, kind)
    if key not in _UNIVERSE_ARRAYS:
        universe = rules.dx_universe if kind == "dx" else rules.px_universe
        _UNIVERSE_ARRAYS[key] = pa.array(universe, type=pa.string())
    return _UNIVERSE_ARRAYS[key]


def _array_key(array: pa.Array) -> tuple[int, ...]:
    """Identity of an array's memory (the chunks of one Parquet row group share a dictionary)."""
    return (array.offset, len(array), *(b.address if b else 0 for b in array.buffers()))


def _encode(values: pa.Array, universe: pa.Array,
            seen: dict[tuple[int, ...], np.ndarray] | None = None) -> np.ndarray:
    """Code id per value (0 = unknown or null); a dictionary is looked up once per entry.

    ``seen`` caches the ids of dictionaries already looked up in this call, by memory identity.
    """
    if isinstance(values, pa.DictionaryArray):
        key = _array_key(values.dictionary)
        dictionary_ids = None if seen is None else seen.get(key)
        if dictionary_ids is None:
            dictionary_ids = _encode(values.dictionary, universe)
            if seen is not None:
                seen[key] = dictionary_ids
        indices = values.indices
        if indices.null_count:
            ids = dictionary_ids[np.asarray(indices.fill_null(0))]
            ids[np.asarray(indices.is_null())] = 0
            return ids
        return dictionary_ids[np.asarray(indices)]
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32)
    index = pc.index_in(values, value_set=universe)
    return (np.asarray(index.fill_null(-1), dtype=np.int32) + 1).astype(np.int32)


@dataclass
class _CodeColumn:
    """One code-list column of the whole batch: offsets, values and code ids, flat."""

    offsets: np.ndarray  # int64[n + 1], from 0
    values: pa.Array | None  # the codes (strings or dictionary), only kept when needed
    ids: np.ndarray  # int32 code id per value (0 = unknown)


def _list_parts(array: pa.Array) -> tuple[np.ndarray, pa.Array]:
    offsets = np.asarray(array.offsets, dtype=np.int64)
    values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return offsets - offsets[0], values


def _as_text(values: pa.Array) -> pa.Array:
    if isinstance(values, pa.DictionaryArray):
        values = values.dictionary_decode()
    return values.cast(pa.string())


def _code_column(
    column: pa.ChunkedArray | pa.Array, universe: pa.Array, keep_values: bool
) -> _CodeColumn:
    """Flatten a list column chunk by chunk (each chunk may carry its own dictionary)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    offsets_parts, ids_parts, values_parts = [], [], []
    seen: dict[tuple[int, ...], np.ndarray] = {}
    base = 0
    for chunk in chunks:
        offsets, values = _list_parts(chunk)
        offsets_parts.append(offsets[1:] + base if offsets_parts else offsets + base)
        ids_parts.append(_encode(values, universe, seen))
        if keep_values:
            values_parts.append(_as_text(values))
        base += int(offsets[-1])
    if not offsets_parts:
        return _CodeColumn(np.zeros(1, np.int64), pa.array([], pa.string()) if keep_values
                           else None, np.zeros(0, np.int32))
    values = pa.concat_arrays(values_parts) if keep_values else None
    if len(offsets_parts) == 1:
        return _CodeColumn(offsets_parts[0], values, ids_parts[0])
    return _CodeColumn(np.concatenate(offsets_parts), values, np.concatenate(ids_parts))


def _map_codes(
    offsets: np.ndarray, values: pa.Array, mapping: dict[str, str]
) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Position-wise code conversion; returns new offsets, values and per-claim 'unmapped'."""
    n = len(offsets) - 1
    sources = pa.array(list(mapping), type=pa.string())
    targets = pa.array(list(mapping.values()), type=pa.string())
    index = pc.index_in(values, value_set=sources)
    claim_of = np.repeat(np.arange(n), np.diff(offsets))
    unmapped_value = np.asarray(index.is_null())
    unmapped = np.zeros(n, dtype=bool)
    unmapped[claim_of[unmapped_value]] = True
    mapped = targets.take(index.fill_null(0))
    keep = ~unmapped_value & np.asarray(
        pc.and_(pc.not_equal(mapped, ""), pc.not_equal(mapped, "-")).fill_null(False)
    )
    kept = np.flatnonzero(keep)
    counts = np.bincount(claim_of[kept], minlength=n)
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return new_offsets, mapped.take(pa.array(kept)), unmapped


# --- precompiled per-code tables of the kernel ---------------------------------------------------

# Atoms over any-position lists, whose holds are candidate bitsets: they (and the label
# combinations) hold only for claims with a code on the list.
_BIT_ATOMS = ("any_dx", "sdx", "any_px", "any_px2")

# At most this many band and valid-OR atoms (shipped rule sets: 7); their flag table has
# 2**n entries per MDC.
_MAX_FLAG_ATOMS = 12

# Candidate sets are kept as one 64-bit word per MDC when every MDC has at most this many
# candidates (all shipped rule sets have at most 42); otherwise as bitsets over all candidates.
_MAX_WORD_CANDIDATES = 64


@dataclass(frozen=True)
class _ExtraAtom:
    """An atom other than the principal diagnosis and main procedure ones (DESIGN §3.3)."""

    key: str  # "any_dx", "sdx", "any_px", "any_px2", "combo<i>", "newborn<i>", ...
    mask: np.ndarray  # uint64[W]: the candidates that require it
    local: np.ndarray  # uint64[M]: the same per MDC, as bits of the MDC's word


@dataclass(frozen=True)
class _KernelTables:
    """Tables derived once per rule set from :class:`CompiledRules` for the kernel.

    A claim's candidate set within MDC ``m`` (bit i = the MDC's i-th candidate) is
    ``principal[pdx * M + m] & main[main_px * M + m]`` and the other atoms; the winner is the
    lowest bit of the first entered MDC whose set is not empty. ``principal`` folds the
    principal-diagnosis atom, ``main`` the main-procedure and main-valid-OR atoms.
    """

    by_mdc: bool  # every MDC has at most _MAX_WORD_CANDIDATES candidates
    mdc_base: np.ndarray  # int64[M]: the MDC's first candidate
    principal: np.ndarray  # uint64[Ud * M] (by_mdc) or uint64[Ud, W]
    # ``principal`` without the candidates of list atoms (any-position, secondary-diagnosis,
    # label-combination lists): they can hold only for the few claims with a listed code.
    principal_unlisted: np.ndarray  # uint64[Ud * M] (by_mdc only)
    main: np.ndarray  # uint64[Up * M] (by_mdc) or uint64[Up, W]
    extra_atoms: tuple[_ExtraAtom, ...]
    # The list atoms (any-position lists, label combinations), tested claim by claim.
    listed_atoms: tuple[_ExtraAtom, ...]
    listed_local: np.ndarray  # uint64[M]
    # The flag atoms (newborn and weight bands, valid-OR tests): with their per-claim flags
    # packed as bits of a code, ``flag_allowed[m << F | code]`` is MDC m's candidates they
    # allow, one gather for all of them (F = len(flag_keys)).
    flag_keys: tuple[str, ...]
    flag_local: np.ndarray  # uint64[M]
    flag_allowed: np.ndarray  # uint64[M << F]
    conditional_entry_bits: np.uint32  # MDCs entered on the principal and a claim condition
    vor_entry_bits: np.uint32  # MDCs entered by a valid OR main procedure
    # Per main procedure: whether an MDC entered by a valid OR main procedure can group a
    # claim without list atoms; when not, only claims with a listed code search that MDC.
    vor_entry_viable: np.ndarray  # bool[Up]
    any_dx_entry_bits: np.uint32  # MDCs entered by any diagnosis on their list
    dx_on_any_list: np.ndarray  # bool[Ud]: code on an any-diagnosis ADRG list
    dx_on_sdx_list: np.ndarray  # bool[Ud]
    px_on_any_list: np.ndarray  # bool[Up]
    px_on_px2_list: np.ndarray  # bool[Up]
    dx_on_extra: np.ndarray  # bool[Ud]: on any list an extra atom reads
    px_on_extra: np.ndarray  # bool[Up]
    severity_drg: np.ndarray  # int64[C, 3]: DRG lookup index by (candidate, severity)
    candidate_bounded: np.ndarray  # bool[C]: some split has an age or LOS bound


def _lut(rules: CompiledRules, mdc_mask: np.ndarray) -> np.ndarray:
    """Candidates of the MDCs in each mask (uint64[len(mask), W])."""
    lut = rules.mdc_byte_lut
    mdc_mask = mdc_mask.astype(np.uint32)
    return (
        lut[0][mdc_mask & 0xFF]
        | lut[1][(mdc_mask >> 8) & 0xFF]
        | lut[2][(mdc_mask >> 16) & 0xFF]
        | lut[3][mdc_mask >> 24]
    )


def _window(bits: np.ndarray, base: np.ndarray) -> np.ndarray:
    """For each row of ``bits`` (uint64[R, W]) and each start in ``base``, the 64 bits from
    that bit on: uint64[R, len(base)] (a row's candidates of one MDC, as that MDC's word)."""
    words = bits.shape[-1]
    word = base >> 6
    shift = (base & 63).astype(np.uint64)
    low = np.take(bits, word, axis=-1) >> shift
    following = np.take(bits, np.minimum(word + 1, words - 1), axis=-1)
    high = np.where(
        (shift == 0) | (word + 1 >= words),
        np.uint64(0),
        following << ((np.uint64(64) - shift) & np.uint64(63)),
    )
    return low | high


def _extra_atoms(rules: CompiledRules, mdc_base: np.ndarray, width_mask: np.ndarray
                 ) -> tuple[_ExtraAtom, ...]:
    masks = rules.atom_masks
    named: list[tuple[str, np.ndarray]] = [
        (atom, masks[atom]) for atom in ("any_dx", "sdx", "any_px", "any_px2",
                                         "no_px_in_valid_or", "any_px_in_valid_or")
    ]
    for i, combo in enumerate(rules.label_combos):
        bit = np.zeros(rules.words, dtype=np.uint64)
        bit[combo.candidate // 64] = np.uint64(1) << np.uint64(combo.candidate % 64)
        named.append((f"combo{i}", bit))
    named += [(f"newborn{i}", band.mask) for i, band in enumerate(rules.newborn_bands)]
    named += [(f"weight{i}", band.mask) for i, band in enumerate(rules.weight_bands)]
    return tuple(
        _ExtraAtom(key, mask, _window(mask[None, :], mdc_base)[0] & width_mask)
        for key, mask in named
        if mask.any()
    )


def _build_tables(rules: CompiledRules) -> _KernelTables:
    masks = rules.atom_masks
    entry_kinds = rules.mdc_entry_kind
    n_mdc = len(rules.mdc_codes)

    def bits_of(*kinds: str) -> np.uint32:
        return np.uint32(sum(1 << m for m, kind in enumerate(entry_kinds) if kind in kinds))

    width = np.bincount(rules.candidate_mdc, minlength=n_mdc)
    mdc_base = np.concatenate([[0], np.cumsum(width)[:-1]]).astype(np.int64)
    by_mdc = bool(width.max(initial=0) <= _MAX_WORD_CANDIDATES)
    width_mask = np.array(
        [(1 << int(w)) - 1 if w < 64 else (1 << 64) - 1 for w in width], dtype=np.uint64
    )

    principal = rules.dx_bits | ~masks["pdx"]
    main = (rules.px_bits | ~masks["main_px"]) & np.where(
        rules.px_valid_or[:, None], ALL_BITS, ~masks["main_px_in_valid_or"]
    )
    extra_atoms = _extra_atoms(rules, mdc_base, width_mask)
    listed_local = np.zeros(n_mdc, dtype=np.uint64)
    flag_local = np.zeros(n_mdc, dtype=np.uint64)
    listed_atoms = tuple(a for a in extra_atoms
                         if a.key in _BIT_ATOMS or a.key.startswith("combo"))
    flag_atoms = tuple(a for a in extra_atoms if a not in listed_atoms)
    for atom in listed_atoms:
        listed_local |= atom.local
    for atom in flag_atoms:
        flag_local |= atom.local
    if len(flag_atoms) > _MAX_FLAG_ATOMS:
        by_mdc, flag_atoms = False, ()  # the bitset path tests every atom claim by claim
    codes = np.arange(1 << len(flag_atoms))
    flag_allowed = np.full((n_mdc, len(codes)), ALL_BITS, dtype=np.uint64)
    for bit, atom in enumerate(flag_atoms):
        holds = ((codes >> bit) & 1).astype(bool)
        flag_allowed &= np.where(holds[None, :], ALL_BITS, ~atom.local[:, None])
    principal_unlisted = np.zeros(0, dtype=np.uint64)
    vor_bits_array = np.array([kind == "main_px_in_valid_or" for kind in entry_kinds])
    vor_entry_viable = np.ones(len(rules.px_valid_or), dtype=bool)
    if by_mdc:
        principal = _window(principal, mdc_base) & width_mask
        principal_unlisted = (principal & ~listed_local).ravel()
        principal = principal.ravel()
        main = _window(main, mdc_base) & width_mask
        if vor_bits_array.any():
            vor_entry_viable = (main[:, vor_bits_array] & ~listed_local[vor_bits_array]
                                ).any(axis=1)
        main = main.ravel()

    n_drg = len(rules.drg_codes)
    n_cand = len(rules.candidate_codes)
    bounded = (
        np.isfinite(rules.split_max_age).any(axis=1)
        | np.isfinite(rules.split_min_los).any(axis=1)
        | np.isfinite(rules.split_max_los).any(axis=1)
    )
    severity_drg = np.empty((n_cand, 3), dtype=np.int64)
    for severity in range(3):
        chosen = n_drg + 1 + n_mdc + np.arange(n_cand, dtype=np.int64)
        undecided = np.ones(n_cand, dtype=bool)
        for k in range(rules.split_drg.shape[1]):
            holds = (
                undecided
                & (rules.split_drg[:, k] >= 0)
                & (severity >= rules.split_min_severity[:, k])
            )
            chosen[holds] = rules.split_drg[holds, k]
            undecided &= ~holds
        severity_drg[:, severity] = chosen

    return _KernelTables(
        by_mdc=by_mdc,
        mdc_base=mdc_base,
        principal=np.ascontiguousarray(principal),
        principal_unlisted=principal_unlisted,
        main=np.ascontiguousarray(main),
        extra_atoms=extra_atoms,
        listed_atoms=listed_atoms,
        listed_local=listed_local,
        flag_keys=tuple(a.key for a in flag_atoms),
        flag_local=flag_local,
        flag_allowed=flag_allowed.ravel(),
        conditional_entry_bits=bits_of("pdx_in_list_and_sex", "pdx_in_list_and_age_years_0",
                                       "pdx_in_list_and_multi_trauma"),
        vor_entry_bits=bits_of("main_px_in_valid_or"),
        vor_entry_viable=vor_entry_viable,
        any_dx_entry_bits=bits_of("any_dx_in_list"),
        dx_on_any_list=rules.any_dx_bits.any(axis=1),
        dx_on_sdx_list=rules.sdx_bits.any(axis=1),
        px_on_any_list=rules.any_px_bits.any(axis=1),
        px_on_px2_list=rules.any_px2_bits.any(axis=1),
        dx_on_extra=rules.any_dx_bits.any(axis=1) | rules.sdx_bits.any(axis=1),
        px_on_extra=(rules.any_px_bits.any(axis=1) | rules.any_px2_bits.any(axis=1)
                     | np.any([c.px_label_bits != 0 for c in rules.label_combos]
                              or [np.zeros(len(rules.px_valid_or), dtype=bool)], axis=0)),
        severity_drg=severity_drg,
        candidate_bounded=bounded,
    )


_TABLES: dict[str, _KernelTables] = {}


def _tables(rules: CompiledRules) -> _KernelTables:
    tables = _TABLES.get(rules.content_hash)
    if tables is None:
        tables = _TABLES[rules.content_hash] = _build_tables(rules)
    return tables


# --- segmented reductions ------------------------------------------------------------------------


def _segment_reduce(ufunc: np.ufunc, values: np.ndarray, claims: np.ndarray, n: int) -> np.ndarray:
    """Reduce ``values`` per claim with ``ufunc`` (``claims`` sorted); claims with none get 0."""
    out = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
    if len(claims) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, claims[1:] != claims[:-1]])
    out[claims[starts]] = ufunc.reduceat(values, starts, axis=0)
    return out


def _select_lists(
    offsets: np.ndarray, ids: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lists of ``rows`` only, as new offsets (from 0) and ids."""
    counts = offsets[rows + 1] - offsets[rows]
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    total = int(new_offsets[-1])
    if total == 0:
        return new_offsets, ids[:0]
    starts = np.repeat(offsets[rows] - new_offsets[:-1], counts)
    return new_offsets, ids[np.arange(total, dtype=np.int64) + starts]


def _first_ids(offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    n = len(offsets) - 1
    if len(ids) == 0:
        return np.zeros(n, dtype=np.int32)
    starts = offsets[:-1]
    first = ids[np.minimum(starts, len(ids) - 1)]
    return np.where(offsets[1:] > starts, first, 0).astype(np.int32)


def _any_per_claim(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Whether any flag of each claim's list is set."""
    out = np.zeros(len(offsets) - 1, dtype=bool)
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    if len(nonempty):
        out[nonempty] = np.logical_or.reduceat(flags, offsets[nonempty])
    return out


def _lowest_bit_index(words: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each non-zero uint64."""
    lowest = words & (~words + np.uint64(1))
    return np.bitwise_count(lowest - np.uint64(1)).astype(np.int64)


def _test_bit(bits: np.ndarray, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    words = bits[rows, positions // 64]
    return ((words >> (positions % 64).astype(np.uint64)) & np.uint64(1)).astype(bool)


# --- output labels -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Labels:
    """The labels of one result column, ready for a fast take or a dictionary column."""

    array: pa.Array  # string labels, indexed by the codes the kernel computes
    fixed: np.ndarray | None  # the labels as fixed-width bytes when all have one length
    compact: np.ndarray  # int32: label index -> index in ``dictionary``
    is_null: np.ndarray  # bool per label
    dictionary: pa.Array  # the distinct non-null labels (writers need distinct entries)


_LABELS: dict[tuple[str, str], _Labels] = {}


def _labels(rules: CompiledRules, name: str) -> _Labels:
    """The output labels of one result column, indexed by the codes the kernel computes."""
    key = (rules.content_hash, name)
    if key not in _LABELS:
        n_mdc = len(rules.mdc_codes)
        labels: list[str | None] = {
            "status": lambda: STATUSES,
            "mdc": lambda: [*rules.mdc_codes, "0000"],
            "adrg": lambda: [*rules.candidate_codes, "00"],
            "drg": lambda: [*rules.drg_codes, "0000", *rules.qy_drg_codes,
                            *rules.candidate_codes],
            "drg_name": lambda: [*rules.drg_names, None, *([None] * n_mdc),
                                 *(rules.adrg_names.get(c) for c in rules.candidate_codes)],
            "severity": lambda: [*SEVERITY_LABELS, None],
            "reason": lambda: [code or None for code in REASON_CODES],
            "rule_set": lambda: [rules.rule_set_id],
        }[name]()
        encoded = [label.encode() if label is not None else None for label in labels]
        widths = {len(label) for label in encoded if label is not None}
        fixed = None
        if None not in encoded and len(widths) == 1 and 0 not in widths:
            fixed = np.array(encoded, dtype=f"S{widths.pop()}")
        distinct = list(dict.fromkeys(label for label in labels if label is not None))
        position = {label: i for i, label in enumerate(distinct)}
        _LABELS[key] = _Labels(
            array=pa.array(labels, type=pa.string()),
            fixed=fixed,
            compact=np.array([position.get(label, 0) if label is not None else 0
                              for label in labels], dtype=np.int32),
            is_null=np.array([label is None for label in labels], dtype=bool),
            dictionary=pa.array(distinct, type=pa.string()),
        )
    return _LABELS[key]


def _label_column(labels: _Labels, index: np.ndarray, dictionary: bool) -> pa.Array:
    """``labels[index]`` as a string column, or as a dictionary column with the same values."""
    n = len(index)
    if dictionary:
        # Null labels (no DRG name, no reason) are null indices, as a cast from strings gives.
        indices = labels.compact[index]
        mask = labels.is_null[index] if labels.is_null.any() else None
        if mask is not None and not mask.any():
            mask = None
        return pa.DictionaryArray.from_arrays(
            pa.array(indices, type=pa.int32(), mask=mask), labels.dictionary
        )
    if labels.fixed is not None:
        # Labels of one width (the MDC codes, the rule-set id): a gather of fixed-width bytes
        # instead of a copy per string.
        width = labels.fixed.dtype.itemsize
        if (n + 1) * width < 2**31:
            data = labels.fixed[index]
            offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
            return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return labels.array.take(pa.array(index.astype(np.int32, copy=False), type=pa.int32()))


# --- the kernel ----------------------------------------------------------------------------------


@dataclass
class _Chunk:
    """One chunk of claims: its table slice and its code lists as flat ids."""

    table: pa.Table
    dx_offsets: np.ndarray  # int64[n + 1], from 0
    dx_ids: np.ndarray  # int32 per code
    dx_values: pa.Array | None  # the codes as text (evidence only)
    px_offsets: np.ndarray
    px_ids: np.ndarray
    px_values: pa.Array | None

    def __post_init__(self) -> None:
        # The claim of each diagnosis (severity reads a third of them); procedures are fewer
        # and only a few positions ever need their claim, found by binary search.
        claims = np.arange(self.table.num_rows, dtype=np.int32)
        self.dx_claim = np.repeat(claims, np.diff(self.dx_offsets))
        self._px_claim: np.ndarray | None = None

    @property
    def px_claim(self) -> np.ndarray:
        if self._px_claim is None:
            claims = np.arange(self.table.num_rows, dtype=np.int32)
            self._px_claim = np.repeat(claims, np.diff(self.px_offsets))
        return self._px_claim

    def owners(self, positions: np.ndarray, dx: bool) -> np.ndarray:
        """The claim of each code position (ascending positions)."""
        if dx:
            return self.dx_claim[positions]
        if self._px_claim is None and len(positions) * 8 < len(self.px_ids):
            return (np.searchsorted(self.px_offsets, positions, side="right") - 1).astype(
                np.int32)
        return self.px_claim[positions]




class _ClaimFacts:
    """The per-claim facts the extra atoms test, for one chunk, computed on first use.

    The list atoms are sparse (few claims carry a code on an any-position list), so they are
    kept as (claims, bits) pairs and looked up through ``slot``; the others are bool[n].
    """

    def __init__(self, chunk: _Chunk, rules: CompiledRules, tables: _KernelTables,
                 age_days_present: np.ndarray, age_days: np.ndarray,
                 weight: np.ndarray) -> None:
        self.chunk, self.rules, self.tables = chunk, rules, tables
        self.n = chunk.table.num_rows
        self.age_days_present, self.age_days, self.weight = age_days_present, age_days, weight
        self._any_vor: np.ndarray | None = None
        self._listed: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self._flags: dict[str, np.ndarray] = {}
        self._bits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _union(self, dx: bool) -> tuple[np.ndarray, np.ndarray]:
        """(positions, claims) of the codes on any list an atom reads; one gather per chunk."""
        if dx not in self._listed:
            chunk = self.chunk
            ids = chunk.dx_ids if dx else chunk.px_ids
            union = self.tables.dx_on_extra if dx else self.tables.px_on_extra
            positions = np.flatnonzero(union[ids])
            self._listed[dx] = (positions, chunk.owners(positions, dx))
        return self._listed[dx]

    def sparse_or(self, bits: np.ndarray, on_list: np.ndarray, dx: bool,
                  skip_first: bool = False, within_extra: bool = True,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(claims, OR of ``bits[id]``) over each claim's codes on a list, claims ascending."""
        chunk = self.chunk
        ids = chunk.dx_ids if dx else chunk.px_ids
        if within_extra:
            # Every extra-atom list is within the union the tables keep.
            positions, owners = self._union(dx)
            on = on_list[ids[positions]]
            positions, owners = positions[on], owners[on]
        else:
            positions = np.flatnonzero(on_list[ids])
            owners = chunk.owners(positions, dx)
        if skip_first:
            offsets = chunk.dx_offsets if dx else chunk.px_offsets
            secondary = positions != offsets[owners]
            positions, owners = positions[secondary], owners[secondary]
        if len(positions) == 0:
            return owners, bits[:0]
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        return owners[starts], np.bitwise_or.reduceat(bits[ids[positions]], starts, axis=0)

    def listed_claims(self) -> np.ndarray:
        """bool[n]: claims with a code on some list an atom reads (few)."""
        out = np.zeros(self.n, dtype=bool)
        for dx in (True, False):
            out[self._union(dx)[1]] = True
        return out

    def dense_or(self, bits: np.ndarray, on_list: np.ndarray, dx: bool,
                 within_extra: bool = False) -> np.ndarray:
        claims, values = self.sparse_or(bits, on_list, dx, within_extra=within_extra)
        out = np.zeros((self.n, *bits.shape[1:]), dtype=bits.dtype)
        out[claims] = values
        return out

    @property
    def any_vor(self) -> np.ndarray:
        """bool[n]: the claim has a valid OR procedure in any position."""
        if self._any_vor is None:
            chunk = self.chunk
            self._any_vor = _any_per_claim(self.rules.px_valid_or[chunk.px_ids],
                                           chunk.px_offsets)
        return self._any_vor

    def flag_code(self, rows: np.ndarray) -> np.ndarray:
        """For ``rows``, the flag atoms that hold as bits (bit i = ``tables.flag_keys[i]``)."""
        rules = self.rules
        code = np.zeros(len(rows), dtype=np.intp)
        days_present, days, grams = (self.age_days_present[rows], self.age_days[rows],
                                     self.weight[rows])
        vor: np.ndarray | None = None
        for bit, key in enumerate(self.tables.flag_keys):
            if key.startswith("newborn"):
                band = rules.newborn_bands[int(key[7:])]
                holds = days_present & (days <= band.high)
            elif key.startswith("weight"):
                holds = _in_weight_band(rules.weight_bands[int(key[6:])], grams)
            else:
                if vor is None:
                    offsets, ids = _select_lists(self.chunk.px_offsets, self.chunk.px_ids, rows)
                    vor = _any_per_claim(rules.px_valid_or[ids], offsets)
                holds = vor if key == "any_px_in_valid_or" else ~vor
            code |= holds.astype(np.intp) << bit
        return code

    def flags(self, key: str) -> np.ndarray:
        """bool[n]: whether a non-list atom holds for each claim."""
        if key in self._flags:
            return self._flags[key]
        rules = self.rules
        if key == "no_px_in_valid_or":
            value = ~self.any_vor
        elif key == "any_px_in_valid_or":
            value = self.any_vor
        elif key.startswith("combo"):
            combo = rules.label_combos[int(key[5:])]
            claims, labels = self.sparse_or(combo.px_label_bits, combo.px_label_bits != 0,
                                            dx=False)
            holds = np.zeros(len(claims), dtype=bool)
            for alternative in combo.alternatives:
                holds |= (labels & np.uint32(alternative)) == alternative
            value = np.zeros(self.n, dtype=bool)
            value[claims[holds]] = True
        elif key.startswith("newborn"):
            band = rules.newborn_bands[int(key[7:])]
            value = self.age_days_present & (self.age_days <= band.high)
        else:
            value = _in_weight_band(rules.weight_bands[int(key[6:])], self.weight)
        self._flags[key] = value
        return value

    def bits(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slot[n], claims, bits[k, W]) of a list atom; ``slot`` is -1 for claims without."""
        if key not in self._bits:
            rules, tables = self.rules, self.tables
            claims, values = {
                "any_dx": lambda: self.sparse_or(rules.any_dx_bits, tables.dx_on_any_list,
                                                 dx=True),
                "sdx": lambda: self.sparse_or(rules.sdx_bits, tables.dx_on_sdx_list, dx=True,
                                              skip_first=True),
                "any_px": lambda: self.sparse_or(rules.any_px_bits, tables.px_on_any_list,
                                                 dx=False),
                "any_px2": lambda: self.sparse_or(rules.any_px2_bits, tables.px_on_px2_list,
                                                  dx=False),
            }[key]()
            slot = np.full(self.n, -1, dtype=np.int32)
            slot[claims] = np.arange(len(claims), dtype=np.int32)
            self._bits[key] = (slot, claims, values)
        return self._bits[key]

    def dense(self, key: str) -> np.ndarray:
        """uint64[n, W] for a list atom, bool[n] for the others (the bitset path)."""
        if key not in _BIT_ATOMS:
            return self.flags(key)
        _, claims, values = self.bits(key)
        out = np.zeros((self.n, self.rules.words), dtype=np.uint64)
        out[claims] = values
        return out

    def local(self, key: str, rows: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The atom's holds for ``rows`` as bits of the word of the MDC starting at ``base``."""
        if key not in _BIT_ATOMS:
            return np.where(self.flags(key)[rows], ALL_BITS, np.uint64(0))
        slot, _, values = self.bits(key)
        out = np.zeros(len(rows), dtype=np.uint64)
        slots = slot[rows]
        has = np.flatnonzero(slots >= 0)
        if len(has):
            out[has] = _row_window(values[slots[has]], base[has])
        return out


def _in_weight_band(band: BandAtom, grams: np.ndarray) -> np.ndarray:
    """A birth weight is known, not zero, and within the band ([low, high) grams)."""
    holds = ~np.isnan(grams) & (grams != 0)
    if band.low is not None:
        holds &= grams >= band.low
    if band.high is not None:
        holds &= grams < band.high
    return holds


def _row_window(bits: np.ndarray, base: np.ndarray) -> np.ndarray:
    """For each row of ``bits`` (uint64[k, W]), its 64 bits starting at bit ``base[row]``."""
    words = bits.shape[1]
    rows = np.arange(len(bits))
    word = base >> 6
    shift = (base & 63).astype(np.uint64)
    low = bits[rows, word] >> shift
    following = bits[rows, np.minimum(word + 1, words - 1)]
    high = np.where(
        (shift == 0) | (word + 1 >= words),
        np.uint64(0),
        following << ((np.uint64(64) - shift) & np.uint64(63)),
    )
    return low | high


def _winner_by_mdc(mdc_mask: np.ndarray, pdx: np.ndarray, main_px: np.ndarray,
                   tables: _KernelTables, facts: _ClaimFacts) -> np.ndarray:
    """The winning candidate per claim (-1 none), one entered MDC at a time in MDC order."""
    n_mdc = len(tables.mdc_base)
    winner = np.full(len(mdc_mask), -1, dtype=np.int64)
    principal_row = pdx.astype(np.intp) * n_mdc
    main_row = main_px.astype(np.intp) * n_mdc
    listed = facts.listed_claims()
    flag_shift = len(tables.flag_keys)
    remaining = mdc_mask
    if tables.vor_entry_bits:
        # Skip the MDCs a valid OR main procedure enters (MDCA) where none of their ADRGs
        # can hold for that procedure: most surgical claims then need one round, not two.
        futile = ~tables.vor_entry_viable[main_px] & ~listed
        remaining = np.where(futile, mdc_mask & ~tables.vor_entry_bits, mdc_mask)
    active = np.flatnonzero(remaining)
    while len(active):
        rest = remaining[active]
        lowest = rest & (~rest + np.uint32(1))
        mdc = np.bitwise_count(lowest - np.uint32(1)).astype(np.intp)
        principal_at = principal_row[active] + mdc
        local = tables.principal_unlisted[principal_at] & tables.main[main_row[active] + mdc]
        with_lists = np.flatnonzero(listed[active])
        if len(with_lists):
            # The few claims with a listed code keep the list atoms' candidates, and test them.
            sub = (tables.principal[principal_at[with_lists]]
                   & tables.main[main_row[active[with_lists]] + mdc[with_lists]])
            rows, sub_mdc = active[with_lists], mdc[with_lists]
            base = tables.mdc_base[sub_mdc]
            for atom in tables.listed_atoms:
                atom_local = atom.local[sub_mdc]
                using = np.flatnonzero(sub & atom_local)
                if len(using):
                    sub[using] &= (facts.local(atom.key, rows[using], base[using])
                                   | ~atom_local[using])
            local[with_lists] = sub
        if flag_shift:
            flagged = np.flatnonzero(local & tables.flag_local[mdc])
            if len(flagged):
                local[flagged] &= tables.flag_allowed[
                    (mdc[flagged] << flag_shift) | facts.flag_code(active[flagged])]
        found = local != 0
        winner[active] = np.where(found, tables.mdc_base[mdc] + _lowest_bit_index(local), -1)
        rest &= ~lowest
        keep = ~found & (rest != 0)
        active = active[keep]
        remaining = np.zeros_like(mdc_mask)
        remaining[active] = rest[keep]
    return winner


def _winner_by_bitsets(mdc_mask: np.ndarray, pdx: np.ndarray, main_px: np.ndarray,
                       rules: CompiledRules, tables: _KernelTables,
                       facts: _ClaimFacts) -> np.ndarray:
    """The winning candidate per claim (-1 none) from bitsets over all candidates."""
    condition = tables.principal[pdx] & tables.main[main_px] & _lut(rules, mdc_mask)
    for atom in tables.extra_atoms:
        value = facts.dense(atom.key)
        for word in np.flatnonzero(atom.mask):
            if value.ndim == 2:
                condition[:, word] &= value[:, word] | ~atom.mask[word]
            else:
                condition[:, word] &= np.where(value, ALL_BITS, ~atom.mask[word])
    nonzero = condition != 0
    word_index = nonzero.argmax(axis=1)
    word = np.take_along_axis(condition, word_index[:, None], axis=1)[:, 0]
    return np.where(word != 0, word_index * 64 + _lowest_bit_index(word), -1)


def _numeric(batch: pa.Table, name: str, dtype: type, missing: float) -> np.ndarray:
    column = batch.column(name)
    if np.issubdtype(dtype, np.floating) and column.type != pa.float64():
        column = column.cast(pa.float64())
    if column.num_chunks == 1 and not pa.types.is_null(column.type):
        array = column.chunk(0)
        if array.null_count:
            array = array.fill_null(missing)
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=dtype)
    return np.asarray(column.fill_null(missing).to_numpy(), dtype=dtype)


def _present(batch: pa.Table, name: str) -> np.ndarray:
    column = batch.column(name)
    if column.null_count == 0:
        return np.ones(batch.num_rows, dtype=bool)
    return np.asarray(column.is_valid())


def _group_chunk(
    chunk: _Chunk,
    rules: CompiledRules,
    evidence: bool,
    dictionary: bool,
    zd_unmapped: np.ndarray | None = None,
    ss_unmapped: np.ndarray | None = None,
) -> dict[str, pa.Array]:
    """The result columns (claim_id excluded) of one chunk."""
    tables = _tables(rules)
    batch = chunk.table
    n = batch.num_rows
    dx_offsets, dx_ids = chunk.dx_offsets, chunk.dx_ids
    px_ids = chunk.px_ids

    sex = _numeric(batch, "sex", np.int8, -1)
    age = _numeric(batch, "age_years", np.float64, np.nan)
    age_days_present = _present(batch, "age_days")
    age_days = _numeric(batch, "age_days", np.int64, 0)
    weight = _numeric(batch, "birth_weight_g", np.float64, np.nan)
    infant = age < 1  # "age == 0" of the reference, with age in (possibly decimal) years

    # Reasons in reverse order of precedence, so that the first check that fails wins.
    reason = np.zeros(n, dtype=np.int8)
    checks = [
        (zd_unmapped, "ZD_NOT_MAPPING"),
        (ss_unmapped, "SS_NOT_MAPPING"),
        (sex < 0, "SEX_MISSING"),
        ((sex != 1) & (sex != 2), "SEX_INVALID"),
        (np.isnan(age), "AGE_MISSING"),
        (infant & ~age_days_present, "AGE_DAYS_MISSING"),
        (infant & age_days_present & (age_days <= 28) & np.isnan(weight),
         "BIRTH_WEIGHT_MISSING"),
        (dx_offsets[1:] == dx_offsets[:-1], "NO_DIAGNOSIS"),
    ]
    for failed, code in reversed(checks):
        if failed is not None:
            reason[failed] = _REASON[code]
    checked = reason == 0

    pdx = _first_ids(dx_offsets, dx_ids)
    main_px = _first_ids(chunk.px_offsets, px_ids)
    main_vor = rules.px_valid_or[main_px]

    # MDC entry, one bit per MDC in evaluation order.
    mdc_mask = rules.dx_mdc_mask[pdx] | np.where(main_vor, tables.vor_entry_bits, np.uint32(0))
    facts = _ClaimFacts(chunk, rules, tables, age_days_present, age_days, weight)
    if tables.any_dx_entry_bits:
        bits = tables.any_dx_entry_bits
        listed = facts.dense_or(rules.dx_mdc_mask & bits, (rules.dx_mdc_mask & bits) != 0,
                                dx=True)
        mdc_mask = (mdc_mask & ~bits) | (listed & bits)
    conditional = np.flatnonzero(mdc_mask & tables.conditional_entry_bits)
    if len(conditional):
        # Trauma regions over the conditional claims' diagnoses only.
        offsets, ids = _select_lists(dx_offsets, dx_ids, conditional)
        trauma = np.zeros(len(conditional), dtype=rules.dx_trauma_bit.dtype)
        nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
        if len(nonempty):
            trauma[nonempty] = np.bitwise_or.reduceat(rules.dx_trauma_bit[ids],
                                                      offsets[nonempty])
        sub = mdc_mask[conditional]
        for m, kind in enumerate(rules.mdc_entry_kind):
            bit = np.uint32(1 << m)
            if kind == "pdx_in_list_and_sex":
                fails = sex[conditional] != rules.mdc_entry_sex[m]
            elif kind == "pdx_in_list_and_age_years_0":
                fails = ~infant[conditional]
            elif kind == "pdx_in_list_and_multi_trauma":
                fails = np.bitwise_count(trauma) < 2
            else:
                continue
            sub[fails] &= ~bit
        mdc_mask[conditional] = sub
    mdc_mask[~checked] = 0

    if tables.by_mdc:
        winner = _winner_by_mdc(mdc_mask, pdx, main_px, tables, facts)
    else:
        winner = _winner_by_bitsets(mdc_mask, pdx, main_px, rules, tables, facts)
    grouped = winner >= 0
    safe_winner = np.where(grouped, winner, 0)
    is_qy = grouped & rules.candidate_is_qy[safe_winner]

    # Severity over secondary diagnoses; an excluded MCC is ignored, never downgraded to CC.
    level = rules.dx_cc_level[dx_ids]
    cc_positions = np.flatnonzero(level != 0)
    owner = chunk.dx_claim[cc_positions]
    principal = cc_positions == dx_offsets[owner]
    principal_table = rules.dx_exclusion_table[pdx][owner]
    excluded = (principal_table >= 0) & (
        principal_table == rules.dx_cc_table[dx_ids[cc_positions]]
    )
    counted = np.where(principal | excluded, np.int8(0), level[cc_positions])
    severity = np.zeros(n, dtype=np.int8)
    np.maximum.at(severity, owner, counted)

    # DRG: the first split of the winner's sequence whose bounds and severity hold; when none
    # holds (only possible with age/LOS bounds), the DRG is the 3-character ADRG code.
    n_drg = len(rules.drg_codes)
    n_mdc = len(rules.mdc_codes)
    split_rows = grouped & ~is_qy
    chosen = tables.severity_drg[safe_winner, severity]
    bounded = np.flatnonzero(split_rows & tables.candidate_bounded[safe_winner])
    if len(bounded):
        chosen[bounded] = _bounded_split(
            rules, winner[bounded], severity[bounded], age[bounded],
            _numeric(batch, "los_days", np.float64, np.nan)[bounded],
        )
    los_missing = split_rows & rules.candidate_needs_los[safe_winner]
    los_missing &= ~_present(batch, "los_days")
    reason[los_missing] = _REASON["LOS_MISSING"]
    grouped &= ~los_missing
    checked &= ~los_missing

    success = grouped & ~is_qy
    status = np.where(success, _STATUS["SUCCESS"], _STATUS["FAIL"]).astype(np.int8)
    status[is_qy] = _STATUS["QY"]
    status[~checked] = _STATUS["CHECK_FAILED"]
    if zd_unmapped is not None and ss_unmapped is not None:
        status[zd_unmapped] = _STATUS["ZD_NOT_MAPPING"]
        status[~zd_unmapped & ss_unmapped] = _STATUS["SS_NOT_MAPPING"]
    no_group = checked & ~grouped
    reason[no_group] = np.where(mdc_mask[no_group] == 0, _REASON["NO_MDC"], _REASON["NO_ADRG"])
    reason[is_qy] = _REASON["QY"]

    winner_mdc = np.where(grouped, rules.candidate_mdc[safe_winner], n_mdc).astype(np.int32)
    n_cand = len(rules.candidate_codes)
    adrg_index = np.where(grouped, winner, n_cand)  # index n_cand = "00"
    # DRG lookup: [DRGs..., "0000", QY of each MDC..., ADRG code of each candidate...]
    drg_index = np.where(success, chosen, n_drg)
    drg_index[is_qy] = n_drg + 1 + winner_mdc[is_qy]
    severity_index = np.where(success, severity, len(SEVERITY_LABELS))

    columns: dict[str, pa.Array] = {
        "status": _label_column(_labels(rules, "status"), status, dictionary),
        "mdc": _label_column(_labels(rules, "mdc"), winner_mdc, dictionary),
        "adrg": _label_column(_labels(rules, "adrg"), adrg_index, dictionary),
        "drg": _label_column(_labels(rules, "drg"), drg_index, dictionary),
        "drg_name": _label_column(_labels(rules, "drg_name"), drg_index, dictionary),
        "severity": _label_column(_labels(rules, "severity"), severity_index, dictionary),
        "reason": _label_column(_labels(rules, "reason"), reason, dictionary),
        "rule_set": _label_column(_labels(rules, "rule_set"), np.zeros(n, np.intp), dictionary),
    }
    if evidence:
        secondary = ~principal
        columns.update(_evidence(
            chunk, rules, mdc_mask, grouped, safe_winner, pdx, cc_positions[secondary],
            excluded[secondary], level, rules.px_valid_or[px_ids],
        ))
    return columns


def _bounded_split(
    rules: CompiledRules,
    candidate: np.ndarray,
    severity: np.ndarray,
    age: np.ndarray,
    los: np.ndarray,
) -> np.ndarray:
    """The split loop of the reference, for claims whose ADRG has age or LOS bounds."""
    n_drg, n_mdc = len(rules.drg_codes), len(rules.mdc_codes)
    chosen = n_drg + 1 + n_mdc + candidate.astype(np.int64)  # fallback: the ADRG code
    undecided = np.ones(len(candidate), dtype=bool)
    for k in range(rules.split_drg.shape[1]):
        max_age = rules.split_max_age[candidate, k]
        min_los = rules.split_min_los[candidate, k]
        max_los = rules.split_max_los[candidate, k]
        holds = (
            undecided
            & (rules.split_drg[candidate, k] >= 0)
            & (severity >= rules.split_min_severity[candidate, k])
            & (np.isposinf(max_age) | (np.floor(age) <= max_age))  # whole years
            & (np.isneginf(min_los) | (los >= min_los))
            & (np.isposinf(max_los) | (los < max_los))
        )
        chosen[holds] = rules.split_drg[candidate[holds], k]
        undecided &= ~holds
    return chosen


def _list_column(values: pa.Array, keep: np.ndarray, claim_of: np.ndarray, n: int) -> pa.Array:
    index = np.flatnonzero(keep)
    counts = np.bincount(claim_of[index], minlength=n)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, values.take(pa.array(index, type=pa.int64())))


def _evidence(
    chunk: _Chunk,
    rules: CompiledRules,
    mdc_mask: np.ndarray,
    grouped: np.ndarray,
    safe_winner: np.ndarray,
    pdx: np.ndarray,
    secondary: np.ndarray,
    excluded: np.ndarray,
    level: np.ndarray,
    px_vor: np.ndarray,
) -> dict[str, pa.Array]:
    """What the decision rested on, for `drg explain` and for auditors."""
    assert chunk.dx_values is not None and chunk.px_values is not None
    n = len(mdc_mask)
    masks = rules.atom_masks
    n_mdc = len(rules.mdc_codes)
    columns: dict[str, pa.Array] = {}
    mdc_bits = ((mdc_mask[:, None] >> np.arange(n_mdc, dtype=np.uint32)) & 1).astype(bool)
    rows, cols = np.nonzero(mdc_bits)
    mdc_names = pa.array(rules.mdc_codes, type=pa.string())
    counts = np.bincount(rows, minlength=n)
    columns["mdcs_entered"] = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)),
        mdc_names.take(pa.array(cols, type=pa.int64())),
    )

    dx_ids, px_ids = chunk.dx_ids, chunk.px_ids
    dx_claim, px_claim = chunk.dx_claim, chunk.px_claim
    dx_first = np.arange(len(dx_ids)) == chunk.dx_offsets[dx_claim]
    px_first = np.arange(len(px_ids)) == chunk.px_offsets[px_claim]

    def winner_uses(atom: str, owners: np.ndarray) -> np.ndarray:
        mask = masks[atom][None, :]
        return grouped[owners] & _test_bit(
            mask, np.zeros(len(owners), np.int64), safe_winner[owners]
        )

    dx_member = _test_bit(rules.dx_bits, dx_ids, safe_winner[dx_claim])
    matched_dx = dx_member & (
        (winner_uses("pdx", dx_claim) & dx_first) | winner_uses("any_dx", dx_claim)
    )
    columns["matched_dx"] = _list_column(chunk.dx_values, matched_dx, dx_claim, n)

    px_winner = safe_winner[px_claim]
    in_px = _test_bit(rules.px_bits, px_ids, px_winner)
    in_px2 = _test_bit(rules.any_px2_bits, px_ids, px_winner)
    matched_px = (
        (in_px & winner_uses("main_px", px_claim) & px_first)
        | (in_px & (winner_uses("any_px", px_claim) | winner_uses("label_combo", px_claim)))
        | (in_px2 & winner_uses("any_px2", px_claim))
        | (px_vor & winner_uses("main_px_in_valid_or", px_claim) & px_first)
        | (px_vor & winner_uses("any_px_in_valid_or", px_claim))
    )
    columns["matched_px"] = _list_column(chunk.px_values, matched_px, px_claim, n)

    counted_level = np.zeros(len(dx_ids), dtype=np.int8)
    counted_level[secondary[~excluded]] = level[secondary][~excluded]
    was_excluded = np.zeros(len(dx_ids), dtype=bool)
    was_excluded[secondary[excluded]] = True
    columns["mcc_codes"] = _list_column(chunk.dx_values, counted_level == 2, dx_claim, n)
    columns["cc_codes"] = _list_column(chunk.dx_values, counted_level == 1, dx_claim, n)
    columns["excluded_cc_mcc"] = _list_column(chunk.dx_values, was_excluded, dx_claim, n)
    table = rules.dx_exclusion_table[pdx]
    columns["exclusion_table"] = pa.array(table, type=pa.int32(), mask=table < 0)

    unknown_values = pa.concat_arrays([chunk.dx_values, chunk.px_values])
    unknown_owner = np.concatenate([dx_claim, px_claim])
    order = np.argsort(unknown_owner, kind="stable")
    unknown_mask = np.concatenate([dx_ids == 0, px_ids == 0])[order]
    columns["unknown_codes"] = _list_column(
        unknown_values.take(pa.array(order)), unknown_mask, unknown_owner[order], n
    )
    return columns


def _slice_codes(
    codes: _CodeColumn, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, pa.Array | None]:
    low, high = int(codes.offsets[start]), int(codes.offsets[stop])
    values = codes.values.slice(low, high - low) if codes.values is not None else None
    return codes.offsets[start:stop + 1] - low, codes.ids[low:high], values


def _claim_ids(table: pa.Table) -> pa.ChunkedArray:
    column = table.column("claim_id")
    if column.type == pa.string():
        return column
    if pa.types.is_dictionary(column.type):
        column = pa.chunked_array([chunk.dictionary_decode() for chunk in column.chunks],
                                  type=column.type.value_type)
    return column.cast(pa.string())


def group_batch(
    clean: pa.Table | pa.RecordBatch,
    rules: CompiledRules,
    *,
    evidence: bool = False,
    progress: Callable[[int], None] | None = None,
    dictionary: bool = False,
) -> pa.Table:
    """Group a clean claim batch (see ``drg_engine.validate``); one result row per claim, in order.

    The code lists may be ``list<string>`` or ``list<dictionary<string>>`` (as Parquet is read
    with ``read_dictionary``); the result is the same. With ``evidence`` the result also carries
    the columns ``drg explain`` renders. With ``dictionary`` the label columns (every result
    column but claim_id and the evidence) are ``dictionary<int32, string>`` with the same
    values, which saves copying a string per row when the result goes straight to a writer.
    ``progress`` is called with the number of claims finished after each chunk.
    """
    table = pa.Table.from_batches([clean]) if isinstance(clean, pa.RecordBatch) else clean
    schema = result_schema(evidence=evidence, dictionary=dictionary)
    if table.num_rows == 0:
        return empty_table(schema)
    keep_values = evidence or rules.code_conversion
    dx = _code_column(table.column("diagnoses"), _universe_array(rules, "dx"), keep_values)
    px = _code_column(table.column("procedures"), _universe_array(rules, "px"), keep_values)
    zd_unmapped = ss_unmapped = None
    if rules.code_conversion:
        assert dx.values is not None and px.values is not None
        dx_offsets, dx_values, zd_unmapped = _map_codes(dx.offsets, dx.values, rules.dx_map)
        px_offsets, px_values, ss_unmapped = _map_codes(px.offsets, px.values, rules.px_map)
        dx = _CodeColumn(dx_offsets, dx_values, _encode(dx_values, _universe_array(rules, "dx")))
        px = _CodeColumn(px_offsets, px_values, _encode(px_values, _universe_array(rules, "px")))
    parts: dict[str, list[pa.Array]] = {name: [] for name in schema.names[1:]}
    for start in range(0, table.num_rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, table.num_rows)
        dx_offsets, dx_ids, dx_values = _slice_codes(dx, start, stop)
        px_offsets, px_ids, px_values = _slice_codes(px, start, stop)
        chunk = _Chunk(table.slice(start, stop - start), dx_offsets, dx_ids, dx_values,
                       px_offsets, px_ids, px_values)
        columns = _group_chunk(
            chunk, rules, evidence, dictionary,
            None if zd_unmapped is None else zd_unmapped[start:stop],
            None if ss_unmapped is None else ss_unmapped[start:stop],
        )
        for name, array in columns.items():
            parts[name].append(array)
        if progress is not None:
            progress(stop - start)
    arrays = [_claim_ids(table)] + [
        pa.chunked_array(parts[name], type=schema.field(name).type) for name in schema.names[1:]
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
