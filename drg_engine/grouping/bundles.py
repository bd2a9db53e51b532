"""Single-disease fixed-price bundle assignment (按单病种付费): each claim to at most one bundle.

For all claims at once: the principal diagnosis' prefixes select the candidate (claim, bundle)
pairs; on the pairs, vectorized checks of age, length of stay, death/transfer, excluded secondary
diagnoses, excluded procedures and the required-procedure expression (codes matched by prefix,
anywhere on the claim). Among the bundles a claim satisfies, the one with the lowest priority
number wins - so a claim never lands in two bundles - and the result says which others it also
satisfied. A claim whose principal diagnosis matched a bundle but that failed every one gets
status ``NOT_ELIGIBLE`` with the first failed criterion of its highest-priority candidate.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.dip.bundle_list import BundleList
from drg_engine.dip.codes import (
    code_list,
    expand,
    list_column,
    member_any,
    normalised_dx,
    normalised_px,
)

BUNDLE_STATUSES = ("BUNDLED", "NOT_ELIGIBLE")
# Criteria in the order they are reported when a candidate bundle fails.
BUNDLE_REASONS: dict[str, str] = {
    "AGE_MISSING": "the bundle has an age limit and the claim has no age",
    "AGE_OUT_OF_RANGE": "the patient's age is outside the bundle's age limits",
    "LOS_OVER_LIMIT": "the stay is longer than the bundle allows (or the LOS is missing)",
    "DIED": "the bundle excludes stays that end in death",
    "TRANSFERRED": "the bundle excludes stays that end in a transfer",
    "EXCLUDED_DIAGNOSIS": "a secondary diagnosis is on the bundle's exclusion list",
    "EXCLUDED_PROCEDURE": "a procedure is on the bundle's exclusion list",
    "REQUIRED_PROCEDURE_MISSING": "the claim lacks the procedures the bundle requires",
}
_REASON_CODES = list(BUNDLE_REASONS)
BUNDLE_FIELDS = [
    pa.field("bundle_code", pa.string()),
    pa.field("bundle_name", pa.string()),
    pa.field("bundle_status", pa.string()),
    pa.field("bundle_reason", pa.string()),
    pa.field("bundle_quota", pa.decimal128(18, 2)),
    pa.field("bundle_fund_share", pa.decimal128(6, 4)),
    pa.field("bundle_quota_status", pa.string()),
    pa.field("bundle_candidates", pa.list_(pa.string())),
    pa.field("bundle_eligible", pa.list_(pa.string())),
    pa.field("bundle_list", pa.string()),
]
BUNDLE_SCHEMA = pa.schema([pa.field("claim_id", pa.string()), *BUNDLE_FIELDS])
DEATH_WAYS = ("5",)
TRANSFER_WAYS = ("2", "3")


def _floats(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    if not pa.types.is_floating(column.type):
        column = pc.cast(column, pa.float64())
    return np.asarray(column.fill_null(np.nan).to_numpy(), dtype=np.float64)


def _ways(table: pa.Table, values: tuple[str, ...]) -> np.ndarray:
    column = table.column("discharge_way")
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    return np.asarray(pc.is_in(column, value_set=pa.array(values)).fill_null(False))


def _take(labels: list[object], index: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    return pa.array(labels, type=arrow_type).take(pa.array(index, type=pa.int64()))


def bundle_batch(clean: pa.Table, bundles: BundleList) -> pa.Table:
    """One row per claim of a clean batch: the bundle it is paid under (or why not)."""
    n = clean.num_rows
    if n == 0:
        return BUNDLE_SCHEMA.empty_table()
    dx = code_list(clean.column("diagnoses"))
    px = code_list(clean.column("procedures"))
    dx_ids = bundles.dx_index.lookup(normalised_dx(dx.distinct))
    px_ids = bundles.px_index.lookup(normalised_px(px.distinct))
    n_dx, n_px = len(bundles.dx_index.prefixes), len(bundles.px_index.prefixes)
    n_bundles = len(bundles.codes)

    # Candidate pairs from the principal diagnosis' prefixes.
    pdx = dx.first()
    claims = np.flatnonzero(pdx >= 0)
    ids = dx_ids[pdx[claims]]
    pair_claim_parts, pair_bundle_parts = [], []
    start, groups = bundles.anchor.start, bundles.anchor.groups
    for column in range(ids.shape[1]):
        prefix = ids[:, column]
        has = np.flatnonzero(prefix >= 0)
        counts = start[prefix[has] + 1] - start[prefix[has]]
        rows, rank = expand(counts)
        pair_claim_parts.append(claims[has][rows])
        pair_bundle_parts.append(groups[start[prefix[has][rows]] + rank])
    claim = np.concatenate(pair_claim_parts).astype(np.int64) if pair_claim_parts else \
        np.zeros(0, np.int64)
    bundle = np.concatenate(pair_bundle_parts).astype(np.int64) if pair_bundle_parts else \
        np.zeros(0, np.int64)
    if len(claim):
        key = np.unique(claim * n_bundles + bundle)
        claim, bundle = key // n_bundles, key % n_bundles
    p = len(claim)

    # Criteria; ``failed`` keeps the first one that fails per pair.
    failed = np.full(p, len(_REASON_CODES), dtype=np.int64)

    def fail(mask: np.ndarray, reason: str) -> None:
        code = _REASON_CODES.index(reason)
        failed[mask & (failed > code)] = code

    age = _floats(clean, "age_years")[claim]
    limited = bundles.has_age[bundle]
    fail(limited & np.isnan(age), "AGE_MISSING")
    fail(limited & ~np.isnan(age) & ((age < bundles.min_age[bundle])
                                     | (age > bundles.max_age[bundle])), "AGE_OUT_OF_RANGE")
    los = _floats(clean, "los_days")[claim]
    capped = np.isfinite(bundles.max_los[bundle])
    fail(capped & (np.isnan(los) | (los > bundles.max_los[bundle])), "LOS_OVER_LIMIT")
    fail(bundles.exclude_death[bundle] & _ways(clean, DEATH_WAYS)[claim], "DIED")
    fail(bundles.exclude_transfer[bundle] & _ways(clean, TRANSFER_WAYS)[claim], "TRANSFERRED")

    if len(bundles.excluded_dx_keys) and p:
        offsets = dx.offsets
        counts = np.maximum(offsets[claim + 1] - offsets[claim] - 1, 0)
        rows, rank = expand(counts)
        cell = dx.cell[offsets[claim[rows]] + 1 + rank]
        cell_ids = dx_ids[np.maximum(cell, 0)]
        keys = bundle[rows][:, None] * n_dx + cell_ids
        hit = ((cell_ids >= 0) & (cell >= 0)[:, None]
               & member_any(keys.ravel(), bundles.excluded_dx_keys).reshape(keys.shape))
        excluded = np.zeros(p, dtype=bool)
        excluded[rows[hit.any(axis=1)]] = True
        fail(excluded, "EXCLUDED_DIAGNOSIS")

    if n_px and p:
        offsets = px.offsets
        rows, rank = expand(offsets[claim + 1] - offsets[claim])
        cell = px.cell[offsets[claim[rows]] + rank]
        cell_ids = px_ids[np.maximum(cell, 0)]
        valid = (cell_ids >= 0) & (cell >= 0)[:, None]
        keys = bundle[rows][:, None] * n_px + cell_ids
        if len(bundles.excluded_px_keys):
            hit = valid & member_any(keys.ravel(), bundles.excluded_px_keys).reshape(keys.shape)
            excluded = np.zeros(p, dtype=bool)
            excluded[rows[hit.any(axis=1)]] = True
            fail(excluded, "EXCLUDED_PROCEDURE")
        flat_rows = np.repeat(rows, keys.shape[1])[valid.ravel()]
        flat_keys = keys.ravel()[valid.ravel()]
        low = np.searchsorted(bundles.alt_keys, flat_keys, side="left")
        high = np.searchsorted(bundles.alt_keys, flat_keys, side="right")
        items, rank = expand(high - low)
        alt = bundles.alt_of_key[low[items] + rank].astype(np.int64)
        spec = flat_keys[items] % n_px
        n_alt = max(len(bundles.alt_bundle), 1)
        distinct = np.unique((flat_rows[items] * n_alt + alt) * n_px + spec)
        pair_alt, matched = np.unique(distinct // n_px, return_counts=True)
        full = matched == bundles.alt_size[pair_alt % n_alt]
        satisfied = np.zeros(p, dtype=bool)
        satisfied[pair_alt[full] // n_alt] = True
    else:
        satisfied = np.zeros(p, dtype=bool)
    fail(bundles.has_required[bundle] & ~satisfied, "REQUIRED_PROCEDURE_MISSING")

    # The winner: the eligible candidate with the lowest priority (bundles are in priority
    # order, so the lowest bundle index); pairs are sorted by claim then bundle.
    eligible = failed == len(_REASON_CODES)
    chosen = np.full(n, -1, dtype=np.int64)
    reason = np.full(n, len(_REASON_CODES), dtype=np.int64)
    if p:
        first_eligible = np.flatnonzero(eligible)
        first = np.r_[True, claim[first_eligible][1:] != claim[first_eligible][:-1]]
        chosen[claim[first_eligible[first]]] = bundle[first_eligible[first]]
        first_pair = np.r_[True, claim[1:] != claim[:-1]]
        reason[claim[first_pair]] = failed[first_pair]
    candidate = np.zeros(n, dtype=bool)
    candidate[claim] = True
    bundled = chosen >= 0
    reason[bundled] = len(_REASON_CODES)
    status = np.where(bundled, 0, np.where(candidate, 1, 2))
    index = np.where(bundled, chosen, n_bundles)
    codes = pa.array(bundles.codes or [""], type=pa.string())
    columns = {
        "bundle_code": _take([*bundles.codes, None], index, pa.string()),
        "bundle_name": _take([*bundles.names, None], index, pa.string()),
        "bundle_status": _take([*BUNDLE_STATUSES, None], status, pa.string()),
        "bundle_reason": _take([*_REASON_CODES, None], reason, pa.string()),
        "bundle_quota": _take([*bundles.quota, None], index, pa.decimal128(18, 2)),
        "bundle_fund_share": _take([*bundles.fund_share, None], index, pa.decimal128(6, 4)),
        "bundle_quota_status": _take([*bundles.quota_status, None], index, pa.string()),
        "bundle_candidates": list_column(codes.take(pa.array(bundle, type=pa.int64())), claim,
                                         n),
        "bundle_eligible": list_column(codes.take(pa.array(bundle[eligible], type=pa.int64())),
                                       claim[eligible], n),
        "bundle_list": _take([bundles.list_id], np.zeros(n, dtype=np.int64), pa.string()),
    }
    claim_id = clean.column("claim_id")
    return pa.Table.from_arrays([claim_id, *columns.values()], schema=BUNDLE_SCHEMA)


def with_bundles(results: pa.Table, clean: pa.Table, bundles: BundleList) -> pa.Table:
    """``results`` (one row per clean claim, same order) with the bundle columns appended."""
    assigned = bundle_batch(clean, bundles)
    table = results
    for field in BUNDLE_FIELDS:
        table = table.append_column(field, assigned.column(field.name))
    return table
