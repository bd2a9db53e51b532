"""Price grouped claims with a parameter set: per-claim payments and per-hospital settlement.

The steps, each one SQL file run by DuckDB over Arrow (see ``sql/``): hospital_terms (level,
coefficient, unit values, benefit terms per hospital and insurance type), group_terms (weights or
scores with their outlier rules per level), price_terms (standards and outlier thresholds per
hospital, insurance type, group and auxiliary type: the exact decimal work, done once per
combination), benefit_split (the fund's payments under the annual caps, a window over each
patient's stays), then case_pricing streamed into claim_payments in one statement (with the DIP
settlement point value computed from the fund budget in between when the set asks for it),
hospital_settlement, and reconciliation, whose identities must all hold before a run is
returned. Per-claim results are put back in input order by row position (see `runner`).
Missing parameters stop the run with an error that names the hospital, insurance type, level
or group concerned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.io import read_claims
from drg_engine.payment.errors import MissingPaymentParameterError
from drg_engine.payment.inputs import prepare_claims
from drg_engine.payment.params import PaymentParams, load_params
from drg_engine.payment.runner import SqlSession

EXAMPLES = 10
MISSING_CLASSES = ("MISSING_WEIGHT", "MISSING_AUX_COEFFICIENT")
PIPELINE = (("priced", "case_pricing"),)
COMPUTED_COLUMNS = (
    "case_class", "payment_mode", "per_item", "special_review", "group_value", "coefficient",
    "unit_value", "payment_standard", "cost_ratio", "case_units", "case_payment",
)
SPLIT_COLUMNS = (
    "in_policy_cost", "out_of_policy_cost", "deductible_paid", "copay", "basic_fund_paid",
    "serious_illness_paid", "fund_share", "patient_share", "fund_payable", "case_balance",
)
# The split's columns that benefit_split computes (the rest come from claim_payments).
LAYER_COLUMNS = ("basic_fund_paid", "serious_illness_paid", "fund_share")


@dataclass(frozen=True)
class PaymentRun:
    """One pricing run: the per-claim and per-hospital tables and how they were obtained."""

    claims: pa.Table
    settlement: pa.Table
    unit_values: pa.Table
    reconciliation: dict[str, Any]
    params: PaymentParams
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Seconds per step: "prepare" (typing the input) and each SQL file.
    timings: dict[str, float] = field(default_factory=dict)


def price_file(path: str | Path, params: PaymentParams | str | Path) -> PaymentRun:
    """Read a grouped claims file (Parquet, Arrow IPC, JSON Lines, CSV) and price it."""
    return price_claims(read_claims(Path(path)), params)


def price_claims(
    grouped: pa.Table, params: PaymentParams | str | Path, *, threads: int | None = None
) -> PaymentRun:
    """Price a grouped claims table; see the module docstring for the steps."""
    started = time.perf_counter()
    loaded = params if isinstance(params, PaymentParams) else load_params(params)
    options = loaded.manifest.pricing
    prepared = prepare_claims(grouped, loaded)
    timings = {"prepare": time.perf_counter() - started}
    warnings = list(prepared.warnings)
    sql_params: dict[str, Any] = {
        "scheme": loaded.scheme,
        "outlier_basis": options.outlier_basis,
        "ungroupable_payment_ratio": options.ungroupable_payment_ratio,
    }
    from_budget = options.unit_value == "from_budget"
    with SqlSession(threads) as session:
        session.register_all(loaded.engine_tables)
        session.register("claims", prepared.claims)
        hospital_terms = session.query("hospital_terms", sql_params)
        _check_hospital_terms(hospital_terms, loaded)
        session.register("hospital_terms", hospital_terms)
        session.register("group_terms", session.query("group_terms"))
        session.materialize("price_terms", "price_terms", sql_params)
        # The split's fund layers first (a window over each patient's stays), beside the claims
        # for case_pricing.
        split = session.query("benefit_split", in_input_order=True)
        split_claims = _beside(prepared.claims, split)
        session.register("split_claims", split_claims)
        pricing_params = {**sql_params, "units_exact_needed": from_budget,
                          "known_aux_types": _known_aux_types(loaded)}
        if from_budget:
            # The unit value needs the totals of the priced claims: keep them in DuckDB.
            session.materialize("priced", "case_pricing", pricing_params)
            unit_values = session.query("settlement_unit_values")
            kinds = unit_values.column("insurance_type").to_pylist()
            values = [str(v) for v in unit_values.column("unit_value").to_pylist()]
            ctes: tuple[tuple[str, str], ...] = ()
        else:
            # One statement: the pricing streams into claim_payments.
            unit_values = _table_unit_values(hospital_terms)
            kinds, values = [], []
            ctes = PIPELINE
        computed = session.query("claim_payments", {
            **pricing_params, "computed_insurance_types": kinds,
            "computed_unit_values": values}, ctes=ctes, in_input_order=True)
        payments = _assemble(split_claims, computed, loaded.scheme)
        warnings.extend(_check_missing_parameters(payments, loaded))
        _check_unit_values(payments)
        session.register("claim_payments", payments)
        settlement = session.query("hospital_settlement")
        session.register("hospital_settlement", settlement)
        reconciliation = session.query("reconciliation").to_pylist()[0]
        timings.update(session.timings)
    _assert_reconciled(reconciliation)
    warnings.extend(_review_share(payments, loaded))
    return PaymentRun(
        claims=payments,
        settlement=settlement,
        unit_values=unit_values,
        reconciliation=reconciliation,
        params=loaded,
        warnings=warnings,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


def _assemble(claims: pa.Table, computed: pa.Table, scheme: str) -> pa.Table:
    """The claim's own columns and the fund's layers (``claims``: the claims beside their
    split; no copy) with the computed columns, in the documented order."""
    if computed.num_rows != claims.num_rows:
        raise AssertionError(f"{claims.num_rows} claims in, {computed.num_rows} priced")
    n = claims.num_rows
    scheme_column = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int8)), pa.array([scheme])
    )
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: claims.column(name) for name in (
            "claim_id", "hospital_id", "patient_id", "insurance_type")
    }
    columns["hospital_level"] = computed.column("hospital_level")
    columns["discharge_date"] = claims.column("discharge_date")
    columns["payment_scheme"] = scheme_column
    columns["payment_group"] = claims.column("payment_group")
    columns["aux_type"] = claims.column("aux_type")
    for name in COMPUTED_COLUMNS:
        columns[name] = computed.column(name)
    columns["total_cost"] = claims.column("total_cost")
    for name in SPLIT_COLUMNS:
        columns[name] = (claims if name in LAYER_COLUMNS else computed).column(name)
    return pa.table(columns)


def _beside(claims: pa.Table, split: pa.Table) -> pa.Table:
    """The claims with the split's columns appended (both in input order; no copy)."""
    if split.num_rows != claims.num_rows:
        raise AssertionError(f"{claims.num_rows} claims in, {split.num_rows} split")
    table = claims
    for name in split.column_names:
        if name != "row_position":
            table = table.append_column(name, split.column(name))
    return table


