"""Single-disease fixed-price bundles: eligibility criteria, priority, exclusivity, the list."""

from __future__ import annotations

from pathlib import Path

import pytest

from drg_engine.dip.bundle_list import load_bundle_list
from drg_engine.errors import RuleSetError
from drg_engine.grouping.bundles import BUNDLE_REASONS, bundle_batch
from tests.test_dip_support import batch, claim


@pytest.fixture(scope="module")
def pilot():
    return load_bundle_list("major_disease_pilot")


def run(bundles, claims):
    return {row["claim_id"]: row for row in bundle_batch(batch(claims), bundles).to_pylist()}


def test_shipped_list_labels_its_quotas_illustrative(pilot):
    assert pilot.quotas_illustrative
    assert set(pilot.quota_status) == {"illustrative"}
    assert {"ZD-ALL-C", "ZD-APL-C", "ZD-ASD-C", "ZD-VSD-C", "ZD-PDA-C"} <= set(pilot.codes)


def test_childhood_leukaemia_criteria(pilot):
    rows = run(pilot, [
        claim("child", ["C91.000", "D61.900"], ["99.2503"], age_years=5.0),
        claim("adult", ["C91.000"], ["99.2503"], age_years=30.0),
        claim("no_age", ["C91.000"], age_years=None),
        claim("transplant", ["C91.000"], ["41.0500"], age_years=8.0),
        claim("apl", ["C92.400x001"], age_years=14.0),
    ])
    assert (rows["child"]["bundle_status"], rows["child"]["bundle_code"]) == ("BUNDLED",
                                                                              "ZD-ALL-C")
    assert str(rows["child"]["bundle_quota"]) == "80000.00"
    assert (rows["adult"]["bundle_status"], rows["adult"]["bundle_reason"]) == (
        "NOT_ELIGIBLE", "AGE_OUT_OF_RANGE")
    assert rows["no_age"]["bundle_reason"] == "AGE_MISSING"
    assert rows["transplant"]["bundle_reason"] == "EXCLUDED_PROCEDURE"
    assert rows["apl"]["bundle_code"] == "ZD-APL-C"


def test_congenital_heart_defects_need_their_procedure_by_prefix(pilot):
    rows = run(pilot, [
        claim("vsd", ["Q21.000"], ["88.7200", "35.5500x001"], age_years=3.0),
        claim("vsd_no_px", ["Q21.000"], ["88.7200"], age_years=3.0),
        claim("asd_died", ["Q21.100"], ["35.5200x001"], age_years=3.0, discharge_way="5"),
        claim("asd_long", ["Q21.100"], ["35.5200x001"], age_years=3.0, los_days=45),
        claim("pda", ["Q25.000"], ["38.8500x001"], age_years=1.0),
        claim("other", ["K80.100"], ["51.2300"]),
    ])
    assert rows["vsd"]["bundle_code"] == "ZD-VSD-C"
    assert rows["vsd_no_px"]["bundle_reason"] == "REQUIRED_PROCEDURE_MISSING"
    assert rows["asd_died"]["bundle_reason"] == "DIED"
    assert rows["asd_long"]["bundle_reason"] == "LOS_OVER_LIMIT"
    assert rows["pda"]["bundle_code"] == "ZD-PDA-C"
    assert rows["other"]["bundle_status"] is None and rows["other"]["bundle_candidates"] == []


def test_a_claim_fitting_two_bundles_gets_the_higher_priority_one_only(pilot):
    rows = run(pilot, [
        claim("both", ["Q37.000"], ["27.5400", "27.6200"], age_years=2.0),
        claim("palate", ["Q37.000"], ["27.6200"], age_years=2.0),
    ])
    assert rows["both"]["bundle_code"] == "ZD-CLIP"
    assert rows["both"]["bundle_eligible"] == ["ZD-CLIP", "ZD-CPAL"]
    assert rows["palate"]["bundle_code"] == "ZD-CPAL"
    assert rows["palate"]["bundle_candidates"] == ["ZD-CLIP", "ZD-CPAL"]


def test_exclusivity_over_the_sample_claims(pilot, tmp_path: Path):
    import pyarrow.parquet as pq

    from drg_engine.validate import normalize_claims
    from tests.conftest import SAMPLE_DIR

    clean = normalize_claims(pq.read_table(SAMPLE_DIR / "claims.parquet")).clean
    rows = bundle_batch(clean, pilot).to_pylist()
    assert len(rows) == clean.num_rows
    for row in rows:
        if row["bundle_status"] == "BUNDLED":
            assert row["bundle_code"] == row["bundle_eligible"][0]
            assert row["bundle_reason"] is None
        else:
            assert row["bundle_code"] is None and row["bundle_eligible"] == []
        if row["bundle_status"] == "NOT_ELIGIBLE":
            assert row["bundle_reason"] in BUNDLE_REASONS and row["bundle_candidates"]
    assert any(row["bundle_status"] == "BUNDLED" for row in rows)


HEADER = ("bundle_code,priority,name_zh,name_en,principal_dx,required_px,excluded_px,"
          "excluded_dx,min_age_years,max_age_years,max_los_days,exclude_death,exclude_transfer,"
          "quota_yuan,fund_share,quota_status,quota_source,note")


def _list(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text(
        f'id = "{folder.name}"\nscheme = "single_disease"\ntitle = "t"\nregion = "t"\n'
        'version = "1"\neffective_from = 2024-01-01\nsource = "t"\nquotas_illustrative = true\n'
        '[tables]\nbundles = "bundles.csv"\n', encoding="utf-8")
    (folder / "bundles.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return folder


def test_all_of_procedures_and_excluded_diagnoses(tmp_path: Path):
    folder = _list(tmp_path / "combo", [
        "B1,1,combo,,K80.1,51.23+45.23,,K83.0,,,,false,false,9000.00,0.7000,illustrative,,",
    ])
    rows = run(load_bundle_list(folder), [
        claim("both", ["K80.100"], ["51.2300", "45.2302"]),
        claim("one", ["K80.100"], ["51.2300"]),
        claim("complicated", ["K80.100", "K83.000"], ["51.2300", "45.2302"]),
    ])
    assert rows["both"]["bundle_code"] == "B1"
    assert rows["one"]["bundle_reason"] == "REQUIRED_PROCEDURE_MISSING"
    assert rows["complicated"]["bundle_reason"] == "EXCLUDED_DIAGNOSIS"


@pytest.mark.parametrize(("rows", "message"), [
    (["B1,1,a,,K80,,,,,,,false,false,1.00,0.5,illustrative,,",
      "B2,1,b,,K81,,,,,,,false,false,1.00,0.5,illustrative,,"], "line 3, field 'priority'"),
    (["B1,1,a,,K80,,,,,,,false,false,1.00,0.5,official,,"], "quota_source"),
    (["B1,1,a,,*,,,,,,,false,false,1.00,0.5,illustrative,,"], "field 'principal_dx'"),
    (["B1,1,a,,K80,,,,,,,false,false,1.00,1.5,illustrative,,"], "field 'fund_share'"),
])
def test_list_errors_name_line_and_field(tmp_path: Path, rows, message):
    folder = _list(tmp_path / "bad", rows)
    with pytest.raises(RuleSetError, match=message):
        load_bundle_list(folder)
