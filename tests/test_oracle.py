"""Tests of the reference oracle: condition kinds, validation, splits, QY, conversion, golden."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from drg_engine.grouping.oracle import (
    CHECK_FAILED,
    FAIL,
    QY,
    SS_NOT_MAPPING,
    SUCCESS,
    ZD_NOT_MAPPING,
    Oracle,
    OracleResult,
    claim_from_record,
    load_oracle,
)

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "grouper_rules"
GOLDEN = ROOT / "sample_claims" / "golden.csv"


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    return load_oracle(RULES / "chs_drg_1_1")


@pytest.fixture(scope="module")
def qy_oracle() -> Oracle:
    return load_oracle(RULES / "chs_drg_1_1_qy")


def claim(
    dx: str,
    px: str = "",
    *,
    sex: int | None = 1,
    age: float | None = 50,
    days: int | None = None,
    weight: float | None = None,
) -> dict[str, Any]:
    return {
        "sex": sex,
        "age_years": age,
        "age_days": days,
        "birth_weight_g": weight,
        "diagnoses": dx.split("|") if dx else [],
        "procedures": px.split("|") if px else [],
    }


def newborn(dx: str, px: str = "", *, days: int = 3, weight: float = 3000) -> dict[str, Any]:
    return claim(dx, px, age=0, days=days, weight=weight)


def drg(oracle: Oracle, c: dict[str, Any]) -> str:
    result = oracle.group(c)
    return result.drg if result.status == SUCCESS else result.status


def test_load_resolves_extends(oracle: Oracle, qy_oracle: Oracle) -> None:
    assert not oracle.qy_enabled and qy_oracle.qy_enabled
    assert qy_oracle.rule_id == "chs_drg_1_1_qy"
    assert [m.mdc for m in qy_oracle.mdcs] == [m.mdc for m in oracle.mdcs]
    assert [m.mdc for m in oracle.mdcs][:6] == ["MDCA", "MDCP", "MDCY", "MDCZ", "MDCM", "MDCN"]
    assert sum(len(m.adrgs) for m in oracle.mdcs) == 376
    assert sum(len(a.splits) for m in oracle.mdcs for a in m.adrgs) == 628
    mdcf = next(m for m in oracle.mdcs if m.mdc == "MDCF")
    names = [a.adrg for a in mdcf.adrgs]
    assert names.index("FF2") < names.index("FF1")


def test_result_shape(oracle: Oracle) -> None:
    assert oracle.group(claim("J18.900")) == OracleResult(SUCCESS, "MDCE", "ES3", "ES35", "", "")
    assert oracle.group(claim("XYZ.000")) == OracleResult(FAIL, "0000", "00", "0000", "",
                                                          "NO_GROUP")
    assert oracle(claim("J18.900")) == "ES35"


@pytest.mark.parametrize(
    ("c", "reason"),
    [
        (claim("I63.900", sex=None), "SEX_MISSING"),
        (claim("I63.900", sex=0), "SEX_INVALID"),
        (claim("I63.900", age=None), "AGE_MISSING"),
        (claim("P22.000", age=0, weight=3000), "AGE_DAYS_MISSING"),
        (claim("J18.900", age=0.5), "AGE_DAYS_MISSING"),
        (claim("P22.000", age=0, days=28), "BIRTH_WEIGHT_MISSING"),
        (claim("", "37.5100"), "NO_DIAGNOSIS"),
        (claim("", sex=None, age=None), "SEX_MISSING"),
        (claim("", sex=0, age=None), "SEX_INVALID"),
        (claim("", age=None), "AGE_MISSING"),
        (claim("", age=0), "AGE_DAYS_MISSING"),
        (claim("", age=0, days=1), "BIRTH_WEIGHT_MISSING"),
    ],
)
def test_validation(oracle: Oracle, c: dict[str, Any], reason: str) -> None:
    assert oracle.group(c) == OracleResult(CHECK_FAILED, "0000", "00", "0000", "", reason)


def test_validation_passes(oracle: Oracle) -> None:
    assert drg(oracle, claim("P07.300", age=0, days=2, weight=0)) == "PV15"
    assert drg(oracle, claim("P59.901", age=0, days=29)) == "PV15"
    assert drg(oracle, claim("J18.900", age=1)) == "ES35"
    assert drg(oracle, claim("J18.900", age=30, days=5)) == "ES35"
    assert drg(oracle, claim("J18.900", age=float("nan"))) == CHECK_FAILED


def test_mdc_entry_kinds(oracle: Oracle) -> None:
    assert drg(oracle, claim("NOT.A.CODE", "37.5100")) == "AA19"
    assert drg(oracle, claim("I50.900", "89.5200|37.5100")) == "FR25"
    assert drg(oracle, newborn("P22.000")) == "PR15"
    assert drg(oracle, claim("P22.000", age=1, days=3)) == FAIL
    assert drg(oracle, claim("D48.127", sex=1)) == "MZ19"
    assert drg(oracle, claim("D48.127", sex=2)) == "NZ19"
    assert drg(oracle, claim("N40.x00", sex=2)) == FAIL
    assert drg(oracle, claim("S02.100x002|S21.101")) == "ZZ15"
    assert drg(oracle, claim("Z20.600")) == "YR29"


def test_mdcz_regions(oracle: Oracle) -> None:
    assert drg(oracle, claim("S02.100x002|S01.801")) == "BY15"
    assert drg(oracle, claim("S02.100x002|S02.100x002")) == "BY15"
    assert drg(oracle, claim("J18.900|S02.100x002|S21.101")) == "ES31"
    assert drg(oracle, claim("S21.101|S02.100x002")) == "ZZ11"
    assert drg(oracle, claim("S02.100x002|S21.101", "37.3402")) == "BY13"


def test_fall_through(oracle: Oracle) -> None:
    assert drg(oracle, claim("I21.001", "37.3402")) == "FL25"
    assert drg(oracle, claim("NOT.A.CODE", "51.2300")) == FAIL
    assert drg(oracle, claim("C45.100", sex=1)) == "GR15"
    assert drg(oracle, claim("C45.100", sex=2)) == "NR15"
    assert drg(oracle, claim("O80.000", sex=2)) == FAIL
    assert drg(oracle, claim("Q85.900x047", sex=1)) == FAIL


@pytest.mark.parametrize(
    ("c", "expected"),
    [
        (claim("J18.900"), "ES35"),
        (claim("G40.000"), "BV15"),
        (claim("C22.000"), "HR19"),
        (claim("T26.000"), "CT19"),
        (claim("K80.000x002"), "HU15"),
    ],
)
def test_kind_pdx(oracle: Oracle, c: dict[str, Any], expected: str) -> None:
    assert drg(oracle, c) == expected


@pytest.mark.parametrize(
    ("c", "expected"),
    [
        (claim("N18.500", "52.8000"), "AD19"),
        (claim("I63.900", "01.0900x006"), "BB25"),
        (claim("K35.800x001", "47.0100"), "GD25"),
        (claim("K80.000x002", "51.2300"), "HC29"),
        (claim("I20.000", "00.5000x001"), "FK29"),
        (claim("S02.100x002|S21.101", "51.2300"), "ZJ15"),
    ],
)
def test_kind_main_px(oracle: Oracle, c: dict[str, Any], expected: str) -> None:
    assert drg(oracle, c) == expected


@pytest.mark.parametrize(
    ("c", "expected"),
    [
        (claim("I21.001", "00.5000x001"), "FK19"),
        (claim("S02.100x002", "01.0900x006"), "BB15"),
        (claim("C61.x00", "40.2400"), "MA19"),
        (claim("N96.x00x003", "65.9900x008", sex=2), "NG19"),
        (claim("C91.704", "41.9800"), "RA49"),
        (claim("C61.x00", "89.5200|40.2400"), "MR15"),
    ],
)
def test_kind_pdx_and_main_px(oracle: Oracle, c: dict[str, Any], expected: str) -> None:
    assert drg(oracle, c) == expected


@pytest.mark.parametrize(
    ("c", "expected"),
    [
        (claim("N18.500", "52.8000|55.6100"), "AC19"),
        (claim("N18.500", "55.6100|52.8000"), "AC19"),
        (claim("N18.500", "55.6100"), "AE19"),
        (claim("I35.000", "35.0101|36.0601"), "FB19"),
        (claim("I35.000", "35.0101"), "FB25"),
        (claim("I20.000", "39.7900x517"), "FE19"),
        (claim("I83.000", "38.5901|00.5500x009"), "FF25"),
        (claim("I83.000", "00.5500x009|38.5901"), "FF25"),
        (claim("I83.000", "38.5901"), "FF19"),
    ],
)
def test_kind_any_px_and_any_px2(oracle: Oracle, c: dict[str, Any], expected: str) -> None:
    assert drg(oracle, c) == expected


def test_kind_pdx_and_any_px_and_any_px2(oracle: Oracle) -> None:
    assert drg(oracle, claim("A18.000x047+M49.0*", "03.0900x025|03.0900x007")) == "IB19"
    assert drg(oracle, claim("A18.000x048+M49.0*", "81.0101|03.0900x026")) == "IB19"
    assert drg(oracle, claim("A18.000x047+M49.0*", "03.0900x025")) == "IB39"
    assert drg(oracle, claim("M51.202", "03.0900x025|03.0900x007")) == "IB39"


@pytest.mark.parametrize(
    ("px", "expected"),
    [
        ("85.7000x001|85.4301", "JA19"),
        ("85.4301|85.7000x001", "JA19"),
        ("85.7000x001|85.2200|40.2100", "JA19"),
        ("85.7000x001|85.2200", "JB19"),
        ("85.4301", "JA29"),
        ("85.2200|40.2100", "JA29"),
        ("", "JR19"),
    ],
)
def test_kind_label_combo_breast(oracle: Oracle, px: str, expected: str) -> None:
    assert drg(oracle, claim("C50.900x005", px, sex=2)) == expected


def test_kind_label_combo_na1(oracle: Oracle) -> None:
    assert drg(oracle, claim("C54.900", "68.6101", sex=2)) == "NA19"
    assert drg(oracle, claim("C54.900", "68.4101|40.5000", sex=2)) == "NA19"
    assert drg(oracle, claim("C54.900", "68.4101", sex=2)) == "NC19"


def test_kind_main_px_and_newborn(oracle: Oracle) -> None:
    assert drg(oracle, newborn("P29.300", "35.0101")) == "PB19"
    assert drg(oracle, newborn("P59.901", "47.0100", days=5)) == "PC15"
    assert drg(oracle, newborn("P59.901", "45.9301")) == "PJ19"
    assert drg(oracle, newborn("P22.000", "96.7101")) == "PK15"
    assert drg(oracle, claim("P22.000", "47.0100", age=0, days=40)) == "PV15"


def test_kind_pdx_and_newborn(oracle: Oracle) -> None:
    assert drg(oracle, newborn("P22.000")) == "PR15"
    assert drg(oracle, newborn("P22.000|P07.300", weight=1400)) == "PR13"
    assert drg(oracle, newborn("P59.901")) == "PU15"
    assert drg(oracle, newborn("P21.900|P36.900")) == "PU13"
    assert drg(oracle, claim("P22.000", age=0, days=35)) == "PV15"


@pytest.mark.parametrize(
    ("weight", "days", "expected"),
    [
        (600, 1, "PS15"),
        (1499.9, 1, "PS15"),
        (1500, 1, "PS25"),
        (1999, 1, "PS25"),
        (2000, 1, "PS39"),
        (2499.5, 1, "PS39"),
        (2500, 28, "PS45"),
        (4200, 0, "PS45"),
        (0, 1, "PV15"),
        (1200, 29, "PV15"),
    ],
)
def test_kind_birth_weight(oracle: Oracle, weight: float, days: int, expected: str) -> None:
    assert drg(oracle, claim("P07.200", age=0, days=days, weight=weight)) == expected


def test_kind_birth_weight_any_dx(oracle: Oracle) -> None:
    assert drg(oracle, newborn("P59.901|P07.300", weight=1800)) == "PS25"
    assert drg(oracle, newborn("P21.900|P07.300", weight=0)) == "PU13"


def test_kind_always(oracle: Oracle) -> None:
    assert drg(oracle, claim("P05.001", age=0, days=120)) == "PV15"
    assert drg(oracle, claim("P22.000", age=0.75, days=270)) == "PV15"


def test_kind_valid_or_kinds(oracle: Oracle) -> None:
    assert drg(oracle, claim("A41.900", "51.2300")) == "SB15"
    assert drg(oracle, claim("F20.000", "51.2300")) == "TB19"
    assert drg(oracle, claim("T21.300", "51.2300")) == "WJ19"
    assert drg(oracle, claim("R41.000", "51.2300")) == "XJ15"
    assert drg(oracle, claim("R41.000", "89.5200")) == "XR15"
    assert drg(oracle, claim("B20.001", "51.2300")) == "YC15"
    assert drg(oracle, claim("Z21.x00x001|B20.001", "51.2300")) == "YC11"
    assert drg(oracle, claim("B20.001", "89.5200|51.2300")) == "YR15"


def test_kind_no_px_in_valid_or(oracle: Oracle) -> None:
    assert drg(oracle, claim("S02.100x002|S21.101")) == "ZZ15"
    assert drg(oracle, claim("S02.100x002|S21.101", "89.5200")) == "ZZ15"
    assert drg(oracle, claim("S02.100x002|S36.100x001")) == "ZZ11"


@pytest.mark.parametrize(
    ("dx", "expected", "severity"),
    [
        ("J18.900", "ES35", ""),
        ("J18.900|I50.900", "ES31", "MCC"),
        ("J18.900|E87.600", "ES33", "CC"),
        ("J18.900|J09.x00", "ES35", ""),
        ("J18.900|J09.x00|J10.100", "ES35", ""),
        ("J18.900|J09.x00|E87.600", "ES33", "CC"),
        ("J18.900|U82.100", "ES31", "MCC"),
        ("J18.900|B95.300", "ES33", "CC"),
        ("J18.900|J18.900", "ES35", ""),
        ("J18.900|FOO.123", "ES35", ""),
        ("I26.900x001|E87.600", "ER25", "CC"),
        ("C34.000|I50.900", "ER13", "MCC"),
        ("I21.001|N18.500", "FR19", "MCC"),
        ("I21.001|I21.900", "FR19", ""),
        ("S06.500x005|S06.500x005|S21.101", "ZZ11", "MCC"),
    ],
)
def test_splits_and_exclusions(oracle: Oracle, dx: str, expected: str, severity: str) -> None:
    result = oracle.group(claim(dx))
    assert (result.drg, result.severity) == (expected, severity)


@pytest.mark.parametrize(
    ("c", "base", "with_qy"),
    [
        (claim("I63.900", "51.2300"), "BR25", "AQY"),
        (claim("I63.900", "89.5200|51.2300"), "BR25", "BQY"),
        (claim("F10.000", "89.5200|51.2300"), "UR15", "UQY"),
        (claim("S02.100x002|S21.101", "89.5200|37.3402"), "BY13", "ZQY"),
        (claim("I63.900"), "BR25", "BR25"),
        (claim("I63.900", "89.5200"), "BR25", "BR25"),
        (claim("I21.001", "00.5000x001"), "FK19", "FK19"),
        (claim("I50.900", "37.5100"), "AA19", "AA19"),
        (newborn("P22.000", "96.7101"), "PK15", "AQY"),
        (newborn("P22.000", "93.9001"), "PK15", "PK15"),
    ],
)
def test_qy(oracle: Oracle, qy_oracle: Oracle, c: dict[str, Any], base: str,
            with_qy: str) -> None:
    assert drg(oracle, c) == base
    result = qy_oracle.group(c)
    assert result.drg == with_qy
    if with_qy.endswith("QY"):
        assert result == OracleResult(QY, "MDC" + with_qy[0], "QY", with_qy, "", "")


@pytest.fixture(scope="module")
def conversion_oracle(tmp_path_factory: pytest.TempPathFactory) -> Oracle:
    root = tmp_path_factory.mktemp("rules")
    (root / "chs_drg_1_1").symlink_to(RULES / "chs_drg_1_1", target_is_directory=True)
    (root / "conv").mkdir()
    (root / "conv" / "manifest.toml").write_text(
        'id = "conv"\nextends = "chs_drg_1_1"\n\n[options]\ncode_conversion = true\n',
        encoding="utf-8",
    )
    return load_oracle(root / "conv")


def test_code_conversion(conversion_oracle: Oracle, oracle: Oracle) -> None:
    conv = conversion_oracle
    assert conv.code_conversion and not conv.qy_enabled
    assert drg(conv, claim("J18.900")) == "ES35"
    assert conv.group(claim("NOT.A.CODE")) == OracleResult(
        ZD_NOT_MAPPING, "0000", "00", "0000", "", ZD_NOT_MAPPING)
    assert conv.group(claim("J18.900", "99.9999zz")).status == SS_NOT_MAPPING
    assert conv.group(claim("NOT.A.CODE", "99.9999zz")).status == ZD_NOT_MAPPING
    assert conv.group(claim("NOT.A.CODE", sex=None)).status == ZD_NOT_MAPPING
    assert drg(oracle, claim("I20.000", "37.8300x002")) != "FK29"
    assert drg(conv, claim("I20.000", "37.8300x002")) == "FK29"
    assert drg(conv, claim("B06.801+J17.1*")) == FAIL
    # C91.100x022 -> C91.101 and C91.101 -> C91.100x012, each at its own position.
    assert drg(conv, claim("C91.100x022|C91.101")) == "RS15"


def test_claim_from_record() -> None:
    record = {"sex": 9, "age_years": 3.0, "age_days": None, "birth_weight_g": float("nan"),
              "diagnoses": ["J18.900"], "procedures": None, "claim_id": "x"}
    assert claim_from_record(record) == {
        "sex": 0, "age_years": 3.0, "age_days": None, "birth_weight_g": None,
        "diagnoses": ["J18.900"], "procedures": [],
    }


def _golden_rows() -> list[dict[str, str]]:
    with GOLDEN.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_golden_file(oracle: Oracle) -> None:
    rows = _golden_rows()
    assert len(rows) >= 150
    kinds = {a.cond_kind for m in oracle.mdcs for a in m.adrgs}
    hit: dict[str, int] = {}
    by_adrg = {a.adrg: a.cond_kind for m in oracle.mdcs for a in m.adrgs}
    mismatches = []
    for row in rows:
        sex = int(row["sex"]) if row["sex"] else None
        c = {
            "sex": sex if sex in (None, 1, 2) else 0,
            "age_years": float(row["age_years"]) if row["age_years"] else None,
            "age_days": int(row["age_days"]) if row["age_days"] else None,
            "birth_weight_g": float(row["birth_weight_g"]) if row["birth_weight_g"] else None,
            "diagnoses": row["diagnoses"].split("|") if row["diagnoses"] else [],
            "procedures": row["procedures"].split("|") if row["procedures"] else [],
        }
        r = oracle.group(c)
        got = (r.status, r.mdc, r.adrg, r.drg, r.severity, r.reason)
        want = (row["expected_status"], row["expected_mdc"], row["expected_adrg"],
                row["expected_drg"], row["expected_severity"], row["expected_reason"])
        if got != want:
            mismatches.append((row["claim_id"], want, got))
        if r.adrg in by_adrg:
            hit[by_adrg[r.adrg]] = hit.get(by_adrg[r.adrg], 0) + 1
    assert mismatches == []
    assert set(hit) == kinds
    assert min(hit.values()) >= 2
    reasons = {row["expected_reason"] for row in rows if row["expected_status"] == CHECK_FAILED}
    assert reasons == {"SEX_MISSING", "SEX_INVALID", "AGE_MISSING", "AGE_DAYS_MISSING",
                       "BIRTH_WEIGHT_MISSING", "NO_DIAGNOSIS"}
