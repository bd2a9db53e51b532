"""The ``drg`` command line: thin click commands over the library.

Exit codes: 0 the job ran (rejected rows are reported, not fatal); 1 the job could not run
(unreadable input, missing columns, unknown or broken rule set); 2 the command line itself is
wrong (click's usage errors).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from drg_engine.dip.pipeline import DEFAULT_DIP_RULES
from drg_engine.errors import DrgEngineError
from drg_engine.explain import explain_file
from drg_engine.io import read_claims, write_table
from drg_engine.pipeline import GroupRun, group_table, resolve_rules
from drg_engine.selection import AUTO

from .audit import audit
from .dip import append_bundles, dip, run_dip_explain, run_dip_group
from .engines import ENGINES, run_group_command
from .impact import impact
from .pay import calibrate, pay
from .rules import rules

EXIT_OK, EXIT_FAILED = 0, 1


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_FAILED)


def _default_rejects_path(output: Path) -> Path:
    suffixes = "".join(output.suffixes)
    stem = output.name[: -len(suffixes)] if suffixes else output.name
    return output.with_name(f"{stem}.rejects{suffixes or '.csv'}")


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="drg-engine")
def main() -> None:
    """drg-engine: CHS-DRG grouping, payment and audit for inpatient claims."""


SCHEMES = ("drg", "dip")


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Results file; the format follows the extension "
                   "(.parquet, .arrow/.ipc/.feather, .jsonl/.ndjson, .csv).")
@click.option("--scheme", type=click.Choice(SCHEMES), default="drg", show_default=True,
              help="Group into CHS-DRG groups (drg) or DIP disease-type groups (dip).")
@click.option("--rules", "rules_id", default="chs_drg_1_1", show_default=True,
              help="DRG rule-set id under grouper_rules/, a rule-set folder, or 'auto' to pick "
                   "per claim by region and discharge date (grouper_rules/registry.toml).")
@click.option("--dip-rules", "dip_rules", default=DEFAULT_DIP_RULES, show_default=True,
              help="DIP rule-set id under grouper_rules/dip/ or a folder (with --scheme dip).")
@click.option("--bundles", "bundles", default=None,
              help="Single-disease bundle list under grouper_rules/bundles/ (or a folder): add "
                   "the bundle columns to the results.")
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path),
              help="Where rejected rows go (default: OUT with '.rejects' before the extension).")
@click.option("--evidence/--no-evidence", default=False, show_default=True,
              help="Also write the evidence columns (entered MDCs, matched codes, CC/MCC).")
@click.option("--keep-input", is_flag=True,
              help="Carry the normalised input columns (costs, dates, hospital, ...) after the "
                   "results, as `drg pay` and `drg audit` need them.")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="local: stream the file batch by batch on two workers in bounded memory; "
                   "dask or spark: one task per Parquet row group on a cluster.")
@click.option("--address", default=None,
              help="Dask scheduler address (tcp://host:8786; default local threads) or Spark "
                   "master URL (default local[*]), with --engine dask|spark.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def group(input_path: Path, output: Path, scheme: str, rules_id: str, dip_rules: str,
          bundles: str | None, rejects_path: Path | None, evidence: bool, keep_input: bool,
          engine: str, address: str | None, quiet: bool) -> None:
    """Group the claims in IN and write one result row per claim to OUT.

    Rows that cannot be read (missing or duplicate claim id, unparseable number or date,
    discharge before admission, negative LOS) go to the rejects file with row number, field,
    reason code and message: rows in = grouped + rejected, always.
    """
    if scheme == "dip":
        if engine != "local":
            _fail("--scheme dip runs on --engine local")
        run_dip_group(input_path, output, dip_rules=dip_rules, bundles=bundles,
                      rejects_path=rejects_path, evidence=evidence, keep_input=keep_input,
                      quiet=quiet)
        return
    if bundles is not None:
        if engine != "local":
            _fail("--bundles runs on --engine local")
        _group_whole_file(input_path, output, rules_id, bundles, rejects_path, evidence,
                          keep_input, quiet)
        return
    sys.exit(run_group_command(input_path, output, rules_id, rejects_path, evidence=evidence,
                               keep_input=keep_input, quiet=quiet, engine=engine,
                               address=address))


def _group_whole_file(input_path: Path, output: Path, rules_id: str, bundles: str,
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
            written_rejects = rejects_path or _default_rejects_path(output)
            written_rejects.parent.mkdir(parents=True, exist_ok=True)
            write_table(run.rejects, written_rejects)
    except DrgEngineError as exc:
        _fail(str(exc))
        return
    if not quiet:
        Console().print(_summary(run, time.perf_counter() - started, output, written_rejects))


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("--claim", "claim_id", required=True, help="The claim id to explain.")
@click.option("--scheme", type=click.Choice(SCHEMES), default="drg", show_default=True,
              help="Explain the CHS-DRG group (drg) or the DIP group (dip).")
@click.option("--rules", "rules_id", default="chs_drg_1_1", show_default=True,
              help="DRG rule-set id under grouper_rules/ or a rule-set folder.")
@click.option("--dip-rules", "dip_rules", default=DEFAULT_DIP_RULES, show_default=True,
              help="DIP rule-set id under grouper_rules/dip/ or a folder (with --scheme dip).")
@click.option("--bundles", "bundles", default=None,
              help="Also explain the single-disease bundle choice (with --scheme dip).")
def explain(input_path: Path, claim_id: str, scheme: str, rules_id: str, dip_rules: str,
            bundles: str | None) -> None:
    """Explain, step by step, why claim ID in IN got its group (or why it was not grouped)."""
    if scheme == "dip":
        run_dip_explain(input_path, claim_id, dip_rules=dip_rules, bundles=bundles)
        return
    try:
        click.echo(explain_file(input_path, claim_id, rules_id))
    except DrgEngineError as exc:
        _fail(str(exc))


main.add_command(rules)
main.add_command(impact)
main.add_command(pay)
main.add_command(calibrate)
main.add_command(audit)
main.add_command(dip)
