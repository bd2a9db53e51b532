"""`drg rules show|validate|diff` and `drg impact`, pinned to the reference's own figures."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from drg_engine.cli.app import main

from drg_engine.impact import impact_analysis, render_html
from drg_engine.rules.analysis import diff_rule_sets, validate_rule_set
from drg_engine.rules.manifest import default_rules_root

RULES_ROOT = default_rules_root()


@pytest.mark.parametrize(
    ("rule_set", "rows", "adrgs", "drgs"),
    [
        # shared/reference/chs_drg_1_0/README.md §5 items 2-4: 14 rule rows, 14 ADRGs, 28 DRGs.
        ("chs_drg_1_0", 14, 14, 28),
        # shared/reference/beijing_2022/README.md §5 items 3-4: 5 rows, 3 ADRGs, 8 DRGs.
        ("beijing_2022", 5, 3, 8),
        ("chs_drg_1_1", 0, 0, 0),
    ],
)
def test_validate_finds_exactly_the_documented_unreachable_rules(
    rule_set: str, rows: int, adrgs: int, drgs: int
) -> None:
    report = validate_rule_set(rule_set)
    assert report.ok, report.errors
    assert (len(report.unreachable_rules), len(report.unreachable_adrgs),
            len(report.unreachable_drgs)) == (rows, adrgs, drgs)


def test_validate_names_the_beijing_dead_rules() -> None:
    report = validate_rule_set("beijing_2022")
    assert report.unreachable_rules == ["AG1", "AG2", "WB1", "WB1 alt 2", "WR1 alt 2"]
    assert report.unreachable_drgs == ["AG11", "AG15", "AG29", "CD1D", "DC2D", "IT2B", "IT2C",
                                       "WB19"]
    assert any("ADRG RC1" in w and "ADRG code RC1" in w for w in report.warnings)
    assert any("K43.900" in w for w in report.warnings)


def test_diff_matches_version_diff_counts() -> None:
    # shared/reference/VERSION_DIFF.md §3.
    old_new = diff_rule_sets("chs_drg_1_0", "chs_drg_1_1")
    assert len(old_new.dx_mdc_changed) == 1357
    assert len(old_new.dx_adrg_changed) == 5031
    assert len(old_new.px_adrg_changed) == 6924
    assert (len(old_new.drgs_removed), len(old_new.drgs_added)) == (285, 295)
    assert len(old_new.drgs_renamed) == 67
    assert "PS2" in old_new.adrgs_added and "PT1" in old_new.adrgs_removed
    beijing = diff_rule_sets("chs_drg_1_1", "beijing_2022")
    assert (len(beijing.dx_mdc_changed), len(beijing.dx_adrg_changed),
            len(beijing.px_adrg_changed)) == (197, 1252, 860)
    assert (len(beijing.drgs_removed), len(beijing.drgs_added)) == (209, 277)
    assert (len(beijing.drgs_renamed), len(beijing.drgs_renamed_width_only)) == (102, 20)
    assert (beijing.adrgs_added, beijing.adrgs_removed) == (["BB3", "RC2"], ["BC2", "RV1"])


@pytest.fixture()
def broken_beijing(tmp_path: Path) -> Path:
    target = tmp_path / "beijing_2022"
    shutil.copytree(RULES_ROOT / "beijing_2022", target)
    return target


def test_validate_fails_on_a_broken_copy_naming_file_row_and_field(broken_beijing: Path) -> None:
    path = broken_beijing / "drg.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[6] = lines[6].replace(",none,", ",sometimes,", 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["rules", "validate", str(broken_beijing)])
    assert result.exit_code == 1
    assert "drg.csv, line 7, field 'split_kind'" in result.output


def test_validate_fails_on_a_dangling_alternative(broken_beijing: Path) -> None:
    path = broken_beijing / "adrg_codes.csv"
    with path.open("a", encoding="utf-8") as handle:
        handle.write("AH1,7,px,39.6500,\n")
    report = validate_rule_set(broken_beijing)
    assert not report.ok
    assert "field 'adrg': unknown ADRG rule 'AH1' alt 7" in report.errors[0]


def test_validate_cli_passes_the_shipped_rule_sets() -> None:
    for rule_set in ("chs_drg_1_1", "chs_drg_1_0", "beijing_2022"):
        result = CliRunner().invoke(main, ["rules", "validate", rule_set])
        assert result.exit_code == 0, result.output
        assert f"{rule_set}: valid" in result.output


def test_show_and_list_and_diff_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["rules", "show", "beijing_2022"])
    assert shown.exit_code == 0, shown.output
    assert "696" in shown.output and "sdx_and_main_px" in shown.output
    assert "2022-01-01 .. open" in shown.output
    listed = runner.invoke(main, ["rules", "list"])
    assert "chs_drg_1_0" in listed.output and "2019-10-01 .. 2020-12-31" in listed.output
    out = tmp_path / "diff.csv"
    diffed = runner.invoke(main, ["rules", "diff", "chs_drg_1_1", "beijing_2022", "-o", str(out)])
    assert diffed.exit_code == 0, diffed.output
    assert "DRGs added: 277" in diffed.output
    assert out.read_text(encoding="utf-8").count("\n") == 1 + 197 + 1252 + 860 + 277 + 209 + 122


def _claims() -> pa.Table:
    rows = [
        # Z37.900 is an MDCO principal in 1.1 (OR19); Beijing's OR1 needs a Z37 secondary and
        # Z37 codes are no MDCO principals there, so the claim fails.
        ("delivery", "H1", "2", "25", "Z37.900", ""),
        ("stroke", "H1", "1", "60", "I63.900|J96.000", ""),
        ("stroke2", "H2", "1", "70", "I63.900", ""),
    ]
    names = ["claim_id", "hospital_id", "sex", "age_years", "diagnoses", "procedures"]
    return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows],
                                schema=pa.schema([(n, pa.string()) for n in names]))


def test_impact_on_hand_built_claims() -> None:
    report = impact_analysis(_claims(), "chs_drg_1_1", "beijing_2022")
    assert report.claims == 3
    movements = report.top_movements().rows()
    assert ("OR19", "FAIL 0000", 1) in movements
    assert report.change_kinds["status changed"] == 1
    assert report.changed == sum(n for kind, n in report.change_kinds.items()
                                 if kind != "unchanged")
    per_hospital = {row[0]: row for row in report.per_hospital.iter_rows()}
    assert per_hospital["H1"][1] == 2 and per_hospital["H2"][1] == 1
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "OR19 → FAIL 0000" in page
    # Self-contained: nothing is fetched when the page opens offline.
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<link" not in page and "<script" not in page


def test_impact_with_pricing_reports_money_moved() -> None:
    def flat(price: float):
        return lambda table: pa.array([price] * table.num_rows, pa.float64())

    report = impact_analysis(_claims(), "chs_drg_1_1", "beijing_2022",
                             pricer_from=flat(100.0), pricer_to=flat(150.0))
    moved = dict(report.per_hospital.select("hospital_id", "moved").iter_rows())
    assert moved == {"H1": 100.0, "H2": 50.0}
    assert "money moved" in render_html(report)


def test_impact_cli_writes_html_and_transitions(tmp_path: Path) -> None:
    from drg_engine.io import write_table

    claims = tmp_path / "claims.csv"
    write_table(_claims(), claims)
    page, matrix = tmp_path / "impact.html", tmp_path / "transitions.csv"
    result = CliRunner().invoke(main, ["impact", str(claims), "--from", "chs_drg_1_1", "--to",
                                       "beijing_2022", "--html", str(page), "-o", str(matrix)])
    assert result.exit_code == 0, result.output
    assert "change" in result.output and page.is_file() and matrix.is_file()
