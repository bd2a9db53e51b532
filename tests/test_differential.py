"""The vectorized grouper against the literal per-claim oracle, on random and adversarial claims.

The oracle (``drg_engine.grouping.oracle``) follows the reference README step by step, one claim
at a time; the grouper evaluates bitsets over whole batches. Any disagreement is a bug in one of
them. Code pools are drawn from the rule tables so random claims hit real lists, overlaps,
exclusions, newborn bands and trauma regions, not just unknown codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drg_engine.grouping.drg import group_batch
from drg_engine.grouping.oracle import Oracle
from drg_engine.rules import CompiledRules, load_rules
from tests.conftest import make_clean_batch


def _pools(rules: CompiledRules) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(7)
    dx = rules.dx_universe
    px = rules.px_universe
    by_mdc = [dx[i - 1] for i in np.flatnonzero(rules.dx_mdc_mask)]
    trauma = [dx[i - 1] for i in np.flatnonzero(rules.dx_trauma_bit)]
    cc = [dx[i - 1] for i in np.flatnonzero(rules.dx_cc_level)]
    newborn = [dx[i - 1] for i in np.flatnonzero(rules.any_dx_bits.any(axis=1))]
    vor = [px[i - 1] for i in np.flatnonzero(rules.px_valid_or)]
    px_listed = [px[i - 1] for i in np.flatnonzero(rules.px_bits.any(axis=1))]
    px2 = [px[i - 1] for i in np.flatnonzero(rules.any_px2_bits.any(axis=1))]
    labels = [px[i - 1] for c in rules.label_combos for i in np.flatnonzero(c.px_label_bits)]
    dx_pool = sorted(set(
        list(rng.choice(by_mdc, 400)) + list(rng.choice(trauma, 150)) + list(rng.choice(cc, 300))
        + newborn + ["UNKNOWN.1", "k22.301"]
    ))
    px_pool = sorted(set(
        list(rng.choice(vor, 200)) + list(rng.choice(px_listed, 300)) + px2 + labels + ["99.9999"]
    ))
    return dx_pool, px_pool


RULES = load_rules("chs_drg_1_1")
DX_POOL, PX_POOL = _pools(RULES)

claims_strategy = st.lists(
    st.fixed_dictionaries({
        "sex": st.sampled_from([1, 2, 1, 2, 0, None]),
        "age_years": st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 35.0, 70.0])),
        "age_days": st.one_of(st.none(), st.integers(0, 60)),
        "birth_weight_g": st.one_of(st.none(), st.sampled_from(
            [0.0, 900.0, 1499.0, 1500.0, 1999.9, 2000.0, 2499.0, 2500.0, 4000.0])),
        "diagnoses": st.lists(st.sampled_from(DX_POOL), min_size=0, max_size=6),
        "procedures": st.lists(st.sampled_from(PX_POOL), min_size=0, max_size=4),
    }),
    min_size=1,
    max_size=40,
)


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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=claims_strategy)
def test_grouper_agrees_with_oracle(claims: list[dict[str, Any]], oracle: Oracle) -> None:
    _compare(claims, RULES, oracle)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=claims_strategy)
def test_grouper_agrees_with_oracle_with_qy_on(
    claims: list[dict[str, Any]], qy_oracle: Oracle
) -> None:
    _compare(claims, load_rules("chs_drg_1_1_qy"), qy_oracle)
