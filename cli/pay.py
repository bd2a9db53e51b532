"""``drg pay`` and ``drg calibrate``: thin click commands over `drg_engine.payment`.

Both are plain click commands, registered on the ``drg`` group by ``cli/app.py``. Errors the
user can fix print ``Error: <message>`` and exit with code 1, like the other commands.
"""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from drg_engine.errors import DrgEngineError
from drg_engine.io import read_claims
from drg_engine.payment.calibration import (
    DEFAULT_TEMPLATES,
    Calibration,
    CalibrationOptions,
    write_calibrated_params,
)
from drg_engine.payment.calibration import (
    calibrate as calibrate_history,
)
from drg_engine.payment.pricing import PaymentRun, price_claims
from drg_engine.payment.writers import check_output_path, sibling_path, write_payment_table

CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.command(context_settings=CONTEXT)
@click.argument("grouped_path", metavar="GROUPED", type=click.Path(path_type=Path))
@click.option("--params", "params_id", required=True,
              help="Payment parameter set: an id under payment_params/ (e.g. anon_region_2025) "
                   "or a folder with a manifest.toml.")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Per-claim payments; the format follows the extension (.parquet, .csv, "
                   ".xlsx, .arrow/.ipc/.feather, .jsonl/.ndjson).")
@click.option("--settlement", "settlement_path", type=click.Path(path_type=Path),
              help="Per-hospital settlement by month and year (default: OUT with "
                   "'.settlement' before the extension, same format).")
@click.option("--quiet", is_flag=True, help="No summary.")
def pay(grouped_path: Path, params_id: str, output: Path, settlement_path: Path | None,
        quiet: bool) -> None:
    """Price the grouped claims in GROUPED and settle with each hospital.

    GROUPED is the output of `drg group IN -o GROUPED --keep-input` (or any table with
    claim_id, drg, hospital_id, patient_id, discharge_date and total_cost; dip_group for DIP).
    Each claim gets its class (NORMAL, LOW, HIGH, EXTREME, UNGROUPABLE, NO_WEIGHT, REFUND),
    its units and case payment, and the fund / patient split; fund + patient = total cost on
    every claim, and the settlement table's totals are the sums of its claims, to the fen.
    """
    settlement_target = settlement_path or sibling_path(output, "settlement")
    try:
        for target in (output, settlement_target):
            target.parent.mkdir(parents=True, exist_ok=True)
            check_output_path(target)
        started = time.perf_counter()
        run = price_claims(read_claims(grouped_path), params_id)
        priced = time.perf_counter() - started
        about = _about(run, grouped_path)
        write_payment_table(run.claims, output, sheet="claims", about=about)
        write_payment_table(run.settlement, settlement_target, sheet="settlement", about=about)
    except DrgEngineError as exc:
        raise click.ClickException(str(exc)) from None
    if not quiet:
        console = Console()
        console.print(pay_summary(run, priced, output, settlement_target))
        for warning in run.warnings:
            Console(stderr=True).print(f"[yellow]warning:[/yellow] {warning}")


