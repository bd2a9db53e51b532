"""Year-weighted, trimmed group averages of historical costs, and the values made from them.

The one computation behind DRG relative weights and DIP scores wherever they are made:
`drg calibrate` (:mod:`drg_engine.payment.calibration`) and the DIP catalogue builder
(:mod:`drg_engine.dip.scores`) both call :func:`group_averages`.

Per cell (a payment group, or its ADRG) and year, SQL counts the cases and sums the cost of
those inside the fences (``calibration_cases``, ``calibration_cell_costs``); the fences are
drawn per cell and year (each year's cases on their own: `drg calibrate`'s default) or per cell
over all its weighted years (the DIP catalogue's choice: a small newest cell, weighted 7/10,
still loses its outliers). The few hundred cell averages are combined here with exact decimals:

* a cell's average = sum over its years of w_y x trimmed cost_y / trimmed cases_y, divided by
  the sum of w_y over the same years (the weights of the years it has cases in);
* M, the overall average, = the same over all trimmed cases of all groups;
* value = average / M x scale, 4 places (DRG weight: scale 1; DIP score: scale 1000).

Year weights (1:2:7 over the last three years, oldest first, or every year alike) go to the
most recent years of the history (:func:`year_weights`); cases of older years do not count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.payment.errors import PaymentInputError
from drg_engine.payment.runner import SqlSession

VALUE_PLACES = Decimal("0.0001")
MONEY_PLACES = Decimal("0.01")
# The columns calibration_cases reads (payment_group: the DRG or DIP group, null when the claim
# was not grouped; adrg may be null: the first 3 characters of the group).
HISTORY_COLUMNS = ("payment_group", "adrg", "status", "discharge_date", "total_cost")


@dataclass(frozen=True)
class Trimming:
    """Outlier trimming: Tukey fences ``Q1 - k x IQR .. Q3 + k x IQR`` with k = ``value``
    ("iqr"), the ``value .. 1 - value`` quantiles of the actual costs (nearest rank,
    "quantile"), or none; the fences are drawn per cell and year (``scope = "cell_year"``) or
    per cell over all its weighted years (``"cell"``)."""

    method: Literal["iqr", "quantile", "none"] = "iqr"
    value: Decimal = Decimal("1.5")
    scope: Literal["cell_year", "cell"] = "cell_year"

    def sql_params(self) -> dict[str, object]:
        return {
            "trim_method": self.method,
            "iqr_factor": self.value if self.method == "iqr" else 0,
            "trim_quantile": self.value if self.method == "quantile" else 0,
        }


def year_weights(years: Sequence[int], weights: Sequence[Decimal] | None) -> dict[int, Decimal]:
    """Weight per year: the last ``len(weights)`` years get ``weights`` (oldest first); with
    fewer years in the data, the most recent weights are used (1:2:7 over two years is 2:7)."""
    if not years:
        raise PaymentInputError("the history has no discharge dates")
    if weights is None:
        return {year: Decimal(1) for year in years}
    recent = list(years)[-len(weights):]
    return dict(zip(recent, list(weights)[-len(recent):], strict=True))


@dataclass
class Cell:
    """One cell's cases and costs per year: (cases, cost, trimmed cases, trimmed cost)."""

    adrg: str = ""
    cases: int = 0
    trimmed_cases: int = 0
    by_year: dict[int, tuple[int, Decimal, int, Decimal]] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupAverages:
    """The cells of every group (and ADRG) of a history, its year weights and M."""

    weights: dict[int, Decimal]
    groups: dict[str, Cell]
    adrgs: dict[str, Cell]
    overall: Decimal  # M, not rounded; 0 when no case counts

    def average(self, cell: Cell) -> Decimal:
        """The cell's year-weighted average of its yearly trimmed averages (not rounded)."""
        return weighted_average(cell, self.weights)

    def value(self, average: Decimal, scale: Decimal | int = 1) -> Decimal:
        """average / M x scale, 4 places: a DRG weight (scale 1) or a DIP score (1000)."""
        return (average / self.overall * scale).quantize(VALUE_PLACES, ROUND_HALF_UP)


def group_averages(
    history: pa.Table,
    *,
    scheme: Literal["DRG", "DIP"],
    weights: Sequence[Decimal] | None,
    trimming: Trimming,
) -> GroupAverages:
    """Cells and M of a grouped history with the columns :data:`HISTORY_COLUMNS`.

    A case counts when it was grouped (DRG: status SUCCESS, not 0000 or a QY group; DIP: any
    group), has a positive cost and was discharged in a weighted year; ``weights`` go to the
    most recent years of the history's discharge dates.
    """
    years = sorted(set(pc.unique(pc.year(history.column("discharge_date"))).drop_null()
                       .to_pylist()))
    by_year = year_weights(years, weights)
    with SqlSession() as session:
        session.register("history", history.select(list(HISTORY_COLUMNS)))
        session.register("year_weights", pa.table({
            "year": pa.array(list(by_year), pa.int64()),
            "weight": pa.array(list(by_year.values()), pa.decimal128(18, 4)),
        }))
        if trimming.scope == "cell_year":
            session.materialize("calibration_cases", "calibration_cases", {"scheme": scheme})
            trim = trimming.sql_params()
            groups = cells(session.query("calibration_cell_costs", {"level": "group", **trim}))
            adrgs = cells(session.query("calibration_cell_costs", {"level": "adrg", **trim}))
        else:
            cases = session.query("calibration_cases", {"scheme": scheme})
            groups = _cells_trimmed_over_years(session, cases, "payment_group", trimming)
            adrgs = _cells_trimmed_over_years(session, cases, "adrg", trimming)
    overall = overall_average(groups, by_year) if groups else Decimal(0)
    return GroupAverages(by_year, groups, adrgs, overall)


