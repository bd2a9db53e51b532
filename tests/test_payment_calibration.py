"""Calibration: weights recovered from data built with them, 1:2:7 weighting by hand, trimming,
small groups merged or flagged, DIP scores, and a calibrated set that `drg pay` accepts."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from drg_engine.payment import (
    CalibrationOptions,
    PaymentInputError,
    calibrate,
    load_params,
    price_claims,
    write_calibrated_params,
)
from drg_engine.payment.calibration import year_weights
from drg_engine.pipeline import group_table
from drg_engine.rules import load_rules
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.synth import generate_claims
from tests.test_payment_support import claims_table

D = Decimal
W127 = (D(1), D(2), D(7))


def history(cases: list[tuple[str, int, str]], scheme: str = "DRG") -> pa.Table:
    """(group, year, cost) triples as a grouped history table."""
    column = "drg" if scheme == "DRG" else "dip_group"
    return claims_table([{column: g, "discharge_date": date(y, 6, 1), "total_cost": c}
                         for g, y, c in cases], scheme=scheme)


def test_known_weights_are_recovered_exactly_from_noise_free_costs() -> None:
    # weights 1.0, 2.5, 0.5 with a case mix whose mean weight is 1: M = 10,000
    mix = [("AB11", D("1.0"), 50), ("CD13", D("2.5"), 20), ("EF15", D("0.5"), 60)]
    cases = [(drg, 2024, str(weight * 10000)) for drg, weight, n in mix for _ in range(n)]
    result = calibrate(history(cases), CalibrationOptions())
    assert {g.group: g.value for g in result.groups} == {
        "AB11": D("1.0000"), "CD13": D("2.5000"), "EF15": D("0.5000")}
    assert result.overall_average == D("10000.00")
    assert result.unit_value == D("10000.00")  # 1,300,000 of cost / 130 weight units
    assert {g.source for g in result.groups} == {"calibrated"}


def test_one_two_seven_weighting_by_hand() -> None:
    cases = [("GG11", 2022, "1000"), ("GG11", 2023, "2000"), ("GG11", 2023, "2000"),
             ("GG11", 2024, "3000"), ("HH13", 2024, "6000"), ("GG11", 2021, "99999")]
    result = calibrate(history(cases), CalibrationOptions(
        year_weights=W127, trim_method="none", min_cases=1))
    assert result.year_weights == {2022: D(1), 2023: D(2), 2024: D(7)}  # 2021 is dropped
    # GG11: (1 x 1000 + 2 x 2000 + 7 x 3000) / 10 = 2,600; HH13 only in 2024: 6,000
    # M: (1 x 1000 + 2 x 2000 + 7 x 4500) / 10 = 3,650
    weights = {g.group: g.value for g in result.groups}
    assert result.overall_average == D("3650.00")
    assert weights == {"GG11": (D(2600) / D(3650)).quantize(D("0.0001"), ROUND_HALF_UP),
                       "HH13": (D(6000) / D(3650)).quantize(D("0.0001"), ROUND_HALF_UP)}
    assert weights == {"GG11": D("0.7123"), "HH13": D("1.6438")}
    # rate = weighted cost / weighted weight: (1000 + 2 x 4000 + 7 x 9000) /
    #        (0.7123 + 2 x 1.4246 + 7 x 2.3561)
    units = D("0.7123") + 2 * D("1.4246") + 7 * (D("0.7123") + D("1.6438"))
    assert result.unit_value == (D(72000) / units).quantize(D("0.01"), ROUND_HALF_UP)


def test_year_weights_follow_the_most_recent_years() -> None:
    assert year_weights([2023, 2024], W127) == {2023: D(2), 2024: D(7)}
    assert year_weights([2020, 2021], None) == {2020: D(1), 2021: D(1)}


def test_trimming_drops_the_tails_of_each_group() -> None:
    costs = ["900", "1000", "1000", "1100"] * 5 + ["100000"]  # Q1 1,000, Q3 1,000 .. 1,100
    cases = [("GG11", 2024, cost) for cost in costs]
    fenced = {g.group: g for g in calibrate(history(cases), CalibrationOptions(
        min_cases=1)).groups}["GG11"]
    assert (fenced.trimmed_cases, fenced.average_cost) == (20, D("1000.00"))
    quantile = {g.group: g for g in calibrate(history(cases), CalibrationOptions(
        trim_method="quantile", trim_value=D("0.05"), min_cases=1)).groups}["GG11"]
    assert quantile.trimmed_cases == 20  # the top 5% of 21 cases is the outlier
    kept = {g.group: g for g in calibrate(history(cases), CalibrationOptions(
        trim_method="none", min_cases=1)).groups}["GG11"]
    assert kept.average_cost == D("5714.29")  # (20 x ~1,000 + 100,000) / 21



def test_fences_over_all_years_are_the_yearly_fences_when_there_is_one_year() -> None:
    rng = np.random.default_rng(7)
    cases = [(f"G{g}11", 2024, str(D(int(c)).scaleb(-2)))
             for g, n in enumerate((3, 15, 40, 41, 100, 333))
             for c in np.round(rng.lognormal(9, 0.6, n) * 100)]
    cases += [("T011", 2024, "1000")] * 30 + [("T011", 2024, "1250")] * 10  # ties at Q1, Q3
    for method, value in (("iqr", D("1.5")), ("iqr", D("0.3")), ("quantile", D("0.025")),
                          ("quantile", D("0.1")), ("none", D(0))):
        per_year, over_years = (calibrate(history(cases), CalibrationOptions(
            trim_method=method, trim_value=value, trim_scope=scope, min_cases=1))
            for scope in ("cell_year", "cell"))
        assert over_years.groups == per_year.groups
        assert (over_years.overall_average, over_years.unit_value) == (
            per_year.overall_average, per_year.unit_value)


def test_fences_over_all_years_trim_an_outlier_of_a_small_newest_year() -> None:
    # Weights 2:7 give the newest year 7/9: an outlier among its 3 cases is no outlier within
    # the year (nothing is, in 3 cases), but it is among the group's 43 cases of both years.
    cases = ([("GG11", 2023, "1000")] * 20 + [("GG11", 2023, "1100")] * 20
             + [("GG11", 2024, "1000"), ("GG11", 2024, "1100"), ("GG11", 2024, "90000")])
    options = {"year_weights": (D(2), D(7)), "trim_method": "quantile",
               "trim_value": D("0.025"), "min_cases": 1}
    per_year = calibrate(history(cases), CalibrationOptions(**options)).groups[0]
    over_years = calibrate(history(cases), CalibrationOptions(**options, trim_scope="cell"))
    assert per_year.trimmed_cases == 43
    assert per_year.average_cost == D("24111.11")  # (2 x 1,050 + 7 x 30,700) / 9
    assert over_years.groups[0].trimmed_cases == 42
    assert over_years.groups[0].average_cost == D("1050.00")


def test_small_groups_are_merged_into_their_adrg_or_flagged() -> None:
    cases = ([("AB11", 2024, "3000")] * 3 + [("AB15", 2024, "1000")] * 30
             + [("XY19", 2024, "500")] * 2)
    merged = {g.group: g for g in calibrate(history(cases), CalibrationOptions(
        min_cases=15, trim_method="none")).groups}
    flagged = {g.group: g for g in calibrate(history(cases), CalibrationOptions(
        min_cases=15, trim_method="none", small_groups="flag")).groups}
    # AB11 takes its ADRG's average: AB1 pools 3 x 3,000 + 30 x 1,000, i.e. 1,181.82;
    # AB15 has enough cases of its own
    assert merged["AB11"].source == "merged_adrg"
    assert merged["AB11"].average_cost == D("1181.82")
    assert (merged["AB15"].source, merged["AB15"].average_cost) == ("calibrated", D("1000.00"))
    assert merged["XY19"].source == "low_volume"  # its ADRG is small too
    assert flagged["AB11"].source == "low_volume"
    assert flagged["AB11"].average_cost == D("3000.00")


def test_dip_scores_are_thousandths_of_the_average() -> None:
    cases = [("DIP-A", 2024, "2000")] * 20 + [("DIP-B", 2024, "500")] * 20
    result = calibrate(history(cases, "DIP"), CalibrationOptions(
        scheme="DIP", small_groups="flag", trim_method="none"))
    assert {g.group: g.value for g in result.groups} == {
        "DIP-A": D("1600.0000"), "DIP-B": D("400.0000")}  # M = 1,250
    assert result.unit_value == D("1.2500")  # yuan per point
    with pytest.raises(PaymentInputError, match="merging small DIP groups"):
        CalibrationOptions(scheme="DIP", small_groups="merge")


def test_calibrated_set_is_accepted_by_pay(tmp_path: Path) -> None:
    mix = [("AB11", D("1.0"), 50), ("CD13", D("2.5"), 20), ("EF15", D("0.5"), 60)]
    cases = [(drg, 2024, str(weight * 10000)) for drg, weight, n in mix for _ in range(n)]
    result = calibrate(history(cases), CalibrationOptions())
    folder = write_calibrated_params(result, tmp_path / "calibrated_2025")
    params = load_params(folder)
    assert params.manifest.id == "calibrated_2025"
    assert str(params.manifest.effective_from) == "2025-01-01"
    assert (folder / "README.md").read_text(encoding="utf-8").count("3 calibrated") == 1
    run = price_claims(claims_table([{"drg": "CD13", "total_cost": "25000"}]), params)
    row = run.claims.to_pylist()[0]
    # weight 2.5 x base rate 10,000 x the template's default coefficient 0.92
    assert row["case_payment"] == D("23000.00")
    with pytest.raises(Exception, match="already holds a parameter set"):
        write_calibrated_params(result, folder)


def generated_history(rule_weights: dict[str, Decimal], years: tuple[int, ...],
                      per_year: int) -> pa.Table:
    """Synthetic claims grouped by the real grouper, with costs built from known weights:
    weight x 10,000 x the year's price level x lognormal noise (sigma 0.08), 2% of them 10x
    outliers."""
    rules = load_rules("chs_drg_1_1")
    parts = []
    for index, year in enumerate(years):
        claims = generate_claims(locate_rule_set("chs_drg_1_1"), per_year, 300 + index,
                                 cover_all_drgs=False)
        grouped = group_table(claims, rules).results_with_input()
        grouped = grouped.filter(pc.is_in(grouped.column("drg"),
                                          pa.array(list(rule_weights))))
        n = grouped.num_rows
        rng = np.random.default_rng(index)
        weight = np.array([float(rule_weights[d]) for d in grouped.column("drg").to_pylist()])
        cost = weight * 10000 * (1 + 0.05 * index) * rng.lognormal(0, 0.08, n)
        cost = np.where(rng.random(n) < 0.02, cost * 10, cost)
        cents = np.round(cost * 100).astype(np.int64)
        money = pa.array([D(int(c)).scaleb(-2) for c in cents], pa.decimal128(18, 2))
        days = pa.array(np.full(n, (date(year, 7, 1) - date(1970, 1, 1)).days, np.int32))
        grouped = grouped.set_column(grouped.schema.get_field_index("total_cost"),
                                     "total_cost", money)
        grouped = grouped.set_column(grouped.schema.get_field_index("discharge_date"),
                                     "discharge_date", days.cast(pa.date32()))
        parts.append(grouped)
    return pa.concat_tables(parts)


def test_catalogue_weights_are_recovered_from_a_generated_three_year_history() -> None:
    catalogue = load_params("anon_region_2025").rows["drg_weights"]
    known = {item.row.drg: item.row.weight for item in catalogue  # type: ignore[attr-defined]
             if item.row.weight and item.row.hospital_levels in (None, "2|3")}  # type: ignore[attr-defined]
    data = generated_history(known, (2022, 2023, 2024), 12000)
    result = calibrate(data, CalibrationOptions(year_weights=W127, min_cases=30))
    populated = [g for g in result.groups if g.cases >= 150]
    assert len(populated) >= 15
    # RW = m / M recovers the weights up to one factor (the case mix's mean weight)
    ratios = np.array([float(g.value / known[g.group]) for g in populated])
    scale = float(np.median(ratios))
    assert np.all(np.abs(ratios / scale - 1) < 0.04), sorted(ratios / scale)
    # the base rate prices the year-weighted history (outliers included) at its own cost
    value = {g.group: g.value for g in result.groups}
    years = pc.year(data.column("discharge_date")).to_pylist()
    cost = units = D(0)
    for drg, year, amount in zip(data.column("drg").to_pylist(), years,
                                 data.column("total_cost").to_pylist(), strict=True):
        weight = result.year_weights[year]
        cost += weight * amount
        units += weight * value[drg]
    assert abs(result.unit_value * units / cost - 1) < D("0.000001")
