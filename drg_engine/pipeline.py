"""The grouping job as a function: raw claims in, results and rejects out, rows conserved.

``group_table`` is the Python API the CLI, explain and the engines share: normalise and validate
(``drg_engine.validate``), then group the clean rows (``drg_engine.grouping.drg``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from drg_engine.grouping.drg import group_batch
from drg_engine.io import read_claims
from drg_engine.rules import CompiledRules, load_rules
from drg_engine.validate import normalize_claims


@dataclass(frozen=True)
class GroupRun:
    """One grouping run: ``results`` has a row per clean claim, ``rejects`` a row per bad row."""

    results: pa.Table
    rejects: pa.Table
    clean: pa.Table
    input_rows: int
    ignored_columns: list[str]
    rules: CompiledRules

    def results_with_input(self) -> pa.Table:
        """The results with the clean input columns after them (claim_id once)."""
        carried = self.clean.drop_columns(["claim_id"])
        table = self.results
        for name in carried.column_names:
            table = table.append_column(carried.field(name), carried.column(name))
        return table

    def __post_init__(self) -> None:
        if self.results.num_rows + self.rejects.num_rows != self.input_rows:
            raise AssertionError(
                f"row conservation broken: {self.input_rows} in, {self.results.num_rows} "
                f"grouped + {self.rejects.num_rows} rejected"
            )


def resolve_rules(rules: str | Path | CompiledRules) -> CompiledRules:
    return rules if isinstance(rules, CompiledRules) else load_rules(rules)


def group_table(
    raw: pa.Table,
    rules: str | Path | CompiledRules = "chs_drg_1_1",
    *,
    evidence: bool = False,
    progress: Callable[[int], None] | None = None,
) -> GroupRun:
    """Group a raw claim table (any accepted column names and formats)."""
    compiled = resolve_rules(rules)
    normalized = normalize_claims(raw)
    results = group_batch(normalized.clean, compiled, evidence=evidence, progress=progress)
    return GroupRun(
        results=results,
        rejects=normalized.rejects,
        clean=normalized.clean,
        input_rows=raw.num_rows,
        ignored_columns=normalized.ignored_columns,
        rules=compiled,
    )


def group_file(
    path: str | Path,
    rules: str | Path | CompiledRules = "chs_drg_1_1",
    *,
    evidence: bool = False,
) -> GroupRun:
    """Read a claims file (Parquet, Arrow IPC, JSON Lines, CSV) and group it."""
    return group_table(read_claims(Path(path)), rules, evidence=evidence)
