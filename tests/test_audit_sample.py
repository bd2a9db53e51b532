"""The planted audit sample: precision and recall of every rule, look-alikes not flagged, and
the committed files reproducible from the seeded generator.

The figures are printed (run ``pytest -s tests/test_audit_sample.py`` to see them) and quoted in
sample_claims/audit/README.md.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from drg_engine.audit import load_inputs, run_audit
from drg_engine.audit.evaluation import Evaluation, evaluate
from drg_engine.audit.runner import AuditResult
from drg_engine.audit.sample_data import build_audit_sample

AUDIT_SAMPLE = Path(__file__).resolve().parents[1] / "sample_claims" / "audit"
MIN_PRECISION, MIN_RECALL = 0.9, 0.95


def sample_paths() -> dict[str, Path]:
    return {name: AUDIT_SAMPLE / f"{name}.parquet"
            for name in ("claims", "charges", "visits", "hospitals")}


@cache
def sample_result() -> AuditResult:
    paths = sample_paths()
    return run_audit(load_inputs(paths["claims"], charges=paths["charges"],
                                 visits=paths["visits"], hospitals=paths["hospitals"]))


@cache
def sample_evaluation() -> Evaluation:
    return evaluate(sample_result(), pacsv.read_csv(AUDIT_SAMPLE / "truth.csv"))


def test_precision_and_recall_per_rule() -> None:
    evaluation = sample_evaluation()
    print("\nplanted audit sample (sample_claims/audit):\n" + evaluation.table())
    violations = {r.code for r in sample_result().registry.violations}
    assert violations <= set(evaluation.scores), "every violation rule has planted cases"
    weak = {code: (score.precision, score.recall, score.missed, score.unexpected)
            for code, score in evaluation.scores.items()
            if score.precision < MIN_PRECISION or score.recall < MIN_RECALL}
    assert weak == {}


def test_lookalikes_are_not_flagged() -> None:
    evaluation = sample_evaluation()
    assert evaluation.lookalikes >= 100
    assert evaluation.lookalikes_flagged == ()


def test_lookalikes_are_recorded_as_exempted() -> None:
    truth = pacsv.read_csv(AUDIT_SAMPLE / "truth.csv").to_pylist()
    rehab = {row["subject_id"] for row in truth if row["kind"] == "rehabilitation stay"}
    exempted = {(row["rule_code"], row["claim_id"], row["exemption"])
                for row in sample_result().findings.to_pylist() if row["status"] == "exempted"}
    assert rehab and all(("HB001", claim, "rehabilitation") in exempted for claim in rehab)
    kinds = {exemption for _, _, exemption in exempted}
    assert {"rehabilitation", "psychiatry", "pre-operative-wait", "planned-chemo-cycle",
            "ordered-transfer", "batched-posting"} <= kinds


@pytest.mark.skipif(not (AUDIT_SAMPLE.parent / "claims.parquet").is_file(),
                    reason="the sample claims are not built")
def test_committed_sample_matches_the_generator() -> None:
    sample = build_audit_sample(pq.read_table(AUDIT_SAMPLE.parent / "claims.parquet"),
                                seed=20240601, plants_per_rule=20, lookalikes_per_kind=10)
    stale = "rebuild it: python sample_claims/audit/build_audit_sample.py"
    assert sample.truth.equals(pacsv.read_csv(AUDIT_SAMPLE / "truth.csv")), stale
    for name, path in sample_paths().items():
        assert getattr(sample, name).equals(pq.read_table(path)), f"{name}: {stale}"
