"""The grouping job as a function: raw claims in, results and rejects out, rows conserved.

``group_table`` is the Python API the CLI, explain and the engines share: normalise and validate
(``drg_engine.validate``), then group the clean rows (``drg_engine.grouping.drg``) under one rule
set, or under the rule set each claim's region and discharge date select (``rules="auto"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from drg_engine.grouping.drg import EVIDENCE_SCHEMA, RESULT_SCHEMA, group_batch
from drg_engine.io import read_claims
from drg_engine.rules import CompiledRules, load_rules
from drg_engine.selection import (
    AUTO,
    NO_RULE_SET,
    load_registry,
    select_rule_sets,
    unselected_reasons,
)
from drg_engine.validate import normalize_claims


@dataclass(frozen=True)
class GroupRun:
    """One grouping run: ``results`` has a row per clean claim, ``rejects`` a row per bad row."""

    results: pa.Table
    rejects: pa.Table
    clean: pa.Table
    input_rows: int
    ignored_columns: list[str]
    rule_sets: dict[str, CompiledRules]

    def results_with_input(self) -> pa.Table:
        """The results with the clean input columns after them (claim_id once)."""
        carried = self.clean.drop_columns(["claim_id"])
        table = self.results
        for name in carried.column_names:
            table = table.append_column(carried.field(name), carried.column(name))
        return table

    @property
    def rule_set_label(self) -> str:
        return ", ".join(self.rule_sets) or "none"

    def __post_init__(self) -> None:
        if self.results.num_rows + self.rejects.num_rows != self.input_rows:
            raise AssertionError(
                f"row conservation broken: {self.input_rows} in, {self.results.num_rows} "
                f"grouped + {self.rejects.num_rows} rejected"
            )


def resolve_rules(rules: str | Path | CompiledRules) -> CompiledRules:
    return rules if isinstance(rules, CompiledRules) else load_rules(rules)


def _unselected_results(clean: pa.Table, reasons: np.ndarray, schema: pa.Schema) -> pa.Table:
    n = clean.num_rows
    columns: dict[str, object] = {name: [None] * n for name in schema.names}
    columns.update(
        claim_id=clean.column("claim_id"),
        status=[NO_RULE_SET] * n,
        mdc=["0000"] * n,
        adrg=["00"] * n,
        drg=["0000"] * n,
        reason=list(reasons),
    )
    for field in schema:
        if pa.types.is_list(field.type):
            columns[field.name] = [[] for _ in range(n)]
    return pa.Table.from_pydict(columns, schema=schema)


def _group_auto(
    clean: pa.Table, evidence: bool, progress: Callable[[int], None] | None
) -> tuple[pa.Table, dict[str, CompiledRules]]:
    registry = load_registry()
    chosen = select_rule_sets(clean, registry)
    schema = EVIDENCE_SCHEMA if evidence else RESULT_SCHEMA
    parts: list[pa.Table] = []
    positions: list[np.ndarray] = []
    used: dict[str, CompiledRules] = {}
    for index, entry in enumerate(registry):
        rows = np.flatnonzero(chosen == index)
        if len(rows) == 0:
            continue
        compiled = load_rules(entry.rule_set_id)
        used[entry.rule_set_id] = compiled
        parts.append(group_batch(clean.take(rows), compiled, evidence=evidence, progress=progress))
        positions.append(rows)
    rows = np.flatnonzero(chosen < 0)
    if len(rows):
        reasons = unselected_reasons(clean, chosen)[rows]
        parts.append(_unselected_results(clean.take(rows), reasons, schema))
        positions.append(rows)
        if progress is not None:
            progress(len(rows))
    if not parts:
        return schema.empty_table(), used
    order = np.argsort(np.concatenate(positions), kind="stable")
    return pa.concat_tables(parts).take(pa.array(order)), used


def group_table(
    raw: pa.Table,
    rules: str | Path | CompiledRules = "chs_drg_1_1",
    *,
    evidence: bool = False,
    progress: Callable[[int], None] | None = None,
) -> GroupRun:
    """Group a raw claim table (any accepted column names and formats).

    ``rules`` is a rule-set id, a rule-set folder, compiled rules, or ``"auto"``.
    """
    normalized = normalize_claims(raw)
    if rules == AUTO:
        results, used = _group_auto(normalized.clean, evidence, progress)
    else:
        compiled = resolve_rules(rules)
        results = group_batch(normalized.clean, compiled, evidence=evidence, progress=progress)
        used = {compiled.rule_set_id: compiled}
    return GroupRun(
        results=results,
        rejects=normalized.rejects,
        clean=normalized.clean,
        input_rows=raw.num_rows,
        ignored_columns=normalized.ignored_columns,
        rule_sets=used,
    )


def group_file(
    path: str | Path,
    rules: str | Path | CompiledRules = "chs_drg_1_1",
    *,
    evidence: bool = False,
) -> GroupRun:
    """Read a claims file (Parquet, Arrow IPC, JSON Lines, CSV) and group it."""
    return group_table(read_claims(Path(path)), rules, evidence=evidence)
