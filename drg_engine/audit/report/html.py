"""The audit report as one self-contained HTML file: inline CSS, inline SVG charts, a few lines
of inline JavaScript for filtering; nothing is fetched, so it opens offline and can be mailed.

Sections: run metadata, summary, notices (skipped rules, hospital caveats), charts (findings by
hospital, rate versus peers, monthly trend), per-rule and per-hospital tables, the cases with
their evidence (drill-down with ``<details>``), suppressed hits with their exemption, data
quality, rule documentation and the parameters used.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from drg_engine.audit.report import charts, evidence
from drg_engine.audit.runner import AuditResult
from drg_engine.errors import OutputPathError

MAX_CASES = 500
MAX_EXEMPTED = 300
MAX_DATA_QUALITY = 300

CSS = """
:root { --fg:#24292f; --muted:#6a737d; --line:#d0d7de; --bg:#f6f8fa; --suspect:#c0392b;
        --clue:#e08e0b; --accent:#2c6fbb; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC",
       system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0;
       background: #fff; font-size: 14px; line-height: 1.45; }
header { background: #1f3a5f; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .85; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line);
      padding: 8px 28px; z-index: 2; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
main { padding: 0 28px 40px; max-width: 1400px; }
section { margin-top: 28px; }
h2 { font-size: 18px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 6px;
        padding: 10px 14px; min-width: 150px; }
.card .v { font-size: 22px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; color: #fff;
         font-size: 12px; }
.badge.suspect { background: var(--suspect); } .badge.clue { background: var(--clue); }
.badge.exempted { background: #8a939d; }
.notice { border-left: 4px solid var(--clue); background: #fff8e6; padding: 6px 12px;
          margin: 6px 0; }
.notice.skip { border-color: var(--accent); background: #eef5fc; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; }
.charts figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
.charts figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { width: 100%; height: auto; }
svg.spark { width: 360px; height: 70px; border: 1px solid var(--line); }
svg.timeline { width: 100%; max-width: 820px; height: auto; }
details.case { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0;
               background: #fff; }
details.case > summary { cursor: pointer; padding: 6px 10px; list-style: none; }
details.case > summary::-webkit-details-marker { display: none; }
details.case[open] > summary { background: var(--bg); border-bottom: 1px solid var(--line); }
details.case .body { padding: 8px 12px; }
.case .amount { float: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 260px; }
table.cal td, table.cal th { padding: 1px 5px; font-size: 12px; text-align: right; }
table.cal tr.empty td { background: #fde2df; }
table.cal tr.mark td { outline: 2px solid var(--suspect); outline-offset: -2px; }
table.cal tr.weekend td:nth-child(3) { color: var(--suspect); }
table.cal tr.outside td { background: #eee; color: var(--muted); }
.legend .sw { display: inline-block; width: 12px; height: 12px; border: 1px solid var(--line);
              vertical-align: middle; margin-left: 10px; }
.legend .sw.empty { background: #fde2df; } .legend .sw.mark { border: 2px solid var(--suspect); }
.legend .sw.weekend { background: #fff; border-color: var(--suspect); }
.legend .sw.outside { background: #eee; }
.filter { margin: 8px 0; } .filter input, .filter select { padding: 4px 6px; margin-right: 8px; }
.rule-doc { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin: 8px 0; }
.rule-doc h3 { margin: 4px 0; font-size: 15px; }
.rule-doc dt { font-weight: 600; margin-top: 4px; } .rule-doc dd { margin-left: 16px; }
code { background: var(--bg); padding: 0 3px; border-radius: 3px; }
"""

SCRIPT = """
(function () {
  var text = document.getElementById('case-filter');
  var rule = document.getElementById('case-rule');
  var grade = document.getElementById('case-grade');
  function apply() {
    var q = (text.value || '').toLowerCase(), r = rule.value, g = grade.value, shown = 0;
    document.querySelectorAll('details.case').forEach(function (el) {
      var ok = (!q || el.dataset.search.indexOf(q) >= 0) && (!r || el.dataset.rule === r)
               && (!g || el.dataset.grade === g);
      el.style.display = ok ? '' : 'none'; if (ok) shown++;
    });
    document.getElementById('case-count').textContent = shown;
  }
  [text, rule, grade].forEach(function (el) { el.addEventListener('input', apply); });
})();
"""


def _money(value: Any) -> str:
    return f"{float(value or 0):,.2f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


def _table(rows: list[dict], columns: list[tuple[str, str, str]], table_id: str = "") -> str:
    """``columns``: (key, header, kind) with kind "" text, "num", "money", "pct"."""
    ident = f' id="{table_id}"' if table_id else ""
    head = "".join(f'<th class="{"num" if kind else ""}">{escape(label)}</th>'
                   for _, label, kind in columns)
    body = []
    for row in rows:
        cells = []
        for key, _, kind in columns:
            value = row.get(key)
            if kind == "money":
                cells.append(f'<td class="num">{_money(value)}</td>')
            elif kind == "pct":
                cells.append(f'<td class="num">{_pct(value)}</td>')
            elif kind == "num":
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                cells.append(f'<td class="num">{"—" if value is None else escape(str(value))}</td>')
            elif isinstance(value, list):
                cells.append(f"<td>{escape(', '.join(str(v) for v in value))}</td>")
            else:
                cells.append(f"<td>{'' if value is None else escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _rule_rows(result: AuditResult) -> list[dict]:
    findings = pl.from_arrow(result.findings.select(
        ["rule_code", "status", "grade", "claim_id", "amount_claimed", "amount_at_risk"]))
    assert isinstance(findings, pl.DataFrame)
    stats = findings.group_by("rule_code").agg(
        (pl.col("status") == "open").sum().alias("open"),
        ((pl.col("status") == "open") & (pl.col("grade") == "suspect")).sum().alias("suspects"),
        (pl.col("status") == "exempted").sum().alias("exempted"),
        pl.col("amount_claimed").filter(pl.col("status") == "open").sum().alias("claimed"),
        pl.col("amount_at_risk").sum().alias("at_risk"),
    )
    by_code = {row["rule_code"]: row for row in stats.to_dicts()}
    dq = pl.from_arrow(result.data_quality.select(["rule_code"]))
    assert isinstance(dq, pl.DataFrame)
    dq_counts = dict(dq.group_by("rule_code").len().iter_rows())
    rows = []
    for outcome in result.outcomes:
        spec = result.registry.by_code()[outcome.code].spec
        stat = by_code.get(outcome.code, {})
        status = (outcome.status if outcome.status == "ran"
                  else f"{outcome.status}: {outcome.reason}")
        rows.append({
            "code": outcome.code, "name": outcome.name, "family": outcome.family,
            "version": spec.version, "status": status,
            "open": dq_counts.get(outcome.code, 0) if spec.family == "data-quality"
            else stat.get("open", 0),
            "suspects": stat.get("suspects", 0), "exempted": stat.get("exempted", 0),
            "claimed": stat.get("claimed", 0.0), "at_risk": stat.get("at_risk", 0.0),
            "notes": " ".join(outcome.notes),
        })
    return rows


def _summary(result: AuditResult, open_rows: pl.DataFrame) -> str:
    meta = result.meta
    flagged_claims = open_rows.filter(pl.col("claim_id").is_not_null()).get_column(
        "claim_id").n_unique()
    suspects = open_rows.filter(pl.col("grade") == "suspect").height
    cards = [
        ("claims audited", f"{meta['claims_audited']:,}"),
        ("input rows rejected", f"{meta['rejected_rows']:,}"),
        ("charge lines", f"{meta['charge_lines']:,}"),
        ("open findings", f"{open_rows.height:,}"),
        ("suspects (疑点)", f"{suspects:,}"),
        ("clues (线索)", f"{open_rows.height - suspects:,}"),
        ("stays flagged", f"{flagged_claims:,}"),
        ("amount at risk", _money(open_rows.get_column("amount_at_risk").cast(pl.Float64).sum())),
        ("data-quality findings", f"{result.data_quality.num_rows:,}"),
        ("rules skipped", f"{len(result.skipped)}"),
    ]
    return '<div class="cards" id="summary-cards">' + "".join(
        f'<div class="card"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>'
        for k, v in cards) + "</div>"


def _notices(result: AuditResult, hospitals: list[dict]) -> str:
    parts = []
    for outcome in result.skipped:
        parts.append(f'<div class="notice skip"><b>{escape(outcome.code)} {escape(outcome.name)}'
                     f"</b> {escape(outcome.status)}: {escape(outcome.reason)}</div>")
    for row in hospitals:
        for caveat in row.get("caveats") or []:
            parts.append(f'<div class="notice"><b>{escape(str(row["hospital_id"]))}</b>: '
                         f"{escape(caveat)}</div>")
    if result.meta.get("payment_source", "").startswith("estimated"):
        share = result.params.global_values["fund_share"]
        some = "Some claims have" if ";" in result.meta["payment_source"] else "The claims have"
        parts.append(f'<div class="notice skip">{some} no fund payment (no fund_payment column '
                     "and no `drg pay` output given with --payments): their amounts at risk use "
                     f"total cost x fund share {share}.</div>")
    return "".join(parts) or '<p class="muted">No rule was skipped and no caveat applies.</p>'


def _case(row: dict, result: AuditResult, *, opened: bool = False) -> str:
    rule = result.registry.by_code()[row["rule_code"]]
    subject = row["claim_id"] or f"hospital {row['hospital_id']}"
    escalated = (f" (escalated with {escape(row['escalated_by'])})"
                 if row.get("escalated_by") else "")
    search = " ".join(str(row.get(k) or "") for k in (
        "claim_id", "hospital_id", "rule_code", "rule_name", "dept", "drg", "patient_id")).lower()
    params = json.loads(row.get("params") or "{}")
    checked = rule.spec.exemptions or []
    header = (
        f'<summary><span class="badge {row["grade"]}">{escape(row["grade"])}</span> '
        f'<b>{escape(row["rule_code"])}</b> {escape(row["rule_name"])} · {escape(str(subject))}'
        f' · {escape(str(row.get("hospital_id") or ""))}'
        f'<span class="amount">{_money(row["amount_at_risk"])}</span><br>'
        f'<span class="muted">{escape(row["message"] or "")}</span></summary>'
    )
    facts = evidence.pairs([
        ("finding id", row["finding_id"]),
        ("rule", f"{row['rule_code']} {row['rule_name']} v{row['rule_version']}: {row['title']}"),
        ("grade", f"{row['grade']}{escalated}"),
        ("claim / related", f"{row.get('claim_id') or '—'} / {row.get('related_id') or '—'}"),
        ("patient, hospital, dept", f"{row.get('patient_id') or '—'}, "
                                    f"{row.get('hospital_id') or '—'}, {row.get('dept') or '—'}"),
        ("stay", f"{row.get('admit_date') or '—'} to {row.get('discharge_date') or '—'}, "
                 f"LOS {row.get('los_days') if row.get('los_days') is not None else '—'}, "
                 f"DRG {row.get('drg') or '—'} {row.get('drg_name') or ''}"),
        ("value / threshold", f"{row.get('value')} / {row.get('threshold')}"),
        ("amount claimed by the rule / counted here",
         f"{_money(row['amount_claimed'])} / {_money(row['amount_at_risk'])}"),
        ("parameters used", ", ".join(f"{k} = {v}" for k, v in params.items()) or "none"),
        ("exemptions checked (none applied)", ", ".join(checked) or "none for this rule"),
        ("legal basis", rule.spec.legal_basis or "—"),
    ])
    body = facts + evidence.render(row.get("evidence"))
    return (f'<details class="case"{" open" if opened else ""} '
            f'data-rule="{escape(row["rule_code"])}" '
            f'data-grade="{escape(row["grade"])}" data-search="{escape(search)}">'
            f'{header}<div class="body">{body}</div></details>')


def _rule_docs(result: AuditResult) -> str:
    parts = []
    for rule in result.registry.rules:
        spec = rule.spec
        optional = (f" (optional: {escape(', '.join(spec.optional_inputs))})"
                    if spec.optional_inputs else "")
        params = [{"name": name, "value": result.params.for_rule(rule.code).get(name),
                   "default": p.default, "unit": p.unit, "description": p.description,
                   "source": p.source} for name, p in spec.params.items()]
        parts.append(
            f'<div class="rule-doc" id="rule-{spec.code}"><h3>{escape(spec.code)} '
            f"<code>{escape(spec.name)}</code> v{spec.version} · {escape(spec.title)}</h3>"
            f"<dl><dt>What it flags</dt><dd>{escape(spec.docs.what)}</dd>"
            f"<dt>Why regulators care</dt><dd>{escape(spec.docs.why)}</dd>"
            f"<dt>Evidence shown</dt><dd>{escape(spec.docs.evidence)}</dd>"
            f"<dt>Known false positives</dt><dd>{escape(spec.docs.false_positives)}</dd>"
            f"<dt>Amount at risk</dt><dd>{escape(spec.amount)}</dd>"
            f"<dt>Inputs</dt><dd>{escape(', '.join(spec.inputs))}{optional}</dd>"
            f"<dt>Exemptions honoured</dt><dd>{escape(', '.join(spec.exemptions) or 'none')}</dd>"
            f"</dl>"
            + (_table(params, [("name", "parameter", ""), ("value", "value used", ""),
                               ("default", "default", ""), ("unit", "unit", ""),
                               ("description", "meaning", ""), ("source", "source", "")])
               if params else "")
            + "</div>")
    return "".join(parts)


def render_html(result: AuditResult, *, title: str = "Inpatient claims audit",
                max_cases: int = MAX_CASES, generated: datetime | None = None) -> str:
    """The report as one HTML string."""
    findings = pl.from_arrow(result.findings)
    assert isinstance(findings, pl.DataFrame)
    open_rows = findings.filter(pl.col("status") == "open")
    exempted = findings.filter(pl.col("status") == "exempted")
    hospitals = pl.from_arrow(result.hospitals)
    assert isinstance(hospitals, pl.DataFrame)
    hospital_rows = hospitals.to_dicts()
    monthly = pl.from_arrow(result.monthly)
    assert isinstance(monthly, pl.DataFrame)
    trend = (monthly.group_by("month").agg(pl.col("findings").sum(),
                                          pl.col("amount_at_risk").sum()).sort("month"))
    meta = result.meta
    generated = generated or datetime.now()
    rule_rows = _rule_rows(result)
    cases = open_rows.sort(["grade", "amount_at_risk", "finding_id"],
                           descending=[True, True, False]).head(max_cases)
    rule_options = "".join(f'<option value="{escape(r["code"])}">{escape(r["code"])} '
                           f'{escape(r["name"])}</option>' for r in rule_rows
                           if r["family"] != "data-quality")
    by_findings = sorted(hospital_rows, key=lambda r: (-r["findings"], str(r["hospital_id"])))
    trend_chart = charts.monthly_trend(
        trend.get_column("month").to_list(), trend.get_column("findings").to_list(),
        [float(value or 0) for value in trend.get_column("amount_at_risk").to_list()])
    charts_html = (
        '<div class="charts">'
        "<figure><figcaption>Findings by hospital</figcaption>"
        f"{charts.findings_by_hospital(by_findings)}</figure>"
        "<figure><figcaption>Rate against peers</figcaption>"
        f"{charts.rate_vs_peers(hospital_rows)}</figure>"
        f"<figure><figcaption>Monthly trend</figcaption>{trend_chart}</figure></div>"
    )
    rules_table = _table(rule_rows, [
        ("code", "code", ""), ("name", "name", ""), ("family", "family", ""),
        ("version", "v", "num"), ("status", "status", ""), ("open", "open findings", "num"),
        ("suspects", "suspects", "num"), ("exempted", "exempted", "num"),
        ("claimed", "amount claimed by rule", "money"), ("at_risk", "amount counted once", "money"),
        ("notes", "notes", "")], "rules-table")
    hospitals_table = _table(hospital_rows, [
        ("hospital_id", "hospital", ""), ("hospital_name", "name", ""),
        ("hospital_level", "level", ""), ("approved_beds", "beds", "num"),
        ("claims", "claims", "num"), ("findings", "open findings", "num"),
        ("suspects", "suspects", "num"), ("flagged_claims", "stays flagged", "num"),
        ("flagged_rate", "flagged rate", "pct"), ("peer_flagged_rate", "peer median", "pct"),
        ("cc_rate", "CC/MCC rate", "pct"), ("cc_peer_rate", "peer CC/MCC", "pct"),
        ("amount_at_risk", "amount at risk", "money"), ("exempted", "exempted", "num"),
        ("dq_findings", "data findings", "num"), ("caveats", "caveats", "")], "hospitals-table")
    exempted_rows = exempted.sort(["rule_code", "claim_id"]).head(MAX_EXEMPTED).to_dicts()
    exempted_table = _table(exempted_rows, [
        ("rule_code", "rule", ""), ("claim_id", "claim", ""), ("hospital_id", "hospital", ""),
        ("dept", "dept", ""), ("exemption", "exemption", ""), ("exemption_reason", "why", ""),
        ("message", "what the rule saw", "")], "exempted-table")
    dq = pl.from_arrow(result.data_quality)
    assert isinstance(dq, pl.DataFrame)
    dq_summary = _table([r for r in rule_rows if r["family"] == "data-quality"], [
        ("code", "check", ""), ("name", "name", ""), ("status", "status", ""),
        ("open", "findings", "num")], "dq-table")
    dq_rows = dq.head(MAX_DATA_QUALITY).to_dicts()
    dq_detail = _table(dq_rows, [("rule_code", "check", ""), ("claim_id", "claim", ""),
                                 ("hospital_id", "hospital", ""), ("blocks", "held back from", ""),
                                 ("message", "message", "")])
    params_rows = [{"name": k, "value": json.dumps(v, ensure_ascii=False)}
                   for k, v in result.params.global_values.items()]
    params_table = _table(params_rows, [("name", "parameter", ""), ("value", "value", "")])
    inputs = ", ".join(meta.get("inputs", []))
    more = max(open_rows.height - cases.height, 0)
    html = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="drg-engine audit">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<header><h1>{escape(title)}</h1>
<p>Period {escape(str(meta.get('period')))} · rule set {escape(str(meta.get('rule_set')))} ·
inputs: {escape(inputs)} · parameters: {escape(result.params.source)} · generated
{escape(generated.strftime('%Y-%m-%d %H:%M'))} · audit took {meta.get('seconds', 0):.1f} s</p>
</header>
<nav><a href="#summary">Summary</a><a href="#notices">Notices</a><a href="#charts">Charts</a>
<a href="#rules">Rules</a><a href="#hospitals">Hospitals</a><a href="#cases">Cases</a>
<a href="#exempted">Exempted</a><a href="#data-quality">Data quality</a>
<a href="#rule-docs">Rule docs</a><a href="#parameters">Parameters</a></nav>
<main>
<section id="summary"><h2>Summary</h2>{_summary(result, open_rows)}
<p class="muted">Amounts at risk are counted once across rules: per stay, findings are taken
suspect first, then by amount; a charge line goes to the first finding that claims it and the
total never exceeds the stay's fund payment ({escape(str(meta.get('payment_source')))}).</p>
</section>
<section id="notices"><h2>Notices</h2>{_notices(result, hospital_rows)}</section>
<section id="charts"><h2>Charts</h2>{charts_html}</section>
<section id="rules"><h2>Findings by rule</h2>{rules_table}</section>
<section id="hospitals"><h2>Findings by hospital</h2>{hospitals_table}</section>
<section id="cases"><h2>Cases</h2>
<p>The {cases.height:,} highest-priority open findings (suspects first, then by amount at risk);
{more:,} more are in the findings file. Click a case for its evidence.</p>
<div class="filter"><input id="case-filter" placeholder="search claim, hospital, DRG, dept">
<select id="case-rule"><option value="">all rules</option>{rule_options}</select>
<select id="case-grade"><option value="">all grades</option><option value="suspect">suspect
</option><option value="clue">clue</option></select> shown: <span id="case-count">{cases.height}
</span></div>
<div id="case-list">{''.join(_case(row, result, opened=(i == 0))
                          for i, row in enumerate(cases.to_dicts()))}</div>
</section>
<section id="exempted"><h2>Exempted hits</h2>
<p>Hits a rule produced but an exemption explains ({exempted.height:,} in total, first
{len(exempted_rows):,} shown). They carry no amount and stay in the findings file with status
<code>exempted</code>.</p>{exempted_table}</section>
<section id="data-quality"><h2>Data quality (run first)</h2>{dq_summary}
<p class="muted">First {len(dq_rows):,} of {dq.height:,} data-quality findings:</p>{dq_detail}
</section>
<section id="rule-docs"><h2>Rule documentation</h2>{_rule_docs(result)}</section>
<section id="parameters"><h2>Global parameters</h2>{params_table}
</section>
</main>
<script>{SCRIPT}</script>
</body></html>
"""
    return html


def write_html(result: AuditResult, path: str | Path, **options: Any) -> None:
    """Write the report atomically (temp file in the same folder, then rename)."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {target}: folder {folder} does not exist")
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_text(render_html(result, **options), encoding="utf-8")
    temp.replace(target)
