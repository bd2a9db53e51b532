"""Counterfactual regrouping with the real grouper, as whole tables (no per-claim Python).

Upcoding and decomposition rules ask "what group would this stay have without X?". Each
question becomes a table of counterfactual claims in the grouper's clean schema, grouped in
one ``group_batch`` call:

* ``drop_each_secondary``: every grouped claim once per secondary diagnosis that has a grouping
  role (CC/MCC level, a secondary-diagnosis or any-diagnosis list, a trauma region, an MDC entry
  list read from any position), minus that diagnosis. Codes without such a role cannot change
  the group, so leaving them out changes no answer and keeps the table small;
* ``procedure_variants``: claims without their valid-OR procedures, and claims with the
  96-hours-or-more ventilation code replaced by the under-96-hours code;
* ``merged_stays``: two consecutive stays of a person merged into one (first principal, all
  diagnoses and procedures once, both lengths of stay).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.grouping.drg import group_batch
from drg_engine.rules import CompiledRules
from drg_engine.schema import CLAIM_SCHEMA

TRAIL_SCHEMA = pa.schema([
    pa.field("claim_id", pa.string()),
    pa.field("position", pa.int32()),
    pa.field("dropped_code", pa.string()),
    pa.field("cf_status", pa.string()),
    pa.field("cf_drg", pa.string()),
    pa.field("cf_adrg", pa.string()),
    pa.field("cf_severity", pa.string()),
])
VARIANT_SCHEMA = pa.schema([
    pa.field("claim_id", pa.string()),
    pa.field("variant", pa.string()),
    pa.field("cf_status", pa.string()),
    pa.field("cf_drg", pa.string()),
    pa.field("cf_adrg", pa.string()),
    pa.field("cf_severity", pa.string()),
])
MERGED_SCHEMA = pa.schema([
    pa.field("claim_id", pa.string()),
    pa.field("prev_claim_id", pa.string()),
    pa.field("merged_status", pa.string()),
    pa.field("merged_drg", pa.string()),
    pa.field("merged_severity", pa.string()),
])


def secondary_roles(rules: CompiledRules) -> tuple[np.ndarray, np.ndarray]:
    """Per diagnosis code id: (has a CC/MCC level, has another secondary-position role)."""
    any_dx_entry = np.uint32(sum(
        1 << m for m, kind in enumerate(rules.mdc_entry_kind) if kind == "any_dx_in_list"
    ))
    severity_role = rules.dx_cc_level > 0
    other_role = (
        rules.any_dx_bits.any(axis=1)
        | rules.sdx_bits.any(axis=1)
        | (rules.dx_trauma_bit != 0)
        | ((rules.dx_mdc_mask & any_dx_entry) != 0)
    )
    severity_role[0] = other_role[0] = False  # unknown codes have no role
    return severity_role, other_role


def _code_ids(values: pa.Array, universe: list[str]) -> np.ndarray:
    index = pc.index_in(values, value_set=pa.array(universe, type=pa.string()))
    return np.asarray(index.fill_null(-1), dtype=np.int64) + 1


def _list_parts(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = np.asarray(array.offsets, dtype=np.int64)
    values = array.values.slice(offsets[0], offsets[-1] - offsets[0])
    return offsets - offsets[0], values.cast(pa.string())


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def _regroup(table: pa.Table, rules: CompiledRules) -> pa.Table:
    return group_batch(table.select(CLAIM_SCHEMA.names).cast(CLAIM_SCHEMA), rules)


def drop_each_secondary(clean: pa.Table, rules: CompiledRules) -> pa.Table:
    """One row per (claim, secondary diagnosis with a grouping role): the group without it.

    A CC/MCC level only matters on claims that have a severity: when ``clean`` carries the
    billed ``severity`` column, claims without a CC or MCC skip their CC-only codes, which
    cannot change their group. Without the column every CC/MCC code is regrouped.
    """
    if clean.num_rows == 0:
        return TRAIL_SCHEMA.empty_table()
    offsets, values = _list_parts(clean.column("diagnoses"))
    counts = np.diff(offsets)
    position = _ragged_arange(counts)
    owner = np.repeat(np.arange(clean.num_rows, dtype=np.int64), counts)
    candidate = position > 0
    if not rules.code_conversion:
        severity_role, other_role = secondary_roles(rules)
        ids = _code_ids(values, rules.dx_universe)
        severe = np.ones(clean.num_rows, dtype=bool)
        if "severity" in clean.column_names:
            severe = np.asarray(pc.is_in(clean.column("severity"), value_set=pa.array(
                ["CC", "MCC"])).fill_null(False))
        candidate &= other_role[ids] | (severity_role[ids] & severe[owner])
    flat = np.flatnonzero(candidate)
    if len(flat) == 0:
        return TRAIL_SCHEMA.empty_table()
    rows = owner[flat]
    # Each counterfactual keeps every diagnosis of its claim except the dropped position.
    kept_counts = counts[rows] - 1
    source = np.repeat(offsets[rows], counts[rows]) + _ragged_arange(counts[rows])
    dropped = np.repeat(flat, counts[rows])
    source = source[source != dropped]
    diagnoses = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(kept_counts)]).astype(np.int32)),
        values.take(pa.array(source)),
    )
    counterfactual = clean.take(pa.array(rows))
    counterfactual = counterfactual.set_column(
        counterfactual.schema.get_field_index("diagnoses"), "diagnoses", diagnoses
    )
    results = _regroup(counterfactual, rules)
    return pa.table({
        "claim_id": counterfactual.column("claim_id"),
        "position": pa.array(position[flat].astype(np.int32)),
        "dropped_code": values.take(pa.array(flat)),
        "cf_status": results.column("status"),
        "cf_drg": results.column("drg"),
        "cf_adrg": results.column("adrg"),
        "cf_severity": results.column("severity"),
    }, schema=TRAIL_SCHEMA)


def _variant_rows(
    clean: pa.Table, keep: np.ndarray, replacement: pa.Array, claims: np.ndarray
) -> pa.Table:
    offsets, _ = _list_parts(clean.column("procedures"))
    counts = np.diff(offsets)
    owner = np.repeat(np.arange(clean.num_rows, dtype=np.int64), counts)
    kept = np.flatnonzero(keep)
    new_counts = np.bincount(owner[kept], minlength=clean.num_rows)
    procedures = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int32)),
        replacement.take(pa.array(kept)),
    )
    table = clean.set_column(
        clean.schema.get_field_index("procedures"), "procedures", procedures
    )
    return table.take(pa.array(claims))


def procedure_variants(
    clean: pa.Table,
    rules: CompiledRules,
    *,
    without_or: pa.Array | None = None,
    short_ventilation: pa.Array | None = None,
    long_ventilation_codes: list[str] = (),  # type: ignore[assignment]
    short_ventilation_code: str = "96.7101",
) -> pa.Table:
    """Regroup claims without their valid-OR procedures (``without_or``: the claim ids to do)
    and with long ventilation codes replaced (``short_ventilation``: the claim ids to do)."""
    parts: list[pa.Table] = []
    if clean.num_rows == 0:
        return VARIANT_SCHEMA.empty_table()
    _, values = _list_parts(clean.column("procedures"))
    claim_ids = clean.column("claim_id")
    if without_or is not None and len(without_or):
        ids = _code_ids(values, rules.px_universe)
        keep = ~rules.px_valid_or[ids] if not rules.code_conversion else np.ones(len(ids), bool)
        rows = np.flatnonzero(np.asarray(pc.is_in(claim_ids, value_set=without_or)))
        parts.append(_labelled(_variant_rows(clean, keep, values, rows), "without-or", rules))
    if short_ventilation is not None and len(short_ventilation):
        is_long = np.asarray(pc.is_in(values, value_set=pa.array(list(long_ventilation_codes),
                                                                  type=pa.string())))
        replaced = pc.if_else(pa.array(is_long), short_ventilation_code, values)
        rows = np.flatnonzero(np.asarray(pc.is_in(claim_ids, value_set=short_ventilation)))
        keep = np.ones(len(values), dtype=bool)
        parts.append(_labelled(_variant_rows(clean, keep, replaced, rows), "short-ventilation",
                               rules))
    if not parts:
        return VARIANT_SCHEMA.empty_table()
    return pa.concat_tables(parts)


def _labelled(table: pa.Table, variant: str, rules: CompiledRules) -> pa.Table:
    results = _regroup(table, rules) if table.num_rows else None
    if results is None:
        return VARIANT_SCHEMA.empty_table()
    return pa.table({
        "claim_id": table.column("claim_id"),
        "variant": pa.array([variant] * table.num_rows, type=pa.string()),
        "cf_status": results.column("status"),
        "cf_drg": results.column("drg"),
        "cf_adrg": results.column("adrg"),
        "cf_severity": results.column("severity"),
    }, schema=VARIANT_SCHEMA)


def merged_stays(clean: pa.Table, pairs: pa.Table, rules: CompiledRules) -> pa.Table:
    """Regroup each (prev_claim_id, claim_id) pair as one stay from the first admission."""
    if pairs.num_rows == 0 or clean.num_rows == 0:
        return MERGED_SCHEMA.empty_table()
    frame = pl.from_arrow(clean)
    assert isinstance(frame, pl.DataFrame)
    pair_frame = pl.from_arrow(pairs.select(["claim_id", "prev_claim_id"]))
    assert isinstance(pair_frame, pl.DataFrame)
    nxt = frame.select(
        pl.col("claim_id"),
        pl.col("diagnoses").alias("next_dx"),
        pl.col("procedures").alias("next_px"),
        pl.col("discharge_date").alias("next_discharge"),
        pl.col("los_days").alias("next_los"),
    )
    merged = (
        pair_frame.join(nxt, on="claim_id", how="inner")
        .join(frame.rename({"claim_id": "prev_claim_id"}), on="prev_claim_id", how="inner")
        .with_columns(
            pl.concat_list("diagnoses", "next_dx").list.unique(maintain_order=True)
            .alias("diagnoses"),
            pl.concat_list("procedures", "next_px").list.unique(maintain_order=True)
            .alias("procedures"),
            pl.col("next_discharge").alias("discharge_date"),
            (pl.col("los_days") + pl.col("next_los")).alias("los_days"),
        )
    )
    if merged.height == 0:
        return MERGED_SCHEMA.empty_table()
    table = merged.to_arrow()
    results = _regroup(table, rules)
    return pa.table({
        "claim_id": table.column("claim_id").cast(pa.string()),
        "prev_claim_id": table.column("prev_claim_id").cast(pa.string()),
        "merged_status": results.column("status"),
        "merged_drg": results.column("drg"),
        "merged_severity": results.column("severity"),
    }, schema=MERGED_SCHEMA)


def by_rule_set(
    clean: pa.Table,
    rule_sets: dict[str, CompiledRules],
    compute: Callable[[pa.Table, CompiledRules], pa.Array],
    *,
    empty: pa.Array,
) -> pa.Array:
    """``compute`` per rule set on the rows grouped with it, aligned back to ``clean``'s rows;
    rows of no known rule set get an empty value (``empty`` gives the type)."""
    labels = clean.column("rule_set")
    parts: list[pa.Array] = []
    positions: list[np.ndarray] = []
    covered = np.zeros(clean.num_rows, dtype=bool)
    for rule_set_id, compiled in rule_sets.items():
        rows = np.flatnonzero(np.asarray(pc.equal(labels, rule_set_id).fill_null(False)))
        if len(rows) == 0:
            continue
        covered[rows] = True
        parts.append(compute(clean.take(pa.array(rows)), compiled))
        positions.append(rows)
    rest = np.flatnonzero(~covered)
    if len(rest):
        parts.append(pa.array([[]] * len(rest), type=empty.type) if pa.types.is_list(empty.type)
                     else pa.nulls(len(rest), type=empty.type))
        positions.append(rest)
    if not parts:
        return empty
    order = np.argsort(np.concatenate(positions), kind="stable")
    return pa.concat_arrays([part.cast(empty.type) for part in parts]).take(pa.array(order))


def tables_by_rule_set(
    clean: pa.Table,
    rule_sets: dict[str, CompiledRules],
    compute: Callable[[pa.Table, CompiledRules], pa.Table],
    schema: pa.Schema,
) -> pa.Table:
    """``compute`` per rule set on the rows grouped with it; the result tables concatenated."""
    labels = clean.column("rule_set")
    parts = []
    for rule_set_id, compiled in rule_sets.items():
        rows = pc.equal(labels, rule_set_id).fill_null(False)
        part = clean.filter(rows)
        if part.num_rows:
            parts.append(compute(part, compiled))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def or_procedures(procedures: pa.ChunkedArray | pa.Array, rules: CompiledRules) -> pa.Array:
    """Per claim, the procedure codes on the rule set's valid operating-room list."""
    offsets, values = _list_parts(procedures)
    counts = np.diff(offsets)
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    if rules.code_conversion:
        mapped = pc.index_in(values, value_set=pa.array(list(rules.px_map), type=pa.string()))
        targets = pa.array(list(rules.px_map.values()), type=pa.string())
        lookup = targets.take(mapped.fill_null(0))
        lookup = pc.if_else(mapped.is_null(), values, lookup)
        is_or = rules.px_valid_or[_code_ids(lookup, rules.px_universe)]
    else:
        is_or = rules.px_valid_or[_code_ids(values, rules.px_universe)]
    kept = np.flatnonzero(is_or)
    new_counts = np.bincount(owner[kept], minlength=len(counts))
    return pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int32)),
        values.take(pa.array(kept)),
    )
