"""The findings as an Excel workbook (xlsxwriter, streamed in constant-memory mode).

Sheets: Summary, Rules, Hospitals, Findings (open), Exempted, DataQuality, Parameters and
RuleDocs. Evidence stays JSON (cut to Excel's 32,767-character cell limit); the Parquet/CSV
findings file keeps it whole.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.audit.runner import AuditResult
from drg_engine.errors import OutputPathError

CELL_LIMIT = 32_767
FINDING_COLUMNS = (
    "finding_id", "rule_code", "rule_name", "rule_version", "grade", "escalated_by", "claim_id",
    "related_id", "patient_id", "hospital_id", "hospital_level", "dept", "drg", "drg_name",
    "severity", "admit_date", "discharge_date", "month", "los_days", "total_cost",
    "stay_payment", "value", "threshold", "message", "amount_claimed", "amount_at_risk",
    "exemption", "exemption_reason", "params", "evidence",
)


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str) and len(value) > CELL_LIMIT:
        return value[: CELL_LIMIT - 20] + " …(truncated)"
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    return value


def _sheet(book: Any, name: str, rows: list[dict] | pa.Table, columns: list[str],
           header: Any, widths: dict[str, int] | None = None) -> None:
    sheet = book.add_worksheet(name)
    for col, column in enumerate(columns):
        sheet.write(0, col, column, header)
        sheet.set_column(col, col, (widths or {}).get(column, 14))
    if isinstance(rows, pa.Table):
        batches = rows.select(columns).to_batches(max_chunksize=50_000)
        line = 1
        for batch in batches:
            data = batch.to_pydict()
            for i in range(batch.num_rows):
                for col, column in enumerate(columns):
                    sheet.write(line, col, _value(data[column][i]))
                line += 1
        sheet.autofilter(0, 0, max(line - 1, 1), len(columns) - 1)
    else:
        for line, row in enumerate(rows, start=1):
            for col, column in enumerate(columns):
                sheet.write(line, col, _value(row.get(column)))
        sheet.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)
    sheet.freeze_panes(1, 0)


def write_excel(result: AuditResult, path: str | Path) -> None:
    """Write the workbook atomically."""
    import xlsxwriter

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {target}: folder {folder} does not exist")
    temp = target.with_name(f".{target.name}.tmp")
    book = xlsxwriter.Workbook(str(temp), {"constant_memory": True, "strings_to_numbers": False,
                                           "strings_to_formulas": False, "strings_to_urls": False})
    header = book.add_format({"bold": True, "bg_color": "#DDE5EE"})
    try:
        findings = result.findings
        opened = findings.filter(pc.equal(findings.column("status"), "open"))
        exempted = findings.filter(pc.equal(findings.column("status"), "exempted"))
        meta = result.meta
        summary = [{"item": key, "value": value} for key, value in meta.items()
                   if key != "timings"]
        summary += [
            {"item": "open findings", "value": opened.num_rows},
            {"item": "exempted hits", "value": exempted.num_rows},
            {"item": "amount at risk (counted once)",
             "value": float(pc.sum(opened.column("amount_at_risk")).as_py() or 0)},
            {"item": "data-quality findings", "value": result.data_quality.num_rows},
        ]
        _sheet(book, "Summary", summary, ["item", "value"], header, {"item": 34, "value": 60})
        rules = [{"code": o.code, "name": o.name, "family": o.family, "status": o.status,
                  "reason": o.reason, "hits": o.hits, "notes": " ".join(o.notes)}
                 for o in result.outcomes]
        _sheet(book, "Rules", rules, ["code", "name", "family", "status", "reason", "hits",
                                      "notes"], header, {"name": 34, "reason": 40, "notes": 60})
        _sheet(book, "Hospitals", result.hospitals, result.hospitals.column_names, header)
        _sheet(book, "Findings", opened, list(FINDING_COLUMNS), header,
               {"message": 60, "evidence": 60, "rule_name": 30})
        _sheet(book, "Exempted", exempted, list(FINDING_COLUMNS), header,
               {"message": 60, "exemption_reason": 40})
        _sheet(book, "DataQuality", result.data_quality, result.data_quality.column_names,
               header, {"message": 60})
        params = [{"scope": "global", "name": k, "value": v}
                  for k, v in result.params.global_values.items()]
        params += [{"scope": code, "name": k, "value": v}
                   for code, values in result.params.rule_values.items()
                   for k, v in values.items()]
        _sheet(book, "Parameters", params, ["scope", "name", "value"], header, {"value": 60})
        docs = [{"code": r.code, "name": r.spec.name, "version": r.spec.version,
                 "title": r.spec.title, "what": r.spec.docs.what, "why": r.spec.docs.why,
                 "evidence": r.spec.docs.evidence, "false_positives": r.spec.docs.false_positives,
                 "amount": r.spec.amount, "legal_basis": r.spec.legal_basis}
                for r in result.registry.rules]
        _sheet(book, "RuleDocs", docs, list(docs[0]), header,
               {"what": 60, "why": 60, "evidence": 60, "false_positives": 60})
        book.close()
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
