"""CHS-DRG grouping of a clean claim batch: integer gathers, bitsets and segmented reductions.

The algorithm is the reference's (shared/reference/chs_drg_1_1/README.md §4-§5), evaluated for
all claims at once (DESIGN §3):

1. codes -> integer ids of the rule set (unknown -> 0);
2. MDC entry as a bitmask per claim (principal-list bits, then sex, age, multi-trauma and
   valid-OR conditions);
3. every candidate ADRG's condition as a bitset per claim, built atom by atom;
4. the winner is the lowest set bit of (conditions & candidates of entered MDCs), which is
   exactly the published MDC loop with fall-through to the next MDC;
5. severity = the highest non-excluded CC/MCC level among secondary diagnoses;
6. DRG = the first split of the winner that the severity satisfies (a compiled table).

No Python loop runs over claims; loops run over MDCs, bands and words only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.rules.compiled import SEVERITY_LABELS, CompiledRules

CHUNK_ROWS = 65_536
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


@dataclass
class _Codes:
    """One list column as flat code ids with per-claim offsets."""

    offsets: np.ndarray  # int64[n + 1]
    values: pa.Array  # the codes as strings
    ids: np.ndarray  # int32 code id per value (0 = unknown)
    claim_of: np.ndarray  # int64 claim row per value
    is_first: np.ndarray  # bool per value: first position of its claim

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def first_ids(self) -> np.ndarray:
        counts = self.counts
        first = np.zeros(len(counts), dtype=np.int32)
        present = counts > 0
        first[present] = self.ids[self.offsets[:-1][present]]
        return first


_UNIVERSE_ARRAYS: dict[tuple[str, str], pa.Array] = {}


def _universe_array(rules: CompiledRules, kind: str) -> pa.Array:
    key = (rules.content_hash, kind)
    if key not in _UNIVERSE_ARRAYS:
        universe = rules.dx_universe if kind == "dx" else rules.px_universe
        _UNIVERSE_ARRAYS[key] = pa.array(universe, type=pa.string())
    return _UNIVERSE_ARRAYS[key]


def _encode(values: pa.Array, universe: pa.Array) -> np.ndarray:
    if isinstance(values, pa.DictionaryArray):
        dictionary_ids = _encode(values.dictionary, universe)
        return dictionary_ids[np.asarray(values.indices.fill_null(0))]
    index = pc.index_in(values, value_set=universe)
    return (np.asarray(index.fill_null(-1), dtype=np.int32) + 1).astype(np.int32)


def _flatten(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    offsets = np.asarray(column.offsets, dtype=np.int64)
    return offsets - offsets[0], column.flatten()


def _codes(offsets: np.ndarray, values: pa.Array, ids: np.ndarray) -> _Codes:
    counts = np.diff(offsets)
    claim_of = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    is_first = np.zeros(len(values), dtype=bool)
    is_first[offsets[:-1][counts > 0]] = True
    return _Codes(offsets, values, ids, claim_of, is_first)


_ID_COLUMNS = {"diagnoses": ("_dx_ids", "dx"), "procedures": ("_px_ids", "px")}


def _with_code_ids(table: pa.Table, rules: CompiledRules) -> pa.Table:
    """Encode every code of the batch once (one hash lookup per code) before chunking."""
    for column, (id_column, kind) in _ID_COLUMNS.items():
        offsets, values = _flatten(table.column(column))
        ids = _encode(values, _universe_array(rules, kind))
        table = table.append_column(
            id_column,
            pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(ids)),
        )
    return table


def _chunk_codes(batch: pa.Table, column: str, rules: CompiledRules) -> _Codes:
    offsets, values = _flatten(batch.column(column))
    id_column, kind = _ID_COLUMNS[column]
    if id_column in batch.column_names:
        ids = np.asarray(_flatten(batch.column(id_column))[1], dtype=np.int32)
    else:
        ids = _encode(values, _universe_array(rules, kind))
    return _codes(offsets, values, ids)


def _segment_reduce(ufunc: np.ufunc, values: np.ndarray, claims: np.ndarray, n: int) -> np.ndarray:
    """Reduce ``values`` per claim with ``ufunc`` (``claims`` sorted); claims with none get 0."""
    out = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
    if len(claims) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, claims[1:] != claims[:-1]])
    out[claims[starts]] = ufunc.reduceat(values, starts, axis=0)
    return out


def _segment_or(
    values: np.ndarray, codes: _Codes, positions: np.ndarray | None = None
) -> np.ndarray:
    """Bitwise OR per claim of ``values``: one row per code, or per code at ``positions``."""
    claims = codes.claim_of if positions is None else codes.claim_of[positions]
    return _segment_reduce(np.bitwise_or, values, claims, len(codes.offsets) - 1)


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


def _numeric(batch: pa.Table, name: str, dtype: type, missing: float) -> np.ndarray:
    column = batch.column(name)
    if np.issubdtype(dtype, np.floating):
        column = column.cast(pa.float64())
    return np.asarray(column.fill_null(missing).to_numpy(), dtype=dtype)


def _list_column(values: pa.Array, keep: np.ndarray, claim_of: np.ndarray, n: int) -> pa.Array:
    index = np.flatnonzero(keep)
    counts = np.bincount(claim_of[index], minlength=n)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, values.take(pa.array(index, type=pa.int64())))


def _test_bit(bits: np.ndarray, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
    words = bits[rows, positions // 64]
    return ((words >> (positions % 64).astype(np.uint64)) & np.uint64(1)).astype(bool)


def _lowest_set_bit(bits: np.ndarray) -> np.ndarray:
    winner = np.full(bits.shape[0], -1, dtype=np.int64)
    for word_index in range(bits.shape[1]):
        word = bits[:, word_index]
        todo = np.flatnonzero((winner < 0) & (word != 0))
        chosen = word[todo]
        lowest = chosen & (~chosen + np.uint64(1))
        winner[todo] = word_index * 64 + np.bitwise_count(lowest - np.uint64(1)).astype(np.int64)
    return winner


_LABEL_ARRAYS: dict[tuple[str, str], pa.Array] = {}


def _labels(rules: CompiledRules, name: str) -> pa.Array:
    """The output labels of one result column, indexed by the codes the kernel computes."""
    key = (rules.content_hash, name)
    if key not in _LABEL_ARRAYS:
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
        _LABEL_ARRAYS[key] = pa.array(labels, type=pa.string())
    return _LABEL_ARRAYS[key]


def _string_lookup(labels: pa.Array, index: np.ndarray) -> pa.Array:
    return labels.take(pa.array(index, type=pa.int32()))


def _group_chunk(batch: pa.Table, rules: CompiledRules, evidence: bool) -> pa.Table:
    n = batch.num_rows
    zd_unmapped = np.zeros(n, dtype=bool)
    ss_unmapped = np.zeros(n, dtype=bool)
    if rules.code_conversion:
        dx_offsets, dx_values = _flatten(batch.column("diagnoses"))
        px_offsets, px_values = _flatten(batch.column("procedures"))
        dx_offsets, dx_values, zd_unmapped = _map_codes(dx_offsets, dx_values, rules.dx_map)
        px_offsets, px_values, ss_unmapped = _map_codes(px_offsets, px_values, rules.px_map)
        dx = _codes(dx_offsets, dx_values, _encode(dx_values, _universe_array(rules, "dx")))
        px = _codes(px_offsets, px_values, _encode(px_values, _universe_array(rules, "px")))
    else:
        dx = _chunk_codes(batch, "diagnoses", rules)
        px = _chunk_codes(batch, "procedures", rules)

    sex = _numeric(batch, "sex", np.int8, -1)
    age = _numeric(batch, "age_years", np.float64, np.nan)
    age_days_present = ~np.asarray(batch.column("age_days").is_null())
    age_days = _numeric(batch, "age_days", np.int64, 0)
    weight = _numeric(batch, "birth_weight_g", np.float64, np.nan)
    infant = age < 1  # "age == 0" of the reference, with age in (possibly decimal) years

    reason = np.select(
        [
            zd_unmapped,
            ss_unmapped,
            sex < 0,
            (sex != 1) & (sex != 2),
            np.isnan(age),
            infant & ~age_days_present,
            infant & age_days_present & (age_days <= 28) & np.isnan(weight),
            dx.counts == 0,
        ],
        [_REASON[code] for code in ("ZD_NOT_MAPPING", "SS_NOT_MAPPING", *_CHECK_FAILED_REASONS)],
        default=0,
    ).astype(np.int8)
    checked = reason == 0

    pdx = dx.first_ids()
    main_px = px.first_ids()
    px_vor = rules.px_valid_or[px.ids]
    any_vor = np.zeros(n, dtype=bool)
    any_vor[px.claim_of[px_vor]] = True
    main_vor = rules.px_valid_or[main_px]

    # MDC entry, one bit per MDC in evaluation order.
    mdc_mask = rules.dx_mdc_mask[pdx].copy()
    any_dx_entry = np.uint32(sum(
        1 << m for m, kind in enumerate(rules.mdc_entry_kind) if kind == "any_dx_in_list"
    ))
    if any_dx_entry:
        any_listed = _segment_or(rules.dx_mdc_mask[dx.ids], dx)
        mdc_mask = (mdc_mask & ~any_dx_entry) | (any_listed & any_dx_entry)
    trauma = _segment_or(rules.dx_trauma_bit[dx.ids], dx)
    multi_trauma = np.bitwise_count(trauma) >= 2
    for m, kind in enumerate(rules.mdc_entry_kind):
        bit = np.uint32(1 << m)
        if kind == "main_px_in_valid_or":
            mdc_mask[main_vor] |= bit
        elif kind == "pdx_in_list_and_sex":
            mdc_mask[sex != rules.mdc_entry_sex[m]] &= ~bit
        elif kind == "pdx_in_list_and_age_years_0":
            mdc_mask[~infant] &= ~bit
        elif kind == "pdx_in_list_and_multi_trauma":
            mdc_mask[~multi_trauma] &= ~bit
    mdc_mask[~checked] = 0

    # Candidate conditions, atom by atom: a candidate keeps its bit while every atom it
    # requires holds.
    masks = rules.atom_masks
    condition = np.full((n, rules.words), ALL_BITS, dtype=np.uint64)

    def require(atom_mask: np.ndarray, holds: np.ndarray) -> None:
        # Only the words holding candidates of this atom change.
        for word in np.flatnonzero(atom_mask):
            if holds.ndim == 2:
                condition[:, word] &= holds[:, word] | ~atom_mask[word]
            else:
                condition[:, word] &= np.where(holds, ALL_BITS, ~atom_mask[word])

    def any_code_bits(bits: np.ndarray, codes: _Codes) -> np.ndarray:
        # The "any position" lists are short, so only codes on them are gathered.
        on_list = np.flatnonzero(bits.any(axis=1)[codes.ids]) if bits.ndim == 2 else None
        if on_list is None:
            on_list = np.flatnonzero(bits[codes.ids])
        return _segment_or(bits[codes.ids[on_list]], codes, on_list)

    require(masks["pdx"], rules.dx_bits[pdx])
    require(masks["main_px"], rules.px_bits[main_px])
    require(masks["any_dx"], any_code_bits(rules.any_dx_bits, dx))
    require(masks["any_px"], any_code_bits(rules.any_px_bits, px))
    require(masks["any_px2"], any_code_bits(rules.any_px2_bits, px))
    if masks["sdx"].any():
        sdx_rows = rules.sdx_bits[dx.ids]
        on_list = np.flatnonzero(sdx_rows.any(axis=1) & ~dx.is_first)
        require(masks["sdx"], _segment_or(sdx_rows[on_list], dx, on_list))
    for combo in rules.label_combos:
        labels = any_code_bits(combo.px_label_bits, px)
        holds = np.zeros(n, dtype=bool)
        for alternative in combo.alternatives:
            holds |= (labels & np.uint32(alternative)) == alternative
        bit = np.zeros(rules.words, dtype=np.uint64)
        bit[combo.candidate // 64] = np.uint64(1) << np.uint64(combo.candidate % 64)
        require(bit, holds)
    for band in rules.newborn_bands:
        require(band.mask, age_days_present & (age_days <= band.high))
    weight_truthy = ~np.isnan(weight) & (weight != 0)
    for band in rules.weight_bands:
        holds = weight_truthy.copy()
        if band.low is not None:
            holds &= weight >= band.low
        if band.high is not None:
            holds &= weight < band.high
        require(band.mask, holds)
    require(masks["main_px_in_valid_or"], main_vor)
    require(masks["no_px_in_valid_or"], ~any_vor)
    require(masks["any_px_in_valid_or"], any_vor)

    lut = rules.mdc_byte_lut
    entered = (
        lut[0][mdc_mask & 0xFF]
        | lut[1][(mdc_mask >> 8) & 0xFF]
        | lut[2][(mdc_mask >> 16) & 0xFF]
        | lut[3][mdc_mask >> 24]
    )
    winner = _lowest_set_bit(condition & entered)
    grouped = winner >= 0
    is_qy = np.zeros(n, dtype=bool)
    is_qy[grouped] = rules.candidate_is_qy[winner[grouped]]

    # Severity over secondary diagnoses; an excluded MCC is ignored, never downgraded to CC.
    level = rules.dx_cc_level[dx.ids]
    secondary = np.flatnonzero((level > 0) & ~dx.is_first)
    owner = dx.claim_of[secondary]
    principal_table = rules.dx_exclusion_table[pdx[owner]]
    excluded = (principal_table >= 0) & (principal_table == rules.dx_cc_table[dx.ids[secondary]])
    severity = _segment_reduce(np.maximum, level[secondary][~excluded], owner[~excluded], n)

    # DRG: the first split of the winner's sequence whose bounds and severity hold; when none
    # holds (only possible with age/LOS bounds), the DRG is the 3-character ADRG code.
    los_present = ~np.asarray(batch.column("los_days").is_null())
    los = _numeric(batch, "los_days", np.float64, np.nan)
    n_drg = len(rules.drg_codes)
    n_mdc = len(rules.mdc_codes)
    split_owner = np.flatnonzero(grouped & ~is_qy)
    split_cand = winner[split_owner]
    los_missing = np.zeros(n, dtype=bool)
    los_missing[split_owner] = rules.candidate_needs_los[split_cand] & ~los_present[split_owner]
    chosen = n_drg + 1 + n_mdc + split_cand  # fallback: the candidate's ADRG code
    undecided = np.ones(len(split_owner), dtype=bool)
    split_age, split_los = age[split_owner], los[split_owner]
    for k in range(rules.split_drg.shape[1]):
        max_age = rules.split_max_age[split_cand, k]
        min_los = rules.split_min_los[split_cand, k]
        max_los = rules.split_max_los[split_cand, k]
        holds = (
            undecided
            & (rules.split_drg[split_cand, k] >= 0)
            & (severity[split_owner] >= rules.split_min_severity[split_cand, k])
            & (np.isposinf(max_age) | (split_age <= max_age))
            & (np.isneginf(min_los) | (split_los >= min_los))
            & (np.isposinf(max_los) | (split_los < max_los))
        )
        chosen[holds] = rules.split_drg[split_cand[holds], k]
        undecided &= ~holds
    reason[los_missing] = _REASON["LOS_MISSING"]
    grouped &= ~los_missing
    checked &= ~los_missing

    success = grouped & ~is_qy
    status = np.full(n, _STATUS["FAIL"], dtype=np.int8)
    status[success] = _STATUS["SUCCESS"]
    status[is_qy] = _STATUS["QY"]
    status[~checked] = _STATUS["CHECK_FAILED"]
    status[zd_unmapped] = _STATUS["ZD_NOT_MAPPING"]
    status[~zd_unmapped & ss_unmapped] = _STATUS["SS_NOT_MAPPING"]
    no_group = checked & ~grouped
    reason[no_group & (mdc_mask == 0)] = _REASON["NO_MDC"]
    reason[no_group & (mdc_mask != 0)] = _REASON["NO_ADRG"]
    reason[is_qy] = _REASON["QY"]

    winner_mdc = np.full(n, n_mdc, dtype=np.int32)  # index n_mdc = "0000"
    winner_mdc[grouped] = rules.candidate_mdc[winner[grouped]]
    n_cand = len(rules.candidate_codes)
    adrg_index = np.where(grouped, winner, n_cand)  # index n_cand = "00"
    # DRG lookup: [DRGs..., "0000", QY of each MDC..., ADRG code of each candidate...]
    drg_index = np.full(n, n_drg, dtype=np.int64)
    drg_index[split_owner] = chosen
    drg_index[~success & ~is_qy] = n_drg
    drg_index[is_qy] = n_drg + 1 + winner_mdc[is_qy]
    severity_index = np.where(success, severity, len(SEVERITY_LABELS))

    columns: dict[str, pa.Array] = {
        "claim_id": batch.column("claim_id").combine_chunks(),
        "status": _string_lookup(_labels(rules, "status"), status),
        "mdc": _string_lookup(_labels(rules, "mdc"), winner_mdc),
        "adrg": _string_lookup(_labels(rules, "adrg"), adrg_index),
        "drg": _string_lookup(_labels(rules, "drg"), drg_index),
        "drg_name": _string_lookup(_labels(rules, "drg_name"), drg_index),
        "severity": _string_lookup(_labels(rules, "severity"), severity_index),
        "reason": _string_lookup(_labels(rules, "reason"), reason),
        "rule_set": _string_lookup(_labels(rules, "rule_set"), np.zeros(n, dtype=np.int32)),
    }
    if not evidence:
        return pa.Table.from_pydict(columns, schema=RESULT_SCHEMA)

    # Evidence: what the decision above rested on, for `drg explain` and for auditors.
    mdc_bits = ((mdc_mask[:, None] >> np.arange(n_mdc, dtype=np.uint32)) & 1).astype(bool)
    rows, cols = np.nonzero(mdc_bits)
    mdc_names = pa.array(rules.mdc_codes, type=pa.string())
    counts = np.bincount(rows, minlength=n)
    columns["mdcs_entered"] = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)),
        mdc_names.take(pa.array(cols, type=pa.int64())),
    )

    safe_winner = np.where(grouped, winner, 0)

    def winner_uses(atom: str, owners: np.ndarray) -> np.ndarray:
        mask = masks[atom][None, :]
        return grouped[owners] & _test_bit(
            mask, np.zeros(len(owners), np.int64), safe_winner[owners]
        )

    dx_winner = safe_winner[dx.claim_of]
    dx_member = _test_bit(rules.dx_bits, dx.ids, dx_winner)
    matched_dx = dx_member & (
        (winner_uses("pdx", dx.claim_of) & dx.is_first) | winner_uses("any_dx", dx.claim_of)
    )
    columns["matched_dx"] = _list_column(dx.values, matched_dx, dx.claim_of, n)

    px_winner = safe_winner[px.claim_of]
    in_px = _test_bit(rules.px_bits, px.ids, px_winner)
    in_px2 = _test_bit(rules.any_px2_bits, px.ids, px_winner)
    matched_px = (
        (in_px & winner_uses("main_px", px.claim_of) & px.is_first)
        | (in_px & (winner_uses("any_px", px.claim_of) | winner_uses("label_combo", px.claim_of)))
        | (in_px2 & winner_uses("any_px2", px.claim_of))
        | (px_vor & winner_uses("main_px_in_valid_or", px.claim_of) & px.is_first)
        | (px_vor & winner_uses("any_px_in_valid_or", px.claim_of))
    )
    columns["matched_px"] = _list_column(px.values, matched_px, px.claim_of, n)

    counted_level = np.zeros(len(dx.ids), dtype=np.int8)
    counted_level[secondary[~excluded]] = level[secondary][~excluded]
    was_excluded = np.zeros(len(dx.ids), dtype=bool)
    was_excluded[secondary[excluded]] = True
    columns["mcc_codes"] = _list_column(dx.values, counted_level == 2, dx.claim_of, n)
    columns["cc_codes"] = _list_column(dx.values, counted_level == 1, dx.claim_of, n)
    columns["excluded_cc_mcc"] = _list_column(dx.values, was_excluded, dx.claim_of, n)
    table = rules.dx_exclusion_table[pdx]
    columns["exclusion_table"] = pa.array(table, type=pa.int32(), mask=table < 0)

    unknown_values = pa.concat_arrays([dx.values.cast(pa.string()), px.values.cast(pa.string())])
    unknown_owner = np.concatenate([dx.claim_of, px.claim_of])
    order = np.argsort(unknown_owner, kind="stable")
    unknown_mask = np.concatenate([dx.ids == 0, px.ids == 0])[order]
    columns["unknown_codes"] = _list_column(
        unknown_values.take(pa.array(order)), unknown_mask, unknown_owner[order], n
    )
    return pa.Table.from_pydict(columns, schema=EVIDENCE_SCHEMA)


def group_batch(
    clean: pa.Table | pa.RecordBatch,
    rules: CompiledRules,
    *,
    evidence: bool = False,
    progress: Callable[[int], None] | None = None,
) -> pa.Table:
    """Group a clean claim batch (see ``drg_engine.validate``); one result row per claim, in order.

    With ``evidence`` the result also carries the columns ``drg explain`` renders. ``progress``
    is called with the number of claims finished after each chunk.
    """
    table = pa.Table.from_batches([clean]) if isinstance(clean, pa.RecordBatch) else clean
    schema = EVIDENCE_SCHEMA if evidence else RESULT_SCHEMA
    if table.num_rows == 0:
        return schema.empty_table()
    if not rules.code_conversion:
        table = _with_code_ids(table, rules)
    parts = []
    for start in range(0, table.num_rows, CHUNK_ROWS):
        parts.append(_group_chunk(table.slice(start, CHUNK_ROWS), rules, evidence))
        if progress is not None:
            progress(parts[-1].num_rows)
    return pa.concat_tables(parts)
