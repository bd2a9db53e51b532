"""``drg group --bundles``: DRG grouping of the whole file in memory, plus the bundle columns.

The streaming job (`drg_engine.stream`) has no bundle step; a bundle list needs the normalised
claims next to the results, which the whole-file pipeline keeps.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from drg_engine.errors import DrgEngineError
from drg_engine.io import read_claims
from drg_engine.pipeline import group_table, resolve_rules
from drg_engine.selection import AUTO
from drg_engine.stream import StreamSummary

from .common import fail, write_results
from .dip import append_bundles
from .engines import summary_table


def group_whole_file(input_path: Path, output: Path, rules_id: str, bundles: str,
                      rejects_path: Path | None, evidence: bool, keep_input: bool,
                      quiet: bool) -> None:
    """DRG grouping of the whole file in memory, with the single-disease bundle columns."""
    console = Console(stderr=True)
    started = time.perf_counter()
    try:
        rules = rules_id if rules_id == AUTO else resolve_rules(rules_id)
        raw = read_claims(input_path)
        show_progress = not quiet and console.is_terminal
        with Progress(
            TextColumn("grouping"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, disable=not show_progress, transient=True,
        ) as progress:
            task = progress.add_task("group", total=raw.num_rows)
            run = group_table(raw, rules, evidence=evidence,
                              progress=lambda done: progress.advance(task, done))
        run = dataclasses.replace(run, results=append_bundles(run.results, run.clean, bundles))
        written_rejects = write_results(run.results_with_input() if keep_input else run.results,
                                        run.rejects, output, rejects_path)
    except DrgEngineError as exc:
        fail(str(exc))
        return
    if not quiet:
        summary = StreamSummary(rule_sets=list(run.rule_sets),
                                ignored_columns=list(run.ignored_columns), output=output,
                                rejects_path=written_rejects)
        summary.add_tables(run.results, run.rejects, run.input_rows)
        Console().print(summary_table(summary, time.perf_counter() - started))
