"""`--rules auto`: the rule set of each claim follows its region and discharge date."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from click.testing import CliRunner
from drg_engine.cli.app import main

from drg_engine.io import write_table
from drg_engine.pipeline import group_table
from drg_engine.selection import load_registry

COLUMNS = ["claim_id", "region", "discharge_date", "sex", "age_years", "diagnoses", "procedures"]
# One stroke claim (I63.900 + MCC J96.000) on several dates and in several regions.
ROWS = [
    ("bj-2022", "110105", "2022-03-01"),
    ("bj-2021", "110105", "2021-06-30"),
    ("bj-2020", "110000", "2020-05-01"),
    ("zj-2023", "330100", "2023-01-15"),
    ("zj-2020", "330100", "2020-12-31"),
    ("none-2018", "330100", "2018-01-01"),
    ("no-region-2022", "", "2022-03-01"),
    ("no-date", "110105", ""),
]


def _raw() -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(COLUMNS, (claim_id, region, day, "1", "60", "I63.900|J96.000", ""),
                  strict=True)) for claim_id, region, day in ROWS],
        schema=pa.schema([(name, pa.string()) for name in COLUMNS]),
    )


def test_registry_puts_regional_rule_sets_first() -> None:
    registry = load_registry()
    assert [entry.rule_set_id for entry in registry] == ["beijing_2022", "chs_drg_1_1",
                                                         "chs_drg_1_0"]
    assert registry[0].region_codes == ("11",)


def test_each_claim_gets_the_rule_set_of_its_region_and_date() -> None:
    run = group_table(_raw(), "auto")
    by_id = {row["claim_id"]: row for row in run.results.to_pylist()}
    assert {claim: by_id[claim]["rule_set"] for claim, _, _ in ROWS} == {
        "bj-2022": "beijing_2022",
        "bj-2021": "chs_drg_1_1",  # before Beijing 2022 took effect: the national edition
        "bj-2020": "chs_drg_1_0",
        "zj-2023": "chs_drg_1_1",
        "zj-2020": "chs_drg_1_0",  # 1.0 is effective to 2020-12-31 inclusive
        "none-2018": None,
        "no-region-2022": "chs_drg_1_1",
        "no-date": None,
    }
    assert (by_id["none-2018"]["status"], by_id["none-2018"]["reason"]) == (
        "NO_RULE_SET", "NO_RULE_SET")
    assert by_id["no-date"]["reason"] == "DISCHARGE_DATE_MISSING"
    assert by_id["no-date"]["drg"] == "0000"
    # Input order is kept.
    assert run.results.column("claim_id").to_pylist() == [claim for claim, _, _ in ROWS]
    assert set(run.rule_sets) == {"beijing_2022", "chs_drg_1_1", "chs_drg_1_0"}


def test_mixed_batch_equals_grouping_each_subset_alone() -> None:
    raw = _raw()
    mixed = group_table(raw, "auto", evidence=True).results
    for rule_set in ("beijing_2022", "chs_drg_1_1", "chs_drg_1_0"):
        mask = pc.equal(mixed.column("rule_set"), rule_set)
        ids = mixed.filter(mask).column("claim_id")
        alone = group_table(raw.filter(pc.is_in(raw.column("claim_id"), ids)), rule_set,
                            evidence=True).results
        assert mixed.filter(mask).equals(alone)


def test_group_auto_from_the_cli(tmp_path) -> None:
    path = tmp_path / "claims.csv"
    write_table(_raw(), path)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["group", str(path), "-o", str(out), "--rules", "auto"])
    assert result.exit_code == 0, result.output
    assert "beijing_2022" in result.output and "status NO_RULE_SET" in result.output
    explained = CliRunner().invoke(main, ["explain", str(path), "--claim", "no-date",
                                          "--rules", "auto"])
    assert "DISCHARGE_DATE_MISSING" in explained.output
