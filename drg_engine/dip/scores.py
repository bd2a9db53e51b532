"""Group scores from historical costs: trimmed group averages, 1:2:7 year weights, exact decimals.

DIP 3.0 (reference §3.1): average costs use the last three years weighted 1 : 2 : 7 (oldest to
newest); RW_i = m_i / M x scale, with m_i the group's average cost and M the average of all
cases (the average-cost method). Costs are trimmed per group before averaging; the trim uses
the nearest order statistics (lower quantile rounded down, upper rounded up), so a group of 15
cases loses nothing and a group of 100 loses its 2 cheapest and 2 dearest cases at 2.5%.
Sums are taken in integer fen and the averages as exact fractions; only the final score (4
places) and average cost (2 places) are rounded (reference §9.4).

This is the calibration the payment issue also needs (DRG weights are the same computation with
M the average of all DRG cases); it is kept a small function of a table so it can move into
``drg_engine.payment`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import polars as pl

YEAR_WEIGHTS = (1, 2, 7)
TRIM = (0.025, 0.975)
SCORE_PLACES = Decimal("0.0001")
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
    weights: tuple[int, ...]


def _quantize(value: Fraction, places: Decimal) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        places, rounding=ROUND_HALF_UP)


def _weighted(parts: list[tuple[int, int, int]]) -> Fraction:
    """Year-weighted mean from (weight, sum in fen, count) per year; weights renormalised over
    the years the group has cases in."""
    total_weight = sum(weight for weight, _, count in parts if count)
    return sum(
        (Fraction(weight) * Fraction(cents, count) for weight, cents, count in parts if count),
        Fraction(0),
    ) / total_weight / 100


def trimmed(cases: pl.DataFrame, group: str, cost: str, trim: tuple[float, float]) -> pl.DataFrame:
    """The cases whose cost lies within their group's [lower, upper] quantile bounds."""
    bounds = cases.group_by(group).agg(
        pl.col(cost).quantile(trim[0], interpolation="lower").alias("_low"),
        pl.col(cost).quantile(trim[1], interpolation="higher").alias("_high"),
    )
    return (cases.join(bounds, on=group)
            .filter(pl.col(cost).is_between(pl.col("_low"), pl.col("_high")))
            .drop("_low", "_high"))


def group_scores(
    cases: pl.DataFrame,
    *,
    group: str = "group",
    cost_cents: str = "cost_cents",
    year: str = "year",
    year_weights: tuple[int, ...] = YEAR_WEIGHTS,
    trim: tuple[float, float] = TRIM,
    scale: int = 1000,
) -> ScoreTable:
    """Scores of every group in ``cases`` (one row per case: group, cost in fen, year).

    Cases without a cost are counted but do not enter the averages. Only the last
    ``len(year_weights)`` years present carry weight (older cases are counted, not averaged).
    """
    counted = cases.group_by(group).agg(pl.len().alias("cases"))
    costed = cases.filter(pl.col(cost_cents).is_not_null())
    years = sorted(costed.get_column(year).unique().to_list())[-len(year_weights):]
    weights = dict(zip(years, year_weights[-len(years):], strict=True)) if years else {}
    used = costed.filter(pl.col(year).is_in(years))
    kept = trimmed(used, group, cost_cents, trim)
    per_year = (kept.group_by(group, year)
                .agg(pl.col(cost_cents).sum().alias("cents"), pl.len().alias("n"))
                .sort(group, year))
    parts: dict[str, list[tuple[int, int, int]]] = {}
    trimmed_counts: dict[str, int] = {}
    for row in per_year.iter_rows(named=True):  # one row per group and year, never per case
        parts.setdefault(row[group], []).append((weights[row[year]], int(row["cents"]),
                                                 int(row["n"])))
        trimmed_counts[row[group]] = trimmed_counts.get(row[group], 0) + int(row["n"])
    overall_rows = kept.group_by(year).agg(pl.col(cost_cents).sum().alias("cents"),
                                           pl.len().alias("n"))
    overall_parts = [(weights[r[year]], int(r["cents"]), int(r["n"]))
                     for r in overall_rows.iter_rows(named=True)]
    if not overall_parts:
        return ScoreTable({}, Decimal(0), tuple(years), tuple(weights.values()))
    overall = _weighted(overall_parts)
    table: dict[str, GroupScore] = {}
    for row in counted.iter_rows(named=True):
        name = row[group]
        if name not in parts:
            continue
        average = _weighted(parts[name])
        table[name] = GroupScore(
            group=name,
            cases=int(row["cases"]),
            trimmed_cases=trimmed_counts[name],
            average_cost=_quantize(average, MONEY_PLACES),
            score=_quantize(average / overall * scale, SCORE_PLACES),
        )
    return ScoreTable(table, _quantize(overall, MONEY_PLACES), tuple(years),
                      tuple(weights[y] for y in years))
