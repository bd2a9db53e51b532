"""DIP assignment: the national matching order, partial matches, tie-breaks, fallbacks.

Cases use real codes from the DIP 3.0 tables (shipped as ``dip3_national_partial``) or small
hand-built rule sets where a regional option is the point.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from drg_engine.dip.cache import load_dip_rules
from drg_engine.grouping import dip as dip_module
from drg_engine.grouping.dip import dip_batch
from drg_engine.validate import normalize_claims
from tests.conftest import SAMPLE_DIR
from tests.test_dip_support import assign, by_id, claim, group_row, write_rule_set

NATIONAL = "dip3_national_partial"


@pytest.fixture(scope="module")
def national():
    return load_dip_rules(NATIONAL)


def one(rules, *args, **kwargs):
    return assign(rules, [claim("c", *args, **kwargs)])[0]


# --- pre-groups (sheet 一) ---------------------------------------------------------------------


def test_transplant_pregroup_takes_any_diagnosis(national):
    row = one(national, ["K80.100x001"], ["37.5100"])
    assert (row["dip_group"], row["dip_stage"], row["dip_matched_dx"]) == ("XQ0002", "pregroup",
                                                                           "*")


def test_transplant_must_be_the_principal_procedure(national):
    row = one(national, ["I42.000"], ["88.7200", "37.5100"])
    assert row["dip_stage"] != "pregroup"


def test_ecmo_counts_anywhere_on_the_claim(national):
    row = one(national, ["J18.900"], ["96.0400", "39.6500"])
    assert row["dip_group"] == "XQ0011"
    assert row["dip_matched_px"] == ["39.6500"]


def test_ventilation_with_crrt_before_ventilation_alone(national):
    both = one(national, ["J96.000"], ["39.9500x007", "96.7201"])
    alone = one(national, ["J96.000"], ["96.7201"])
    assert both["dip_group"] == "XQ0013"
    assert alone["dip_group"] == "XQ0014"
    assert both["dip_candidates"][:2] == ["XQ0013", "XQ0014"]
    assert both["dip_decided_by"] == "catalogue_order"  # workbook order among pre-groups


@pytest.mark.parametrize(("weight", "expected"), [
    (800.0, "XQ0016"), (999.0, "XQ0016"), (1000.0, "XQ0017"), (1499.0, "XQ0017"),
    (1750.0, "XQ0018"), (2499.0, "XQ0019"),
])
def test_low_birth_weight_bands_with_p07_in_any_position(national, weight, expected):
    row = one(national, ["P22.000", "P07.100"], age_years=0.0, age_days=3,
              birth_weight_g=weight)
    assert row["dip_group"] == expected


@pytest.mark.parametrize("fields", [
    {"age_years": 0.0, "age_days": 3, "birth_weight_g": 2600.0},  # not low weight
    {"age_years": 0.0, "age_days": 40, "birth_weight_g": 1200.0},  # not a newborn (< 29 days)
    {"age_years": 0.0, "age_days": 3, "birth_weight_g": None},  # no weight recorded
])
def test_low_birth_weight_needs_newborn_age_and_band(national, fields):
    assert one(national, ["P07.100"], **fields)["dip_stage"] != "pregroup"


# --- core groups: longest code first, partial match, tie-breaks -------------------------------


def test_longest_code_first_and_conservative_groups(national):
    # Basic-level rows: K35 + 47.0100 (3-character) and K35.8 conservative (4-character).
    operated = one(national, ["K35.800x001"], ["47.0100"])
    medical = one(national, ["K35.800x001"])
    assert operated["dip_group"] == "JCB059"
    assert medical["dip_group"] == "JCB061"
    assert medical["dip_matched_dx"] == "K35.8"


def test_longest_code_decides_between_nested_specs(tmp_path: Path):
    rules = write_rule_set(tmp_path / "nested", [
        group_row("G3", "base", "K80", "51.2300"),
        group_row("G4", "base", "K80.1", "51.2300"),
    ])
    rows = by_id(assign(rules, [claim("a", ["K80.100"], ["51.2300"]),
                                claim("b", ["K80.200"], ["51.2300"])]))
    assert rows["a"]["dip_group"] == "G4"
    assert rows["a"]["dip_decided_by"] == "longest_code"
    assert rows["a"]["dip_candidates"] == ["G4", "G3"]
    assert rows["b"]["dip_group"] == "G3"


def test_a_group_reached_through_two_of_its_prefixes_is_one_candidate(tmp_path: Path):
    rules = write_rule_set(tmp_path / "twice", [
        group_row("BOTH", "base", "K35|K35.8", "47.0100"),
        group_row("LONG", "base", "K35.8", "47.0100"),
    ])
    row = one(rules, ["K35.800"], ["47.0100"])
    # BOTH matched on K35.8 (its longest prefix) ties LONG on every key: catalogue order.
    assert row["dip_candidates"] == ["BOTH", "LONG"]
    assert (row["dip_group"], row["dip_matched_dx"], row["dip_decided_by"]) == (
        "BOTH", "K35.8", "catalogue_order")


@pytest.mark.parametrize(("procedures", "expected", "decided_by"), [
    (["39.9500", "39.2700x001"], "BX1265", "related_count"),  # related AV fistula matches
    (["39.9500", "39.9600x003"], "BX1267", "related_count"),  # related haemoperfusion
    (["39.9500"], "BX1269", "only_candidate"),  # no related procedure: the dx + px group
    # two related groups match one related procedure each: the local rule decides
    (["39.9500", "39.9600x003", "39.4200x001"], "BX1266", "catalogue_order"),
])
def test_partial_match_rule_on_related_procedures(national, procedures, expected, decided_by):
    row = one(national, ["N18.500"], procedures)
    assert row["dip_group"] == expected
    assert row["dip_decided_by"] == decided_by


def test_related_all_option_requires_every_related_procedure(tmp_path: Path):
    rows = [group_row("R2", "base", "N18", "39.9500", related="39.2700x001+39.9600x003",
                      treatment="therapeutic"),
            group_row("R0", "base", "N18", "39.9500", treatment="therapeutic")]
    partial = write_rule_set(tmp_path / "partial", rows)
    strict = write_rule_set(tmp_path / "strict", rows, options='related_match = "all"')
    one_related = [claim("c", ["N18.500"], ["39.9500", "39.2700x001"])]
    assert assign(partial, one_related)[0]["dip_group"] == "R2"
    assert assign(strict, one_related)[0]["dip_group"] == "R0"
    both = [claim("c", ["N18.500"], ["39.9500", "39.9600x003", "39.2700x001"])]
    assert assign(strict, both)[0]["dip_group"] == "R2"


TIE_ROWS = [
    group_row("SURG", "base", "K80.1", "51.2300", position="any", treatment="surgical",
              score="1500", cost="20000.00"),
    group_row("DIAG", "base", "K80.1", "45.2302", position="any", treatment="diagnostic",
              score="800", cost="9000.00"),
]


@pytest.mark.parametrize(("strategy", "expected"), [
    ("treatment_rank", "SURG"),
    ("principal_px", "DIAG"),  # the claim's principal procedure is the colonoscopy
    ("closest_cost", "DIAG"),  # 9,000 is closer to the claim's 10,000 than 20,000
    ("highest_score", "SURG"),
])
def test_regional_tie_break_strategies(tmp_path: Path, strategy, expected):
    rules = write_rule_set(tmp_path / strategy, TIE_ROWS, options=f'tie_break = ["{strategy}"]')
    row = one(rules, ["K80.100"], ["45.2302", "51.2300"], total_cost=Decimal("10000.00"))
    assert row["dip_group"] == expected
    assert row["dip_decided_by"] == strategy
    assert sorted(row["dip_candidates"]) == ["DIAG", "SURG"]


def test_exact_set_and_required_count_prefer_the_combination(tmp_path: Path):
    rows = [*TIE_ROWS, group_row("BOTH", "base", "K80.1", "45.2302+51.2300", position="any")]
    exact = write_rule_set(tmp_path / "exact", rows, options='tie_break = ["exact_set"]')
    count = write_rule_set(tmp_path / "count", rows, options='tie_break = ["required_count"]')
    procedures = ["45.2302", "51.2300"]
    assert one(exact, ["K80.100"], procedures)["dip_group"] == "BOTH"
    assert one(count, ["K80.100"], procedures)["dip_group"] == "BOTH"
    # With a third procedure the combination is no longer the exact set: order decides.
    assert one(exact, ["K80.100"], [*procedures, "99.2503"])["dip_decided_by"] == \
        "catalogue_order"


def test_principal_position_is_the_national_default(tmp_path: Path):
    rows = [group_row("SURG", "base", "K80.1", "51.2300")]
    principal = write_rule_set(tmp_path / "principal", rows)
    anywhere = write_rule_set(tmp_path / "anywhere", rows, options='core_px_position = "any"')
    procedures = ["45.2302", "51.2300"]
    assert one(principal, ["K80.100"], procedures)["dip_stage"] == "comprehensive"
    assert one(anywhere, ["K80.100"], procedures)["dip_group"] == "SURG"


# --- assisted subdivision (sheet 三) ------------------------------------------------------------


@pytest.mark.parametrize(("diagnoses", "procedures", "expected"), [
    (["Z51.100", "C34.900"], ["99.2503"], "FZ1770"),
    (["Z51.100", "C34.900"], ["99.2503", "99.2800x005"], "FZ1771"),  # more + procedures
    (["Z51.100", "C34.900"], ["99.2800x006", "99.2503", "99.2800x005"], "FZ1773"),
    (["Z51.100", "C78.000"], ["99.2503"], "FZ1774"),  # secondary C76-C80
    (["Z51.100", "C91.000"], ["99.2503"], "FZ1790"),  # leukaemia C91-C95
    (["T24.300", "T31.300"], [], "FZ1764"),  # third-degree burn, 30-39 % area, no procedure
    (["T24.300", "T31.300"], ["86.6903"], "FZ1766"),  # ... with a skin graft
])
def test_tumour_and_burn_subdivision(national, diagnoses, procedures, expected):
    row = one(national, diagnoses, procedures)
    assert (row["dip_group"], row["dip_stage"]) == (expected, "assisted")


def test_tumour_course_needs_a_malignant_secondary_diagnosis(national):
    assert one(national, ["Z51.100", "I10.x00"], ["99.2503"])["dip_stage"] == "comprehensive"


# --- basic-level, comprehensive, ungrouped -----------------------------------------------------


def test_basic_level_flag_on_core_group_and_basic_stage(national):
    core = one(national, ["B02.900"])
    basic = one(national, ["I10.x00"])
    assert (core["dip_group"], core["dip_stage"], core["dip_basic_level"]) == (
        "JC1920", "base", True)
    assert (basic["dip_group"], basic["dip_stage"], basic["dip_basic_level"]) == (
        "JCB019", "basic", True)


@pytest.mark.parametrize(("procedures", "expected", "treatment"), [
    ([], "ZH-K80-BS", "conservative"),
    (["45.2302"], "ZH-K80-ZD", "diagnostic"),
    (["99.2503"], "ZH-K80-ZL", "therapeutic"),
    (["51.2300", "45.2302"], "ZH-K80-SS", "surgical"),
])
def test_generated_comprehensive_group_by_category_and_treatment(national, procedures, expected,
                                                                 treatment):
    row = one(national, ["K80.200"], procedures)  # K80.1 has a basic-level group; K80.2 none
    assert (row["dip_group"], row["dip_stage"], row["dip_treatment"]) == (
        expected, "comprehensive", treatment)
    assert row["dip_decided_by"] == "comprehensive_fallback"


def test_medical_group_needs_a_conservative_claim_unless_fallback(tmp_path: Path):
    rows = [group_row("J189", "base", "J18.9"), group_row("ZH-J18-ZD", "comprehensive", "J18",
                                                          treatment="diagnostic")]
    national_rule = write_rule_set(tmp_path / "strict", rows, options='comprehensive = "listed"')
    fallback = write_rule_set(tmp_path / "fallback", rows,
                              options='comprehensive = "listed"\nconservative_fallback = true')
    assert one(national_rule, ["J18.900"], ["45.2302"])["dip_group"] == "ZH-J18-ZD"
    assert one(fallback, ["J18.900"], ["45.2302"])["dip_group"] == "J189"
    assert one(national_rule, ["J18.900"])["dip_group"] == "J189"


def test_listed_comprehensive_falls_back_to_chapter_then_ungrouped_or_blank(tmp_path: Path):
    rows = [group_row("ZH-K80-SS", "comprehensive", "K80", treatment="surgical"),
            group_row("ZH-K-SS", "comprehensive", "K", treatment="surgical")]
    listed = write_rule_set(tmp_path / "listed", rows, options='comprehensive = "listed"')
    blank = write_rule_set(tmp_path / "blank", rows,
                           options='comprehensive = "listed"\nblank_group = "KBBZ"')
    claims = [claim("cat", ["K80.100"], ["51.2300"]), claim("chapter", ["K81.000"], ["51.2300"]),
              claim("none", ["K81.000"], ["45.2302"])]
    rows_listed = by_id(assign(listed, claims))
    assert rows_listed["cat"]["dip_group"] == "ZH-K80-SS"
    assert rows_listed["chapter"]["dip_group"] == "ZH-K-SS"
    assert (rows_listed["none"]["dip_status"], rows_listed["none"]["dip_reason"],
            rows_listed["none"]["dip_group"]) == ("UNGROUPED", "NO_GROUP", None)
    rows_blank = by_id(assign(blank, claims))
    assert (rows_blank["none"]["dip_status"], rows_blank["none"]["dip_group"]) == ("BLANK",
                                                                                   "KBBZ")


def test_exclusion_lists(tmp_path: Path):
    rules = write_rule_set(tmp_path / "excl", [group_row("G1", "base", "K80.1", "51.2300"),
                                               group_row("G0", "base", "K80.1")],
                           extra_tables={
                               "excluded_procedures": "code,name_zh\n88.7200,心脏诊断性超声\n",
                               "excluded_principal_dx": "code,name_zh\nR69,病因不明\n"})
    rows = by_id(assign(rules, [
        claim("dropped", ["K80.100"], ["88.7200", "51.2300"]),
        claim("only_excluded", ["K80.100"], ["88.7200"]),
        claim("excluded_pdx", ["R69.x00"], ["51.2300"]),
    ]))
    assert rows["dropped"]["dip_group"] == "G1"
    assert rows["dropped"]["dip_principal_px"] == "51.2300"
    assert rows["dropped"]["dip_excluded_px"] == ["88.7200"]
    assert rows["only_excluded"]["dip_group"] == "G0"
    assert (rows["excluded_pdx"]["dip_status"], rows["excluded_pdx"]["dip_reason"]) == (
        "UNGROUPED", "PDX_EXCLUDED")


def test_ungrouped_reasons(national):
    rows = by_id(assign(national, [claim("none", []), claim("bad", ["XYZ"], ["51.2300"])]))
    assert rows["none"]["dip_reason"] == "NO_DIAGNOSIS"
    assert rows["bad"]["dip_reason"] == "PDX_INVALID"
    assert {rows["none"]["dip_status"], rows["bad"]["dip_status"]} == {"UNGROUPED"}


def test_dagger_asterisk_and_case_are_normalised(national):
    assert one(national, ["m51.100+g55.1*"])["dip_group"] == "JCB099"


# --- the sample claims ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_clean():
    return normalize_claims(pq.read_table(SAMPLE_DIR / "claims.parquet")).clean


def test_every_sample_claim_gets_a_group_or_an_explained_status(national, sample_clean):
    results = dip_batch(sample_clean, national).to_pylist()
    assert len(results) == sample_clean.num_rows
    for row in results:
        if row["dip_status"] == "GROUPED":
            assert row["dip_group"] and row["dip_stage"] and row["dip_reason"] is None
        else:
            assert row["dip_reason"] in dip_module.REASONS
    grouped = sum(row["dip_status"] == "GROUPED" for row in results)
    assert grouped / len(results) > 0.99


def test_results_do_not_depend_on_chunking_order_or_evidence(national, sample_clean,
                                                             monkeypatch):
    whole = dip_batch(sample_clean, national, evidence=True)
    # Without evidence the ranking prunes by stage and code length first: same winners.
    plain = dip_batch(sample_clean, national)
    assert plain.equals(whole.select(plain.column_names))
    monkeypatch.setattr(dip_module, "CHUNK_ROWS", 997)
    chunked = dip_batch(sample_clean, national, evidence=True)
    assert chunked.equals(whole)
    reversed_rows = sample_clean.take(list(range(sample_clean.num_rows - 1, -1, -1)))
    again = dip_batch(reversed_rows, national, evidence=True)
    assert again.take(list(range(again.num_rows - 1, -1, -1))).equals(whole)


def test_dictionary_encoded_code_lists_give_the_same_result(national, sample_clean):
    import pyarrow as pa

    dictionary_list = pa.list_(pa.dictionary(pa.int32(), pa.string()))
    columns = {}
    for name in ("diagnoses", "procedures"):
        # Chunks of 1,000 rows, each with its own dictionary (as Parquet row groups give).
        chunks = [sample_clean.column(name).combine_chunks().slice(start, 1000)
                  for start in range(0, sample_clean.num_rows, 1000)]
        columns[name] = pa.chunked_array([chunk.cast(dictionary_list) for chunk in chunks])
    encoded = sample_clean
    for name, column in columns.items():
        encoded = encoded.set_column(encoded.schema.get_field_index(name), name, column)
    assert encoded.column("diagnoses").num_chunks > 1
    assert dip_batch(encoded, national, evidence=True).equals(
        dip_batch(sample_clean, national, evidence=True))
