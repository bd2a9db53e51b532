"""`drg group` / `drg explain` options that reach the other parts: DIP, bundles, engines."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from drg_engine.cli.app import main

from tests.conftest import REPO

SAMPLE = REPO / "sample_claims" / "claims.parquet"

# A child with acute lymphoblastic leukaemia (a pilot bundle), an adult stroke, a bad row.
CSV = """\
claim_id,sex,age_years,diagnoses,procedures,admit_date,discharge_date,los_days,total_cost
k1,1,6,C91.000,,2024-01-01,2024-01-20,19,52000.00
k2,2,67,I63.900|I10.x00,,2024-01-02,2024-01-10,8,18000.00
k3,1,abc,I63.900,,2024-01-02,2024-01-10,8,18000.00
"""


@pytest.fixture()
def claims_csv(tmp_path: Path) -> Path:
    path = tmp_path / "claims.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_group_scheme_dip_assigns_every_clean_claim(claims_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "dip.parquet"
    _invoke("group", str(claims_csv), "-o", str(out), "--scheme", "dip", "--quiet")
    rows = pq.read_table(out).to_pylist()
    assert [row["claim_id"] for row in rows] == ["k1", "k2"]
    assert all(row["dip_group"] and row["dip_status"] for row in rows)
    rejects = pq.read_table(tmp_path / "dip.rejects.parquet").to_pylist()
    assert [(row["claim_id"], row["reason_code"]) for row in rejects] == [("k3", "BAD_NUMBER")]


def test_group_with_bundles_adds_the_bundle_of_the_leukaemia_child(claims_csv: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "drg.parquet"
    _invoke("group", str(claims_csv), "-o", str(out), "--bundles", "major_disease_pilot",
            "--quiet")
    rows = {row["claim_id"]: row for row in pq.read_table(out).to_pylist()}
    assert set(rows) == {"k1", "k2"}
    assert rows["k1"]["drg"] != "0000" and rows["k1"]["bundle_code"]
    assert not rows["k2"]["bundle_code"]


def test_explain_scheme_dip_names_the_group(claims_csv: Path) -> None:
    output = _invoke("explain", str(claims_csv), "--claim", "k2", "--scheme", "dip")
    assert "I63" in output and "DIP" in output


def test_dask_engine_from_the_command_line_matches_local(tmp_path: Path) -> None:
    pytest.importorskip("dask")
    local, dask = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    _invoke("group", str(SAMPLE), "-o", str(local), "--quiet")
    _invoke("group", str(SAMPLE), "-o", str(dask), "--engine", "dask", "--quiet")
    assert pq.read_table(dask).equals(pq.read_table(local))
    assert pq.read_table(tmp_path / "dask.rejects.parquet").equals(
        pq.read_table(tmp_path / "local.rejects.parquet"))


def test_cluster_engines_refuse_what_they_cannot_run(claims_csv: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.parquet")
    csv_run = CliRunner().invoke(main, ["group", str(claims_csv), "-o", out, "--engine", "spark"])
    assert csv_run.exit_code == 1 and "reads Parquet" in csv_run.output
    dip_run = CliRunner().invoke(main, ["group", str(SAMPLE), "-o", out, "--scheme", "dip",
                                        "--engine", "dask"])
    assert dip_run.exit_code == 1 and "--engine local" in dip_run.output


def test_group_with_bundles_prints_the_closing_summary(claims_csv: Path, tmp_path: Path) -> None:
    output = _invoke("group", str(claims_csv), "-o", str(tmp_path / "b.parquet"), "--bundles",
                     "major_disease_pilot")
    assert "2 grouped + 1 rejected = 3 in" in output
    assert "rejected BAD_NUMBER" in output and "rejects:" in output
