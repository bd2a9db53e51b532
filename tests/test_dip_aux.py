"""Auxiliary typing (辅助分型): CCI, disease and tumour severity, age bands, death/transfer, and
the choice of the applied auxiliary type by the highest coefficient."""

from __future__ import annotations

from pathlib import Path

import pytest

from drg_engine.dip.cache import load_dip_rules
from tests.test_dip_support import assign, by_id, claim, group_row, write_rule_set


@pytest.fixture(scope="module")
def national():
    return load_dip_rules("dip3_national_partial")


def test_cci_counts_secondary_components_once_with_the_charlson_hierarchy(national):
    rows = by_id(assign(national, [
        # E11.3 (diabetes with end-organ damage, 2) supersedes E11.9 (without, 1); C78
        # (metastatic, 6) supersedes C34 (any malignancy, 2); I50 heart failure 1: 2 + 6 + 1.
        claim("many", ["J18.900", "E11.900", "E11.300", "C34.900", "C78.000", "I50.000",
                       "I50.900"]),
        claim("principal_only", ["I50.000"]),  # the principal diagnosis is not counted
        claim("one", ["J18.900", "E11.900"]),
    ]))
    assert (rows["many"]["dip_cci"], rows["many"]["dip_cci_level"]) == (9, "CCI:5+")
    assert sorted(rows["many"]["dip_cci_components"]) == [
        "Congestive heart failure", "Diabetes with end-organ damage", "Metastatic solid tumour"]
    assert (rows["principal_only"]["dip_cci"], rows["principal_only"]["dip_cci_level"]) == (
        0, "CCI:0")
    assert (rows["one"]["dip_cci"], rows["one"]["dip_cci_level"]) == (1, "CCI:1-2")


def test_disease_severity_needs_a_listed_code_and_more_than_three_days(national):
    rows = by_id(assign(national, [
        claim("severe", ["K80.200", "A41.900"], los_days=5),  # A41.9 on the severe list
        claim("short", ["K80.200", "A41.900"], los_days=3),
        claim("moderate", ["K80.200", "J18.900"], los_days=8),
        claim("mild", ["K80.200", "I10.x00"], los_days=8),
        claim("death", ["K80.200"], los_days=1, discharge_way="5"),
    ]))
    assert rows["severe"]["dip_severity"] == "SEV:severe"
    assert rows["severe"]["dip_severity_codes"] == ["A41.900"]
    assert rows["short"]["dip_severity"] == "SEV:mild"
    assert rows["moderate"]["dip_severity"] == "SEV:moderate"
    assert rows["mild"]["dip_severity"] == "SEV:mild"
    assert rows["death"]["dip_severity"] == "SEV:death"


def test_tumour_severity_metastasis_and_other_site(national):
    rows = by_id(assign(national, [
        claim("metastasis", ["C34.900", "C78.000"], los_days=6),
        claim("same_site", ["C34.900", "C34.100"], los_days=6),
        claim("chemo_course", ["Z51.100", "C34.900", "C79.500"], ["99.2503"], los_days=6),
        claim("tumour_death", ["C34.900"], discharge_way="5"),
    ]))
    assert rows["metastasis"]["dip_severity"] == "TUM:metastasis"
    # C34.1 is in the principal's own category: not another site, but on the moderate list.
    assert rows["same_site"]["dip_severity"] == "TUM:moderate"
    assert rows["chemo_course"]["dip_severity"] == "TUM:metastasis"
    assert rows["tumour_death"]["dip_severity"] == "TUM:death"


@pytest.mark.parametrize(("fields", "band"), [
    ({"age_years": 0.0, "age_days": 10}, "AGE:0-28d"),
    ({"age_years": 0.0, "age_days": 29}, "AGE:29d-1y"),
    ({"age_years": 3.0}, "AGE:1-6y"),
    ({"age_years": 17.0}, "AGE:7-17y"),
    ({"age_years": 65.0}, "AGE:65+"),
    ({"age_years": 30.0}, None),
])
def test_age_bands(national, fields, band):
    assert assign(national, [claim("c", ["K80.200"], **fields)])[0]["dip_age_band"] == band


def test_discharge_types(national):
    rows = by_id(assign(national, [claim("dead", ["K80.200"], discharge_way="5"),
                                   claim("moved", ["K80.200"], discharge_way="2"),
                                   claim("home", ["K80.200"], discharge_way="1")]))
    assert [rows[c]["dip_discharge"] for c in ("dead", "moved", "home")] == [
        "OUT:death", "OUT:transfer", None]


def test_applied_auxiliary_type_is_the_highest_coefficient(tmp_path: Path):
    coefficients = ("group_code,aux_type,coefficient,cases,note\n"
                    "G,SEV:severe,1.3000,20,\nG,AGE:65+,1.5000,20,\nG,CCI:1-2,0.9000,20,\n")
    cci = ("component,name_zh,weight,icd10_prefixes,supersedes,note\n"
           "Congestive heart failure,充血性心力衰竭,1,I50,,\n")
    severity = "code,level,source\nA41.9,severe,test\n"
    rules = write_rule_set(tmp_path / "aux", [group_row("G", "base", "K80.2")], extra_tables={
        "auxiliary_coefficients": coefficients, "cci_components": cci,
        "severity_codes": severity})
    rows = by_id(assign(rules, [
        claim("all", ["K80.200", "A41.900", "I50.000"], age_years=70.0, los_days=6),
        claim("severe", ["K80.200", "A41.900"], los_days=6),
        claim("cci", ["K80.200", "I50.000"]),
        claim("none", ["K80.200"]),
        claim("other_group", ["K81.000", "A41.900"], los_days=6),
    ]))
    assert (rows["all"]["dip_aux_type"], rows["all"]["dip_aux_coefficient"]) == ("AGE:65+", 1.5)
    assert (rows["severe"]["dip_aux_type"], rows["severe"]["dip_aux_coefficient"]) == (
        "SEV:severe", 1.3)
    assert (rows["cci"]["dip_aux_type"], rows["cci"]["dip_aux_coefficient"]) == ("CCI:1-2", 0.9)
    assert rows["none"]["dip_aux_type"] is None
    assert rows["other_group"]["dip_aux_type"] is None  # comprehensive: no coefficients