_UNTRIMMED = Trimming("none", Decimal(0)).sql_params()


def _cells_trimmed_over_years(session: SqlSession, cases: pa.Table, level: str,
                              trimming: Trimming) -> dict[str, Cell]:
    """Cells whose fences are drawn over all the cell's weighted years: the same SQL sums the
    cost per cell and year, once of every case and once of the cases inside the fences."""
    level_name = "group" if level == "payment_group" else "adrg"
    session.register("calibration_cases", cases)
    every = cells(session.query("calibration_cell_costs", {"level": level_name, **_UNTRIMMED}))
    session.register("calibration_cases", cases.filter(_inside_fences(cases, level, trimming)))
    inside = cells(session.query("calibration_cell_costs", {"level": level_name,
                                                           **_UNTRIMMED}))
    for name, cell in every.items():
        kept = inside.get(name, Cell())
        cell.trimmed_cases = kept.trimmed_cases
        cell.by_year = {
            year: (count, cost, *kept.by_year.get(year, (0, Decimal(0), 0, Decimal(0)))[2:])
            for year, (count, cost, _, _) in cell.by_year.items()}
    return every


def _inside_fences(cases: pa.Table, level: str, trimming: Trimming) -> pa.Array:
    """bool per case: its cost lies within its cell's fences over all its years, drawn as
    ``calibration_cell_costs`` draws them per year (the nearest-rank quantiles of
    ``quantile_disc``, quartiles interpolated linearly as ``quantile_cont`` does, costs
    compared as doubles)."""
    cost = np.asarray(pc.cast(cases.column("total_cost"), pa.float64()), dtype=np.float64)
    if trimming.method == "none" or not len(cost):
        return pa.array(np.ones(len(cost), dtype=bool))
    cell = np.asarray(pc.dictionary_encode(cases.column(level).combine_chunks()).indices,
                      dtype=np.int64)
    order = np.lexsort((cost, cell))
    ordered = cost[order]
    count = np.bincount(cell)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    n = count[cell]
    first = start[cell]

    def discrete(q: Decimal) -> np.ndarray:  # nearest rank: the ceil(q n)-th smallest cost
        fraction = Fraction(q)
        rank = -((-fraction.numerator * n) // fraction.denominator)  # ceil, in integers
        return ordered[first + np.clip(rank - 1, 0, n - 1)]

    def continuous(q: float) -> np.ndarray:  # linear between the order statistics
        position = (n - 1) * q
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, n - 1)
        low, high = ordered[first + below], ordered[first + above]
        return low + (position - below) * (high - low)  # exact where they are equal

    if trimming.method == "quantile":
        low, high = discrete(trimming.value), discrete(1 - trimming.value)
    else:
        q1, q3 = continuous(0.25), continuous(0.75)
        factor = float(trimming.value)
        low, high = q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)
    return pa.array((cost >= low) & (cost <= high))


def cells(table: pa.Table) -> dict[str, Cell]:
    """The rows of ``calibration_cell_costs`` (one per cell and year) as cells."""
    found: dict[str, Cell] = defaultdict(Cell)
    for row in table.to_pylist():
        cell = found[row["cell"]]
        cell.adrg = row["adrg"]
        cell.cases += row["cases"]
        cell.trimmed_cases += row["trimmed_cases"]
        cell.by_year[row["year"]] = (
            row["cases"], Decimal(row["total_cost"]), row["trimmed_cases"],
            Decimal(row["trimmed_cost"]),
        )
    return dict(found)


def weighted_average(cell: Cell, weights: dict[int, Decimal]) -> Decimal:
    total = weight_sum = Decimal(0)
    for year, (_, _, trimmed_cases, trimmed_cost) in cell.by_year.items():
        if trimmed_cases:
            total += weights[year] * trimmed_cost / trimmed_cases
            weight_sum += weights[year]
    return total / weight_sum


def overall_average(groups: dict[str, Cell], weights: dict[int, Decimal]) -> Decimal:
    cost: dict[int, Decimal] = defaultdict(Decimal)
    count: dict[int, int] = defaultdict(int)
    for cell in groups.values():
        for year, (_, _, trimmed_cases, trimmed_cost) in cell.by_year.items():
            cost[year] += trimmed_cost
            count[year] += trimmed_cases
    years = [year for year in count if count[year]]
    total = sum((weights[y] * cost[y] / count[y] for y in years), Decimal(0))
    return total / sum((weights[y] for y in years), Decimal(0))
