"""Impact of switching rule sets: which claims and hospitals move, and by how much.

The same claims are grouped under both rule sets (one code path: ``group_table``), joined by
claim id, and summarised: share of claims whose result changes, kinds of change, the transition
matrix with its top movements, movement per hospital, and, when each side has a pricer (a payment
parameter set per edition: ``params_pricer``), the money: total case payments under each side,
the money moved per hospital and per transition, claims by case class, and the groups the
parameter set has no weight for (paid or refused as its ``on_missing_weight`` says). Money stays
exact: decimal payments are summed as decimals.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa

from drg_engine.errors import DrgEngineError
from drg_engine.payment import (
    MissingPaymentParameterError,
    PaymentParameterError,
    PaymentParams,
    load_params,
    price_claims,
)
from drg_engine.payment.pricing import MISSING_CLASSES
from drg_engine.pipeline import GroupRun, group_table


@dataclass(frozen=True)
class PricedClaims:
    """A pricer's answer when it knows more than the payment of each claim."""

    payment: pa.Array | pa.ChunkedArray  # per claim, in input order (decimals: exact money)
    case_class: pa.Array | pa.ChunkedArray | None = None  # NORMAL, HIGH, MISSING_WEIGHT, ...
    label: str | None = None  # what priced the claims, e.g. the parameter set id
    warnings: tuple[str, ...] = ()


# A pricing function: grouped claims with input columns -> the payment per claim (same order),
# as an array or as `PricedClaims`.
Pricer = Callable[[pa.Table], pa.Array | pa.ChunkedArray | PricedClaims]

CHANGE_KINDS = (
    "unchanged",
    "status changed",
    "same ADRG, other split",
    "other ADRG, same MDC",
    "other MDC",
)
SIDES = ("from", "to")


class ImpactPricingError(DrgEngineError):
    """Pricing one side of an impact analysis failed; the message names the side and why."""


@dataclass(frozen=True)
class MoneyImpact:
    """Case payments under each side: what the scheme pays hospitals, fund and patient together."""

    params_from: str
    params_to: str
    paid_from: Decimal | float
    paid_to: Decimal | float
    hospitals_gaining: int
    gained: Decimal | float
    hospitals_losing: int
    lost: Decimal | float
    # case_class, claims_from, claims_to, paid_from, paid_to (when the pricers give classes)
    case_classes: pl.DataFrame | None
    # side, params, drg, claims, paid: claims whose group has no weight in the parameter set
    missing_weights: pl.DataFrame
    warnings: tuple[str, ...]

    @property
    def moved(self) -> Decimal | float:
        return self.paid_to - self.paid_from

    @property
    def moved_share(self) -> float | None:
        return float(self.moved) / float(self.paid_from) if self.paid_from else None

    def claims_without_weight(self, side: str) -> int:
        """Claims of ``side`` ("from" or "to") whose group has no weight in its parameter set."""
        return int(self.missing_weights.filter(pl.col("side") == side)["claims"].sum())


@dataclass(frozen=True)
class ImpactReport:
    from_rule_set: str
    to_rule_set: str
    claims: int
    changed: int
    change_kinds: dict[str, int]
    # from_result, to_result, claims (every pair, unchanged included), [paid_from, paid_to, moved]
    transitions: pl.DataFrame
    # hospital_id, claims, changed, share, [paid_from, paid_to, moved, moved_share]
    per_hospital: pl.DataFrame
    rejected_rows: int
    money: MoneyImpact | None = None

    @property
    def share_changed(self) -> float:
        return self.changed / self.claims if self.claims else 0.0

    def top_movements(self, limit: int = 15) -> pl.DataFrame:
        return (
            self.transitions.filter(pl.col("from_result") != pl.col("to_result"))
            .sort(["claims", "from_result", "to_result"], descending=[True, False, False])
            .head(limit)
        )

    def top_money_movements(self, limit: int = 15) -> pl.DataFrame:
        """The transitions that move the most money either way (a group re-weighted between
        parameter sets counts even when its claims keep their result)."""
        if self.money is None:
            return self.transitions.clear()
        return (
            self.transitions.filter(pl.col("moved") != 0)
            .sort([pl.col("moved").abs(), "claims", "from_result", "to_result"],
                  descending=[True, True, False, False])
            .head(limit)
        )


