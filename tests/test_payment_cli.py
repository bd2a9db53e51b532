"""`drg pay` and `drg calibrate` through click's CliRunner: outputs in Parquet, CSV and Excel,
summaries, exit codes, and the README's flow (group the sample with --keep-input, then pay)."""

from __future__ import annotations

import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from drg_engine.cli.app import main
from drg_engine.cli.pay import calibrate, pay

from drg_engine.io import read_claims
from tests.conftest import SAMPLE_DIR
from tests.test_payment_support import DEFAULT_TABLES, claims_table, make_params

D = Decimal


@pytest.fixture()
def grouped(tmp_path: Path) -> Path:
    path = tmp_path / "grouped.parquet"
    pq.write_table(claims_table([
        {"drg": "AA11", "total_cost": "10000", "hospital_id": "HA"},
        {"drg": "AA11", "total_cost": "30000", "hospital_id": "HB"},
        {"drg": "0000", "status": "FAIL", "total_cost": "1234.56", "hospital_id": "HA"},
    ]), path)
    return path


@pytest.fixture()
def param_dir(tmp_path: Path) -> Path:
    return make_params(tmp_path / "params")


def invoke(command, args: list[str]):
    return CliRunner().invoke(command, [str(a) for a in args], terminal_width=160)


def test_pay_writes_claims_and_settlement_with_a_summary(
    tmp_path: Path, grouped: Path, param_dir: Path
) -> None:
    out = tmp_path / "out" / "payments.parquet"
    result = invoke(pay, [grouped, "--params", param_dir, "-o", out])
    assert result.exit_code == 0, result.output
    claims = pq.read_table(out)
    settlement = pq.read_table(tmp_path / "out" / "payments.settlement.parquet")
    assert claims.num_rows == 3
    assert claims.column("case_class").to_pylist() == ["NORMAL", "HIGH", "UNGROUPABLE"]
    assert pc.sum(claims.column("case_payment")).as_py() == D("13500.00") + D("30000.00") + D(
        "1234.56")
    assert set(settlement.column("hospital_id").to_pylist()) == {"HA", "HB"}
    for text in ("drg pay: 3 claims", "NORMAL", "UNGROUPABLE", "reconciled",
                 "fund + patient = total cost on all 3 claims"):
        assert text in result.output


