"""`drg impact`: what switching rule sets does to a set of claims, and, priced, to the money."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from drg_engine.errors import DrgEngineError
from drg_engine.impact import (
    ImpactReport,
    MoneyImpact,
    Pricer,
    impact_analysis,
    money_text,
    params_pricer,
    render_html,
)
from drg_engine.io import read_claims, write_table
from drg_engine.payment import load_params


@click.command()
@click.argument("claims", type=click.Path(path_type=Path))
@click.option("--from", "from_rules", required=True, help="Current rule set (id or folder).")
@click.option("--to", "to_rules", required=True, help="Candidate rule set (id or folder).")
@click.option("--params", "params_both", default=None,
              help="Payment parameter set (id under payment_params/ or folder) that prices both "
                   "sides: adds the money each hospital gains or loses.")
@click.option("--params-from", "params_from", default=None,
              help="Parameter set that prices the --from side (with --params-to).")
@click.option("--params-to", "params_to", default=None,
              help="Parameter set that prices the --to side (with --params-from).")
@click.option("--html", "html_path", type=click.Path(path_type=Path),
              help="Write a self-contained HTML page with charts (default: impact.html).",
              default=Path("impact.html"), show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the full transition matrix (from_result, to_result, claims; priced: "
                   "also paid_from, paid_to, moved).")
@click.option("--top", default=15, show_default=True, help="Movements (and hospitals) to show.")
def impact(claims: Path, from_rules: str, to_rules: str, params_both: str | None,
           params_from: str | None, params_to: str | None, html_path: Path,
           output: Path | None, top: int) -> None:
    """Group CLAIMS under both rule sets and report which claims and hospitals move.

    With --params (or --params-from and --params-to) each side is priced with its payment
    parameter set (CLAIMS then needs hospital_id, discharge_date and total_cost), and the report
    adds the money: total case payments under each side, the difference, what each hospital
    gains or loses, the transitions that move the most money, and the groups the parameter set
    has no weight for (refused or paid per item, as its pricing.on_missing_weight says).
    """
    sides = _param_sides(params_both, params_from, params_to)
    try:
        pricers = _pricers(*sides) if sides else (None, None)
        report = impact_analysis(read_claims(claims), from_rules, to_rules,
                                 pricer_from=pricers[0], pricer_to=pricers[1])
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
    for before, after, count in report.top_movements(top).select(
            "from_result", "to_result", "claims").iter_rows():
        movements.add_row(before, after, f"{count:,}")
    console.print(movements)
    if report.money is not None:
        _print_money(console, report, report.money, top)
    console.print(f"HTML page: {html_path}")


def _param_sides(both: str | None, before: str | None,
                 after: str | None) -> tuple[str, str] | None:
    if both is not None:
        if before is not None or after is not None:
            raise click.UsageError("give --params for both sides, or --params-from and "
                                   "--params-to, not both")
        return both, both
    if (before is None) != (after is None):
        raise click.UsageError("--params-from and --params-to go together (or give --params P "
                               "to price both sides with P)")
    return (before, after) if before is not None and after is not None else None


def _pricers(before: str, after: str) -> tuple[Pricer, Pricer]:
    loaded = load_params(before)
    pricer_from = params_pricer(loaded)
    if after == before:
        return pricer_from, pricer_from
    return pricer_from, params_pricer(load_params(after))


def _print_money(console: Console, report: ImpactReport, money: MoneyImpact, top: int) -> None:
    share = f" ({money.moved_share:+.2%})" if money.moved_share is not None else ""
    totals = Table(title=f"money: case payments, {money.params_from} -> {money.params_to} "
                         "(yuan)")
    totals.add_column("")
    totals.add_column("amount", justify="right")
    totals.add_row(f"paid under {report.from_rule_set} ({money.params_from})",
                   money_text(money.paid_from))
    totals.add_row(f"paid under {report.to_rule_set} ({money.params_to})",
                   money_text(money.paid_to))
    totals.add_row("difference", money_text(money.moved, signed=True) + share)
    totals.add_row(f"hospitals that gain ({money.hospitals_gaining:,})",
                   money_text(money.gained, signed=True))
    totals.add_row(f"hospitals that lose ({money.hospitals_losing:,})",
                   money_text(money.lost, signed=True))
    for side in ("from", "to"):
        totals.add_row(f"claims without a weight ({side})",
                       f"{money.claims_without_weight(side):,}")
    console.print(totals)

    shown = report.per_hospital.head(top)
    hospitals = Table(title=f"per hospital: top {shown.height} of {report.per_hospital.height} "
                            "by money moved")
    for column in ("hospital", "claims", "changed", "paid from", "paid to", "moved", "moved %"):
        hospitals.add_column(column, justify="left" if column == "hospital" else "right")
    for row in shown.iter_rows(named=True):
        hospitals.add_row(
            str(row["hospital_id"]), f"{row['claims']:,}", f"{row['changed']:,}",
            money_text(row["paid_from"]), money_text(row["paid_to"]),
            money_text(row["moved"], signed=True),
            f"{row['moved_share']:+.2%}" if row["moved_share"] is not None else "",
        )
    console.print(hospitals)

    transitions = Table(title=f"top {top} transitions by money moved")
    for column in ("from", "to", "claims", "paid from", "paid to", "moved"):
        transitions.add_column(column, justify="left" if column in ("from", "to") else "right")
    for row in report.top_money_movements(top).iter_rows(named=True):
        transitions.add_row(row["from_result"], row["to_result"], f"{row['claims']:,}",
                            money_text(row["paid_from"]), money_text(row["paid_to"]),
                            money_text(row["moved"], signed=True))
    console.print(transitions)

    if money.missing_weights.height:
        gaps = Table(title="groups without a weight in the parameter set (paid per item)")
        for column in ("side", "params", "drg", "claims", "paid"):
            gaps.add_column(column, justify="right" if column in ("claims", "paid") else "left")
        for side, params, drg, count, paid in money.missing_weights.head(top).iter_rows():
            gaps.add_row(side, params, drg, f"{count:,}", money_text(paid))
        if money.missing_weights.height > top:
            gaps.caption = f"and {money.missing_weights.height - top:,} more groups (HTML page)"
        console.print(gaps)
    errors = Console(stderr=True, width=120)
    for warning in money.warnings:
        errors.print(f"[yellow]warning:[/yellow] {warning}")
