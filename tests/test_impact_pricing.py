"""`drg impact` with payment parameters: the money each hospital gains or loses, to the fen.

Four hand-built claims move from CHS-DRG 1.0 to 1.1 (BR29 -> BR21, BR29 -> BR25, ES29 -> ES35,
FAIL 0000 -> OR19) and are priced with small parameter sets whose weights, base rate and
hospital coefficients make every payment computable by hand: payment standard = weight x
coefficient x base rate, rounded to the fen; ungroupable claims are paid at cost.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner
from drg_engine.cli.app import main

from drg_engine.impact import ImpactPricingError, impact_analysis, params_pricer, render_html
from drg_engine.io import write_table
from drg_engine.payment import PaymentParameterError
from drg_engine.payment.params import default_params_root

ANON = default_params_root() / "anon_region_2025"

# Base rate 10,000.00; H1 level 3 coefficient 1, H2 level 2 coefficient 0.9137. Outlier
# bands (cost <= 0.1x or >= 10x the standard) keep every claim NORMAL.
WEIGHTS_A = {"BR29": "1.5123", "BR21": "2.0456", "BR25": "1.2345", "ES29": "0.8111",
             "ES35": "0.9222", "OR19": "0.5"}
# Hand-computed case payments per claim (from = chs_drg_1_0, to = chs_drg_1_1, set A):
#   stroke   H1  from BR29 1.5123 x 1 x 10000 = 15123.00
#                to   BR21 2.0456 x 1 x 10000 = 20456.00
#   stroke2  H2  from BR29 1.5123 x 0.9137 = 1.38178851 x 10000 -> 13817.89
#                to   BR25 1.2345 x 0.9137 = 1.12796265 x 10000 -> 11279.63
#   pneu     H2  from ES29 0.8111 x 0.9137 = 0.74110207 x 10000 -> 7411.02
#                to   ES35 0.9222 x 0.9137 = 0.84261414 x 10000 -> 8426.14
#   delivery H1  from FAIL 0000: ungroupable, paid at cost 4321.09
#                to   OR19 0.5 x 1 x 10000 = 5000.00
PAID_FROM = {"H1": Decimal("19444.09"), "H2": Decimal("21228.91")}  # 15123.00 + 4321.09, ...
PAID_TO = {"H1": Decimal("25456.00"), "H2": Decimal("19705.77")}  # 20456.00 + 5000.00, ...
MOVED = {"H1": Decimal("6011.91"), "H2": Decimal("-1523.14")}


def _claims() -> pa.Table:
    names = ["claim_id", "hospital_id", "sex", "age_years", "diagnoses", "procedures",
             "admit_date", "discharge_date", "total_cost"]
    rows = [
        ("stroke", "H1", "1", "60", "I63.900|J96.000", "", "2025-03-01", "2025-03-11",
         "18000.00"),
        ("stroke2", "H2", "1", "70", "I63.900", "", "2025-03-02", "2025-03-10", "12000.00"),
        ("pneu", "H2", "1", "70", "J18.900", "", "2025-04-01", "2025-04-06", "7000.00"),
        ("delivery", "H1", "2", "25", "Z37.900", "", "2025-05-01", "2025-05-04", "4321.09"),
    ]
    return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows],
                                schema=pa.schema([(n, pa.string()) for n in names]))


def _param_set(folder: Path, weights: dict[str, str], *,
               on_missing_weight: str = "error") -> Path:
    """A DRG parameter set on top of anon_region_2025 (its benefits and settlement shares)."""
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text(
        f'extends = "{ANON.as_posix()}"\nid = "{folder.name}"\n'
        f'title = "hand-built weights for the impact tests"\n'
        f'[pricing]\non_missing_weight = "{on_missing_weight}"\n'
        '[tables]\nhospitals = "hospitals.csv"\ndrg_weights = "drg_weights.csv"\n'
        'base_rates = "base_rates.csv"\noutlier_rules = "outlier_rules.csv"\n',
        encoding="utf-8")
    (folder / "hospitals.csv").write_text(
        "hospital_id,level,drg_coefficient\nH1,3,1\nH2,2,0.9137\n", encoding="utf-8")
    (folder / "drg_weights.csv").write_text(
        "drg,weight\n" + "".join(f"{drg},{w}\n" for drg, w in weights.items()),
        encoding="utf-8")
    (folder / "base_rates.csv").write_text(
        "insurance_type,hospital_level,base_rate\n,,10000\n", encoding="utf-8")
    (folder / "outlier_rules.csv").write_text(
        "kind,hospital_level,band_from,band_to,multiple,inclusive,mode\n"
        "low,,0,,0.1,true,per_item\nhigh,,0,,10,true,per_item\n", encoding="utf-8")
    return folder


def test_groups_are_the_ones_the_hand_computation_assumes() -> None:
    report = impact_analysis(_claims(), "chs_drg_1_0", "chs_drg_1_1")
    assert sorted(report.top_movements().select("from_result", "to_result").rows()) == [
        ("BR29", "BR21"), ("BR29", "BR25"), ("ES29", "ES35"), ("FAIL 0000", "OR19")]
    assert report.money is None and "moved" not in report.per_hospital.columns


def test_money_moved_per_hospital_matches_the_hand_computation(tmp_path: Path) -> None:
    pricer = params_pricer(_param_set(tmp_path / "set_a", WEIGHTS_A))
    report = impact_analysis(_claims(), "chs_drg_1_0", "chs_drg_1_1",
                             pricer_from=pricer, pricer_to=pricer)
    money = report.money
    assert money is not None
    assert (money.params_from, money.params_to) == ("set_a", "set_a")
    # Exact: decimals all the way, no float rounding.
    assert money.paid_from == Decimal("40673.00") and isinstance(money.paid_from, Decimal)
    assert money.paid_to == Decimal("45161.77")
    assert money.moved == Decimal("4488.77")
    assert (money.hospitals_gaining, money.gained) == (1, Decimal("6011.91"))
    assert (money.hospitals_losing, money.lost) == (1, Decimal("-1523.14"))
    hospitals = {row["hospital_id"]: row for row in report.per_hospital.iter_rows(named=True)}
    assert {h: row["paid_from"] for h, row in hospitals.items()} == PAID_FROM
    assert {h: row["paid_to"] for h, row in hospitals.items()} == PAID_TO
    assert {h: row["moved"] for h, row in hospitals.items()} == MOVED
    assert isinstance(report.per_hospital.schema["moved"], pl.Decimal)
    # Largest movement first: H1 gains more than H2 loses.
    assert report.per_hospital["hospital_id"].to_list() == ["H1", "H2"]
    assert hospitals["H2"]["moved_share"] == pytest.approx(-1523.14 / 21228.91)
    top = report.top_money_movements()
    assert top.select("from_result", "to_result", "moved").rows() == [
        ("BR29", "BR21", Decimal("5333.00")),
        ("BR29", "BR25", Decimal("-2538.26")),
        ("ES29", "ES35", Decimal("1015.12")),
        ("FAIL 0000", "OR19", Decimal("678.91")),
    ]
    classes = {row[0]: row[1:3] for row in money.case_classes.iter_rows()}
    assert classes == {"NORMAL": (3, 4), "UNGROUPABLE": (1, 0)}
    assert money.missing_weights.height == 0
    assert money.claims_without_weight("from") == money.claims_without_weight("to") == 0


def test_each_side_priced_with_its_own_parameter_set(tmp_path: Path) -> None:
    # Same grouping on both sides, BR21 re-weighted 2.0456 -> 2.1: only the stroke claim at H1
    # (coefficient 1) moves, by (2.1 - 2.0456) x 10000 = 544.00.
    before = params_pricer(_param_set(tmp_path / "set_a", WEIGHTS_A))
    after = params_pricer(_param_set(tmp_path / "set_c", {**WEIGHTS_A, "BR21": "2.1"}))
    report = impact_analysis(_claims(), "chs_drg_1_1", "chs_drg_1_1",
                             pricer_from=before, pricer_to=after)
    assert report.changed == 0
    assert report.money is not None and report.money.moved == Decimal("544.00")
    assert report.top_money_movements().select("from_result", "to_result", "claims",
                                               "moved").rows() == [
        ("BR21", "BR21", 1, Decimal("544.00"))]
    moved = dict(report.per_hospital.select("hospital_id", "moved").iter_rows())
    assert moved == {"H1": Decimal("544.00"), "H2": Decimal("0.00")}


def test_missing_weight_paid_per_item_and_reported(tmp_path: Path) -> None:
    weights = {drg: w for drg, w in WEIGHTS_A.items() if drg != "ES35"}
    pricer = params_pricer(_param_set(tmp_path / "no_es35", weights,
                                      on_missing_weight="per_item"))
    report = impact_analysis(_claims(), "chs_drg_1_0", "chs_drg_1_1",
                             pricer_from=pricer, pricer_to=pricer)
    money = report.money
    assert money is not None
    # pneu (ES35, cost 7000.00) is paid per item on the 'to' side instead of 8426.14.
    assert money.missing_weights.rows() == [("to", "no_es35", "ES35", 1, Decimal("7000.00"))]
    assert money.claims_without_weight("to") == 1 and money.claims_without_weight("from") == 0
    assert money.paid_to == Decimal("45161.77") - Decimal("8426.14") + Decimal("7000.00")
    assert any("ES35" in note and note.startswith("to (no_es35)") for note in money.warnings)
    assert dict(money.case_classes.select("case_class", "claims_to").iter_rows())[
        "MISSING_WEIGHT"] == 1
    page = render_html(report)
    assert 'id="missing-weights"' in page and "ES35" in page


def test_missing_weight_refused_when_the_set_says_error(tmp_path: Path) -> None:
    weights = {drg: w for drg, w in WEIGHTS_A.items() if drg != "ES35"}
    pricer = params_pricer(_param_set(tmp_path / "strict", weights))
    with pytest.raises(ImpactPricingError, match=r"'to' side .*chs_drg_1_1.*ES35"):
        impact_analysis(_claims(), "chs_drg_1_0", "chs_drg_1_1",
                        pricer_from=pricer, pricer_to=pricer)


def test_html_has_the_money_section(tmp_path: Path) -> None:
    pricer = params_pricer(_param_set(tmp_path / "set_a", WEIGHTS_A))
    page = render_html(impact_analysis(_claims(), "chs_drg_1_0", "chs_drg_1_1",
                                       pricer_from=pricer, pricer_to=pricer))
    assert "Money: case payments (set_a)" in page
    assert 'id="paid-from"><b>40,673.00</b>' in page
    assert 'id="paid-to"><b>45,161.77</b>' in page
    assert 'id="moved"><b>+4,488.77</b>' in page
    assert "Top 4 transitions by money moved" in page and "BR29 → BR21" in page
    assert "<td>+6,011.91</td>" in page and "<td>-1,523.14</td>" in page
    assert "None: every grouped claim found its weight." in page
    assert "<script" not in page


def test_pricers_must_come_in_pairs() -> None:
    with pytest.raises(ValueError, match="both"):
        impact_analysis(_claims(), "chs_drg_1_0", "chs_drg_1_1",
                        pricer_from=lambda t: pa.array([1.0] * t.num_rows))


def test_dip_parameter_sets_are_refused() -> None:
    with pytest.raises(PaymentParameterError, match="DIP"):
        params_pricer("dip_worked_example")


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["impact", *args])
    return result.exit_code, result.output


def test_cli_prints_the_money_tables(tmp_path: Path) -> None:
    claims, page, matrix = tmp_path / "claims.csv", tmp_path / "i.html", tmp_path / "t.csv"
    write_table(_claims(), claims)
    params = _param_set(tmp_path / "set_a", WEIGHTS_A)
    code, output = _run([str(claims), "--from", "chs_drg_1_0", "--to", "chs_drg_1_1",
                         "--params", str(params), "--html", str(page), "-o", str(matrix)])
    assert code == 0, output
    assert "money: case payments, set_a -> set_a" in output
    assert "40,673.00" in output and "45,161.77" in output and "+4,488.77 (+11.04%)" in output
    assert "+6,011.91" in output and "-1,523.14" in output
    assert "transitions by money moved" in output and "+5,333.00" in output
    assert "claims without a weight (to)" in output
    assert "Money: case payments" in page.read_text(encoding="utf-8")
    written = pl.read_csv(matrix)
    assert written.columns == ["from_result", "to_result", "claims", "paid_from", "paid_to",
                               "moved"]


def test_cli_params_from_and_to(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    write_table(_claims(), claims)
    set_a = _param_set(tmp_path / "set_a", WEIGHTS_A)
    set_c = _param_set(tmp_path / "set_c", {**WEIGHTS_A, "BR21": "2.1"})
    code, output = _run([str(claims), "--from", "chs_drg_1_1", "--to", "chs_drg_1_1",
                         "--params-from", str(set_a), "--params-to", str(set_c),
                         "--html", str(tmp_path / "i.html")])
    assert code == 0, output
    assert "set_a -> set_c" in output and "+544.00" in output


def test_cli_reports_a_missing_weight_the_set_refuses(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    write_table(_claims(), claims)
    strict = _param_set(tmp_path / "strict", {d: w for d, w in WEIGHTS_A.items() if d != "ES35"})
    code, output = _run([str(claims), "--from", "chs_drg_1_0", "--to", "chs_drg_1_1",
                         "--params", str(strict), "--html", str(tmp_path / "i.html")])
    assert code == 1
    assert "Error: pricing the 'to' side" in output and "ES35" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("args", [
    ["--params", "anon_region_2025", "--params-to", "anon_region_2025"],
    ["--params-from", "anon_region_2025"],
])
def test_cli_rejects_incomplete_params_options(tmp_path: Path, args: list[str]) -> None:
    claims = tmp_path / "claims.csv"
    write_table(_claims(), claims)
    code, output = _run([str(claims), "--from", "chs_drg_1_0", "--to", "chs_drg_1_1", *args,
                         "--html", str(tmp_path / "i.html")])
    assert code == 2 and "--params" in output
