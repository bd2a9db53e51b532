"""Shape a grouped claims table (``drg group --keep-input`` output) for pricing.

Picks the columns pricing needs, under their canonical or accepted names, and types them:
money as ``decimal128(18, 2)`` (text is parsed exactly; a value with more than two decimals is
an error, never rounded), dates as ``date32``. The payment group is the ``drg`` column for DRG
and the ``dip_group`` column for DIP. Optional columns: ``status`` (DRG), ``patient_id``
(without it each stay stands alone under the annual cap), ``insurance_type`` (default from the
parameter set), ``in_policy_cost`` (default: the total cost), ``dip_aux_type``. The result keeps
the input order in ``row_position``; no claim values are copied except where a cast is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.payment.errors import PaymentInputError
from drg_engine.payment.params import PaymentParams

MONEY_TYPE = pa.decimal128(18, 2)
EXAMPLES = 5

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "claim_id": ("claim_id", "setl_id", "结算ID"),
    "status": ("status",),
    "drg": ("drg", "drg_code", "DRG编码"),
    "adrg": ("adrg", "adrg_code"),
    "dip_group": ("dip_group", "dip_code", "病种编码"),
    "aux_type": ("dip_aux_type", "aux_type", "辅助分型"),
    "hospital_id": ("hospital_id", "fixmedins_code", "定点医疗机构编号"),
    "patient_id": ("patient_id", "psn_no", "人员编号"),
    "insurance_type": ("insurance_type", "insutype", "险种类型"),
    "discharge_date": ("discharge_date", "dscg_time", "出院时间"),
    "total_cost": ("total_cost", "medfee_sumamt", "医疗费总额"),
    "in_policy_cost": ("in_policy_cost", "inscp_scp_amt", "符合政策范围金额"),
}
REQUIRED = ("claim_id", "hospital_id", "discharge_date", "total_cost")


@dataclass(frozen=True)
class PricingInput:
    """The claims as pricing reads them, plus notes for the run summary."""

    claims: pa.Table
    warnings: list[str]


def prepare_claims(grouped: pa.Table, params: PaymentParams) -> PricingInput:
    """Select and type the columns pricing needs; raises `PaymentInputError` when unusable."""
    options = params.manifest.pricing
    group_column = "drg" if params.scheme == "DRG" else "dip_group"
    found = resolve_columns(grouped)
    missing = [name for name in (*REQUIRED, group_column) if name not in found]
    if missing:
        accepted = "; ".join(f"{name}: {', '.join(COLUMN_ALIASES[name])}" for name in missing)
        hint = " (run `drg group ... --keep-input` to carry them)" if group_column == "drg" else ""
        raise PaymentInputError(
            f"the claims lack columns needed for {params.scheme} pricing: {', '.join(missing)}"
            f"{hint}. Accepted names: {accepted}"
        )
    n = grouped.num_rows
    warnings: list[str] = []

    def text(name: str) -> pa.ChunkedArray:
        if name not in found:
            return pa.chunked_array([pa.nulls(n, pa.string())])
        column = grouped.column(found[name])
        return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())

    claim_id = text("claim_id")
    if claim_id.null_count:
        raise PaymentInputError(f"{claim_id.null_count} claims have no claim_id")
    total_cost = money_column(grouped.column(found["total_cost"]), "total_cost", claim_id)
    if total_cost.null_count:
        raise PaymentInputError(
            f"{total_cost.null_count} claims have no total_cost, e.g. "
            f"{_examples(claim_id, pc.is_null(total_cost))}"
        )
    discharge = date_column(grouped.column(found["discharge_date"]), claim_id)
    insurance = text("insurance_type")
    insurance = pc.if_else(pc.equal(insurance, ""), None, insurance)
    insurance = pc.fill_null(insurance, options.default_insurance_type)
    in_policy = (
        money_column(grouped.column(found["in_policy_cost"]), "in_policy_cost", claim_id)
        if "in_policy_cost" in found else pa.chunked_array([pa.nulls(n, MONEY_TYPE)])
    )
    _check_in_policy(in_policy, total_cost, claim_id)
    if "patient_id" not in found:
        warnings.append("no patient_id column: the annual cap is applied to each stay alone")
    warnings.extend(_outside_period(discharge, params))
    claims = pa.table({
        "row_position": pa.array(np.arange(n, dtype=np.int64)),
        "claim_id": claim_id,
        "status": text("status"),
        "payment_group": text(group_column),
        "aux_type": text("aux_type"),
        "hospital_id": text("hospital_id"),
        "patient_id": text("patient_id"),
        "insurance_type": insurance,
        "discharge_date": discharge,
        "total_cost": total_cost,
        "in_policy_cost": in_policy,
    })
    return PricingInput(claims=claims, warnings=warnings)


def resolve_columns(table: pa.Table) -> dict[str, str]:
    """Canonical column name -> the input's name for it, for the columns present."""
    names = set(table.column_names)
    found: dict[str, str] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in names:
                found[canonical] = alias
                break
    return found


