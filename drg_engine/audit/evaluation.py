"""Precision and recall of every rule against a truth table of planted anomalies and look-alikes.

A rule's flagged set is the subjects (claim id, or hospital id for hospital-level rules) of its
open findings - data-quality rules: of its data-quality findings. Planted rows give the expected
subjects; look-alike rows name the rules they resemble (comma-separated) and must not be
flagged by any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from drg_engine.audit.runner import AuditResult


@dataclass(frozen=True)
class RuleScore:
    rule_code: str
    planted: int
    flagged: int
    true_positives: int
    precision: float
    recall: float
    missed: tuple[str, ...]
    unexpected: tuple[str, ...]


@dataclass(frozen=True)
class Evaluation:
    scores: dict[str, RuleScore]
    lookalikes: int
    lookalikes_flagged: tuple[tuple[str, str, str], ...]  # (rule, subject, kind)

    def table(self) -> str:
        lines = [f"{'rule':6} {'planted':>7} {'flagged':>7} {'TP':>4} {'precision':>9} "
                 f"{'recall':>6}"]
        for code in sorted(self.scores):
            s = self.scores[code]
            lines.append(f"{code:6} {s.planted:7d} {s.flagged:7d} {s.true_positives:4d} "
                         f"{s.precision:9.3f} {s.recall:6.3f}")
        lines.append(f"look-alikes: {self.lookalikes}, flagged: {len(self.lookalikes_flagged)}")
        return "\n".join(lines)


def flagged_subjects(result: AuditResult) -> dict[str, set[str]]:
    """Per rule code, the subjects of its open findings (or data-quality findings)."""
    levels = {rule.code: rule.spec.level for rule in result.registry.rules}
    subjects: dict[str, set[str]] = {}
    open_rows = result.open_findings.select(["rule_code", "claim_id", "hospital_id"]).to_pylist()
    dq_rows = result.data_quality.select(["rule_code", "claim_id", "hospital_id"]).to_pylist()
    for row in open_rows + dq_rows:
        code = row["rule_code"]
        subject = row["hospital_id"] if levels.get(code) == "hospital" or row["claim_id"] is None \
            else row["claim_id"]
        subjects.setdefault(code, set()).add(subject)
    return subjects


def evaluate(result: AuditResult, truth: pa.Table) -> Evaluation:
    flagged = flagged_subjects(result)
    planted: dict[str, set[str]] = {}
    lookalikes: list[tuple[str, str, str]] = []
    for row in truth.to_pylist():
        if row["role"] == "planted":
            planted.setdefault(row["rule_code"], set()).add(row["subject_id"])
        else:
            for code in row["rule_code"].split(","):
                lookalikes.append((code, row["subject_id"], row["kind"]))
    scores = {}
    for code, expected in planted.items():
        got = flagged.get(code, set())
        hits = expected & got
        scores[code] = RuleScore(
            rule_code=code,
            planted=len(expected),
            flagged=len(got),
            true_positives=len(hits),
            precision=len(hits) / len(got) if got else 0.0,
            recall=len(hits) / len(expected),
            missed=tuple(sorted(expected - got)),
            unexpected=tuple(sorted(got - expected)),
        )
    bad = tuple(sorted((code, subject, kind) for code, subject, kind in lookalikes
                       if subject in flagged.get(code, set())))
    return Evaluation(scores=scores, lookalikes=len(lookalikes), lookalikes_flagged=bad)
