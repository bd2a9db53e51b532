"""`drg dip ...`: DIP grouping, explain and catalogue building; plain functions for `drg group`.

Commands: ``drg dip group IN -o OUT [--dip-rules ID] [--bundles ID]``,
``drg dip explain IN --claim ID``, ``drg dip build-catalogue HISTORY -o RULES_DIR
--min-cases 15``. The plain functions :func:`run_dip_group`, :func:`run_dip_explain` and
:func:`append_bundles` are what ``drg group --scheme dip`` / ``drg explain --scheme dip`` /
``drg group --bundles`` call, so the two spellings share one implementation. Exit codes as for
the rest of ``drg``: 0 ran, 1 could not run (message says what to fix), 2 bad command line.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import click
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from drg_engine.dip.catalogue import build_catalogue
from drg_engine.dip.explain import explain_dip_file
from drg_engine.dip.pipeline import DEFAULT_DIP_RULES, DipRun, dip_group_table, resolve_bundles
from drg_engine.errors import DrgEngineError
from drg_engine.grouping.bundles import with_bundles
from drg_engine.io import read_claims

from .common import fail, write_results


def _summary(run: DipRun, seconds: float, output: Path, rejects: Path | None) -> Table:
    total = max(run.input_rows, 1)
    table = Table(title=f"drg group --scheme dip: {run.input_rows:,} rows, DIP rule set "
                        f"{run.rules.rule_set_id}"
                        + (f", bundles {run.bundles.list_id}" if run.bundles else ""))
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    results = run.results
    for label, column in (("status", "dip_status"), ("stage", "dip_stage"),
                          ("reason", "dip_reason"), ("bundle", "bundle_status")):
        if column not in results.column_names:
            continue
        for value, count in Counter(results.column(column).to_pylist()).most_common():
            if value is not None:
                table.add_row(f"{label} {value}", f"{count:,}", f"{count / total:.1%}")
    for reason, count in Counter(run.rejects.column("reason_code").to_pylist()).most_common():
        table.add_row(f"rejected {reason}", f"{count:,}", f"{count / total:.1%}")
    rate = run.input_rows / seconds if seconds > 0 else float("inf")
    table.caption = (f"{results.num_rows:,} assigned + {run.rejects.num_rows:,} rejected = "
                     f"{run.input_rows:,} in; {seconds:.2f} s, {rate:,.0f} claims/s\n"
                     f"results: {output}" + (f"\nrejects: {rejects}" if rejects else ""))
    if run.rules.partial:
        table.caption += f"\nnote: {run.rules.rule_set_id} is partial ({run.rules.partial_note})"
    return table


def run_dip_group(input_path: Path, output: Path, *, dip_rules: str = DEFAULT_DIP_RULES,
                  bundles: str | None = None, rejects_path: Path | None = None,
                  evidence: bool = False, keep_input: bool = False, quiet: bool = False) -> None:
    """``drg group --scheme dip``: assign IN to DIP groups (and bundles), write OUT and rejects.

    Exits 1 with the message on a `DrgEngineError` (unreadable input, unknown rule set, ...).
    """
    console = Console(stderr=True)
    started = time.perf_counter()
    try:
        raw = read_claims(input_path)
        with Progress(TextColumn("DIP"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, disable=quiet or not console.is_terminal,
                      transient=True) as progress:
            task = progress.add_task("dip", total=raw.num_rows)
            run = dip_group_table(raw, dip_rules, bundles=bundles, evidence=evidence,
                                  progress=lambda done: progress.advance(task, done))
        written = write_results(run.results_with_input() if keep_input else run.results,
                                run.rejects, output, rejects_path)
    except DrgEngineError as exc:
        fail(str(exc))
        return
    if not quiet:
        Console().print(_summary(run, time.perf_counter() - started, output, written))


def run_dip_explain(input_path: Path, claim_id: str, *, dip_rules: str = DEFAULT_DIP_RULES,
                    bundles: str | None = None) -> None:
    """``drg explain --scheme dip``: print why claim ID got its DIP group (and bundle)."""
    try:
        click.echo(explain_dip_file(input_path, claim_id, dip_rules, bundles))
    except DrgEngineError as exc:
        fail(str(exc))


def append_bundles(results: pa.Table, clean: pa.Table, bundles: str) -> pa.Table:
    """DRG results (one row per clean claim) with the bundle columns of list ``bundles``.

    For ``drg group --bundles ID`` under the DRG scheme; raises `DrgEngineError` (a
    `RuleSetError`) for an unknown or broken list.
    """
    bundle_list = resolve_bundles(bundles)
    assert bundle_list is not None
    return with_bundles(results, clean, bundle_list)


@click.group()
def dip() -> None:
    """DIP (按病种分值付费): group claims, explain one, build a local catalogue."""


@dip.command("group")
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Results file; the format follows the extension "
                   "(.parquet, .arrow/.ipc/.feather, .jsonl/.ndjson, .csv).")
@click.option("--dip-rules", "dip_rules", default=DEFAULT_DIP_RULES, show_default=True,
              help="DIP rule-set id under grouper_rules/dip/ or a rule-set folder.")
@click.option("--bundles", "bundles", default=None,
              help="Single-disease list id under grouper_rules/bundles/ (or a folder): adds "
                   "the bundle columns.")
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path),
              help="Where rejected rows go (default: OUT with '.rejects' before the extension).")
@click.option("--evidence/--no-evidence", default=False, show_default=True,
              help="Also write the evidence columns (matched codes, candidates, decisive key).")
@click.option("--keep-input", is_flag=True,
              help="Carry the normalised input columns after the results (for `drg pay`).")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def dip_group(input_path: Path, output: Path, dip_rules: str, bundles: str | None,
              rejects_path: Path | None, evidence: bool, keep_input: bool, quiet: bool) -> None:
    """Assign the claims in IN to DIP groups and write one result row per claim to OUT."""
    run_dip_group(input_path, output, dip_rules=dip_rules, bundles=bundles,
                  rejects_path=rejects_path, evidence=evidence, keep_input=keep_input,
                  quiet=quiet)


@dip.command("explain")
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option("--claim", "claim_id", required=True, help="The claim id to explain.")
@click.option("--dip-rules", "dip_rules", default=DEFAULT_DIP_RULES, show_default=True,
              help="DIP rule-set id under grouper_rules/dip/ or a rule-set folder.")
@click.option("--bundles", "bundles", default=None, help="Also explain the bundle choice.")
def dip_explain(input_path: Path, claim_id: str, dip_rules: str, bundles: str | None) -> None:
    """Explain why claim ID in IN got its DIP group (or why it was not grouped)."""
    run_dip_explain(input_path, claim_id, dip_rules=dip_rules, bundles=bundles)


@dip.command("build-catalogue")
@click.argument("history", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="The rule-set folder to write (its name becomes the rule-set id).")
@click.option("--min-cases", default=15, show_default=True, type=click.IntRange(min=1),
              help="Minimum cases of a core, related-procedure or comprehensive group "
                   "(a prefecture typically 15, a province at least 50).")
@click.option("--base", default=DEFAULT_DIP_RULES, show_default=True,
              help="DIP rule set whose dictionaries (procedure attributes, exclusions, CCI, "
                   "severity lists) and options the catalogue takes.")
@click.option("--region", default="local", show_default=True, help="Region of the catalogue.")
@click.option("--related-uplift", default=0.10, show_default=True, type=float,
              help="Average-cost increase that makes a related procedure its own group "
                   "(negative: no related-procedure groups).")
@click.option("--aux-cv-drop", default=0.20, show_default=True, type=float,
              help="CV reduction an auxiliary typing must achieve to get coefficients.")
def build_catalogue_command(history: Path, output: Path, min_cases: int, base: str, region: str,
                            related_uplift: float, aux_cv_drop: float) -> None:
    """Build a DIP catalogue from the historical claims in HISTORY into RULES_DIR (-o)."""
    try:
        report = build_catalogue(read_claims(history), output, min_cases=min_cases, base=base,
                                 region=region, related_uplift=related_uplift,
                                 aux_cv_drop=aux_cv_drop, history_name=history.name)
    except DrgEngineError as exc:
        fail(str(exc))
        return
    click.echo(
        f"{report.rule_set_id}: {report.core_groups:,} core groups "
        f"(+{report.related_groups:,} related-procedure), {report.comprehensive_groups:,} "
        f"comprehensive groups, {report.auxiliary_rows:,} auxiliary coefficients from "
        f"{report.history_claims:,} claims ({report.rejected_claims:,} rejected); "
        f"{report.core_claims:,} in core, {report.comprehensive_claims:,} in comprehensive, "
        f"{report.ungrouped_claims:,} ungrouped; written to {report.output}"
    )