def params_pricer(params: PaymentParams | str | Path) -> Pricer:
    """A pricer that prices with a DRG payment parameter set (an id, a folder or loaded).

    The payment is the case payment (what the scheme pays the hospital for the stay); groups
    without a weight are refused or paid per item as the set's ``on_missing_weight`` says.
    """
    loaded = params if isinstance(params, PaymentParams) else load_params(params)
    if loaded.scheme != "DRG":
        raise PaymentParameterError(
            f"parameter set '{loaded.manifest.id}' prices {loaded.scheme} groups; drg impact "
            "compares DRG rule sets, so give a DRG parameter set (e.g. anon_region_2025)"
        )

    def price(grouped: pa.Table) -> PricedClaims:
        run = price_claims(grouped, loaded)
        return PricedClaims(
            payment=run.claims.column("case_payment"),
            case_class=run.claims.column("case_class"),
            label=loaded.manifest.id,
            warnings=tuple(run.warnings),
        )

    return price


def _result_label() -> pl.Expr:
    return (
        pl.when(pl.col("status") == "SUCCESS")
        .then(pl.col("drg"))
        .otherwise(pl.col("status") + pl.lit(" ") + pl.col("drg"))
    )


@dataclass(frozen=True)
class _Side:
    frame: pl.DataFrame  # claim_id, status, mdc, adrg, drg, hospital_id, result, [paid, case_class]
    label: str
    warnings: tuple[str, ...]


def _side(run: GroupRun, pricer: Pricer | None, side: str) -> _Side:
    table = run.results_with_input()
    frame = pl.from_arrow(table.select(["claim_id", "status", "mdc", "adrg", "drg",
                                        "hospital_id"]))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(result=_result_label())
    if pricer is None:
        return _Side(frame, "", ())
    try:
        answer = pricer(table)
    except DrgEngineError as exc:
        hint = (f" Is the parameter set made for {run.rule_set_label}'s groups? "
                "(--params-from and --params-to give each side its own set.)"
                if isinstance(exc, MissingPaymentParameterError) else "")
        raise ImpactPricingError(
            f"pricing the '{side}' side (claims grouped by {run.rule_set_label}): {exc}{hint}"
        ) from exc
    priced = answer if isinstance(answer, PricedClaims) else PricedClaims(payment=answer)
    if len(priced.payment) != table.num_rows:
        raise ValueError(f"the '{side}' pricer returned {len(priced.payment)} payments for "
                         f"{table.num_rows} claims")
    columns = [pl.Series("paid", priced.payment)]
    if priced.case_class is not None:
        columns.append(pl.Series("case_class", priced.case_class).cast(pl.String))
    return _Side(frame.with_columns(columns), priced.label or "pricer", priced.warnings)


def impact_analysis(
    raw: pa.Table,
    from_rules: str | Path,
    to_rules: str | Path,
    *,
    pricer_from: Pricer | None = None,
    pricer_to: Pricer | None = None,
) -> ImpactReport:
    """Group ``raw`` under both rule sets and compare claim by claim; with both pricers, also
    the money (raises `ImpactPricingError` when a side cannot be priced)."""
    if (pricer_from is None) != (pricer_to is None):
        raise ValueError("give both pricer_from and pricer_to, or neither")
    priced = pricer_from is not None
    before_run = group_table(raw, from_rules)
    after_run = group_table(raw, to_rules)
    before = _side(before_run, pricer_from, SIDES[0])
    after = _side(after_run, pricer_to, SIDES[1])
    joined = before.frame.join(after.frame, on="claim_id", suffix="_to", how="inner")
    kind = (
        pl.when(pl.col("result") == pl.col("result_to")).then(pl.lit(CHANGE_KINDS[0]))
        .when(pl.col("status") != pl.col("status_to")).then(pl.lit(CHANGE_KINDS[1]))
        .when(pl.col("adrg") == pl.col("adrg_to")).then(pl.lit(CHANGE_KINDS[2]))
        .when(pl.col("mdc") == pl.col("mdc_to")).then(pl.lit(CHANGE_KINDS[3]))
        .otherwise(pl.lit(CHANGE_KINDS[4]))
    )
    joined = joined.with_columns(kind=kind, changed=pl.col("result") != pl.col("result_to"))
    counts = dict(joined.group_by("kind").len().iter_rows())
    money = [pl.col("paid").sum().alias("paid_from"), pl.col("paid_to").sum().alias("paid_to")]
    transitions = (
        joined.group_by(pl.col("result").alias("from_result"),
                        pl.col("result_to").alias("to_result"))
        .agg([pl.len().alias("claims"), *(money if priced else [])])
        .sort(["claims", "from_result", "to_result"], descending=[True, False, False])
    )
    aggregations = [
        pl.len().alias("claims"),
        pl.col("changed").sum().alias("changed"),
    ]
    per_hospital = (
        joined.with_columns(pl.col("hospital_id").fill_null("(none)"))
        .group_by("hospital_id")
        .agg([*aggregations, *(money if priced else [])])
        .with_columns(share=pl.col("changed") / pl.col("claims"))
    )
    money_impact = None
    if priced:
        moved = pl.col("paid_to") - pl.col("paid_from")
        transitions = transitions.with_columns(moved=moved)
        per_hospital = per_hospital.with_columns(moved=moved).with_columns(
            moved_share=pl.when(pl.col("paid_from") != 0).then(
                pl.col("moved").cast(pl.Float64) / pl.col("paid_from").cast(pl.Float64)))
        per_hospital = per_hospital.sort([pl.col("moved").abs(), "hospital_id"],
                                         descending=[True, False])
        money_impact = _money(joined, per_hospital, before, after)
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
        money=money_impact,
    )


