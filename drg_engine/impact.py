"""Impact of switching rule sets: which claims and hospitals move, and by how much.

The same claims are grouped under both rule sets (one code path: ``group_table``), joined by
claim id, and summarised: share of claims whose result changes, kinds of change, the transition
matrix with its top movements, movement per hospital, and, when a pricing function is given
(payment parameters for both editions), the money moved per hospital.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from drg_engine.pipeline import GroupRun, group_table

# A pricing function: grouped claims with input columns -> the payment per claim (same order).
Pricer = Callable[[pa.Table], pa.Array]

CHANGE_KINDS = (
    "unchanged",
    "status changed",
    "same ADRG, other split",
    "other ADRG, same MDC",
    "other MDC",
)


@dataclass(frozen=True)
class ImpactReport:
    from_rule_set: str
    to_rule_set: str
    claims: int
    changed: int
    change_kinds: dict[str, int]
    transitions: pl.DataFrame  # from_result, to_result, claims (every pair, unchanged included)
    per_hospital: pl.DataFrame  # hospital_id, claims, changed, share, [paid_from, paid_to, moved]
    rejected_rows: int

    @property
    def share_changed(self) -> float:
        return self.changed / self.claims if self.claims else 0.0

    def top_movements(self, limit: int = 15) -> pl.DataFrame:
        return (
            self.transitions.filter(pl.col("from_result") != pl.col("to_result"))
            .sort(["claims", "from_result", "to_result"], descending=[True, False, False])
            .head(limit)
        )


def _result_label() -> pl.Expr:
    return (
        pl.when(pl.col("status") == "SUCCESS")
        .then(pl.col("drg"))
        .otherwise(pl.col("status") + pl.lit(" ") + pl.col("drg"))
    )


def _frame(run: GroupRun, pricer: Pricer | None) -> pl.DataFrame:
    table = run.results_with_input()
    frame = pl.from_arrow(table.select(["claim_id", "status", "mdc", "adrg", "drg",
                                        "hospital_id"]))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(result=_result_label())
    if pricer is not None:
        frame = frame.with_columns(paid=pl.Series(pricer(table).to_pylist(), dtype=pl.Float64))
    return frame


def impact_analysis(
    raw: pa.Table,
    from_rules: str | Path,
    to_rules: str | Path,
    *,
    pricer_from: Pricer | None = None,
    pricer_to: Pricer | None = None,
) -> ImpactReport:
    """Group ``raw`` under both rule sets and compare claim by claim."""
    before_run = group_table(raw, from_rules)
    after_run = group_table(raw, to_rules)
    priced = pricer_from is not None and pricer_to is not None
    before = _frame(before_run, pricer_from if priced else None)
    after = _frame(after_run, pricer_to if priced else None)
    joined = before.join(after, on="claim_id", suffix="_to", how="inner")
    kind = (
        pl.when(pl.col("result") == pl.col("result_to")).then(pl.lit(CHANGE_KINDS[0]))
        .when(pl.col("status") != pl.col("status_to")).then(pl.lit(CHANGE_KINDS[1]))
        .when(pl.col("adrg") == pl.col("adrg_to")).then(pl.lit(CHANGE_KINDS[2]))
        .when(pl.col("mdc") == pl.col("mdc_to")).then(pl.lit(CHANGE_KINDS[3]))
        .otherwise(pl.lit(CHANGE_KINDS[4]))
    )
    joined = joined.with_columns(kind=kind, changed=pl.col("result") != pl.col("result_to"))
    counts = dict(joined.group_by("kind").len().iter_rows())
    transitions = (
        joined.group_by(pl.col("result").alias("from_result"),
                        pl.col("result_to").alias("to_result"))
        .len(name="claims")
        .sort(["claims", "from_result", "to_result"], descending=[True, False, False])
    )
    aggregations = [
        pl.len().alias("claims"),
        pl.col("changed").sum().alias("changed"),
    ]
    if priced:
        aggregations += [
            pl.col("paid").sum().alias("paid_from"),
            pl.col("paid_to").sum().alias("paid_to"),
        ]
    per_hospital = (
        joined.with_columns(pl.col("hospital_id").fill_null("(none)"))
        .group_by("hospital_id")
        .agg(aggregations)
        .with_columns(share=pl.col("changed") / pl.col("claims"))
    )
    if priced:
        per_hospital = per_hospital.with_columns(moved=pl.col("paid_to") - pl.col("paid_from"))
        per_hospital = per_hospital.sort(pl.col("moved").abs(), descending=True)
    else:
        per_hospital = per_hospital.sort(["changed", "hospital_id"], descending=[True, False])
    return ImpactReport(
        from_rule_set=before_run.rule_set_label,
        to_rule_set=after_run.rule_set_label,
        claims=joined.height,
        changed=int(joined["changed"].sum()),
        change_kinds={k: int(counts.get(k, 0)) for k in CHANGE_KINDS},
        transitions=transitions,
        per_hospital=per_hospital,
        rejected_rows=before_run.rejects.num_rows,
    )


def _bars(rows: list[tuple[str, float]], unit: str = "") -> str:
    """A horizontal SVG bar chart (inline, no scripts) of labelled values."""
    if not rows:
        return "<p>No data.</p>"
    peak = max(abs(v) for _, v in rows) or 1.0
    bar_h, label_w, width = 22, 230, 720
    parts = [f'<svg class="bars" width="{width}" height="{bar_h * len(rows) + 4}" '
             f'role="img" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, value) in enumerate(rows):
        y = i * bar_h + 2
        length = abs(value) / peak * (width - label_w - 90)
        color = "#c0392b" if value < 0 else "#2e6da4"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{bar_h - 6}" '
            f'fill="{color}"><title>{html.escape(label)}: {value:,.2f}{unit}</title></rect>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 15}">{value:,.0f}{unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(frame: pl.DataFrame, floats: str = "{:,.2f}") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows():
        cells = []
        for value in row:
            if isinstance(value, float):
                text = floats.format(value)
            elif isinstance(value, int):
                text = f"{value:,}"
            else:
                text = str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: ImpactReport, top: int = 15) -> str:
    """A self-contained HTML page (inline CSS and SVG; opens offline)."""
    movements = report.top_movements(top)
    movement_rows = [(f"{a} → {b}", float(n)) for a, b, n in movements.iter_rows()]
    kinds = [(k, float(v)) for k, v in report.change_kinds.items() if k != "unchanged"]
    hospitals = report.per_hospital.head(30)
    money = "moved" in report.per_hospital.columns
    hospital_chart = _bars(
        [(str(h), float(v)) for h, v in hospitals.select(
            "hospital_id", "moved" if money else "changed").iter_rows()],
        " yuan" if money else "",
    )
    title = f"Impact of switching {report.from_rule_set} → {report.to_rule_set}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.2em; margin-top: 1.6em; }}
.kpi {{ display: inline-block; margin-right: 2em; }}
.kpi b {{ display: block; font-size: 1.6em; }}
table {{ border-collapse: collapse; margin-top: .5em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th {{ background: #f2f2f2; }} td:first-child, td:nth-child(2) {{ text-align: left; }}
svg.bars text {{ font-size: 12px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="kpi" id="claims"><b>{report.claims:,}</b>claims compared</div>
<div class="kpi" id="changed"><b>{report.changed:,}</b>change group or status</div>
<div class="kpi" id="share"><b>{report.share_changed:.1%}</b>of claims change</div>
<div class="kpi"><b>{report.rejected_rows:,}</b>input rows rejected</div>
<h2>Kinds of change</h2>{_bars(kinds)}
<h2>Top {len(movement_rows)} movements</h2>{_bars(movement_rows)}
{_table(movements)}
<h2>Per hospital{" (money moved)" if money else " (claims that change)"}</h2>{hospital_chart}
{_table(hospitals)}
<p>Generated by drg-engine <code>drg impact</code>. Transitions count every pair of results;
a result is the DRG for grouped claims, or the status and code otherwise.</p>
</body></html>
"""
