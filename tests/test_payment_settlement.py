"""Per-hospital settlement by month and year: balance, surplus retained and overspend shared in
marginal bands, and the sums that must equal the claims exactly.

Bands used here: surplus up to 10% of cost retained in full, 60% of the rest; overspend up to
10% of cost borne half by the fund, the rest by the hospital. No outlier rules, so every AA11
claim at a level-3 hospital is paid its standard, 13,500.00.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.payment import price_claims
from tests.test_payment_support import claims_table, params

D = Decimal
SHARES = [
    {"direction": "surplus", "band_from": "0", "band_to": "0.1", "share": "1"},
    {"direction": "surplus", "band_from": "0.1", "share": "0.6"},
    {"direction": "overspend", "band_from": "0", "band_to": "0.1", "share": "0.5"},
    {"direction": "overspend", "band_from": "0.1", "share": "0"},
]


def settle(tmp_path: Path, claims: list[dict]) -> pa.Table:
    run = price_claims(
        claims_table([{"drg": "AA11", **claim} for claim in claims]),
        params(tmp_path / "set", tables={"settlement_shares": SHARES, "outlier_rules": []}),
    )
    return run.settlement


def rows_of(settlement: pa.Table) -> dict[tuple[str, str, str], dict]:
    return {(r["hospital_id"], r["period_kind"], r["period"]): r for r in settlement.to_pylist()}


def test_surplus_retained_and_overspend_shared_by_bands(tmp_path: Path) -> None:
    rows = rows_of(settle(tmp_path, [
        {"hospital_id": "HA", "total_cost": "12000"},  # balance +1,500 = 12.5% of cost
        {"hospital_id": "HB", "total_cost": "15000"},  # balance -1,500 = exactly 10%
    ]))
    a = rows[("HA", "year", "2024")]
    # 1.0 x (10% of 12,000) + 0.6 x (1,500 - 1,200) = 1,200 + 180
    assert (a["balance"], a["surplus_retained"], a["overspend_borne_by_fund"]) == (
        D("1500.00"), D("1380.00"), D("0.00"))
    assert a["balance_ratio"] == D("0.1250")
    assert a["hospital_income"] == D("13380.00")
    assert a["fund_settlement"] == D("10180.00")  # income - patient share 3,200
    b = rows[("HB", "year", "2024")]
    assert (b["balance"], b["overspend_borne_by_fund"], b["surplus_retained"]) == (
        D("-1500.00"), D("750.00"), D("0.00"))
    assert b["hospital_income"] == D("14250.00")  # 13,500 + 750
    assert b["fund_settlement"] == D("10450.00")  # income - patient share 3,800


def test_months_are_provisional_and_sum_to_the_year(tmp_path: Path) -> None:
    rows = rows_of(settle(tmp_path, [
        {"hospital_id": "HA", "discharge_date": date(2024, 1, 20), "total_cost": "12000"},
        {"hospital_id": "HA", "discharge_date": date(2024, 2, 3), "total_cost": "14000"},
    ]))
    january, february = rows[("HA", "month", "2024-01")], rows[("HA", "month", "2024-02")]
    year = rows[("HA", "year", "2024")]
    assert january["surplus_retained"] == D("1380.00")
    assert february["overspend_borne_by_fund"] == D("250.00")  # half of a 500 overspend
    # the year nets out: +1,000 on 26,000 of cost (3.8%), retained in full
    assert (year["balance"], year["surplus_retained"]) == (D("1000.00"), D("1000.00"))
    for column in ("claims", "total_cost", "fund_share", "patient_share", "case_payment",
                   "fund_payable", "balance", "total_units"):
        assert january[column] + february[column] == year[column], column


def test_hospital_rows_equal_the_sums_of_their_claims(tmp_path: Path) -> None:
    claims = [{"hospital_id": f"H{i % 3}", "patient_id": f"p{i % 4}",
               "discharge_date": date(2024, 1 + i % 12, 1 + i % 27),
               "total_cost": f"{3000 + 977 * i}.{i % 100:02d}"} for i in range(60)]
    run = price_claims(
        claims_table([{"drg": "AA11", **c} for c in claims]),
        params(tmp_path / "set", tables={"settlement_shares": SHARES}),
    )
    years = run.settlement.filter(pc.equal(run.settlement.column("period_kind"), "year"))
    for row in years.to_pylist():
        mine = run.claims.filter(pc.equal(run.claims.column("hospital_id"), row["hospital_id"]))
        for column in ("total_cost", "fund_share", "patient_share", "case_payment",
                       "fund_payable"):
            assert pc.sum(mine.column(column)).as_py() == row[column], column
        assert mine.num_rows == row["claims"]
    assert pc.sum(years.column("total_cost")).as_py() == pc.sum(
        run.claims.column("total_cost")).as_py()
    assert {k: v for k, v in run.reconciliation.items() if k.endswith("mismatches")} == {
        "split_mismatches": 0, "component_mismatches": 0, "layer_mismatches": 0,
        "payable_mismatches": 0, "settlement_total_mismatches": 0, "month_year_mismatches": 0}