def _money(joined: pl.DataFrame, per_hospital: pl.DataFrame, before: _Side,
           after: _Side) -> MoneyImpact:
    gaining = per_hospital.filter(pl.col("moved") > 0)
    losing = per_hospital.filter(pl.col("moved") < 0)
    classes = None
    if "case_class" in joined.columns and "case_class_to" in joined.columns:
        classes = (
            joined.group_by("case_class").agg(
                claims_from=pl.len(), paid_from=pl.col("paid").sum())
            .join(joined.group_by(pl.col("case_class_to").alias("case_class")).agg(
                claims_to=pl.len(), paid_to=pl.col("paid_to").sum()),
                on="case_class", how="full", coalesce=True)
            .with_columns(pl.exclude("case_class").fill_null(0))
            .sort([pl.max_horizontal("claims_from", "claims_to"), "case_class"],
                  descending=[True, False])
            .select("case_class", "claims_from", "claims_to", "paid_from", "paid_to")
        )
    missing = []
    for side, suffix, label in ((SIDES[0], "", before.label), (SIDES[1], "_to", after.label)):
        if f"case_class{suffix}" not in joined.columns:
            continue
        missing.append(
            joined.filter(pl.col(f"case_class{suffix}").is_in(list(MISSING_CLASSES)))
            .group_by(pl.col(f"drg{suffix}").alias("drg"))
            .agg(claims=pl.len(), paid=pl.col(f"paid{suffix}").sum())
            .select(pl.lit(side).alias("side"), pl.lit(label).alias("params"), "drg",
                    "claims", "paid")
            .sort(["claims", "drg"], descending=[True, False])
        )
    return MoneyImpact(
        params_from=before.label,
        params_to=after.label,
        paid_from=joined["paid"].sum(),
        paid_to=joined["paid_to"].sum(),
        hospitals_gaining=gaining.height,
        gained=gaining["moved"].sum(),
        hospitals_losing=losing.height,
        lost=losing["moved"].sum(),
        case_classes=classes,
        missing_weights=pl.concat(missing, how="vertical_relaxed") if missing else pl.DataFrame(
            schema={"side": pl.String, "params": pl.String, "drg": pl.String,
                    "claims": pl.UInt32, "paid": joined.schema["paid"]}),
        warnings=_side_warnings(before, after),
    )


def _side_warnings(before: _Side, after: _Side) -> tuple[str, ...]:
    """Each pricing note once, with the side(s) and parameter set(s) it came from."""
    sides: dict[str, list[tuple[str, str]]] = {}
    for side, priced in ((SIDES[0], before), (SIDES[1], after)):
        for warning in priced.warnings:
            sides.setdefault(warning, []).append((side, priced.label))
    notes = []
    for warning, where in sides.items():
        if len(where) == 2 and where[0][1] == where[1][1]:
            origin = f"both sides ({where[0][1]})"
        else:
            origin = " and ".join(f"{side} ({label})" for side, label in where)
        notes.append(f"{origin}: {warning}")
    return tuple(notes)


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


