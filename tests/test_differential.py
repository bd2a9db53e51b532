"""The vectorized grouper against the literal per-claim oracle, on random and adversarial claims.

The oracle (``drg_engine.grouping.oracle``) follows the reference README step by step, one claim
at a time; the grouper evaluates bitsets over whole batches. Any disagreement is a bug in one of
them. Code pools are drawn from the rule tables so random claims hit real lists, overlaps,
exclusions, newborn bands and trauma regions, not just unknown codes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drg_engine.grouping.drg import group_batch
from drg_engine.grouping.oracle import Oracle, load_oracle
from drg_engine.rules import CompiledRules, load_rules
from drg_engine.rules.manifest import locate_rule_set
from tests.conftest import make_clean_batch


def _pools(rules: CompiledRules) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(7)
    dx = rules.dx_universe
    px = rules.px_universe
    by_mdc = [dx[i - 1] for i in np.flatnonzero(rules.dx_mdc_mask)]
    trauma = [dx[i - 1] for i in np.flatnonzero(rules.dx_trauma_bit)]
    cc = [dx[i - 1] for i in np.flatnonzero(rules.dx_cc_level)]
    any_dx = [dx[i - 1] for i in np.flatnonzero(rules.any_dx_bits.any(axis=1))]
    secondary = [dx[i - 1] for i in np.flatnonzero(rules.sdx_bits.any(axis=1))]
    vor = [px[i - 1] for i in np.flatnonzero(rules.px_valid_or)]
    px_listed = [px[i - 1] for i in np.flatnonzero(rules.px_bits.any(axis=1))]
    px2 = [px[i - 1] for i in np.flatnonzero(rules.any_px2_bits.any(axis=1))]
    labels = [px[i - 1] for c in rules.label_combos for i in np.flatnonzero(c.px_label_bits)]
    dx_pool = sorted(set(
        list(rng.choice(by_mdc, 400)) + list(rng.choice(trauma, 150)) + list(rng.choice(cc, 300))
        + list(rng.choice(any_dx, min(len(any_dx), 300))) + secondary
        + ["UNKNOWN.1", "k22.301"]
    ))
    px_pool = sorted(set(
        list(rng.choice(vor, 200)) + list(rng.choice(px_listed, 300)) + px2 + labels + ["99.9999"]
    ))
    return dx_pool, px_pool


def claims_for(rules: CompiledRules) -> st.SearchStrategy[list[dict[str, Any]]]:
    dx_pool, px_pool = _pools(rules)
    return st.lists(
        st.fixed_dictionaries({
            "sex": st.sampled_from([1, 2, 1, 2, 0, None]),
            "age_years": st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 5.0, 35.0, 70.0])),
            "age_days": st.one_of(st.none(), st.integers(0, 60)),
            "birth_weight_g": st.one_of(st.none(), st.sampled_from(
                [0.0, 900.0, 1499.0, 1500.0, 1999.9, 2000.0, 2499.0, 2500.0, 4000.0])),
            "los_days": st.one_of(
                st.none(), st.sampled_from([-1, 0, 1, 2, 3, 5, 6, 7, 13, 14, 40])),
            "diagnoses": st.lists(st.sampled_from(dx_pool), min_size=0, max_size=6),
            "procedures": st.lists(st.sampled_from(px_pool), min_size=0, max_size=4),
        }),
        min_size=1,
        max_size=40,
    )


RULES = load_rules("chs_drg_1_1")
claims_strategy = claims_for(RULES)
EDITIONS = ("chs_drg_1_1", "chs_drg_1_1_qy", "chs_drg_1_0", "beijing_2022")
STRATEGIES = {edition: claims_for(load_rules(edition)) for edition in EDITIONS}


@cache
def _oracle(edition: str) -> Oracle:
    return load_oracle(locate_rule_set(edition))


def _compare(claims: list[dict[str, Any]], rules: CompiledRules, oracle: Oracle) -> None:
    for i, claim in enumerate(claims):
        claim["claim_id"] = str(i)
    results = group_batch(make_clean_batch(claims), rules).to_pylist()
    for claim, got in zip(claims, results, strict=True):
        want = oracle.group(claim)
        severity = "" if got["severity"] in (None, "none") else got["severity"]
        assert (got["status"], got["mdc"], got["adrg"], got["drg"], severity) == (
            want.status, want.mdc, want.adrg, want.drg, want.severity
        ), f"claim {claim}"


@pytest.mark.parametrize("edition", EDITIONS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_grouper_agrees_with_oracle(edition: str, data: st.DataObject) -> None:
    claims = data.draw(STRATEGIES[edition])
    _compare(claims, load_rules(edition), _oracle(edition))
