"""The vectorized grouper on targeted cases: QY, code conversion, evidence, chunking, statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from drg_engine.grouping import drg as drg_module
from drg_engine.grouping.drg import EVIDENCE_SCHEMA, RESULT_SCHEMA, group_batch
from drg_engine.rules import load_rules
from drg_engine.rules.manifest import default_rules_root
from tests.conftest import make_clean_batch

clean_batch = make_clean_batch


def adult(claim_id: str, diagnoses: list[str], procedures: list[str] | None = None,
          sex: int = 1, age: float = 60) -> dict[str, Any]:
    return {"claim_id": claim_id, "sex": sex, "age_years": age,
            "diagnoses": diagnoses, "procedures": procedures or []}


def group_one(claim: dict[str, Any], rule_set: str = "chs_drg_1_1") -> dict[str, Any]:
    return group_batch(clean_batch([claim]), load_rules(rule_set), evidence=True).to_pylist()[0]


def test_medical_claim_with_mcc_and_evidence() -> None:
    # I21.001 opens MDCF and is on FR1's diagnosis list; J96.000 is an MCC whose table (5)
    # differs from I21.001's exclusion table (93).
    row = group_one(adult("x", ["I21.001", "J96.000"]))
    assert (row["status"], row["mdc"], row["adrg"]) == ("SUCCESS", "MDCF", "FR1")
    assert row["drg"] == "FR19"  # FR1 has a single, unsplit DRG
    assert row["severity"] == "MCC"
    assert row["mdcs_entered"] == ["MDCF"]
    assert row["matched_dx"] == ["I21.001"]
    assert row["mcc_codes"] == ["J96.000"]
    assert row["exclusion_table"] == 93
    assert row["drg_name"] == "急性心肌梗死"


def test_fall_through_from_mdca_to_a_later_mdc() -> None:
    # 85.4500 (mastectomy) is a valid OR procedure: MDCA is entered, no A-ADRG lists it, and the
    # claim falls through to MDCJ where JB2 matches the main procedure.
    row = group_one(adult("x", ["C50.900"], ["85.4500"], sex=2))
    assert row["mdcs_entered"] == ["MDCA", "MDCJ"]
    assert (row["adrg"], row["drg"]) == ("JB2", "JB29")
    assert row["matched_px"] == ["85.4500"]


def test_qy_off_falls_through_and_qy_on_returns_the_mdc_qy() -> None:
    # Main procedure 89.0100 is not a valid OR procedure, so MDCA is not entered; 85.4500 is,
    # and it is unrelated to the stroke principal I63.900 (MDCB).
    claim = adult("x", ["I63.900"], ["89.0100", "85.4500"])
    off = group_one(claim, "chs_drg_1_1")
    assert (off["status"], off["drg"]) == ("SUCCESS", "BR25")
    on = group_one(claim, "chs_drg_1_1_qy")
    assert (on["status"], on["mdc"], on["adrg"], on["drg"]) == ("QY", "MDCB", "QY", "BQY")
    assert on["reason"] == "QY" and on["severity"] is None
    assert on["matched_px"] == ["85.4500"]


def test_qy_on_without_valid_or_procedure_groups_normally() -> None:
    row = group_one(adult("x", ["I63.900"], ["89.0100"]), "chs_drg_1_1_qy")
    assert (row["status"], row["drg"]) == ("SUCCESS", "BR25")


def test_qy_on_mdca_step_comes_after_all_a_adrgs() -> None:
    # A valid-OR main procedure enters MDCA; with QY on, MDCA's QY step follows its 9 ADRGs.
    row = group_one(adult("x", ["C50.900"], ["85.4500"], sex=2), "chs_drg_1_1_qy")
    assert (row["status"], row["drg"]) == ("QY", "AQY")


@pytest.fixture()
def conversion_rules(tmp_path: Path) -> Path:
    (tmp_path / "chs_drg_1_1").symlink_to(default_rules_root() / "chs_drg_1_1")
    folder = tmp_path / "conversion_test"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'id = "conversion_test"\nextends = "chs_drg_1_1"\nscheme = "CHS-DRG"\nversion = "1.1"\n'
        'region = "test"\ntitle = "1.1 with code conversion"\neffective_from = 2021-01-01\n'
        'source = "test"\n[options]\ncode_conversion = true\n',
        encoding="utf-8",
    )
    return folder


def test_code_conversion_maps_position_wise(conversion_rules: Path) -> None:
    rules = load_rules(conversion_rules)
    # dx_map: A01.000x002 -> A01.003; the converted claim groups like the target code.
    converted = group_batch(clean_batch([adult("a", ["A01.000x002"])]), rules).to_pylist()[0]
    direct = group_one(adult("b", ["A01.003"]))
    assert converted["status"] == "SUCCESS"
    assert converted["drg"] == direct["drg"]


def test_code_conversion_unmapped_codes(conversion_rules: Path) -> None:
    rules = load_rules(conversion_rules)
    rows = group_batch(
        clean_batch([
            adult("dx", ["R91.x04"]),  # used by the rules but not a dx_map key
            adult("px", ["I21.001"], ["96.0800x005"]),  # not a px_map key
            adult("both", ["R91.x04"], ["96.0800x005"]),
        ]),
        rules,
    ).to_pylist()
    assert [r["status"] for r in rows] == ["ZD_NOT_MAPPING", "SS_NOT_MAPPING", "ZD_NOT_MAPPING"]
    assert all((r["mdc"], r["adrg"], r["drg"]) == ("0000", "00", "0000") for r in rows)


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        ({"sex": None, "age_years": 30}, "SEX_MISSING"),
        ({"sex": 0, "age_years": 30}, "SEX_INVALID"),
        ({"sex": 1, "age_years": None}, "AGE_MISSING"),
        ({"sex": 1, "age_years": 0}, "AGE_DAYS_MISSING"),
        ({"sex": 1, "age_years": 0, "age_days": 28}, "BIRTH_WEIGHT_MISSING"),
        ({"sex": 1, "age_years": 30, "diagnoses": []}, "NO_DIAGNOSIS"),
    ],
)
def test_check_failed_reasons(claim: dict[str, Any], reason: str) -> None:
    row = group_one({"claim_id": "x", "diagnoses": ["I21.001"], **claim})
    assert (row["status"], row["reason"]) == ("CHECK_FAILED", reason)
    assert (row["mdc"], row["adrg"], row["drg"], row["severity"]) == ("0000", "00", "0000", None)


def test_newborn_weight_zero_is_present_but_fails_weight_bands() -> None:
    # Weight 0 passes validation but no PS band; P07.300 is on PS1-PS4's lists, so the claim
    # ends in PU1 or PV1 rather than PS.
    row = group_one({"claim_id": "x", "sex": 2, "age_years": 0, "age_days": 3,
                     "birth_weight_g": 0.0, "diagnoses": ["P07.300"]})
    assert row["status"] == "SUCCESS"
    assert row["adrg"] in ("PU1", "PV1")


def test_fail_reasons_distinguish_no_mdc_from_no_adrg() -> None:
    rows = group_batch(
        clean_batch([adult("none", ["NOT-A-CODE"]), adult("entered", ["O80.000"], sex=2, age=30)]),
        load_rules("chs_drg_1_1"),
        evidence=True,
    ).to_pylist()
    assert [(r["status"], r["reason"]) for r in rows] == [("FAIL", "NO_MDC"), ("FAIL", "NO_ADRG")]
    assert rows[0]["unknown_codes"] == ["NOT-A-CODE"]
    assert rows[1]["mdcs_entered"] == ["MDCO"]


def test_results_do_not_depend_on_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    claims = [adult(str(i), ["I21.001", "J96.000"] if i % 2 else ["I63.900"]) for i in range(50)]
    rules = load_rules("chs_drg_1_1")
    whole = group_batch(clean_batch(claims), rules, evidence=True)
    monkeypatch.setattr(drg_module, "CHUNK_ROWS", 7)
    chunked = group_batch(clean_batch(claims), rules, evidence=True)
    assert chunked.equals(whole)


def test_schemas_and_empty_batch() -> None:
    rules = load_rules("chs_drg_1_1")
    assert group_batch(clean_batch([]), rules).schema == RESULT_SCHEMA
    assert group_batch(clean_batch([]), rules, evidence=True).schema == EVIDENCE_SCHEMA
    result = group_batch(clean_batch([adult("x", ["I21.001"])]), rules)
    assert result.schema == RESULT_SCHEMA


def test_dictionary_encoded_codes_group_like_plain_strings() -> None:
    claims = [adult("a", ["I21.001", "J96.000"]), adult("b", ["C50.900"], ["85.4500"], sex=2)]
    plain = clean_batch(claims)
    diagnoses = plain.column("diagnoses").combine_chunks()
    encoded = pa.ListArray.from_arrays(diagnoses.offsets, diagnoses.values.dictionary_encode())
    rules = load_rules("chs_drg_1_1")
    as_dictionary = group_batch(plain.set_column(
        plain.schema.get_field_index("diagnoses"), "diagnoses", encoded), rules)
    assert as_dictionary.equals(group_batch(plain, rules))


def test_age_split_bound_compares_whole_years() -> None:
    """'age <= 17' holds at 17 years and 8 months, as the oracle and the coder read it."""
    from types import SimpleNamespace

    from drg_engine.grouping.drg import _bounded_split

    inf = np.inf
    rules = SimpleNamespace(
        drg_codes=["XA11", "XA13"], mdc_codes=["X"],
        split_drg=np.array([[0, 1]]), split_min_severity=np.array([[0, 0]]),
        split_max_age=np.array([[17.0, inf]]),
        split_min_los=np.array([[-inf, -inf]]), split_max_los=np.array([[inf, inf]]),
    )
    chosen = _bounded_split(rules, np.array([0, 0, 0]), np.array([0, 0, 0]),
                            np.array([17.0, 17.7, 18.0]), np.array([3.0, 3.0, 3.0]))
    assert chosen.tolist() == [0, 0, 1]
