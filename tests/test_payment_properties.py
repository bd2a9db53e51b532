"""Reconciliation properties over random claims (hypothesis): refunds, missing patients, ties,
several years and hospitals, every case class.

* fund + patient = total cost, and the split's parts add up, on every claim;
* the split equals a plain Decimal reimplementation of the policy (stays in discharge order,
  cumulative amounts rounded once);
* a patient-year's basic fund never passes the annual cap;
* hospital rows are the sums of their claims; the run does not depend on the row order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drg_engine.payment import PaymentParams, price_claims
from tests.test_payment_support import by_claim, claims_table, params

D = Decimal
CAP = D(50000)
SERIOUS = {"deductible": D(10000), "ratio": D("0.6"), "cap": D(120000)}
POLICY = {1: (D(300), D("0.9")), 3: (D(1000), D("0.8"))}  # level -> deductible, ratio
HOSPITAL_LEVEL = {"H1": 1, "HX": 3, "HY": 3}


@pytest.fixture(scope="module")
def parameter_set(tmp_path_factory: pytest.TempPathFactory) -> PaymentParams:
    folder: Path = tmp_path_factory.mktemp("payment_properties")
    return params(folder, pricing={"on_missing_weight": "per_item"}, tables={
        "benefit_policy": [
            {"insurance_type": "resident", "hospital_level": "1", "deductible": "300",
             "reimbursement_ratio": "0.9"},
            {"insurance_type": "resident", "deductible": "1000", "reimbursement_ratio": "0.8"},
        ],
        "benefit_annual": [{"insurance_type": "resident", "annual_cap": "50000",
                            "serious_illness_deductible": "10000",
                            "serious_illness_ratio": "0.6", "serious_illness_cap": "120000"}],
        "outlier_rules": [
            {"kind": "low", "multiple": "0.5", "inclusive": "true", "mode": "ratio"},
            {"kind": "high", "multiple": "2", "inclusive": "false", "mode": "ratio",
             "add_on_ratio": "0.7"},
            {"kind": "extreme", "multiple": "6", "inclusive": "true", "mode": "review"},
        ],
        "settlement_shares": [
            {"direction": "surplus", "band_from": "0", "band_to": "0.05", "share": "1"},
            {"direction": "surplus", "band_from": "0.05", "share": "0.5"},
            {"direction": "overspend", "band_from": "0", "band_to": "0.08", "share": "0.4"},
            {"direction": "overspend", "band_from": "0.08", "share": "0"},
        ],
    })


amounts = st.decimals(min_value=D("-20000"), max_value=D("250000"), places=2)
claim = st.fixed_dictionaries({
    "drg": st.sampled_from(["AA11", "BB13", "CC15", "ZZ19", "0000"]),
    "hospital_id": st.sampled_from(list(HOSPITAL_LEVEL)),
    "patient_id": st.sampled_from(["p1", "p2", "p3", None]),
    "discharge_date": st.dates(date(2024, 11, 1), date(2025, 2, 28)),
    "total_cost": amounts,
    "in_policy_share": st.sampled_from([None, D(1), D("0.5"), D(0)]),
})


def as_claims(drawn: list[dict]) -> list[dict]:
    rows = []
    for index, item in enumerate(drawn):
        row = {key: value for key, value in item.items() if key != "in_policy_share"}
        row["claim_id"] = f"k{index:03d}"
        if row["drg"] == "0000":
            row["status"] = "FAIL"
        share = item["in_policy_share"]
        if share is not None:
            row["in_policy_cost"] = (row["total_cost"] * share).quantize(D("0.01"))
        rows.append(row)
    return rows


def reference_split(rows: list[dict]) -> dict[str, tuple[Decimal, Decimal]]:
    """(basic fund, serious illness) per claim, computed literally with Decimal."""
    def cent(x: Decimal) -> Decimal:
        return x.quantize(D("0.01"), ROUND_HALF_UP)

    def serious(self_pay: Decimal) -> Decimal:
        return min(SERIOUS["cap"],
                   SERIOUS["ratio"] * max(self_pay - SERIOUS["deductible"], D(0)))

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        alone = row["claim_id"] if row["patient_id"] is None else None
        groups[(row["patient_id"], alone, row["discharge_date"].year)].append(row)
    result = {}
    for stays in groups.values():
        stays.sort(key=lambda r: (r["discharge_date"], r["claim_id"]))
        entitled = in_policy_to_date = D(0)
        for row in stays:
            deductible, ratio = POLICY[HOSPITAL_LEVEL[row["hospital_id"]]]
            in_policy = row.get("in_policy_cost", row["total_cost"])
            paid_deductible = min(in_policy, deductible) if in_policy > 0 else D(0)
            basic_before = cent(min(entitled, CAP))
            self_before = in_policy_to_date - basic_before
            entitled += ratio * (in_policy - paid_deductible)
            in_policy_to_date += in_policy
            basic_now = cent(min(entitled, CAP))
            basic = basic_now - basic_before
            extra = cent(serious(in_policy_to_date - basic_now)) - cent(serious(self_before))
            result[row["claim_id"]] = (basic, extra)
    return result


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(claim, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_payment_tables_reconcile(
    parameter_set: PaymentParams, drawn: list[dict], shuffler: random.Random
) -> None:
    rows = as_claims(drawn)
    run = price_claims(claims_table(rows), parameter_set)
    priced = by_claim(run.claims)
    expected = reference_split(rows)
    for claim_id, row in priced.items():
        assert row["fund_share"] + row["patient_share"] == row["total_cost"]
        assert (row["out_of_policy_cost"] + row["deductible_paid"] + row["copay"]
                + row["fund_share"]) == row["total_cost"]
        assert (row["basic_fund_paid"], row["serious_illness_paid"]) == expected[claim_id]
        assert row["fund_payable"] == row["case_payment"] - row["patient_share"]
        assert row["case_payment"] is not None
        if row["per_item"] and row["case_class"] != "UNGROUPABLE":
            assert row["case_payment"] == row["total_cost"]
    basic_by_patient_year: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in priced.values():
        if row["patient_id"] is not None:
            key = (row["patient_id"], row["discharge_date"].year)
            basic_by_patient_year[key] += row["basic_fund_paid"]
    assert all(total <= CAP for total in basic_by_patient_year.values())
    years = run.settlement.filter(pc.equal(run.settlement.column("period_kind"), "year"))
    for column in ("total_cost", "fund_share", "patient_share", "case_payment"):
        assert pc.sum(years.column(column)).as_py() == pc.sum(run.claims.column(column)).as_py()
    shuffled = list(rows)
    shuffler.shuffle(shuffled)
    again = by_claim(price_claims(claims_table(shuffled), parameter_set).claims)
    assert again == priced


def test_many_stays_of_one_patient_over_two_years(parameter_set: PaymentParams) -> None:
    """A long series crossing the cap and a year end, with refunds, against the reference."""
    generator = random.Random(7)
    start = date(2024, 1, 1)
    rows = []
    for index in range(400):
        cost = D(generator.randint(-3000_00, 60000_00)) / 100
        rows.append({"claim_id": f"s{index:04d}", "drg": "AA11", "hospital_id": "HX",
                     "patient_id": f"p{index % 7}",
                     "discharge_date": start + timedelta(days=generator.randint(0, 700)),
                     "total_cost": cost})
    priced = by_claim(price_claims(claims_table(rows), parameter_set).claims)
    expected = reference_split(rows)
    assert {k: (v["basic_fund_paid"], v["serious_illness_paid"]) for k, v in priced.items()} \
        == expected
