"""Same input, same findings: stable ids, amounts and evidence across runs, row orders, input
formats (raw claims or a `drg group --keep-input` file) and thread counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from drg_engine.audit import load_inputs, run_audit
from drg_engine.audit.runner import AuditResult
from drg_engine.pipeline import group_table
from tests.test_audit_sample import sample_paths, sample_result


def _fingerprint(result: AuditResult) -> list[tuple]:
    columns = ["finding_id", "rule_code", "status", "grade", "claim_id", "amount_at_risk",
               "exemption", "evidence"]
    return sorted(tuple(row.values()) for row in result.findings.select(columns).to_pylist())


def _shuffled(table: pa.Table, seed: int) -> pa.Table:
    order = np.random.default_rng(seed).permutation(table.num_rows)
    return table.take(pa.array(order))


def _unique_claims(table: pa.Table) -> pa.Table:
    """Validation keeps the first of duplicate claim ids, so row order decides which one is
    audited; shuffling is only meaningful without duplicates."""
    ids = table.column("claim_id")
    counts = pc.value_counts(ids.drop_null())
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    keep = pc.and_(pc.invert(pc.is_in(ids, value_set=repeated)), pc.is_valid(ids))
    return table.filter(keep)


def test_finding_ids_are_stable_across_row_orders_and_threads() -> None:
    tables = {name: pq.read_table(path) for name, path in sample_paths().items()}
    tables["claims"] = _unique_claims(tables["claims"])
    ordered = run_audit(load_inputs(tables["claims"], charges=tables["charges"],
                                    visits=tables["visits"], hospitals=tables["hospitals"]))
    shuffled = run_audit(load_inputs(
        _shuffled(tables["claims"], 1), charges=_shuffled(tables["charges"], 2),
        visits=_shuffled(tables["visits"], 3), hospitals=_shuffled(tables["hospitals"], 4),
    ), threads=1)
    assert ordered.open_findings.num_rows > 300
    assert _fingerprint(shuffled) == _fingerprint(ordered)
    ids = ordered.findings.column("finding_id").to_pylist()
    assert len(set(ids)) == len(ids), "finding ids are unique"
    # Rejected rows without a claim id are known only by their row number (DQ001).
    def data_ids(result: AuditResult) -> list[str]:
        return sorted(row["finding_id"] for row in result.data_quality.to_pylist()
                      if row["claim_id"] is not None or row["rule_code"] != "DQ001")

    assert data_ids(shuffled) == data_ids(ordered)


def test_grouped_input_gives_the_same_findings(tmp_path: Path) -> None:
    paths = sample_paths()
    run = group_table(pq.read_table(paths["claims"]))
    grouped = tmp_path / "grouped.parquet"
    pq.write_table(run.results_with_input(), grouped)
    inputs = load_inputs(grouped, charges=paths["charges"], visits=paths["visits"],
                         hospitals=paths["hospitals"])
    assert not inputs.claims.grouped_here
    result = run_audit(inputs)
    expected = sample_result()
    assert _fingerprint(result) == _fingerprint(expected)
