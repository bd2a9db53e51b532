"""``drg group --bundles``: DRG grouping of the whole file in memory, plus the bundle columns.

The streaming job (`drg_engine.stream`) has no bundle step; a bundle list needs the normalised
claims next to the results, which the whole-file pipeline keeps.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from drg_engine.errors import DrgEngineError
from drg_engine.io import default_rejects_path, read_claims, write_table
from drg_engine.pipeline import GroupRun, group_table, resolve_rules
from drg_engine.selection import AUTO

from .common import fail
from .dip import append_bundles


def _summary(run: GroupRun, seconds: float, output: Path, rejects_path: Path | None) -> Table:
    statuses = Counter(run.results.column("status").to_pylist())
    table = Table(title=f"drg group: {run.input_rows:,} rows, rule set {run.rule_set_label}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    total = max(run.input_rows, 1)
    for status, count in statuses.most_common():
        table.add_row(f"status {status}", f"{count:,}", f"{count / total:.1%}")
    reject_reasons = Counter(run.rejects.column("reason_code").to_pylist())
    for reason, count in reject_reasons.most_common():
        table.add_row(f"rejected {reason}", f"{count:,}", f"{count / total:.1%}")
    drgs = Counter(
        drg for drg, status in zip(
            run.results.column("drg").to_pylist(), run.results.column("status").to_pylist(),
            strict=True,
        ) if status == "SUCCESS"
    )
    for drg, count in drgs.most_common(10):
        table.add_row(f"top DRG {drg}", f"{count:,}", f"{count / total:.1%}")
    rate = run.input_rows / seconds if seconds > 0 else float("inf")
    table.caption = (
        f"{run.results.num_rows:,} grouped + {run.rejects.num_rows:,} rejected = "
        f"{run.input_rows:,} in; {seconds:.2f} s, {rate:,.0f} claims/s\n"
        f"results: {output}" + (f"\nrejects: {rejects_path}" if rejects_path else "")
    )
    if run.ignored_columns:
        table.caption += "\nignored input columns: " + ", ".join(run.ignored_columns)
    return table



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
        results = append_bundles(run.results, run.clean, bundles)
        run = dataclasses.replace(run, results=results)
        output.parent.mkdir(parents=True, exist_ok=True)
        write_table(run.results_with_input() if keep_input else run.results, output)
        written_rejects: Path | None = None
        if run.rejects.num_rows or rejects_path is not None:
            written_rejects = rejects_path or default_rejects_path(output)
            written_rejects.parent.mkdir(parents=True, exist_ok=True)
            write_table(run.rejects, written_rejects)
    except DrgEngineError as exc:
        fail(str(exc))
        return
    if not quiet:
        Console().print(_summary(run, time.perf_counter() - started, output, written_rejects))