def test_pay_writes_csv_and_an_explicit_settlement_file(
    tmp_path: Path, grouped: Path, param_dir: Path
) -> None:
    out, settlement = tmp_path / "pay.csv", tmp_path / "hospitals.csv"
    result = invoke(pay, [grouped, "--params", param_dir, "-o", out,
                          "--settlement", settlement, "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    rows = read_claims(out).to_pylist()
    assert [r["case_payment"] for r in rows] == ["13500.00", "30000.00", "1234.56"]
    assert rows[0]["payment_scheme"] == "DRG"
    assert "surplus_retained" in read_claims(settlement).column_names


def test_pay_writes_excel(tmp_path: Path, grouped: Path, param_dir: Path) -> None:
    out = tmp_path / "pay.xlsx"
    result = invoke(pay, [grouped, "--params", param_dir, "-o", out, "--quiet"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as book:
        workbook = book.read("xl/workbook.xml").decode()
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert re.findall(r'<sheet name="([^"]+)"', workbook) == ["claims", "about"]
    assert len(re.findall(r"<row ", sheet)) == 4  # header + 3 claims
    assert "<v>13500</v>" in sheet and "<v>1234.56</v>" in sheet
    assert (tmp_path / "pay.settlement.xlsx").is_file()


def test_pay_reports_missing_weights_with_exit_code_1(tmp_path: Path, grouped: Path) -> None:
    weights = [row for row in DEFAULT_TABLES["drg_weights"] if row["drg"] != "AA11"]
    folder = make_params(tmp_path / "params", tables={"drg_weights": weights})
    result = invoke(pay, [grouped, "--params", folder, "-o", tmp_path / "x.parquet"])
    assert result.exit_code == 1
    assert "DRG AA11 has no weight for hospital level 3" in result.output
    assert not (tmp_path / "x.parquet").exists()


def test_pay_refuses_unknown_sets_and_formats(tmp_path: Path, grouped: Path,
                                              param_dir: Path) -> None:
    unknown = invoke(pay, [grouped, "--params", "no_such_set", "-o", tmp_path / "x.parquet"])
    assert unknown.exit_code == 1 and "unknown payment parameter set" in unknown.output
    bad = invoke(pay, [grouped, "--params", param_dir, "-o", tmp_path / "x.docx"])
    assert bad.exit_code == 1 and "unsupported file type" in bad.output
    usage = invoke(pay, [grouped, "-o", tmp_path / "x.parquet"])
    assert usage.exit_code == 2 and "--params" in usage.output


def test_calibrate_then_pay(tmp_path: Path) -> None:
    histories = []
    for year, level in ((2023, D(1)), (2024, D("1.1"))):
        path = tmp_path / f"history_{year}.parquet"
        rows = ([{"drg": "AA11", "total_cost": str(10000 * level)}] * 40
                + [{"drg": "BB13", "total_cost": str(30000 * level)}] * 20)
        table = claims_table(rows)
        dates = pa.array([f"{year}-05-01"] * table.num_rows).cast(pa.date32())
        pq.write_table(table.set_column(5, "discharge_date", dates), path)
        histories.append(path)
    folder = tmp_path / "calibrated"
    result = invoke(calibrate, [*histories, "-o", folder, "--year-weights", "2:7"])
    assert result.exit_code == 0, result.output
    assert "groups calibrated" in result.output and "drg pay GROUPED --params" in result.output
    manifest = (folder / "manifest.toml").read_text(encoding="utf-8")
    assert 'id = "calibrated"' in manifest and "effective_from = 2025-01-01" in manifest
    weights = read_claims(folder / "drg_weights.csv").to_pylist()
    assert {w["drg"]: w["weight"] for w in weights} == {"AA11": "0.6000", "BB13": "1.8000"}
    again = invoke(calibrate, [*histories, "-o", folder])
    assert again.exit_code == 1 and "already holds a parameter set" in again.output
    out = tmp_path / "pay.parquet"
    priced = invoke(pay, [histories[1], "--params", folder, "-o", out, "--quiet"])
    assert priced.exit_code == 0, priced.output
    assert pq.read_table(out).num_rows == 60


def test_calibrate_refuses_bad_options(tmp_path: Path) -> None:
    history = tmp_path / "h.parquet"
    pq.write_table(claims_table([{"drg": "AA11", "total_cost": "100"}]), history)
    bad = invoke(calibrate, [history, "-o", tmp_path / "c", "--year-weights", "1:x"])
    assert bad.exit_code == 2 and "not a number" in bad.output
    dip = invoke(calibrate, [history, "-o", tmp_path / "c", "--scheme", "DIP"])
    assert dip.exit_code == 1 and "dip_group" in dip.output


def test_readme_flow_groups_then_pays_the_sample(tmp_path: Path) -> None:
    grouped = tmp_path / "grouped.parquet"
    grouping = CliRunner().invoke(main, ["group", str(SAMPLE_DIR / "claims.csv"), "-o",
                                         str(grouped), "--keep-input", "--quiet"])
    assert grouping.exit_code == 0, grouping.output
    payments = tmp_path / "payments.parquet"
    result = invoke(pay, [grouped, "--params", "anon_region_2025", "-o", payments])
    assert result.exit_code == 0, result.output
    claims = pq.read_table(payments)
    settlement = pq.read_table(tmp_path / "payments.settlement.parquet")
    assert claims.num_rows == pq.read_table(grouped).num_rows >= 9_000
    # every one of the 628 DRGs of the sample found a weight or a no-weight row
    assert "MISSING_WEIGHT" not in set(claims.column("case_class").to_pylist())
    split_ok = pc.equal(pc.add(claims.column("fund_share"), claims.column("patient_share")),
                        claims.column("total_cost"))
    assert pc.all(split_ok).as_py()
    years = settlement.filter(pc.equal(settlement.column("period_kind"), "year"))
    for column in ("total_cost", "fund_share", "patient_share", "case_payment",
                   "fund_payable"):
        assert pc.sum(years.column(column)).as_py() == pc.sum(claims.column(column)).as_py()
    per_hospital = claims.group_by("hospital_id").aggregate([("case_payment", "sum")])
    totals = {r["hospital_id"]: r["case_payment_sum"] for r in per_hospital.to_pylist()}
    by_year: dict[str, Decimal] = {}
    for row in years.to_pylist():
        by_year[row["hospital_id"]] = by_year.get(row["hospital_id"], D(0)) + row["case_payment"]
    assert by_year == totals


def test_pay_is_deterministic(tmp_path: Path, param_dir: Path) -> None:
    path = tmp_path / "many.parquet"
    rows = [{"drg": ("AA11", "BB13", "CC15")[i % 3], "patient_id": f"p{i % 7}",
             "hospital_id": ("HX", "H1")[i % 2], "total_cost": f"{1000 + 397 * i}.{i % 100:02d}"}
            for i in range(500)]
    pq.write_table(claims_table(rows), path)
    outputs = []
    for attempt in range(2):
        out = tmp_path / f"run{attempt}.parquet"
        assert invoke(pay, [path, "--params", param_dir, "-o", out, "--quiet"]).exit_code == 0
        outputs.append((out.read_bytes(), (tmp_path / f"run{attempt}.settlement.parquet")
                        .read_bytes()))
    assert outputs[0] == outputs[1]
    assert pq.read_table(tmp_path / "run0.parquet").column("claim_id").to_pylist() == [
        f"c{i}" for i in range(1, 501)]
