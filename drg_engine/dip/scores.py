"""Group scores of a DIP catalogue from historical costs, computed as payment calibration does.

DIP 3.0 (reference §3.1): average costs use the last three years weighted 1 : 2 : 7 (oldest to
newest); RW_i = m_i / M x scale, with m_i the group's average cost and M the average of all
cases (the average-cost method). The computation is payment calibration's
(:func:`drg_engine.payment.group_averages.group_averages`, which `drg calibrate` runs), so a
catalogue's scores are what ``calibrate`` gives for the same history with
``CalibrationOptions(scheme="DIP", year_weights=1:2:7, trim_method="quantile",
trim_value=0.025, trim_scope="cell")``: cases with a positive cost in the weighted years;
costs trimmed at the 2.5% and 97.5% quantiles of the actual costs (nearest rank: a group of 15
cases loses nothing, a group of 100 its 2 cheapest and 2 dearest cases), drawn per group over
all its weighted years (so that a newest year of a few cases, weighted 7/10, still loses its
outliers); exact decimals, only the score (4 places) and the average cost (2 places) rounded
(reference §9.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

YEAR_WEIGHTS = (1, 2, 7)
TRIM_QUANTILE = Decimal("0.025")
MONEY_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class GroupScore:
    group: str
    cases: int  # all cases of the group in the history (before trimming)
    trimmed_cases: int  # cases that entered the average
    average_cost: Decimal  # m_i, year-weighted, 2 places
    score: Decimal  # m_i / M x scale, 4 places


@dataclass(frozen=True)
class ScoreTable:
    groups: dict[str, GroupScore]
    overall_average: Decimal  # M
    years: tuple[int, ...]  # the years that carried weight, oldest first
    weights: tuple[Decimal, ...]


def _history(cases: pl.DataFrame, group: str, cost_cents: str, year: str) -> pa.Table:
    """The cases as the history calibration reads: a group (null: not grouped), a discharge
    date (only its year counts) and the cost in yuan (exact: fen x 0.01)."""
    frame = cases.select(pl.col(group).cast(pl.String), pl.date(pl.col(year), 1, 1),
                         pl.col(cost_cents).cast(pl.Int64)).to_arrow()
    cents = pc.cast(frame.column(2), pa.decimal128(19, 0))
    yuan = pc.multiply(cents, pa.scalar(Decimal("0.01"), pa.decimal128(3, 2)))
    n = cases.height
    return pa.table({
        "payment_group": frame.column(0),
        "adrg": pa.nulls(n, pa.string()),
        "status": pa.nulls(n, pa.string()),
        "discharge_date": pc.cast(frame.column(1), pa.date32()),
        "total_cost": pc.cast(yuan, pa.decimal128(18, 2)),
    })


def group_scores(
    cases: pl.DataFrame,
    *,
    group: str = "group",
    cost_cents: str = "cost_cents",
    year: str = "year",
    year_weights: tuple[int, ...] = YEAR_WEIGHTS,
    trim_quantile: Decimal = TRIM_QUANTILE,
    scale: int = 1000,
) -> ScoreTable:
    """Scores of every group in ``cases`` (one row per case: group, cost in fen, year).

    A case with a null group counts for the years but belongs to no group. Cases without a
    positive cost, or of years older than the ``len(year_weights)`` most recent years of
    ``cases``, are counted in ``cases`` but do not enter the averages.
    """
    from drg_engine.payment.group_averages import Trimming, group_averages

    averages = group_averages(
        _history(cases, group, cost_cents, year), scheme="DIP",
        weights=[Decimal(w) for w in year_weights],
        trimming=Trimming("quantile", Decimal(trim_quantile), scope="cell"))
    counted = (cases.filter(pl.col(group).is_not_null()).group_by(group)
               .agg(pl.len().alias("cases")).sort(group))
    table: dict[str, GroupScore] = {}
    for name, count in counted.iter_rows():
        cell = averages.groups.get(name)
        if cell is None:  # no case with a cost in a weighted year
            continue
        average = averages.average(cell)
        table[name] = GroupScore(
            group=name,
            cases=int(count),
            trimmed_cases=cell.trimmed_cases,
            average_cost=average.quantize(MONEY_PLACES, ROUND_HALF_UP),
            score=averages.value(average, scale),
        )
    return ScoreTable(table, averages.overall.quantize(MONEY_PLACES, ROUND_HALF_UP),
                      tuple(averages.weights), tuple(averages.weights.values()))