def _examples(claim_id: pa.ChunkedArray, mask: pa.ChunkedArray | pa.Array) -> str:
    picked = pc.filter(claim_id, mask).slice(0, EXAMPLES).to_pylist()
    return ", ".join(str(value) for value in picked)


def money_column(column: pa.ChunkedArray, name: str, claim_id: pa.ChunkedArray) -> pa.ChunkedArray:
    """Exact money: decimals rescaled without loss, anything else parsed from its text."""
    source = column
    if not pa.types.is_decimal(column.type):
        source = pc.cast(column, pa.string())
        source = pc.if_else(pc.equal(pc.utf8_trim_whitespace(source), ""), None, source)
    try:
        return pc.cast(source, MONEY_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for value, claim in zip(source.to_pylist(), claim_id.to_pylist(), strict=True):
        if value is None:
            continue
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            raise PaymentInputError(
                f"claim {claim}: {name} {value!r} is not an amount in yuan with at most two "
                "decimals"
            )
    raise PaymentInputError(f"{name} has amounts too large for decimal(18, 2)")


def date_column(column: pa.ChunkedArray, claim_id: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            day = pc.cast(pc.utf8_slice_codeunits(column, 0, 10), pa.date32())
        else:
            day = pc.cast(column, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise PaymentInputError(
            f"discharge_date cannot be read as a date (YYYY-MM-DD): {exc}"
        ) from None
    if day.null_count:
        raise PaymentInputError(
            f"{day.null_count} claims have no discharge_date (needed for the settlement month "
            f"and the annual cap), e.g. {_examples(claim_id, pc.is_null(day))}"
        )
    return day


def _check_in_policy(
    in_policy: pa.ChunkedArray, total: pa.ChunkedArray, claim_id: pa.ChunkedArray
) -> None:
    if in_policy.null_count == len(in_policy):
        return
    zero = pa.scalar(Decimal(0), MONEY_TYPE)
    positive = pc.greater_equal(total, zero)
    inside = pc.if_else(
        positive,
        pc.and_(pc.greater_equal(in_policy, zero), pc.less_equal(in_policy, total)),
        pc.and_(pc.less_equal(in_policy, zero), pc.greater_equal(in_policy, total)),
    )
    bad = pc.invert(pc.fill_null(inside, True))
    count = pc.sum(bad).as_py() or 0
    if count:
        raise PaymentInputError(
            f"{count} claims have an in_policy_cost outside 0..total_cost (same sign as the "
            f"total), e.g. {_examples(claim_id, bad)}"
        )


def _outside_period(discharge: pa.ChunkedArray, params: PaymentParams) -> list[str]:
    manifest = params.manifest
    start = pa.scalar(manifest.effective_from, pa.date32())
    outside = pc.less(discharge, start)
    if manifest.effective_to is not None:
        end = pa.scalar(manifest.effective_to, pa.date32())
        outside = pc.or_(outside, pc.greater(discharge, end))
    count = pc.sum(outside).as_py() or 0
    if not count:
        return []
    period = f"{manifest.effective_from} to {manifest.effective_to or 'open'}"
    return [f"{count:,} claims were discharged outside the parameter set's period ({period})"]
