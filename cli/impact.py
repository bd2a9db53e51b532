"""`drg impact`: what switching rule sets does to a set of claims."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from drg_engine.errors import DrgEngineError
from drg_engine.impact import impact_analysis, render_html
from drg_engine.io import read_claims, write_table


@click.command()
@click.argument("claims", type=click.Path(path_type=Path))
@click.option("--from", "from_rules", required=True, help="Current rule set (id or folder).")
@click.option("--to", "to_rules", required=True, help="Candidate rule set (id or folder).")
@click.option("--html", "html_path", type=click.Path(path_type=Path),
              help="Write a self-contained HTML page with charts (default: impact.html).",
              default=Path("impact.html"), show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the full transition matrix (from_result, to_result, claims).")
@click.option("--top", default=15, show_default=True, help="Movements to show.")
def impact(claims: Path, from_rules: str, to_rules: str, html_path: Path, output: Path | None,
           top: int) -> None:
    """Group CLAIMS under both rule sets and report which claims and hospitals move."""
    try:
        report = impact_analysis(read_claims(claims), from_rules, to_rules)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_html(report, top), encoding="utf-8")
        if output is not None:
            write_table(report.transitions.to_arrow(), output)
    except DrgEngineError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    console = Console(width=120)
    console.print(
        f"[bold]{report.from_rule_set} -> {report.to_rule_set}[/bold]: {report.changed:,} of "
        f"{report.claims:,} claims change ({report.share_changed:.1%}); "
        f"{report.rejected_rows:,} input rows rejected"
    )
    kinds = Table(title="kinds of change")
    kinds.add_column("kind")
    kinds.add_column("claims", justify="right")
    for kind, count in report.change_kinds.items():
        kinds.add_row(kind, f"{count:,}")
    console.print(kinds)
    movements = Table(title=f"top {top} movements")
    for column in ("from", "to", "claims"):
        movements.add_column(column, justify="right" if column == "claims" else "left")
    for before, after, count in report.top_movements(top).iter_rows():
        movements.add_row(before, after, f"{count:,}")
    console.print(movements)
    console.print(f"HTML page: {html_path}")
