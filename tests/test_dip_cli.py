"""`drg dip` commands through click's CliRunner, and the explain trace."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner
from drg_engine.cli.dip import dip

from drg_engine.dip.explain import explain_dip_file
from drg_engine.grouping.bundles import BUNDLE_SCHEMA
from drg_engine.grouping.dip import EVIDENCE_SCHEMA
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.synth import generate_claims
from tests.conftest import SAMPLE_DIR

SAMPLE = SAMPLE_DIR / "claims.parquet"


def test_dip_group_writes_results_bundles_and_rejects(tmp_path: Path):
    output = tmp_path / "dip.parquet"
    result = CliRunner().invoke(dip, ["group", str(SAMPLE), "-o", str(output), "--evidence",
                                      "--bundles", "major_disease_pilot"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(output)
    expected = [*EVIDENCE_SCHEMA.names, *BUNDLE_SCHEMA.names[1:]]
    assert table.column_names == expected
    rejects = pq.read_table(tmp_path / "dip.rejects.parquet")
    assert table.num_rows + rejects.num_rows == pq.read_metadata(SAMPLE).num_rows
    assert "stage comprehensive" in result.output and "partial" in result.output


def test_unknown_rule_set_exits_1_with_the_known_ones(tmp_path: Path):
    result = CliRunner().invoke(dip, ["group", str(SAMPLE), "-o", str(tmp_path / "x.csv"),
                                      "--dip-rules", "nope"])
    assert result.exit_code == 1
    assert "dip3_national_partial" in result.output


def test_explain_says_why(tmp_path: Path):
    text = explain_dip_file(SAMPLE, "C0601000000001", bundles="major_disease_pilot")
    assert "XQ0002 心脏移植" in text and "why this one" in text
    assert "4. Single-disease bundle" in text
    result = CliRunner().invoke(dip, ["explain", str(SAMPLE), "--claim", "C0601000000100"])
    assert result.exit_code == 0
    assert "comprehensive group of its diagnosis category" in result.output
    missing = CliRunner().invoke(dip, ["explain", str(SAMPLE), "--claim", "NO-SUCH"])
    assert missing.exit_code == 1 and "not in the input" in missing.output


def test_build_catalogue_command(tmp_path: Path):
    history = tmp_path / "history.parquet"
    pq.write_table(generate_claims(locate_rule_set("chs_drg_1_1"), 4000, 5,
                                   cover_all_drgs=False), history)
    rules_dir = tmp_path / "local_rules"
    result = CliRunner().invoke(dip, ["build-catalogue", str(history), "-o", str(rules_dir),
                                      "--min-cases", "15"])
    assert result.exit_code == 0, result.output
    assert "core groups" in result.output
    assert (rules_dir / "manifest.toml").is_file() and (rules_dir / "README.md").is_file()
    grouped = tmp_path / "grouped.csv"
    again = CliRunner().invoke(dip, ["group", str(history), "-o", str(grouped), "--dip-rules",
                                     str(rules_dir), "--quiet"])
    assert again.exit_code == 0 and grouped.is_file()
    bad = CliRunner().invoke(dip, ["build-catalogue", str(history), "-o", str(rules_dir),
                                   "--min-cases", "0"])
    assert bad.exit_code == 2