def money_text(value: Decimal | float | None, *, signed: bool = False) -> str:
    """Yuan to the fen with thousands separators (``+`` on gains when ``signed``)."""
    if value is None:
        return ""
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def _cell(column: str, value: object, floats: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and column.endswith("share"):
        return f"{value:+.2%}" if column.startswith("moved") else f"{value:.1%}"
    if isinstance(value, Decimal | float) and not isinstance(value, bool):
        if column.startswith(("paid", "moved")):
            return money_text(value, signed=column.startswith("moved"))
        return floats.format(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(frame: pl.DataFrame, floats: str = "{:,.2f}") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows():
        cells = [f"<td>{html.escape(_cell(column, value, floats))}</td>"
                 for column, value in zip(frame.columns, row, strict=True)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _money_kpis(report: ImpactReport, money: MoneyImpact) -> str:
    share = f" ({money.moved_share:+.2%})" if money.moved_share is not None else ""
    same = money.params_from == money.params_to
    params = (html.escape(money.params_from) if same else
              f"{html.escape(money.params_from)} → {html.escape(money.params_to)}")
    return f"""<h2>Money: case payments ({params})</h2>
<div class="kpi" id="paid-from"><b>{money_text(money.paid_from)}</b>paid under
{html.escape(report.from_rule_set)} ({html.escape(money.params_from)})</div>
<div class="kpi" id="paid-to"><b>{money_text(money.paid_to)}</b>paid under
{html.escape(report.to_rule_set)} ({html.escape(money.params_to)})</div>
<div class="kpi" id="moved"><b>{money_text(money.moved, signed=True)}</b>difference{share}</div>
<div class="kpi" id="gaining"><b>{money_text(money.gained, signed=True)}</b>gained by
{money.hospitals_gaining:,} hospital(s)</div>
<div class="kpi" id="losing"><b>{money_text(money.lost, signed=True)}</b>lost by
{money.hospitals_losing:,} hospital(s)</div>
<p>Amounts in yuan. A case payment is what the scheme pays the hospital for the stay (fund and
patient together): the DRG standard, or the cost for outliers and claims paid per item.</p>
"""


def _money_details(report: ImpactReport, money: MoneyImpact, top: int) -> str:
    movements = report.top_money_movements(top)
    rows = [(f"{a} → {b}", float(v)) for a, b, v in
            movements.select("from_result", "to_result", "moved").iter_rows()]
    parts = [f"<h2 id=\"money-transitions\">Top {len(rows)} transitions by money moved</h2>",
             _bars(rows, " yuan"), _table(movements)]
    if money.case_classes is not None:
        parts += ["<h2>Claims and payments by case class</h2>", _table(money.case_classes)]
    parts.append('<h2 id="missing-weights">Groups without a weight in the parameter set</h2>')
    if money.missing_weights.height:
        parts += ["<p>Priced as the parameter set's <code>on_missing_weight</code> says (per "
                  "item).</p>", _table(money.missing_weights)]
    else:
        parts.append("<p>None: every grouped claim found its weight.</p>")
    if money.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in money.warnings)
        parts.append(f"<h2>Pricing notes</h2><ul>{items}</ul>")
    return "\n".join(parts)


def render_html(report: ImpactReport, top: int = 15) -> str:
    """A self-contained HTML page (inline CSS and SVG; opens offline)."""
    movements = report.top_movements(top)
    movement_rows = [(f"{a} → {b}", float(n)) for a, b, n in
                     movements.select("from_result", "to_result", "claims").iter_rows()]
    kinds = [(k, float(v)) for k, v in report.change_kinds.items() if k != "unchanged"]
    hospitals = report.per_hospital
    money = report.money
    hospital_chart = _bars(
        [(str(h), float(v)) for h, v in hospitals.head(30).select(
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
{_money_kpis(report, money) if money else ""}
<h2>Kinds of change</h2>{_bars(kinds)}
<h2>Top {len(movement_rows)} movements</h2>{_bars(movement_rows)}
{_table(movements)}
<h2>Per hospital{" (money moved)" if money else " (claims that change)"}</h2>{hospital_chart}
{_table(hospitals)}
{_money_details(report, money, top) if money else ""}
<p>Generated by drg-engine <code>drg impact</code>. Transitions count every pair of results;
a result is the DRG for grouped claims, or the status and code otherwise.</p>
</body></html>
"""