def _known_aux_types(params: PaymentParams) -> list[str]:
    aux = params.engine_tables["aux_coefficients"]
    return [f"{group}|{kind}" for group, kind in zip(
        aux.column("payment_group").to_pylist(), aux.column("aux_type").to_pylist(),
        strict=True)]


def _table_unit_values(terms: pa.Table) -> pa.Table:
    """The distinct unit values the table mode uses, by insurance type and hospital level."""
    seen = sorted({
        (row["insurance_type"], row["hospital_level"], row["pay_unit_value"],
         row["unit_value_source"])
        for row in terms.to_pylist() if row["has_unit_value"]
    }, key=lambda item: (item[0], item[1]))
    return pa.table({
        "insurance_type": pa.array([item[0] for item in seen], pa.string()),
        "hospital_level": pa.array([item[1] for item in seen], pa.int32()),
        "unit_value": pa.array([item[2] for item in seen], pa.decimal128(38, 4)),
        "unit_value_source": pa.array([item[3] for item in seen], pa.string()),
    })


def _listing(rows: list[dict[str, Any]], describe: Any) -> str:
    shown = "; ".join(describe(row) for row in rows[:EXAMPLES])
    more = f"; and {len(rows) - EXAMPLES} more" if len(rows) > EXAMPLES else ""
    return shown + more


