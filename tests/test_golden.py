"""Golden cases: hand-constructed claims with expected groups, each labelled with its rule.

Every row of ``sample_claims/golden.csv`` runs through the whole pipeline (CSV parsing,
normalisation, grouping) and must give the expected status, MDC, ADRG, DRG and severity. The
test id is ``<rule>-<claim_id>``, so a failure names the rule it demonstrates.
"""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from drg_engine.io import read_claims
from drg_engine.pipeline import group_table
from tests.conftest import SAMPLE_DIR

GOLDEN = SAMPLE_DIR / "golden.csv"
with GOLDEN.open(encoding="utf-8", newline="") as handle:
    CASES = list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    run = group_table(read_claims(GOLDEN), "chs_drg_1_1")
    assert run.rejects.num_rows == 0, run.rejects.to_pylist()
    return {row["claim_id"]: row for row in run.results.to_pylist()}


def test_golden_file_is_large_and_covers_every_condition_kind() -> None:
    assert len(CASES) >= 150
    rules = Counter(case["rule"] for case in CASES)
    kinds = [
        "pdx", "main_px", "pdx_and_main_px", "any_px_and_any_px2", "pdx_and_any_px_and_any_px2",
        "pdx_and_px_label_combo", "main_px_and_newborn", "pdx_and_newborn",
        "any_dx_and_birth_weight_newborn", "always", "main_px_in_valid_or",
        "any_dx_and_main_px_in_valid_or", "no_px_in_valid_or",
    ]
    for kind in kinds:
        assert any(kind in rule for rule in rules), f"no golden case for condition kind {kind}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c['rule']}-{c['claim_id']}" for c in CASES])
def test_golden_case(case: dict[str, str], results: dict[str, dict]) -> None:
    got = results[case["claim_id"]]
    severity = "" if got["severity"] in (None, "none") else got["severity"]
    assert (got["status"], got["mdc"], got["adrg"], got["drg"], severity) == (
        case["expected_status"], case["expected_mdc"], case["expected_adrg"],
        case["expected_drg"], case["expected_severity"],
    ), case["note"]
