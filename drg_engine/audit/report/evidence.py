"""Readable HTML for a finding's evidence (the JSON each rule writes), one renderer per kind.

The same JSON is in the findings file; this module only lays it out for a reviewer: the day
calendar of a stay, linked transactions, the two stays of a readmission, the regrouping trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from html import escape
from typing import Any

from drg_engine.audit.report import charts

CATEGORY_NAMES = {
    "01": "床位", "02": "诊察", "03": "检查", "04": "化验", "05": "治疗", "06": "手术",
    "07": "护理", "08": "材料", "09": "西药", "10": "中药饮片", "11": "中成药", "12": "一般诊疗",
    "13": "挂号", "14": "其他", "??": "未映射",
}
WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list):
        return escape(", ".join(str(item) for item in value))
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False))
    return escape(str(value))


def table(rows: Sequence[dict], columns: Sequence[tuple[str, str]], css: str = "ev") -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(key))}</td>" for key, _ in columns) + "</tr>"
        for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def pairs(items: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def calendar(data: dict, highlight: set[int] | None = None) -> str:
    """Day x national category amounts; empty interior days and highlighted days marked."""
    days = data.get("days") or []
    if not days:
        return ""
    codes = sorted({cell["c"] for day in days for cell in (day.get("cells") or [])})
    head = ("<th>day</th><th>date</th><th>wd</th>"
            + "".join(f'<th title="{c}">{escape(CATEGORY_NAMES.get(c, c))}</th>' for c in codes)
            + "<th>total</th>")
    rows = []
    for day in days:
        cells = {cell["c"]: cell["a"] for cell in (day.get("cells") or [])}
        classes = []
        if day.get("interior") and day.get("empty"):
            classes.append("empty")
        if day.get("inside") is False:
            classes.append("outside")
        if highlight and day["d"] in highlight:
            classes.append("mark")
        weekday = WEEKDAYS.get(day.get("dow"), "")
        if day.get("holiday"):
            weekday += " 假"
        if day.get("dow") in (6, 7):
            classes.append("weekend")
        total = sum(cells.values())
        row = (f"<td>{day['d']}</td><td>{escape(str(day.get('date')))}</td>"
               f"<td>{escape(weekday)}</td>"
               + "".join(f"<td>{cells[c]:,.2f}</td>" if c in cells else "<td></td>"
                         for c in codes)
               + f"<td>{total:,.2f}</td>")
        rows.append(f'<tr class="{" ".join(classes)}">{row}</tr>')
    return ('<div class="calendar"><table class="cal"><thead><tr>' + head + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table><p class=\"legend\"><span class=\"sw empty\"></span>"
            " empty interior day (hotel charges only) <span class=\"sw mark\"></span> days the "
            "finding names <span class=\"sw outside\"></span> outside the stay "
            "<span class=\"sw weekend\"></span> weekend; 假 = public holiday</p></div>")


def _run_days(runs: Sequence[dict] | None) -> set[int]:
    marked: set[int] = set()
    for run in runs or []:
        marked.update(range(run["start_day"], run["end_day"] + 1))
    return marked


def _empty_days(ev: dict) -> tuple[str, set[int]]:
    runs = [dict(run, kind="pre-operative wait" if run.get("preop") else "empty run")
            for run in ev.get("runs") or []]
    text = (f"<p>{ev.get('empty_days')} of {ev.get('interior_days')} interior days empty "
            f"({100 * float(ev.get('empty_share') or 0):.0f}%).</p>"
            + table(runs, [("start_day", "from day"), ("end_day", "to day"), ("days", "days"),
                           ("kind", "kind")]))
    return text, _run_days(ev.get("runs"))


def _templated(ev: dict) -> tuple[str, set[int]]:
    return (table(ev.get("runs") or [], [("start_day", "from day"), ("end_day", "to day"),
                                         ("days", "identical days")]),
            _run_days(ev.get("runs")))


def _idle(ev: dict) -> tuple[str, set[int]]:
    return (pairs([("idle days", ev.get("idle_days")),
                   ("first substantive day", ev.get("first_substantive_day")),
                   ("first operation day", ev.get("first_surgery_day"))]),
            set(ev.get("idle_days") or []))


def _norm(ev: dict) -> tuple[str, set[int]]:
    keys = [("per_diem", "cost per day"), ("norm_median_per_diem", "norm median per day"),
            ("total_cost", "total cost"), ("norm_mean_cost", "norm mean cost"),
            ("los_days", "length of stay"), ("norm_mean_los", "norm mean LOS"),
            ("norm_p95_los", "norm LOS P95"), ("excess_days", "days beyond the limit"),
            ("norm_source", "norm"), ("norm_n", "stays in the norm")]
    return pairs((label, ev[key]) for key, label in keys if key in ev), set()


def _transactions(ev: dict) -> tuple[str, set[int]]:
    rows = ev.get("transactions") or []
    return (table(rows, [("date", "date"), ("day", "day of stay"), ("hospital_id", "institution"),
                         ("kind", "kind"), ("med_type", "med_type"), ("amount", "amount"),
                         ("items", "items"), ("elsewhere", "other institution")]),
            {row["day"] for row in rows if row.get("day") is not None})


def _units(ev: dict) -> tuple[str, set[int]]:
    text = table(ev.get("units") or [], [("kind", "kind"), ("billed", "units billed"),
                                        ("allowed", "allowed")])
    if ev.get("two_level_days"):
        text += "<p>Days with two nursing levels:</p>" + table(
            ev["two_level_days"], [("date", "day"), ("levels", "nursing items")])
    return text, set()


def _census(ev: dict) -> tuple[str, set[int]]:
    months = ev.get("months") or []
    spark = charts.sparkline([m["max_census"] for m in months], ev.get("approved_beds"),
                             label="monthly maximum census against approved beds")
    text = pairs([("approved beds", ev.get("approved_beds")), ("days over", ev.get("days_over")),
                  ("maximum census", ev.get("max_census")), ("bed-days", ev.get("bed_days")),
                  ("period", ev.get("period")),
                  ("theoretical minimum beds (bed-days / days)", ev.get("theoretical_min_beds")),
                  ("average occupancy", ev.get("occupancy"))])
    text += f"<p>Monthly maximum census (line) against approved beds (dashed):</p>{spark}"
    text += table(ev.get("top_days") or [], [("night", "busiest nights"), ("census", "census")])
    return text, set()


def _overlap(ev: dict) -> tuple[str, set[int]]:
    stay = ev.get("stay") or {}
    others = ev.get("others") or []
    bars = [{"label": stay.get("claim_id"), "admit_date": stay.get("admit_date"),
             "discharge_date": stay.get("discharge_date")}]
    bars += [{"label": f"{o.get('stay_id')} ({o.get('hospital_id')})",
              "admit_date": o.get("admit_date"), "discharge_date": o.get("discharge_date")}
             for o in others]
    text = charts.timeline(bars)
    text += table([stay], [("claim_id", "this stay"), ("hospital_id", "hospital"),
                           ("dept", "dept"), ("admit_date", "admitted"),
                           ("discharge_date", "discharged"), ("principal_dx", "principal"),
                           ("drg", "DRG"), ("payment", "payment")])
    text += table(others, [("stay_id", "overlapping stay"), ("source", "from"),
                           ("hospital_id", "hospital"), ("admit_date", "admitted"),
                           ("discharge_date", "discharged"), ("principal_dx", "principal"),
                           ("overlap_days", "common days")])
    alternative = escape(ev.get("alternative_explanation", ""))
    text += f'<p class="muted">Alternative explanation: {alternative}</p>'
    return text, set()


def _pair(ev: dict) -> tuple[str, set[int]]:
    previous, nxt, merged = ev.get("previous") or {}, ev.get("next") or {}, ev.get("merged") or {}
    tiers = {1: "same principal code", 2: "same ICD-10 category",
             3: "previous secondary = next principal", 4: "same MDC"}
    text = charts.timeline([
        {"label": f"previous {previous.get('claim_id')}", **previous},
        {"label": f"readmission {nxt.get('claim_id')}", **nxt},
    ])
    text += pairs([("gap (days)", ev.get("gap_days")),
                   ("diagnosis match", tiers.get(ev.get("tier"), ev.get("tier"))),
                   ("strength boosters", ev.get("boosters") or "none")])
    columns = [("claim_id", "stay"), ("hospital_id", "hospital"), ("dept", "dept"),
               ("admit_date", "admitted"), ("discharge_date", "discharged"),
               ("discharge_way", "discharge way"), ("diagnoses", "diagnoses"),
               ("procedures", "procedures"), ("drg", "DRG"), ("payment", "payment")]
    text += table([previous, nxt], columns)
    text += "<p>Merged stay regrouped with the grouper:</p>" + pairs(
        [("DRG", merged.get("drg")), ("severity", merged.get("severity")),
         ("norm payment", merged.get("norm_payment")), ("norm stays", merged.get("norm_n")),
         ("amount method", merged.get("method"))])
    return text, set()


def _fee_mix(ev: dict) -> tuple[str, set[int]]:
    total = float(ev.get("total") or 0) or 1.0
    rows = [dict(c, name=CATEGORY_NAMES.get(c["category"], c["category"]),
                 share=f"{100 * float(c['amount']) / total:.1f}%")
            for c in ev.get("categories") or []]
    signals = ev.get("signals") or {}
    text = table(rows, [("category", "category"), ("name", "name"), ("amount", "amount"),
                        ("share", "share")])
    text += pairs([(key.replace("_", " "), value) for key, value in signals.items()]
                  + [("norm mean cost", ev.get("norm_mean_cost")), ("norm", ev.get("norm_source"))])
    return text, set()


def _peer_rate(ev: dict) -> tuple[str, set[int]]:
    months = ev.get("months") or []
    spark = charts.sparkline([m["observed"] / m["expected"] if m["expected"] else 0
                              for m in months], 1.0, label="monthly observed / expected")
    text = pairs([("stays in split ADRGs", ev.get("n")), ("with CC/MCC", ev.get("observed")),
                  ("expected from peers", ev.get("expected")), ("ratio", ev.get("ratio")),
                  ("z-score", ev.get("z")), ("peer level", ev.get("peer_level"))])
    text += f"<p>Monthly observed / expected (dashed line = 1):</p>{spark}"
    text += table(ev.get("top_adrgs") or [], [("adrg", "ADRG"), ("n", "stays"),
                                             ("cc", "with CC/MCC"),
                                             ("hospital_rate", "hospital rate"),
                                             ("peer_rate", "peer rate")])
    return text, set()


def _regroup(ev: dict) -> tuple[str, set[int]]:
    billed = ev.get("billed") or {}
    text = pairs([("billed DRG", billed.get("drg")), ("severity", billed.get("severity"))]
                 + [(k.replace("_", " "), ev[k]) for k in
                    ("or_procedures", "surgery_amount", "ventilation_hours",
                     "billed_ventilator_hours", "ventilation_codes") if k in ev])
    trail = ev.get("trail") or []
    columns = [("dropped", "removed diagnosis"), ("change", "change"), ("cf_drg", "DRG without"),
               ("cf_severity", "severity without"), ("changes_group", "lifts the group"),
               ("support_prefixes", "treating items looked for"), ("supported", "found"),
               ("norm_cost_billed", "norm cost billed"),
               ("norm_cost_without", "norm cost without")]
    present = [(key, label) for key, label in columns if any(key in row for row in trail)]
    text += "<p>Regrouping trail:</p>" + table(trail, present)
    if ev.get("method"):
        text += f"<p class=\"muted\">{escape(ev['method'])}</p>"
    return text, set()


def _lines(ev: dict) -> tuple[str, set[int]]:
    text = ""
    if ev.get("death_date"):
        text += pairs([("date of death", ev.get("death_date")),
                       ("death stay", ev.get("death_claim_id")),
                       ("admitted", ev.get("admit_date"))])
    if ev.get("discharge_date"):
        text += pairs([("discharged", ev.get("discharge_date"))])
    text += table(ev.get("lines") or [], [("date", "date"), ("day", "day"),
                                          ("item_code", "item"), ("item_name", "name"),
                                          ("category", "category"), ("quantity", "quantity"),
                                          ("amount", "amount")])
    if ev.get("transactions"):
        text += "<p>Settlements after death:</p>" + table(
            ev["transactions"], [("date", "date"), ("hospital_id", "institution"),
                                 ("kind", "kind"), ("amount", "amount"), ("items", "items")])
    return text, set()


RENDERERS: dict[str, Callable[[dict], tuple[str, set[int]]]] = {
    "empty_days": _empty_days, "templated_days": _templated, "idle_start": _idle,
    "norm": _norm, "transactions": _transactions, "units": _units, "census": _census,
    "overlap": _overlap, "pair": _pair, "fee_mix": _fee_mix, "peer_rate": _peer_rate,
    "regroup": _regroup, "lines": _lines, "after_death": _lines,
}


def render(evidence_json: str | None) -> str:
    """The evidence block of one finding."""
    if not evidence_json:
        return ""
    ev = json.loads(evidence_json)
    renderer = RENDERERS.get(ev.get("kind", ""))
    text, marked = renderer(ev) if renderer else (pairs(ev.items()), set())
    if ev.get("calendar"):
        text += "<p>Day calendar (amounts by national fee category):</p>" + calendar(
            ev["calendar"], marked)
    return text


def iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
