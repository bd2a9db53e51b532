"""Fund vs patient split: deductible, ratio, stay cap, the annual cap across a patient's stays in
discharge order, the serious-illness layer, refunds, rounding once. Hand-computed examples.

Default policy (tests/test_payment_support.py): resident, deductible 1,000, ratio 0.8, annual
basic-fund cap 50,000, no serious-illness layer.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from drg_engine.payment import price_claims
from tests.test_payment_support import by_claim, claims_table, params

D = Decimal
CLAIM = {"drg": "AA11"}


def split(tmp_path: Path, claims: list[dict], **kwargs) -> dict[str, dict]:
    table = claims_table([{**CLAIM, **claim} for claim in claims])
    return by_claim(price_claims(table, params(tmp_path / "set", **kwargs)).claims)


def test_deductible_then_ratio(tmp_path: Path) -> None:
    row = split(tmp_path, [{"total_cost": "10000"}])["c1"]
    assert row["deductible_paid"] == D("1000.00")
    assert row["fund_share"] == row["basic_fund_paid"] == D("7200.00")  # 0.8 x 9,000
    assert row["copay"] == D("1800.00")
    assert row["patient_share"] == D("2800.00")
    assert row["fund_payable"] == D("10700.00")  # 13,500 - 2,800


def test_out_of_policy_cost_is_the_patients(tmp_path: Path) -> None:
    row = split(tmp_path, [{"total_cost": "10000", "in_policy_cost": "8000"}])["c1"]
    assert row["out_of_policy_cost"] == D("2000.00")
    assert row["fund_share"] == D("5600.00")  # 0.8 x (8,000 - 1,000)
    assert row["patient_share"] == D("4400.00")  # 2,000 + 1,000 + 1,400


def test_cost_below_the_deductible(tmp_path: Path) -> None:
    row = split(tmp_path, [{"total_cost": "600"}])["c1"]
    assert (row["deductible_paid"], row["fund_share"], row["patient_share"]) == (
        D("600.00"), D("0.00"), D("600.00"))


def test_annual_cap_across_stays_in_discharge_order(tmp_path: Path) -> None:
    stays = [  # given out of order on purpose
        {"claim_id": "c", "patient_id": "P", "discharge_date": date(2024, 9, 1),
         "total_cost": "20000"},
        {"claim_id": "a", "patient_id": "P", "discharge_date": date(2024, 3, 1),
         "total_cost": "40000"},
        {"claim_id": "b", "patient_id": "P", "discharge_date": date(2024, 5, 1),
         "total_cost": "30000"},
        {"claim_id": "d", "patient_id": "P", "discharge_date": date(2025, 1, 10),
         "total_cost": "20000"},
    ]
    rows = split(tmp_path, stays)
    # entitlements 31,200, 23,200, 15,200 in discharge order; cap 50,000 a year
    assert rows["a"]["fund_share"] == D("31200.00")
    assert rows["b"]["fund_share"] == D("18800.00")
    assert rows["c"]["fund_share"] == D("0.00")
    assert rows["c"]["patient_share"] == D("20000.00")
    assert rows["d"]["fund_share"] == D("15200.00")  # a new year, a new cap


def test_same_day_stays_are_ordered_by_claim_id(tmp_path: Path) -> None:
    day = date(2024, 4, 1)
    rows = split(tmp_path, [
        {"claim_id": "z2", "patient_id": "P", "discharge_date": day, "total_cost": "40000"},
        {"claim_id": "z1", "patient_id": "P", "discharge_date": day, "total_cost": "40000"},
    ])
    assert rows["z1"]["fund_share"] == D("31200.00")
    assert rows["z2"]["fund_share"] == D("18800.00")


def test_a_repeated_claim_id_on_one_day_keeps_input_order(tmp_path: Path) -> None:
    day = date(2024, 4, 1)
    stays = [{**CLAIM, "claim_id": "k", "patient_id": "P", "discharge_date": day,
              "total_cost": cost} for cost in ("40000", "30000")]
    first = price_claims(claims_table(stays), params(tmp_path / "a")).claims
    # entitlements 31,200 and 23,200, the second capped at 50,000 - 31,200
    assert first.column("fund_share").to_pylist() == [D("31200.00"), D("18800.00")]
    second = price_claims(claims_table(stays[::-1]), params(tmp_path / "b")).claims
    assert second.column("fund_share").to_pylist() == [D("23200.00"), D("26800.00")]


def test_stay_cap(tmp_path: Path) -> None:
    policy = [{"insurance_type": "resident", "deductible": "1000", "reimbursement_ratio": "0.8",
               "stay_cap": "5000"}]
    row = split(tmp_path, [{"total_cost": "10000"}], tables={"benefit_policy": policy})["c1"]
    assert row["fund_share"] == D("5000.00")


def test_a_refund_frees_cap_room(tmp_path: Path) -> None:
    rows = split(tmp_path, [
        {"claim_id": "a", "patient_id": "P", "discharge_date": date(2024, 3, 1),
         "total_cost": "40000"},
        {"claim_id": "b", "patient_id": "P", "discharge_date": date(2024, 5, 1),
         "total_cost": "30000"},
        {"claim_id": "r", "patient_id": "P", "discharge_date": date(2024, 6, 1),
         "total_cost": "-10000"},
        {"claim_id": "c", "patient_id": "P", "discharge_date": date(2024, 9, 1),
         "total_cost": "20000"},
    ])
    # cumulative entitlement 31,200, 54,400, 46,400, 61,600; the fund's year total is
    # min(50,000, cumulative): 31,200, 50,000, 46,400, 50,000
    assert [rows[c]["fund_share"] for c in "abrc"] == [
        D("31200.00"), D("18800.00"), D("-3600.00"), D("3600.00")]
    assert rows["r"]["case_class"] == "REFUND"
    assert rows["r"]["patient_share"] == D("-6400.00")


def test_claims_without_patient_stand_alone(tmp_path: Path) -> None:
    rows = split(tmp_path, [{"patient_id": None, "total_cost": "100000"},
                            {"patient_id": None, "total_cost": "100000"}])
    assert rows["c1"]["fund_share"] == rows["c2"]["fund_share"] == D("50000.00")


def test_serious_illness_layer_on_the_self_pay_left_by_the_basic_fund(tmp_path: Path) -> None:
    annual = [{"insurance_type": "resident", "annual_cap": "50000",
               "serious_illness_deductible": "10000", "serious_illness_ratio": "0.6",
               "serious_illness_cap": "100000"}]
    rows = split(tmp_path, [
        {"claim_id": "a", "patient_id": "P", "discharge_date": date(2024, 2, 1),
         "total_cost": "100000"},
        {"claim_id": "b", "patient_id": "P", "discharge_date": date(2024, 8, 1),
         "total_cost": "20000"},
    ], tables={"benefit_annual": annual})
    # a: basic 0.8 x 99,000 capped at 50,000; self-pay 50,000; serious illness
    #    0.6 x (50,000 - 10,000) = 24,000
    assert (rows["a"]["basic_fund_paid"], rows["a"]["serious_illness_paid"]) == (
        D("50000.00"), D("24000.00"))
    assert rows["a"]["patient_share"] == D("26000.00")
    # b: basic cap used up; self-pay to date 70,000: 0.6 x 60,000 = 36,000, i.e. 12,000 more
    assert (rows["b"]["basic_fund_paid"], rows["b"]["serious_illness_paid"]) == (
        D("0.00"), D("12000.00"))
    assert rows["b"]["fund_share"] + rows["b"]["patient_share"] == D("20000.00")


def test_money_is_rounded_once_per_patient_year(tmp_path: Path) -> None:
    policy = [{"insurance_type": "resident", "deductible": "0", "reimbursement_ratio": "0.7777"}]
    stays = [{"claim_id": f"s{i}", "patient_id": "P", "discharge_date": date(2024, i, 1),
              "total_cost": "1234.57"} for i in (1, 2, 3)]
    rows = split(tmp_path, stays, tables={"benefit_policy": policy})
    # each entitlement is 960.125089; cumulative 960.13, 1920.25, 2880.38 after rounding
    assert [rows[f"s{i}"]["fund_share"] for i in (1, 2, 3)] == [
        D("960.13"), D("960.12"), D("960.13")]
    assert sum(rows[f"s{i}"]["fund_share"] for i in (1, 2, 3)) == D("2880.38")
