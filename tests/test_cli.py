"""The `drg` command through click's CliRunner: outputs, summaries, exit codes, explain."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from drg_engine.cli.app import main

from drg_engine.io import read_claims

CSV = """\
claim_id,性别,年龄,新生儿年龄(天),新生儿出生体重,diagnoses,procedures,admit_date,discharge_date
c1,1,60,,,I63.900|I60.000|J96.000,,2024-01-01,2024-01-09
c2,女,45,,,C50.900,85.4500,2024-01-02,2024-01-08
c3,2,0,3,1800,P07.300|P07.200,,2024-02-01,2024-02-20
c4,,50,,,I63.900,,2024-03-01,2024-03-05
c5,1,abc,,,I63.900,,2024-03-01,2024-03-05
c1,1,61,,,I63.900,,2024-03-01,2024-03-05
c7,1,70,,,I63.900,,2024-03-09,2024-03-05
"""


@pytest.fixture()
def claims_csv(tmp_path: Path) -> Path:
    path = tmp_path / "claims.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_group_writes_results_rejects_and_summary(claims_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "grouped.parquet"
    rejects = tmp_path / "bad.csv"
    result = CliRunner().invoke(main, ["group", str(claims_csv), "-o", str(out),
                                       "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    grouped = pq.read_table(out).to_pylist()
    assert [row["claim_id"] for row in grouped] == ["c1", "c2", "c3", "c4"]
    assert [row["drg"] for row in grouped] == ["BR21", "JB29", "PS25", "0000"]
    assert grouped[3]["status"] == "CHECK_FAILED" and grouped[3]["reason"] == "SEX_MISSING"
    bad = read_claims(rejects).to_pylist()
    assert [(row["row_number"], row["reason_code"]) for row in bad] == [
        ("5", "BAD_NUMBER"), ("6", "DUPLICATE_CLAIM_ID"), ("7", "DISCHARGE_BEFORE_ADMISSION"),
    ]
    assert "4 grouped + 3 rejected = 7 in" in result.output
    assert "status SUCCESS" in result.output and "top DRG BR21" in result.output


def test_group_puts_rejects_beside_the_output_by_default(claims_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "grouped.csv"
    result = CliRunner().invoke(main, ["group", str(claims_csv), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert (tmp_path / "grouped.rejects.csv").is_file()


def test_group_with_evidence_columns(claims_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "grouped.jsonl"
    result = CliRunner().invoke(main, ["group", str(claims_csv), "-o", str(out), "--evidence",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    first = read_claims(out).to_pylist()[0]
    assert first["mcc_codes"] == ["J96.000"]
    assert first["excluded_cc_mcc"] == ["I60.000"]


def test_missing_columns_fail_with_exit_1_and_list_aliases(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("claim_id,diagnoses\nx,I21.001\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["group", str(path), "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 1
    assert "sex" in result.output and "性别" in result.output
    assert "Traceback" not in result.output


def test_unknown_rule_set_fails_with_exit_1(claims_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["group", str(claims_csv), "-o", str(tmp_path / "o.csv"),
                                       "--rules", "nowhere_2030"])
    assert result.exit_code == 1
    assert "unknown rule set 'nowhere_2030'" in result.output


def test_unreadable_inputs_fail_with_exit_1(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["group", str(tmp_path / "nope.csv"), "-o", "x.csv"])
    assert missing.exit_code == 1 and "nope.csv" in missing.output
    odd = tmp_path / "claims.xls"
    odd.write_text("x", encoding="utf-8")
    wrong = runner.invoke(main, ["group", str(odd), "-o", str(tmp_path / "o.csv")])
    assert wrong.exit_code == 1 and ".parquet" in wrong.output


def test_usage_error_exit_2(claims_csv: Path) -> None:
    result = CliRunner().invoke(main, ["group", str(claims_csv)])
    assert result.exit_code == 2
    assert "--output" in result.output


def test_explain_shows_the_codes_and_tables_that_decided(claims_csv: Path) -> None:
    result = CliRunner().invoke(main, ["explain", str(claims_csv), "--claim", "c1"])
    assert result.exit_code == 0, result.output
    text = result.output
    # I63.900 (BR2's list) has exclusion table 96; I60.000 is an MCC of table 96, so it is
    # excluded, and J96.000 (table 5) is the MCC that counts.
    assert "SUCCESS -> MDCB / BR2 / BR21" in text
    assert "MDCB 神经系统疾病及功能障碍: entered, and an ADRG matched" in text
    assert "matched diagnosis: I63.900 脑梗死" in text
    assert "principal's exclusion table: 96" in text
    assert "excluded: I60.000" in text and "[CC/MCC excluded]" in text
    assert "counts as MCC: J96.000 急性呼吸衰竭" in text
    assert "BR21 (with a non-excluded MCC)  <- chosen" in text


def test_explain_fall_through_and_rejected_and_unknown(claims_csv: Path) -> None:
    runner = CliRunner()
    fell = runner.invoke(main, ["explain", str(claims_csv), "--claim", "c2"])
    assert "MDCA 先期分组疾病及相关操作: entered, but none of its ADRGs matched" in fell.output
    assert "matched procedure: 85.4500" in fell.output
    rejected = runner.invoke(main, ["explain", str(claims_csv), "--claim", "c5"])
    assert rejected.exit_code == 0
    assert "rejected before grouping (input row 5)" in rejected.output
    unknown = runner.invoke(main, ["explain", str(claims_csv), "--claim", "zz"])
    assert unknown.exit_code == 1 and "'zz' is not in the input" in unknown.output


def test_rules_list() -> None:
    result = CliRunner().invoke(main, ["rules", "list"])
    assert result.exit_code == 0
    assert "chs_drg_1_1 " in result.output and "chs_drg_1_1_qy" in result.output


def test_beijing_length_of_stay_splits_group_and_explain(tmp_path: Path) -> None:
    # RC1 (Beijing 2022, main procedure 92.2200) splits by LOS: RC12 >= 13 days, RC14 [6, 13),
    # RC16 [2, 6), RC18 [1, 2); no split holds at 0 days, so the DRG is the ADRG code RC1.
    path = tmp_path / "rc.csv"
    path.write_text(
        "claim_id,sex,age,los_days,dx,px\n"
        "rc-13,1,60,13,C90.000x031,92.2200\nrc-12,1,60,12,C90.000x031,92.2200\n"
        "rc-0,1,60,0,C90.000x031,92.2200\nrc-none,1,60,,C90.000x031,92.2200\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.parquet"
    runner = CliRunner()
    result = runner.invoke(main, ["group", str(path), "-o", str(out), "--rules", "beijing_2022"])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert [(r["status"], r["drg"], r["reason"]) for r in rows] == [
        ("SUCCESS", "RC12", None), ("SUCCESS", "RC14", None), ("SUCCESS", "RC1", None),
        ("CHECK_FAILED", "0000", "LOS_MISSING"),
    ]
    twelve = runner.invoke(main, ["explain", str(path), "--claim", "rc-12", "--rules",
                                  "beijing_2022"]).output
    assert "RC14 (length of stay >= 6 days, length of stay < 13 days)  <- chosen" in twelve
    zero = runner.invoke(main, ["explain", str(path), "--claim", "rc-0", "--rules",
                                "beijing_2022"]).output
    assert "no split held, so the DRG is the ADRG code RC1" in zero
    missing = runner.invoke(main, ["explain", str(path), "--claim", "rc-none", "--rules",
                                   "beijing_2022"]).output
    assert "MDCs entered: MDCR" in missing and "LOS_MISSING" in missing
