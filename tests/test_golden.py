"""Golden cases: hand-constructed claims with expected groups, each labelled with its rule.

Every row of ``sample_claims/golden*.csv`` runs through the whole pipeline (CSV parsing,
normalisation, grouping) under the rule set the file is for, and must give the expected status,
MDC, ADRG, DRG and severity (and the validation reason of CHECK_FAILED rows). The test id is
``<rule set>-<rule>-<claim_id>``, so a failure names the rule it demonstrates.
"""

from __future__ import annotations

import csv
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from drg_engine.io import read_claims
from drg_engine.pipeline import group_table
from drg_engine.rules.manifest import locate_rule_set
from tests.conftest import SAMPLE_DIR

GOLDEN_FILES = {
    "chs_drg_1_1": SAMPLE_DIR / "golden.csv",
    "chs_drg_1_0": SAMPLE_DIR / "golden_chs_drg_1_0.csv",
    "beijing_2022": SAMPLE_DIR / "golden_beijing_2022.csv",
}


def _cases(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


CASES = [
    (rule_set, case) for rule_set, path in GOLDEN_FILES.items() for case in _cases(path)
]


@cache
def _results(rule_set: str) -> dict[str, dict]:
    run = group_table(read_claims(GOLDEN_FILES[rule_set]), rule_set)
    assert run.rejects.num_rows == 0, run.rejects.to_pylist()
    return {row["claim_id"]: row for row in run.results.to_pylist()}


@pytest.mark.parametrize("rule_set", list(GOLDEN_FILES))
def test_golden_file_covers_every_condition_kind_of_its_rule_set(rule_set: str) -> None:
    cases = [case for name, case in CASES if name == rule_set]
    assert len(cases) >= (150 if rule_set == "chs_drg_1_1" else 40)
    adrg_table = locate_rule_set(rule_set) / "adrg.csv"
    with adrg_table.open(encoding="utf-8", newline="") as handle:
        kinds = Counter(row["cond_kind"] for row in csv.DictReader(handle))
    labels = {case["rule"] for case in cases}
    missing = [
        kind for kind in kinds
        if not any(label == f"cond-{kind}" or label.startswith(f"cond-{kind}-")
                   for label in labels)
    ]
    assert not missing, f"no golden case labelled for condition kinds {missing}"


@pytest.mark.parametrize(
    ("rule_set", "case"), CASES, ids=[f"{rs}-{c['rule']}-{c['claim_id']}" for rs, c in CASES]
)
def test_golden_case(rule_set: str, case: dict[str, str]) -> None:
    got = _results(rule_set)[case["claim_id"]]
    severity = "" if got["severity"] in (None, "none") else got["severity"]
    assert (got["status"], got["mdc"], got["adrg"], got["drg"], severity) == (
        case["expected_status"], case["expected_mdc"], case["expected_adrg"],
        case["expected_drg"], case["expected_severity"],
    ), case["note"]
    if case["expected_status"] == "CHECK_FAILED" and case.get("expected_reason"):
        assert got["reason"] == case["expected_reason"], case["note"]
