"""The DIP grouping job as a function: raw claims in, DIP results (and bundles) and rejects out.

The same shape as ``drg_engine.pipeline.group_table``: normalise and validate
(``drg_engine.validate``), assign the clean rows to DIP groups (``drg_engine.grouping.dip``),
and when a single-disease list is given append its bundle columns
(``drg_engine.grouping.bundles``). Rows are conserved: results + rejects = input rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from drg_engine.dip.bundle_list import BundleList, load_bundle_list
from drg_engine.dip.cache import load_dip_rules
from drg_engine.dip.compiled import CompiledDip
from drg_engine.grouping.bundles import with_bundles
from drg_engine.grouping.dip import dip_batch
from drg_engine.io import read_claims
from drg_engine.validate import normalize_claims

DEFAULT_DIP_RULES = "dip3_national_partial"


@dataclass(frozen=True)
class DipRun:
    results: pa.Table
    rejects: pa.Table
    clean: pa.Table
    input_rows: int
    ignored_columns: list[str]
    rules: CompiledDip
    bundles: BundleList | None

    def results_with_input(self) -> pa.Table:
        """The results with the clean input columns after them (claim_id once)."""
        table = self.results
        carried = self.clean.drop_columns(["claim_id"])
        for name in carried.column_names:
            table = table.append_column(carried.field(name), carried.column(name))
        return table

    def __post_init__(self) -> None:
        if self.results.num_rows + self.rejects.num_rows != self.input_rows:
            raise AssertionError(
                f"row conservation broken: {self.input_rows} in, {self.results.num_rows} "
                f"grouped + {self.rejects.num_rows} rejected"
            )


def resolve_dip_rules(rules: str | Path | CompiledDip) -> CompiledDip:
    return rules if isinstance(rules, CompiledDip) else load_dip_rules(rules)


def resolve_bundles(bundles: str | Path | BundleList | None) -> BundleList | None:
    if bundles is None or isinstance(bundles, BundleList):
        return bundles
    return load_bundle_list(bundles)


def dip_group_table(
    raw: pa.Table,
    rules: str | Path | CompiledDip = DEFAULT_DIP_RULES,
    *,
    bundles: str | Path | BundleList | None = None,
    evidence: bool = False,
    progress: Callable[[int], None] | None = None,
) -> DipRun:
    """Assign a raw claim table (any accepted column names and formats) to DIP groups."""
    compiled = resolve_dip_rules(rules)
    bundle_list = resolve_bundles(bundles)
    normalized = normalize_claims(raw)
    results = dip_batch(normalized.clean, compiled, evidence=evidence, progress=progress)
    if bundle_list is not None:
        results = with_bundles(results, normalized.clean, bundle_list)
    return DipRun(
        results=results,
        rejects=normalized.rejects,
        clean=normalized.clean,
        input_rows=raw.num_rows,
        ignored_columns=normalized.ignored_columns,
        rules=compiled,
        bundles=bundle_list,
    )


def dip_group_file(
    path: str | Path,
    rules: str | Path | CompiledDip = DEFAULT_DIP_RULES,
    *,
    bundles: str | Path | BundleList | None = None,
    evidence: bool = False,
) -> DipRun:
    """Read a claims file (Parquet, Arrow IPC, JSON Lines, CSV) and assign it to DIP groups."""
    return dip_group_table(read_claims(Path(path)), rules, bundles=bundles, evidence=evidence)
