"""`drg audit` through click's CliRunner: outputs, skip notices, exit codes."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner
from drg_engine.cli.audit import audit

from drg_engine.io import read_claims
from tests.test_audit_sample import sample_paths


def test_audit_writes_report_findings_and_workbook(tmp_path: Path) -> None:
    paths = sample_paths()
    out = tmp_path / "out"
    result = CliRunner().invoke(audit, [
        str(paths["claims"]), "--charges", str(paths["charges"]), "--visits",
        str(paths["visits"]), "--hospitals", str(paths["hospitals"]),
        "--report", str(out / "audit.html"), "-o", str(out / "findings.parquet"),
        "--excel", str(out / "findings.xlsx"), "--max-cases", "50",
    ])
    assert result.exit_code == 0, result.output
    html = (out / "audit.html").read_text(encoding="utf-8")
    assert html.count('<details class="case"') == 50
    findings = pq.read_table(out / "findings.parquet")
    assert findings.num_rows > 300 and {"finding_id", "evidence", "params"} <= set(
        findings.column_names)
    assert pq.read_table(out / "findings.data_quality.parquet").num_rows > 0
    assert (out / "findings.xlsx").stat().st_size > 10_000
    assert "HB001 hanging-bed-empty-days" in result.output
    assert "amount at risk counted once" in result.output
    assert "skipped" not in result.output


def test_missing_inputs_are_skipped_with_a_notice(tmp_path: Path) -> None:
    paths = sample_paths()
    result = CliRunner().invoke(audit, [str(paths["claims"]), "--report",
                                        str(tmp_path / "a.html"), "-o",
                                        str(tmp_path / "f.csv"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert ("skipped HB001 hanging-bed-empty-days: needs charge lines (--charges)"
            in result.output)
    assert "skipped HB004 hanging-bed-activity-elsewhere: needs the persons' other " \
           "transactions (--visits)" in result.output
    written = read_claims(tmp_path / "f.csv")
    assert written.num_rows > 0 and "HB001" not in set(written.column("rule_code").to_pylist())
    assert "needs charge lines" in (tmp_path / "a.html").read_text(encoding="utf-8")


def test_parameters_file_changes_a_threshold(tmp_path: Path) -> None:
    paths = sample_paths()
    params = tmp_path / "params.toml"
    params.write_text('[global]\nfund_share = 0.5\n\n[decomposed-hospitalisation]\n'
                      'window_days = 3\n\n[UC001]\nenabled = false\n', encoding="utf-8")
    result = CliRunner().invoke(audit, [str(paths["claims"]), "--params", str(params),
                                        "--report", str(tmp_path / "a.html"), "-o",
                                        str(tmp_path / "f.parquet")])
    assert result.exit_code == 0, result.output
    findings = pq.read_table(tmp_path / "f.parquet").to_pylist()
    readmissions = [row for row in findings if row["rule_code"] == "DH001"]
    assert readmissions and all(row["value"] <= 3 for row in readmissions)
    assert '"window_days": 3' in readmissions[0]["params"]
    assert not [row for row in findings if row["rule_code"] == "UC001"]
    assert "UC001 cc-mcc-rate-above-peers" in result.output and "disabled" in result.output


def test_errors_exit_1_with_a_message(tmp_path: Path) -> None:
    paths = sample_paths()
    missing = CliRunner().invoke(audit, [str(tmp_path / "nope.parquet"), "--report",
                                         str(tmp_path / "a.html")])
    assert missing.exit_code == 1 and "claims file not found" in missing.output
    params = tmp_path / "p.toml"
    params.write_text("[HB001]\nmin_empty_runs = 4\n", encoding="utf-8")
    typo = CliRunner().invoke(audit, [str(paths["claims"]), "--params", str(params),
                                      "--report", str(tmp_path / "a.html")])
    assert typo.exit_code == 1
    assert "rule HB001 has no parameter 'min_empty_runs'" in typo.output
    bad_charges = tmp_path / "charges.csv"
    bad_charges.write_text("claim_id,amount\nC1,3\n", encoding="utf-8")
    columns = CliRunner().invoke(audit, [str(paths["claims"]), "--charges", str(bad_charges),
                                         "--report", str(tmp_path / "a.html")])
    assert columns.exit_code == 1
    assert "charges: missing required columns service_date, category" in columns.output
    usage = CliRunner().invoke(audit, [str(paths["claims"])])
    assert usage.exit_code == 2 and "--report" in usage.output


def test_payments_from_drg_pay_set_the_amounts_at_risk(tmp_path: Path) -> None:
    from drg_engine.cli.app import main

    paths = sample_paths()
    grouped, payments = tmp_path / "grouped.parquet", tmp_path / "payments.parquet"
    runner = CliRunner()
    for args in (["group", str(paths["claims"]), "-o", str(grouped), "--keep-input", "--quiet"],
                 ["pay", str(grouped), "--params", "anon_region_2025", "-o", str(payments),
                  "--quiet"]):
        done = runner.invoke(main, args)
        assert done.exit_code == 0, done.output
    result = runner.invoke(main, ["audit", str(paths["claims"]), "--payments", str(payments),
                                  "--report", str(tmp_path / "a.html"), "-o",
                                  str(tmp_path / "f.parquet")])
    assert result.exit_code == 0, result.output
    assert "(fund_payment column)" in result.output
    paid = {row["claim_id"]: float(row["fund_payable"])
            for row in pq.read_table(payments).to_pylist()}
    findings = [row for row in pq.read_table(tmp_path / "f.parquet").to_pylist()
                if row["status"] == "open" and row["amount_at_risk"]]
    assert findings
    # Every stay's amounts at risk, added over its rules, stay within what the fund paid for it.
    at_risk: dict[str, float] = {}
    for row in findings:
        at_risk[row["claim_id"]] = at_risk.get(row["claim_id"], 0.0) + float(row["amount_at_risk"])
    assert all(amount <= paid[claim] + 0.01 for claim, amount in at_risk.items() if claim in paid)