@click.command(context_settings=CONTEXT)
@click.argument("history_paths", metavar="HISTORY...", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Folder for the calibrated parameter set (manifest.toml, CSVs, README.md).")
@click.option("--scheme", type=click.Choice(["DRG", "DIP"]), default="DRG", show_default=True,
              help="Calibrate DRG weights (drg column) or DIP scores (dip_group column).")
@click.option("--year-weights", "year_weights", default=None, metavar="W1:W2:...",
              help="Weights of the most recent years, oldest first, e.g. 1:2:7 (default: every "
                   "year weighs the same).")
@click.option("--trim", default="iqr:1.5", show_default=True, metavar="METHOD[:VALUE]",
              help="Outlier trimming per group and year: iqr[:k] (Tukey fences Q1 - k IQR .. "
                   "Q3 + k IQR), quantile[:q] (q .. 1 - q), or none.")
@click.option("--min-cases", default=15, show_default=True, type=click.IntRange(min=1),
              help="Groups with fewer cases are merged into their ADRG or flagged.")
@click.option("--small-groups", type=click.Choice(["merge", "flag"]), default=None,
              help="merge (DRG default): use the ADRG's weight; flag (DIP default): keep the "
                   "group's own value, marked low_volume.")
@click.option("--template", default=None,
              help="Parameter set whose other tables (hospitals, outliers, benefits, "
                   f"settlement) are copied (default: {DEFAULT_TEMPLATES['DRG']} for DRG, "
                   f"{DEFAULT_TEMPLATES['DIP']} for DIP).")
@click.option("--id", "set_id", default=None, help="Id of the new set (default: folder name).")
@click.option("--overwrite", is_flag=True, help="Replace a parameter set already in OUTPUT.")
@click.option("--quiet", is_flag=True, help="No summary.")
def calibrate(history_paths: tuple[Path, ...], output: Path, scheme: str,
              year_weights: str | None, trim: str, min_cases: int, small_groups: str | None,
              template: str | None, set_id: str | None, overwrite: bool, quiet: bool) -> None:
    """Calibrate weights (DRG) or scores (DIP) from grouped historical claims in HISTORY.

    HISTORY is one or more files written by `drg group ... --keep-input` (several years).
    Group averages are trimmed, optionally year-weighted (1:2:7), divided by the overall
    average; the base rate (DIP: budget point value) prices the history at its own cost. The
    result is a parameter set that `drg pay --params OUTPUT` reads directly.
    """
    try:
        method, value = _parse_trim(trim)
        options = CalibrationOptions(
            scheme=scheme,  # type: ignore[arg-type]
            year_weights=_parse_weights(year_weights),
            trim_method=method,  # type: ignore[arg-type]
            trim_value=value,
            min_cases=min_cases,
            small_groups=small_groups or ("merge" if scheme == "DRG" else "flag"),  # type: ignore[arg-type]
        )
        history = _concat([read_claims(path) for path in history_paths])
        started = time.perf_counter()
        calibration = calibrate_history(history, options)
        written = write_calibrated_params(
            calibration, output, template=template, set_id=set_id, overwrite=overwrite,
            history_name=", ".join(path.name for path in history_paths),
        )
        seconds = time.perf_counter() - started
    except DrgEngineError as exc:
        raise click.ClickException(str(exc)) from None
    if not quiet:
        Console().print(calibration_summary(calibration, written, seconds))


def _parse_trim(text: str) -> tuple[str, Decimal]:
    method, _, value = text.partition(":")
    defaults = {"iqr": "1.5", "quantile": "0.025", "none": "0"}
    if method not in defaults:
        raise click.BadParameter(f"{text!r}: use iqr[:k], quantile[:q] or none",
                                 param_hint="--trim")
    return method, _decimal(value or defaults[method], "--trim")


def _parse_weights(text: str | None) -> tuple[Decimal, ...] | None:
    if text is None:
        return None
    return tuple(_decimal(part, "--year-weights") for part in text.split(":"))


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not a number", param_hint=option) from None
    if not value.is_finite():
        raise click.BadParameter(f"{text!r} is not a number", param_hint=option)
    return value


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def _about(run: PaymentRun, source: Path) -> dict[str, Any]:
    manifest = run.params.manifest
    return {
        "parameter set": f"{manifest.id} ({manifest.version}): {manifest.title}",
        "scheme": manifest.pricing.scheme,
        "claims file": str(source),
        "claims": run.claims.num_rows,
        "reconciliation": "fund + patient = total cost on every claim; hospital rows = sums "
                          "of their claims",
    }


def _money(value: Any) -> str:
    return f"{Decimal(value or 0):,.2f}"


def _sum(table: pa.Table, column: str) -> Decimal:
    value = pc.sum(table.column(column)).as_py()
    return Decimal(value) if value is not None else Decimal(0)


def pay_summary(run: PaymentRun, seconds: float, output: Path, settlement: Path) -> Group:
    """The terminal summary of a pricing run: claims by class, then the money."""
    claims = run.claims
    manifest = run.params.manifest
    table = Table(title=f"drg pay: {claims.num_rows:,} claims, parameter set {manifest.id} "
                        f"({manifest.pricing.scheme})")
    table.add_column("claims")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    table.add_column("total cost", justify="right")
    table.add_column("case payment", justify="right")
    classes = claims.group_by("case_class").aggregate([
        ("claim_id", "count"), ("total_cost", "sum"), ("case_payment", "sum"),
    ]).sort_by([("claim_id_count", "descending")]).to_pylist()
    total = max(claims.num_rows, 1)
    for row in classes:
        table.add_row(str(row["case_class"]), f"{row['claim_id_count']:,}",
                      f"{row['claim_id_count'] / total:.1%}", _money(row["total_cost_sum"]),
                      _money(row["case_payment_sum"]))
    reviews = pc.sum(claims.column("special_review")).as_py() or 0
    if reviews:
        table.add_row("special review flag", f"{reviews:,}", f"{reviews / total:.1%}", "", "")
    years = run.settlement.filter(pc.equal(run.settlement.column("period_kind"), "year"))
    money = Table(title="money (yuan)")
    money.add_column("")
    money.add_column("amount", justify="right")
    lines = [
        ("total cost (fee-for-service)", _sum(claims, "total_cost")),
        ("  fund share (basic + serious illness)", _sum(claims, "fund_share")),
        ("  patient share", _sum(claims, "patient_share")),
        ("case payments (DRG/DIP standard)", _sum(claims, "case_payment")),
        ("fund payable to hospitals", _sum(claims, "fund_payable")),
        ("balance (payments - cost)", _sum(claims, "case_balance")),
        ("surplus retained by hospitals", _sum(years, "surplus_retained")),
        ("overspend borne by the fund", _sum(years, "overspend_borne_by_fund")),
        ("fund settlement (year rows)", _sum(years, "fund_settlement")),
    ]
    for label, amount in lines:
        money.add_row(label, _money(amount))
    hospitals = len(set(years.column("hospital_id").to_pylist()))
    months = run.settlement.num_rows - years.num_rows
    values = ", ".join(
        f"{row.get('insurance_type') or 'all'}"
        + (f" level {row['hospital_level']}" if row.get("hospital_level") is not None else "")
        + f": {row['unit_value']}"
        for row in run.unit_values.to_pylist()[:6]
    )
    recon = run.reconciliation
    footer = Text(
        f"reconciled: fund + patient = total cost on all {recon['claims']:,} claims; "
        f"{years.num_rows} hospital-year rows ({hospitals} hospitals) add up to the claims, "
        f"{months} month rows to their years\nunit values: {values}\n"
        f"{seconds:.2f} s ({claims.num_rows / max(seconds, 1e-9):,.0f} claims/s)\n"
        f"claims: {output}\nsettlement: {settlement}"
    )
    return Group(table, money, footer)


def calibration_summary(calibration: Calibration, folder: Path, seconds: float) -> Group:
    """The terminal summary of a calibration."""
    options = calibration.options
    noun = "weight" if options.scheme == "DRG" else "score"
    table = Table(title=f"drg calibrate: {calibration.cases:,} cases, {options.scheme}")
    table.add_column("what")
    table.add_column("value", justify="right")
    years = ", ".join(f"{y}x{w}" for y, w in calibration.year_weights.items())
    table.add_row("years x weight", years)
    sources = Counter(group.source for group in calibration.groups)
    for source in ("calibrated", "merged_adrg", "low_volume"):
        table.add_row(f"groups {source}", f"{sources.get(source, 0):,}")
    table.add_row("overall average cost M", _money(calibration.overall_average))
    table.add_row("base rate" if options.scheme == "DRG" else "budget point value",
                  str(calibration.unit_value))
    largest = sorted(calibration.groups, key=lambda g: (-g.cases, g.group))[:5]
    for group in largest:
        table.add_row(f"{noun} {group.group} ({group.cases:,} cases)", str(group.value))
    footer = Text(f"parameter set written to {folder} in {seconds:.2f} s\n"
                  f"use it with: drg pay GROUPED --params {folder} -o OUT")
    return Group(table, footer)
