"""Known codes of a DIP rule set: facts kept per code across batches, candidates per code and
claim kind, and results that never depend on what the rule set has met before."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from drg_engine.dip.cache import load_dip_rules
from drg_engine.dip.code_facts import CLAIM_KINDS, claim_kind, kind_allows, known_codes
from drg_engine.grouping.dip import dip_batch
from drg_engine.validate import normalize_claims
from tests.conftest import SAMPLE_DIR
from tests.test_dip_support import batch, claim, compile_set, group_row, write_rule_set


@pytest.fixture(scope="module")
def sample_clean() -> pa.Table:
    return normalize_claims(pq.read_table(SAMPLE_DIR / "claims.parquet")).clean


def fresh_national():
    """A rule-set object of its own (known codes belong to the object): it starts cold."""
    return copy.copy(load_dip_rules("dip3_national_partial"))


def test_codes_are_learnt_once_and_keep_their_ids(sample_clean):
    rules = fresh_national()
    known = known_codes(rules)
    assert known.dx.codes.to_pylist() == [""]  # only the empty code before any batch
    first, second = sample_clean.slice(0, 300), sample_clean.slice(300)
    dip_batch(first, rules)
    learnt = known.dx.codes
    assert len(learnt) > 100
    dip_batch(first, rules)
    assert known.dx.codes.equals(learnt)  # nothing new the second time
    dip_batch(second, rules)
    assert len(known.dx.codes) > len(learnt)
    assert known.dx.codes.slice(0, len(learnt)).equals(learnt)  # ids never change
    assert known_codes(rules) is known


def test_results_do_not_depend_on_the_codes_met_before(sample_clean):
    first, second = sample_clean.slice(0, 500), sample_clean.slice(500)
    cold = dip_batch(second, fresh_national(), evidence=True)
    warm_rules = fresh_national()
    dip_batch(first, warm_rules)
    assert dip_batch(second, warm_rules, evidence=True).equals(cold)
    whole = dip_batch(sample_clean, fresh_national(), evidence=True)
    assert whole.slice(500).equals(cold)


def test_two_threads_can_share_a_rule_set(sample_clean):
    slices = [sample_clean.slice(start, 250) for start in range(0, sample_clean.num_rows, 250)]
    expected = [dip_batch(part, fresh_national(), evidence=True) for part in slices]
    rules = fresh_national()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda part: dip_batch(part, rules, evidence=True), slices))
    assert all(got.equals(want) for got, want in zip(results, expected, strict=True))


def test_dictionary_encoded_lists_with_codes_never_seen(sample_clean):
    plain = dip_batch(sample_clean, fresh_national(), evidence=True)
    dictionary_list = pa.list_(pa.dictionary(pa.int32(), pa.string()))
    encoded = sample_clean
    for name in ("diagnoses", "procedures"):
        column = encoded.column(name).combine_chunks().cast(dictionary_list)
        encoded = encoded.set_column(encoded.schema.get_field_index(name), name, column)
    assert dip_batch(encoded, fresh_national(), evidence=True).equals(plain)


def _comprehensive_set(folder: Path, options: str = "") -> Path:
    return write_rule_set(folder, [
        group_row("K80.1:BS", "base", "K80.1"),
        group_row("K80.1:51.2300", "base", "K80.1", "51.2300"),
        group_row("ZH-K80-BS", "comprehensive", "K80", treatment="conservative"),
        group_row("ZH-K80-ZD", "comprehensive", "K80", treatment="diagnostic"),
        group_row("ZH-K80-SS", "comprehensive", "K80", treatment="surgical"),
    ], options='comprehensive = "listed"\n' + options)


def test_a_claim_kind_allows_its_comprehensive_group_and_medical_groups_if_conservative(
        tmp_path: Path):
    rules = compile_set(_comprehensive_set(tmp_path / "kinds"))
    allows = kind_allows(rules)
    assert allows.shape == (CLAIM_KINDS, rules.n_groups)
    codes = rules.group_codes
    conservative = claim_kind(np.array([0]), np.array([True]))[0]
    surgical = claim_kind(np.array([3]), np.array([False]))[0]
    assert [codes[g] for g in np.flatnonzero(allows[conservative])] == [
        "K80.1:BS", "K80.1:51.2300", "ZH-K80-BS"]
    assert [codes[g] for g in np.flatnonzero(allows[surgical])] == [
        "K80.1:51.2300", "ZH-K80-SS"]
    fallback = compile_set(_comprehensive_set(tmp_path / "fallback",
                                              "conservative_fallback = true\n"))
    assert kind_allows(fallback)[surgical, rules.group_codes.index("K80.1:BS")]


@pytest.mark.parametrize("procedures, expected", [
    ([], "K80.1:BS"),
    (["51.2300"], "K80.1:51.2300"),
    (["51.2200"], "ZH-K80-SS"),  # surgery that no core row lists
    (["45.2302"], "ZH-K80-ZD"),
])
def test_only_contenders_are_ranked_without_evidence(tmp_path: Path, procedures, expected):
    rules = compile_set(_comprehensive_set(tmp_path / "contenders"))
    claims = batch([claim("c", ["K80.100"], procedures)])
    plain = dip_batch(claims, rules)
    full = dip_batch(claims, rules, evidence=True)
    assert plain.column("dip_group").to_pylist() == [expected]
    assert plain.equals(full.select(plain.column_names))
    if procedures:
        return
    # A conservative claim: its medical core group always holds, so the comprehensive group
    # ranked after it can never win and is no contender; the surgical core group ties with it
    # on stage and code length and stays (its procedures decide).
    facts = known_codes(rules).dx
    key = facts.codes.to_pylist().index("K80.100") * CLAIM_KINDS + claim_kind(
        np.array([0]), np.array([True]))[0]

    def listed(table) -> list[str]:
        groups = table.group[table.start[key]:table.start[key + 1]]
        return sorted(rules.group_codes[g] for g in groups)

    assert listed(facts.candidates) == ["K80.1:51.2300", "K80.1:BS", "ZH-K80-BS"]
    assert listed(facts.contenders) == ["K80.1:51.2300", "K80.1:BS"]