def _check_hospital_terms(terms: pa.Table, params: PaymentParams) -> None:
    rows = terms.to_pylist()
    files = params.table_paths
    unknown = sorted({str(r["hospital_id"]) for r in rows if not r["hospital_known"]})
    if unknown:
        raise MissingPaymentParameterError(
            f"hospitals not in {files['hospitals']} and no '*' default row there: "
            + ", ".join(unknown[:EXAMPLES]) + (" ..." if len(unknown) > EXAMPLES else "")
        )
    unit_table = files["base_rates" if params.scheme == "DRG" else "point_values"]
    what = "base rate" if params.scheme == "DRG" else "point value"
    gaps = sorted({(r["insurance_type"], r["hospital_level"]) for r in rows
                   if not r["has_unit_value"]})
    if gaps:
        raise MissingPaymentParameterError(
            f"no {what} in {unit_table} for " + ", ".join(
                f"insurance type '{kind}' at hospital level {level}" for kind, level in gaps)
        )
    gaps = sorted({(r["insurance_type"], r["hospital_level"]) for r in rows
                   if not r["has_benefit_policy"]})
    if gaps:
        raise MissingPaymentParameterError(
            f"no benefit policy in {files['benefit_policy']} for " + ", ".join(
                f"insurance type '{kind}' at hospital level {level}" for kind, level in gaps)
        )
    kinds = sorted({r["insurance_type"] for r in rows if not r["has_benefit_annual"]})
    if kinds:
        raise MissingPaymentParameterError(
            f"no row in {files['benefit_annual']} for insurance types {kinds}"
        )


def _check_missing_parameters(payments: pa.Table, params: PaymentParams) -> list[str]:
    missing = pc.is_in(payments.column("case_class"), pa.array(MISSING_CLASSES))
    count = pc.sum(missing).as_py() or 0
    if not count:
        return []
    rows = (
        payments.filter(missing)
        .group_by(["case_class", "payment_group", "aux_type", "hospital_level"])
        .aggregate([("claim_id", "count"), ("claim_id", "min")])
        .sort_by([("claim_id_count", "descending"), ("payment_group", "ascending")])
        .to_pylist()
    )
    table = "drg_weights" if params.scheme == "DRG" else "dip_scores"
    noun = "DRG" if params.scheme == "DRG" else "DIP group"

    def describe(row: dict[str, Any]) -> str:
        if row["case_class"] == "MISSING_AUX_COEFFICIENT":
            gap = (f"{noun} {row['payment_group']} auxiliary type {row['aux_type']} has no "
                   "coefficient in dip_auxiliary")
        else:
            gap = (f"{noun} {row['payment_group']} has no "
                   f"{'weight' if params.scheme == 'DRG' else 'score'} for hospital level "
                   f"{row['hospital_level']}")
        return f"{gap} ({row['claim_id_count']} claims, e.g. {row['claim_id_min']})"

    listing = _listing(rows, describe)
    if params.manifest.pricing.on_missing_weight == "error":
        raise MissingPaymentParameterError(
            f"{count} claims cannot be priced: {listing}. Add the rows to "
            f"{params.table_paths.get(table, table)} (or set pricing.on_missing_weight = "
            "\"per_item\" to pay them per item with a flag)"
        )
    return [f"{count} claims paid per item for missing parameters: {listing}"]


def _check_unit_values(payments: pa.Table) -> None:
    unpriced = pc.is_null(payments.column("case_payment"))
    count = pc.sum(unpriced).as_py() or 0
    if count:
        kinds = sorted(set(pc.filter(payments.column("insurance_type"), unpriced).to_pylist()))
        raise MissingPaymentParameterError(
            f"{count} claims have no unit value: no fund_budget row covers insurance types "
            f"{kinds}"
        )


def _assert_reconciled(reconciliation: dict[str, Any]) -> None:
    broken = {k: v for k, v in reconciliation.items() if k.endswith("_mismatches") and v}
    if broken:
        raise AssertionError(f"payment tables do not reconcile: {broken}")


def _review_share(payments: pa.Table, params: PaymentParams) -> list[str]:
    ceiling = params.manifest.pricing.special_review_max_share
    if ceiling is None or payments.num_rows == 0:
        return []
    reviews = pc.sum(payments.column("special_review")).as_py() or 0
    share = Decimal(reviews) / Decimal(payments.num_rows)
    if share <= ceiling:
        return []
    return [f"special-review cases are {share:.2%} of claims, above the ceiling of "
            f"{ceiling:.2%} in the parameter set"]
