"""DRG and DIP pricing, one hand-computed example per formula branch and boundary.

The default test set (tests/test_payment_support.py): hospitals default level 3 with DRG
coefficient 0.9 (DIP 0.95), H1 level 1 with 1.0; base rate 10,000; AA11 weight 1.5 (standard
at level 3 = 1.5 x 0.9 x 10,000 = 13,500.00); BB13 weight 2 at levels 2/3 and 1.2 at level 1;
CC15 without weight; low outliers at cost <= 0.5 x standard and high at >= 2 x, per item.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from drg_engine.payment import (
    MissingPaymentParameterError,
    PaymentInputError,
    load_params,
    price_claims,
)
from tests.test_payment_support import DEFAULT_TABLES, by_claim, claims_table, params

D = Decimal


def rules(*rows: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"outlier_rules": list(rows)}


def price_one(tmp_path: Path, claim: dict, **param_kwargs) -> dict:
    run = price_claims(claims_table([claim]), params(tmp_path / "set", **param_kwargs))
    return run.claims.to_pylist()[0]


def test_drg_normal_case_is_weight_times_base_rate_times_coefficient(tmp_path: Path) -> None:
    row = price_one(tmp_path, {"drg": "AA11", "total_cost": "10000"})
    assert row["case_class"] == "NORMAL"
    assert row["payment_mode"] == "group"
    assert row["group_value"] == D("1.5")
    assert row["coefficient"] == D("0.9")
    assert row["unit_value"] == D("10000")
    assert row["payment_standard"] == D("13500.00")
    assert row["case_units"] == D("1.3500")
    assert row["case_payment"] == D("13500.00")
    assert row["case_balance"] == D("3500.00")
    assert row["cost_ratio"] == pytest.approx(10000 / 13500)


def test_weights_by_hospital_level(tmp_path: Path) -> None:
    run = price_claims(claims_table([
        {"drg": "BB13", "total_cost": "15000", "hospital_id": "H1"},
        {"drg": "BB13", "total_cost": "15000"},
    ]), params(tmp_path / "set"))
    rows = by_claim(run.claims)
    assert rows["c1"]["hospital_level"] == 1
    assert rows["c1"]["case_payment"] == D("12000.00")  # 1.2 x 1.0 x 10,000
    assert rows["c2"]["hospital_level"] == 3
    assert rows["c2"]["case_payment"] == D("18000.00")  # 2 x 0.9 x 10,000


@pytest.mark.parametrize(("inclusive", "cost", "expected_class", "expected_payment"), [
    ("true", "6750.00", "LOW", "6750.00"),       # exactly 0.5 x 13,500: counts when inclusive
    ("true", "6750.01", "NORMAL", "13500.00"),
    ("false", "6750.00", "NORMAL", "13500.00"),  # exactly at the boundary, exclusive
    ("false", "6749.99", "LOW", "6749.99"),
    ("true", "27000.00", "HIGH", "27000.00"),    # exactly 2 x 13,500
    ("true", "26999.99", "NORMAL", "13500.00"),
    ("false", "27000.00", "NORMAL", "13500.00"),
    ("false", "27000.01", "HIGH", "27000.01"),
])
def test_outlier_boundaries_exactly_at_half_and_double(
    tmp_path: Path, inclusive: str, cost: str, expected_class: str, expected_payment: str
) -> None:
    row = price_one(tmp_path, {"drg": "AA11", "total_cost": cost}, tables=rules(
        {"kind": "low", "multiple": "0.5", "inclusive": inclusive, "mode": "per_item"},
        {"kind": "high", "multiple": "2", "inclusive": inclusive, "mode": "per_item"},
    ))
    assert row["case_class"] == expected_class
    assert row["case_payment"] == D(expected_payment)
    assert row["per_item"] is (expected_class != "NORMAL")


def test_high_outlier_ratio_mode_pays_an_add_on_above_the_threshold(tmp_path: Path) -> None:
    # 13,500 + 0.8 x (30,000 - 2 x 13,500) = 15,900; units 1.35 x (1 + 0.8 x (30000/13500 - 2))
    row = price_one(tmp_path, {"drg": "AA11", "total_cost": "30000"}, tables=rules(
        {"kind": "high", "multiple": "2", "inclusive": "true", "mode": "ratio",
         "add_on_ratio": "0.8"},
    ))
    assert (row["case_class"], row["payment_mode"]) == ("HIGH", "ratio")
    assert row["case_payment"] == D("15900.00")
    assert row["case_units"] == D("1.5900")
    assert row["per_item"] is False


def test_high_ratio_without_coefficient_and_low_ratio(tmp_path: Path) -> None:
    run = price_claims(claims_table([
        {"drg": "AA11", "total_cost": "30000"}, {"drg": "AA11", "total_cost": "5000"},
    ]), params(tmp_path / "set", tables=rules(
        {"kind": "low", "multiple": "0.5", "inclusive": "true", "mode": "ratio"},
        {"kind": "high", "multiple": "2", "inclusive": "true", "mode": "ratio",
         "add_on_ratio": "0.8", "apply_coefficient": "false"},
    )))
    rows = by_claim(run.claims)
    # 1.5 x 10,000 x (1 + 0.8 x (30000/13500 - 2)) = 15,000 x (1 + 16/90) = 17,666.666...
    assert rows["c1"]["case_payment"] == D("17666.67")
    assert rows["c1"]["case_units"] == D("1.7667")
    # low ratio: 1.35 x 5000 / 13,500 = 0.5 units = 5,000.00, the actual cost
    assert rows["c2"]["case_class"] == "LOW"
    assert rows["c2"]["case_units"] == D("0.5000")
    assert rows["c2"]["case_payment"] == D("5000.00")


def test_review_mode_flags_special_review_and_pays_the_standard(tmp_path: Path) -> None:
    row = price_one(tmp_path, {"drg": "AA11", "total_cost": "70000"}, tables=rules(
        {"kind": "high", "multiple": "2", "inclusive": "true", "mode": "ratio"},
        {"kind": "extreme", "multiple": "5", "inclusive": "true", "mode": "review"},
    ))
    assert (row["case_class"], row["payment_mode"]) == ("EXTREME", "review")
    assert row["special_review"] is True
    assert row["case_payment"] == D("13500.00")


def test_group_mode_flags_but_pays_the_standard(tmp_path: Path) -> None:
    row = price_one(tmp_path, {"drg": "AA11", "total_cost": "1000"}, tables=rules(
        {"kind": "low", "multiple": "0.5", "inclusive": "true", "mode": "group"},
    ))
    assert (row["case_class"], row["case_payment"]) == ("LOW", D("13500.00"))


def test_weight_bands_and_level_specific_outlier_rules(tmp_path: Path) -> None:
    run = price_claims(claims_table([
        {"drg": "AA11", "total_cost": "40499.99"},               # 3 x 13,500 = 40,500
        {"drg": "AA11", "total_cost": "40500.00"},
        {"drg": "BB13", "total_cost": "36000.00"},               # weight 2: 2 x 18,000
        {"drg": "BB13", "total_cost": "18000.00", "hospital_id": "H1"},  # 1.5 x 12,000
    ]), params(tmp_path / "set", tables=rules(
        {"kind": "high", "band_from": "0", "band_to": "2", "multiple": "3",
         "inclusive": "true", "mode": "per_item"},
        {"kind": "high", "band_from": "2", "multiple": "2", "inclusive": "true",
         "mode": "per_item"},
        {"kind": "high", "hospital_level": "1", "multiple": "1.5", "inclusive": "true",
         "mode": "per_item"},
    )))
    classes = [row["case_class"] for row in run.claims.to_pylist()]
    assert classes == ["NORMAL", "HIGH", "HIGH", "HIGH"]


def test_group_average_basis(tmp_path: Path) -> None:
    weights = [{"drg": "AA11", "weight": "1.5", "average_cost": "12000"}]
    row = price_one(tmp_path, {"drg": "AA11", "total_cost": "6100"},
                    pricing={"outlier_basis": "group_average"},
                    tables={"drg_weights": weights})
    assert row["case_class"] == "NORMAL"  # 6,100 > 0.5 x 12,000 though < 0.5 x 13,500
    low = price_one(tmp_path / "b", {"drg": "AA11", "total_cost": "6000"},
                    pricing={"outlier_basis": "group_average"},
                    tables={"drg_weights": weights})
    assert low["case_class"] == "LOW"


@pytest.mark.parametrize(("status", "drg"), [("FAIL", "0000"), ("QY", "BQY"),
                                              ("CHECK_FAILED", "0000"), ("SUCCESS", "0000")])
def test_ungroupable_claims_are_paid_per_item_with_a_flag(
    tmp_path: Path, status: str, drg: str
) -> None:
    row = price_one(tmp_path, {"drg": drg, "status": status, "total_cost": "1000.55"},
                    pricing={"ungroupable_payment_ratio": "0.9"})
    assert (row["case_class"], row["payment_mode"], row["per_item"]) == (
        "UNGROUPABLE", "per_item", True)
    assert row["case_payment"] == D("900.50")  # 900.495 rounded half away from zero
    assert row["case_units"] is None


def test_group_without_weight_is_paid_per_item(tmp_path: Path) -> None:
    row = price_one(tmp_path, {"drg": "CC15", "total_cost": "4321.09"})
    assert (row["case_class"], row["case_payment"]) == ("NO_WEIGHT", D("4321.09"))


def test_refund_is_a_negative_per_item_line(tmp_path: Path) -> None:
    row = price_one(tmp_path, {"drg": "AA11", "total_cost": "-500.00"})
    assert (row["case_class"], row["case_payment"]) == ("REFUND", D("-500.00"))
    assert row["fund_share"] == D("-400.00")  # 0.8 of the refunded in-policy cost
    assert row["patient_share"] == D("-100.00")
    assert row["fund_share"] + row["patient_share"] == row["total_cost"]


def test_missing_weight_names_the_group_and_level(tmp_path: Path) -> None:
    table = claims_table([{"drg": "ZZ19", "total_cost": "100"},
                          {"drg": "BB13", "total_cost": "100", "hospital_id": "H1"}])
    weights = [row for row in DEFAULT_TABLES["drg_weights"] if row.get("hospital_levels") != "1"]
    with pytest.raises(MissingPaymentParameterError) as error:
        price_claims(table, params(tmp_path / "set", tables={"drg_weights": weights}))
    message = str(error.value)
    assert "DRG ZZ19 has no weight for hospital level 3 (1 claims, e.g. c1)" in message
    assert "DRG BB13 has no weight for hospital level 1" in message
    assert "drg_weights.csv" in message


def test_missing_weight_can_be_paid_per_item(tmp_path: Path) -> None:
    run = price_claims(claims_table([{"drg": "ZZ19", "total_cost": "100"}]),
                       params(tmp_path / "set", pricing={"on_missing_weight": "per_item"}))
    row = run.claims.to_pylist()[0]
    assert (row["case_class"], row["case_payment"]) == ("MISSING_WEIGHT", D("100.00"))
    assert any("ZZ19" in warning for warning in run.warnings)


def test_unknown_hospital_without_default_row(tmp_path: Path) -> None:
    hospitals = [{"hospital_id": "H1", "level": 1}]
    with pytest.raises(MissingPaymentParameterError, match="HX"):
        price_claims(claims_table([{"drg": "AA11", "total_cost": "100"}]),
                     params(tmp_path / "set", tables={"hospitals": hospitals}))


def test_missing_benefit_policy_and_base_rate_are_named(tmp_path: Path) -> None:
    claim = {"drg": "AA11", "total_cost": "100", "insurance_type": "employee"}
    with pytest.raises(MissingPaymentParameterError,
                       match="insurance type 'employee' at hospital level 3"):
        price_claims(claims_table([claim]), params(tmp_path / "a"))
    rates = [{"insurance_type": "employee", "hospital_level": "1", "base_rate": "9000"}]
    with pytest.raises(MissingPaymentParameterError, match="no base rate"):
        price_claims(claims_table([{"drg": "AA11", "total_cost": "100"}]),
                     params(tmp_path / "b", tables={"base_rates": rates}))


def test_base_rate_by_insurance_type_and_level(tmp_path: Path) -> None:
    rates = [{"base_rate": "10000"},
             {"insurance_type": "employee", "hospital_level": "3", "base_rate": "11000"}]
    policy = [*DEFAULT_TABLES["benefit_policy"],
              {"insurance_type": "employee", "deductible": "0", "reimbursement_ratio": "0.9"}]
    annual = [*DEFAULT_TABLES["benefit_annual"], {"insurance_type": "employee"}]
    run = price_claims(claims_table([
        {"drg": "AA11", "total_cost": "10000", "insurance_type": "employee"},
        {"drg": "AA11", "total_cost": "10000"},
    ]), params(tmp_path / "set", tables={
        "base_rates": rates, "benefit_policy": policy, "benefit_annual": annual}))
    rows = by_claim(run.claims)
    assert rows["c1"]["case_payment"] == D("14850.00")  # 1.5 x 0.9 x 11,000
    assert rows["c2"]["case_payment"] == D("13500.00")
    assert rows["c2"]["insurance_type"] == "resident"  # the set's default


def test_claims_without_required_columns_are_refused(tmp_path: Path) -> None:
    table = claims_table([{"drg": "AA11", "total_cost": "100"}]).drop_columns(["hospital_id"])
    with pytest.raises(PaymentInputError, match="hospital_id"):
        price_claims(table, params(tmp_path / "set"))


def test_text_costs_are_parsed_exactly_or_refused(tmp_path: Path) -> None:
    table = claims_table([{"drg": "AA11", "total_cost": "100"}])
    as_text = table.set_column(6, "total_cost", table.column("total_cost").cast("string"))
    run = price_claims(as_text, params(tmp_path / "set"))
    assert run.claims.column("total_cost").to_pylist() == [D("100.00")]
    import pyarrow as pa

    bad = as_text.set_column(6, "total_cost", pa.array(["12.345"]))
    with pytest.raises(PaymentInputError, match=r"12\.345"):
        price_claims(bad, params(tmp_path / "set"))


# --- DIP: the reference's worked example (section 3.9) ----------------------------------


def dip_run(claims: list[dict], set_path: str | Path = "dip_worked_example"):
    return price_claims(claims_table(claims, scheme="DIP"), set_path)


def test_dip_worked_example_of_the_reference() -> None:
    """Score 1,200, coefficient 0.95, point value 8.5: standard 1,200 x 0.95 x 8.5 = 9,690."""
    run = dip_run([
        {"dip_group": "DEMO1200", "total_cost": "9000"},
        {"dip_group": "DEMO1200", "total_cost": "4000"},
        {"dip_group": "DEMO1200", "total_cost": "25000"},
    ])
    normal, low, high = run.claims.to_pylist()
    assert normal["payment_standard"] == D("9690.00")
    assert (normal["case_class"], normal["case_units"], normal["case_payment"]) == (
        "NORMAL", D("1140.0000"), D("9690.00"))
    # 4,000 < 50% of 9,690: low factor 4,000 / 9,690, score 1,140 x factor = 470.588..., paid
    # at the point value that is 4,000.00, its actual cost.
    assert (low["case_class"], low["case_units"], low["case_payment"]) == (
        "LOW", D("470.5882"), D("4000.00"))
    # 25,000 = 2.58 x 9,690 under the 1.0 rules: factor 2.58 - 2 + 1 on the group score, no
    # coefficient: 1,200 x (25,000 / 9,690 - 1) = 1,895.975..., x 8.5 = 16,115.79.
    exact = D(1200) * (D(25000) / D(9690) - 1)
    assert high["case_class"] == "HIGH"
    assert high["case_units"] == exact.quantize(D("0.0001"), ROUND_HALF_UP) == D("1895.9752")
    assert high["case_payment"] == (exact * D("8.5")).quantize(D("0.01"), ROUND_HALF_UP)
    assert high["case_payment"] == D("16115.79")


def test_dip_high_with_hospital_coefficient_and_strict_boundaries(tmp_path: Path) -> None:
    base = load_params("dip_worked_example")
    folder = tmp_path / "dip"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        f'id = "dip_coefficient"\nextends = "{base.directory}"\ntitle = "t"\nsource = "t"\n'
        '[tables]\noutlier_rules = "outlier_rules.csv"\n', encoding="utf-8")
    (folder / "outlier_rules.csv").write_text(
        "kind,multiple,inclusive,mode,apply_coefficient\n"
        "low,0.5,false,ratio,true\nhigh,2,false,ratio,true\n", encoding="utf-8")
    run = dip_run([
        {"dip_group": "DEMO1200", "total_cost": "25000"},
        {"dip_group": "DEMO1200", "total_cost": "19380.00"},  # exactly 2x: '>' rule, normal
        {"dip_group": "DEMO1200", "total_cost": "4845.00"},   # exactly 0.5x: '<' rule, normal
    ], folder)
    high, at_double, at_half = run.claims.to_pylist()
    # (x 0.95 when the region applies the coefficient): 1,140 x (25,000/9,690 - 1) x 8.5
    # = 9,690 x 15,310 / 9,690 = 15,310.00
    assert (high["case_class"], high["case_payment"]) == ("HIGH", D("15310.00"))
    assert (at_double["case_class"], at_half["case_class"]) == ("NORMAL", "NORMAL")


def test_dip_extreme_case_goes_to_special_review() -> None:
    row = dip_run([{"dip_group": "DEMO1200", "total_cost": "50000"}]).claims.to_pylist()[0]
    assert (row["case_class"], row["special_review"], row["case_payment"]) == (
        "EXTREME", True, D("9690.00"))


def test_dip_basic_group_auxiliary_type_and_zero_score() -> None:
    run = dip_run([
        {"dip_group": "BASIC500", "total_cost": "4000"},
        {"dip_group": "DEMO1200", "dip_aux_type": "SEV3", "total_cost": "11000"},
        {"dip_group": "ZERO0", "total_cost": "777.70"},
        {"dip_group": None, "total_cost": "10"},
    ])
    basic, typed, zero, ungrouped = run.claims.to_pylist()
    assert (basic["coefficient"], basic["case_payment"]) == (D("1"), D("4250.00"))  # 500 x 8.5
    # 1,200 x 0.95 x 1.2 x 8.5 = 11,628
    assert (typed["coefficient"], typed["case_payment"]) == (D("1.14"), D("11628.00"))
    assert (zero["case_class"], zero["case_payment"]) == ("NO_WEIGHT", D("777.70"))
    assert ungrouped["case_class"] == "UNGROUPABLE"


def test_dip_missing_auxiliary_coefficient_names_group_and_type() -> None:
    with pytest.raises(MissingPaymentParameterError,
                       match="DIP group DEMO1200 auxiliary type SEV9"):
        dip_run([{"dip_group": "DEMO1200", "dip_aux_type": "SEV9", "total_cost": "9000"}])


def test_dip_settlement_point_value_from_the_fund_budget(tmp_path: Path) -> None:
    claims = [{"dip_group": "D1200", "total_cost": "9000", "patient_id": f"p{i}"}
              for i in range(3)]
    fixed = price_claims(claims_table(claims, scheme="DIP"), params(
        tmp_path / "fixed", scheme="DIP", pricing={"unit_value": "from_budget"}))
    # (100,000 / 0.68) / (3 x 1,200 x 0.95) = 42.99966... per point
    point = (D(100000) / D("0.68") / D(3420)).quantize(D("0.0001"), ROUND_HALF_UP)
    assert point == D("42.9997")
    assert fixed.unit_values.column("unit_value").to_pylist() == [point]
    assert fixed.claims.column("unit_value").to_pylist() == [point] * 3
    assert fixed.claims.column("case_payment").to_pylist() == [
        (D(1140) * point).quantize(D("0.01"), ROUND_HALF_UP)] * 3
    budget = [{"fund_budget": "100000"}]
    observed = price_claims(claims_table(claims, scheme="DIP"), params(
        tmp_path / "observed", scheme="DIP", pricing={"unit_value": "from_budget"},
        tables={"fund_budget": budget}))
    # fund payment ratio from the claims: each fund share is 0.8 x (9,000 - 1,000) = 6,400
    ratio = D(19200) / D(27000)
    expected = (D(100000) / ratio / D(3420)).quantize(D("0.0001"), ROUND_HALF_UP)
    assert observed.unit_values.column("unit_value").to_pylist() == [expected]
    assert observed.unit_values.column("ratio_from_claims").to_pylist() == [True]


def test_budget_must_cover_every_insurance_type(tmp_path: Path) -> None:
    budget = [{"insurance_type": "employee", "fund_budget": "100000"}]
    policy = [*DEFAULT_TABLES["benefit_policy"],
              {"insurance_type": "employee", "deductible": "0", "reimbursement_ratio": "0.9"}]
    annual = [*DEFAULT_TABLES["benefit_annual"], {"insurance_type": "employee"}]
    with pytest.raises(MissingPaymentParameterError,
                       match=r"no fund_budget row covers insurance types \['resident'\]"):
        price_claims(claims_table([{"dip_group": "D1200", "total_cost": "9000"}],
                                  scheme="DIP"),
                     params(tmp_path / "set", scheme="DIP",
                            pricing={"unit_value": "from_budget"},
                            tables={"fund_budget": budget, "benefit_policy": policy,
                                    "benefit_annual": annual}))
