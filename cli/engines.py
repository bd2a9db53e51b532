"""``drg group`` on the streaming engines: local (two workers, bounded memory), Dask or Spark.

``run_group_command`` is the body of ``drg group`` for any engine: it streams IN to OUT (and
the rejects file), shows a progress bar on a terminal, prints the closing summary and returns
the exit code (0 ran, 1 could not run). The summary reads counts gathered batch by batch, so
it costs nothing on a file of any size.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from drg_engine.errors import DrgEngineError
from drg_engine.stream import StreamSummary, group_file_stream

from .common import EXIT_FAILED, EXIT_OK

ENGINES = ("local", "dask", "spark")


def summary_table(summary: StreamSummary, seconds: float) -> Table:
    """The closing summary of ``drg group``: statuses, reject reasons, top DRGs, totals."""
    table = Table(title=f"drg group: {summary.input_rows:,} rows, rule set "
                        f"{summary.rule_set_label}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    total = max(summary.input_rows, 1)
    for status, count in summary.statuses.most_common():
        table.add_row(f"status {status}", f"{count:,}", f"{count / total:.1%}")
    for reason, count in summary.reject_reasons.most_common():
        table.add_row(f"rejected {reason}", f"{count:,}", f"{count / total:.1%}")
    for drg, count in summary.drgs.most_common(10):
        table.add_row(f"top DRG {drg}", f"{count:,}", f"{count / total:.1%}")
    rate = summary.input_rows / seconds if seconds > 0 else float("inf")
    table.caption = (
        f"{summary.grouped_rows:,} grouped + {summary.rejected_rows:,} rejected = "
        f"{summary.input_rows:,} in; {seconds:.2f} s, {rate:,.0f} claims/s\n"
        f"results: {summary.output}"
        + (f"\nrejects: {summary.rejects_path}" if summary.rejects_path else "")
    )
    if summary.ignored_columns:
        table.caption += "\nignored input columns: " + ", ".join(summary.ignored_columns)
    return table


def _input_rows(path: Path) -> int | None:
    """Rows in IN when the format says so cheaply (Parquet metadata), for the progress bar."""
    if path.name.lower().endswith(".parquet") and path.is_file():
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (OSError, ValueError):
            return None
    return None


def _run(engine: str, input_path: Path, output: Path, rules_id: str,
         rejects_path: Path | None, evidence: bool, keep_input: bool, address: str | None,
         progress: object) -> StreamSummary:
    options = {"rejects_path": rejects_path, "evidence": evidence, "keep_input": keep_input,
               "progress": progress}
    if engine == "local":
        return group_file_stream(input_path, output, rules_id, **options)
    if not input_path.name.lower().endswith(".parquet"):
        raise DrgEngineError(f"--engine {engine} reads Parquet (one task per row group); "
                             f"convert {input_path} or use --engine local")
    if engine == "dask":
        from drg_engine.engines.dask import group_file as dask_group_file

        return dask_group_file(input_path, output, rules_id, scheduler=address or "threads",
                               **options)
    from drg_engine.engines.spark import group_file as spark_group_file

    return spark_group_file(input_path, output, rules_id, master=address or "local[*]",
                            **options)


def run_group_command(
    input_path: Path,
    output: Path,
    rules_id: str = "chs_drg_1_1",
    rejects_path: Path | None = None,
    *,
    evidence: bool = False,
    keep_input: bool = False,
    quiet: bool = False,
    engine: str = "local",
    address: str | None = None,
) -> int:
    """Group IN into OUT with ``engine`` and report; returns the exit code.

    ``address`` is the Dask scheduler address (``tcp://host:8786``; default local threads) or
    the Spark master URL (default ``local[*]``).
    """
    if engine not in ENGINES:
        click.echo(f"Error: unknown engine {engine!r}; use one of {', '.join(ENGINES)}",
                   err=True)
        return EXIT_FAILED
    console = Console(stderr=True)
    started = time.perf_counter()
    try:
        if output.parent and not output.parent.exists():
            os.makedirs(output.parent, exist_ok=True)
        if rejects_path is not None and not rejects_path.parent.exists():
            os.makedirs(rejects_path.parent, exist_ok=True)
        show_progress = not quiet and console.is_terminal
        with Progress(
            TextColumn("grouping"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, disable=not show_progress, transient=True,
        ) as bar:
            task = bar.add_task("group", total=_input_rows(input_path) if show_progress
                                else None)
            summary = _run(engine, input_path, output, rules_id, rejects_path, evidence,
                           keep_input, address, lambda done: bar.advance(task, done))
    except DrgEngineError as exc:
        click.echo(f"Error: {exc}", err=True)
        return EXIT_FAILED
    if not quiet:
        Console().print(summary_table(summary, time.perf_counter() - started))
    return EXIT_OK


def main() -> None:
    """``python -m drg_engine.cli.engines IN OUT [RULES]``: the streaming ``drg group``."""
    arguments = sys.argv[1:]
    if len(arguments) not in (2, 3):
        click.echo("usage: python -m drg_engine.cli.engines IN OUT [RULES]", err=True)
        sys.exit(2)
    sys.exit(run_group_command(Path(arguments[0]), Path(arguments[1]),
                               arguments[2] if len(arguments) == 3 else "chs_drg_1_1"))


if __name__ == "__main__":
    main()
