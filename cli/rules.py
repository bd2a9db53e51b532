"""`drg rules list|show|validate|diff`: look at, check and compare rule sets."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from drg_engine.errors import DrgEngineError
from drg_engine.rules import available_rule_sets, load_rules
from drg_engine.rules.analysis import diff_rule_sets, load_tables, summarize, validate_rule_set
from drg_engine.rules.manifest import resolve_rule_set

from .common import fail


@click.group()
def rules() -> None:
    """Rule sets under grouper_rules/: list, show, validate, diff."""


@rules.command("list")
def rules_list() -> None:
    """List the available rule sets with region and effective dates."""
    try:
        for rule_set_id in available_rule_sets():
            manifest = resolve_rule_set(rule_set_id).manifest
            dates = f"{manifest.effective_from} .. {manifest.effective_to or 'open'}"
            click.echo(f"{rule_set_id:16} {manifest.region:10} {dates:26} {manifest.title}")
    except DrgEngineError as exc:
        fail(str(exc))


@rules.command("show")
@click.argument("rule_set")
def rules_show(rule_set: str) -> None:
    """Counts, condition kinds, split sequences and effective dates of RULE_SET (id or folder)."""
    try:
        summary = summarize(load_tables(resolve_rule_set(rule_set)))
    except DrgEngineError as exc:
        fail(str(exc))
        return
    table = Table(title=f"rule set {summary['id']}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    Console(width=120).print(table)


@rules.command("validate")
@click.argument("rule_set")
def rules_validate(rule_set: str) -> None:
    """Check RULE_SET (id or folder): schema and references are errors (exit 1); unreachable
    rules, dead splits and codes missing from the dictionaries are warnings."""
    report = validate_rule_set(rule_set)
    for error in report.errors:
        click.echo(f"error: {error}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    if not report.ok:
        sys.exit(1)
    # Compiling proves the lookup arrays build; it also warms the cache.
    try:
        load_rules(rule_set)
    except DrgEngineError as exc:
        fail(str(exc))
    click.echo(
        f"{report.rule_set_id}: valid; {len(report.unreachable_rules)} unreachable rule rows, "
        f"{len(report.unreachable_drgs)} DRGs that can never be returned, "
        f"{len(report.warnings)} warnings"
    )


@rules.command("diff")
@click.argument("rule_set_a")
@click.argument("rule_set_b")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Also write every changed code and DRG to this CSV file.")
@click.option("--limit", default=10, show_default=True, help="Rows shown per section.")
def rules_diff(rule_set_a: str, rule_set_b: str, output: Path | None, limit: int) -> None:
    """What changes from RULE_SET_A to RULE_SET_B: codes whose MDC or ADRG membership changed,
    ADRGs and DRGs added, removed or renamed."""
    try:
        diff = diff_rule_sets(rule_set_a, rule_set_b)
    except DrgEngineError as exc:
        fail(str(exc))
        return
    console = Console(width=140)
    console.print(f"[bold]{diff.a} -> {diff.b}[/bold]")
    sections = [
        ("diagnosis codes whose MDC membership changed", diff.dx_mdc_changed),
        ("diagnosis codes whose ADRG membership changed", diff.dx_adrg_changed),
        ("procedure codes whose ADRG membership changed", diff.px_adrg_changed),
        ("DRGs added", diff.drgs_added),
        ("DRGs removed", diff.drgs_removed),
        ("DRGs renamed", diff.drgs_renamed),
        ("DRGs renamed (full/half-width characters only)", diff.drgs_renamed_width_only),
    ]
    console.print(f"ADRGs added: {' '.join(diff.adrgs_added) or '-'}")
    console.print(f"ADRGs removed: {' '.join(diff.adrgs_removed) or '-'}")
    for title, rows in sections:
        table = Table(title=f"{title}: {len(rows):,}")
        headers = ("code", diff.a, diff.b) if rows and len(rows[0]) == 3 else ("code", "name")
        for header in headers:
            table.add_column(header)
        for row in rows[:limit]:
            table.add_row(*row)
        console.print(table)
    if output is not None:
        with output.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["section", "code", diff.a, diff.b])
            for title, rows in sections:
                for row in rows:
                    writer.writerow([title, *row] if len(row) == 3 else [title, row[0], "", row[1]])
