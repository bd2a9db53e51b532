"""``drg audit``: run the audit rules over grouped (or raw) claims and write the report.

Registered on the main ``drg`` group by ``cli/app.py``; importable on its own as
``from drg_engine.cli.audit import audit`` (tests drive it with click's CliRunner).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from drg_engine.audit import load_inputs, load_registry, resolve_params, run_audit
from drg_engine.audit.runner import AuditResult
from drg_engine.errors import DrgEngineError
from drg_engine.io import write_table

EXIT_FAILED = 1


def _sibling(path: Path, label: str) -> Path:
    suffixes = "".join(path.suffixes)
    stem = path.name[: -len(suffixes)] if suffixes else path.name
    return path.with_name(f"{stem}.{label}{suffixes or '.parquet'}")


def _summary(result: AuditResult, written: list[str]) -> Table:
    findings = result.findings.to_pydict()
    counts: dict[str, list[float]] = {}
    for code, status, grade, amount in zip(findings["rule_code"], findings["status"],
                                           findings["grade"], findings["amount_at_risk"],
                                           strict=True):
        row = counts.setdefault(code, [0, 0, 0, 0.0])
        if status == "open":
            row[0] += 1
            row[1] += grade == "suspect"
            row[3] += float(amount or 0)
        else:
            row[2] += 1
    dq_counts: dict[str, int] = {}
    for code in result.data_quality.column("rule_code").to_pylist():
        dq_counts[code] = dq_counts.get(code, 0) + 1
    meta = result.meta
    table = Table(title=f"drg audit: {meta['claims_audited']:,} claims, "
                        f"{meta['charge_lines']:,} charge lines, rule set {meta['rule_set']}")
    for column, justify in (("rule", "left"), ("status", "left"), ("open", "right"),
                            ("suspect", "right"), ("exempted", "right"),
                            ("amount at risk", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for outcome in result.outcomes:
        opened, suspects, exempted, amount = counts.get(outcome.code, [0, 0, 0, 0.0])
        if outcome.family == "data-quality":
            opened = dq_counts.get(outcome.code, 0)
        status = outcome.status if outcome.status == "ran" else f"{outcome.status}"
        table.add_row(f"{outcome.code} {outcome.name}", status, f"{int(opened):,}",
                      f"{int(suspects):,}", f"{int(exempted):,}", f"{amount:,.2f}")
    total = sum(row[3] for row in counts.values())
    table.caption = (f"amount at risk counted once: {total:,.2f} ({meta['payment_source']}); "
                     f"{meta['seconds']:.1f} s\n" + "\n".join(written))
    return table


@click.command("audit")
@click.argument("claims_path", metavar="CLAIMS", type=click.Path(path_type=Path))
@click.option("--charges", "charges_path", type=click.Path(path_type=Path),
              help="Charge detail lines (费用明细): claim id, service date, item code, fee "
                   "category, quantity (refunds negative), amount, ordering department.")
@click.option("--visits", "visits_path", type=click.Path(path_type=Path),
              help="The persons' outpatient, emergency, pharmacy and other inpatient "
                   "settlements (patient id, institution, med_type, date, amount).")
@click.option("--payments", "payments_path", type=click.Path(path_type=Path),
              help="Per-claim output of `drg pay`: the fund's payment for each stay "
                   "(fund_payable) becomes the amount at risk instead of an estimate.")
@click.option("--hospitals", "hospitals_path", type=click.Path(path_type=Path),
              help="Hospital master: hospital id, level, approved beds (核定床位).")
@click.option("--category-map", "category_map_path", type=click.Path(path_type=Path),
              help="Local fee category -> national 14 categories (local_code,national_code); "
                   "default: the shipped table, then the 2-digit prefix.")
@click.option("--params", "params_path", type=click.Path(path_type=Path),
              help="Parameters file (TOML or JSON): [global], one table per rule code or name, "
                   "[tables].")
@click.option("--rules", "rules_id", default="chs_drg_1_1", show_default=True,
              help="Rule set used to group raw claims and to regroup counterfactual claims "
                   "(a grouped file's own rule_set column wins).")
@click.option("--report", "report_path", required=True, type=click.Path(path_type=Path),
              help="The self-contained HTML report to write (opens offline).")
@click.option("-o", "--output", "findings_path", type=click.Path(path_type=Path),
              help="Findings file (.parquet, .csv, .jsonl, .arrow); data-quality findings go "
                   "beside it as <name>.data_quality.<ext>.")
@click.option("--excel", "excel_path", type=click.Path(path_type=Path),
              help="Excel workbook of the findings, hospitals, rules and parameters.")
@click.option("--max-cases", default=500, show_default=True, type=click.IntRange(1),
              help="Cases with evidence in the HTML report (all are in the findings file).")
@click.option("--quiet", is_flag=True, help="No summary table (skip notices still go to stderr).")
def audit(claims_path: Path, charges_path: Path | None, visits_path: Path | None,
          payments_path: Path | None, hospitals_path: Path | None, category_map_path: Path | None,
          params_path: Path | None, rules_id: str, report_path: Path,
          findings_path: Path | None, excel_path: Path | None, max_cases: int,
          quiet: bool) -> None:
    """Audit the stays in CLAIMS (raw claims, or a file from `drg group --keep-input`).

    Runs the data-quality gate, then every audit rule whose inputs are present (hanging bed,
    overlapping stays, decomposed hospitalisation, low-standard admission, upcoding, charges
    after discharge or death, length of stay). Rules whose inputs are absent are skipped with a
    notice. Writes the HTML report and, when asked, the findings and an Excel workbook.
    """
    from drg_engine.audit.report import write_excel, write_html

    try:
        registry = load_registry()
        params = resolve_params(registry, params_path)
        inputs = load_inputs(
            claims_path, charges=charges_path, visits=visits_path, payments=payments_path,
            hospitals=hospitals_path,
            category_map=category_map_path or params.tables.get("category_map"),
            dx_support=params.tables.get("dx_support"), rules=rules_id,
        )
        result = run_audit(inputs, params, registry=registry)
        written = []
        for path in (report_path, findings_path, excel_path):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        write_html(result, report_path, max_cases=max_cases)
        written.append(f"report: {report_path}")
        if findings_path is not None:
            write_table(result.findings, findings_path)
            dq_path = _sibling(findings_path, "data_quality")
            write_table(result.data_quality, dq_path)
            written.append(f"findings: {findings_path}; data quality: {dq_path}")
        if excel_path is not None:
            try:
                write_excel(result, excel_path)
            except ModuleNotFoundError:
                raise DrgEngineError("the Excel workbook needs the xlsxwriter package: "
                                     "pip install xlsxwriter") from None
            written.append(f"workbook: {excel_path}")
    except DrgEngineError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    for outcome in result.skipped:
        click.echo(f"skipped {outcome.code} {outcome.name}: {outcome.reason}", err=True)
    if not quiet:
        Console(width=120).print(_summary(result, written))
