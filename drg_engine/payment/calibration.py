"""Calibrate DRG relative weights or DIP scores from historical grouped claims, as bureaus do.

Per group and year the cost is averaged over the cases inside the cell's fences (Tukey's
``Q1 - k x IQR .. Q3 + k x IQR``, k = 1.5 by default, or the ``q .. 1 - q`` quantiles, or
none; drawn per group and year, or with ``trim_scope = "cell"`` per group over all its weighted
years); the group average is the year-weighted mean of those
yearly averages (``1:2:7`` over the last three years, oldest first, or every year alike), and
the overall average ``M`` is weighted the same way over all trimmed cases. Then

* DRG weight = group average / M (4 places); DIP score = group average / M x 1000 (4 places);
* unit value (DRG base rate, 2 places; DIP budget point value, 4 places) = year-weighted total
  cost of all grouped cases / year-weighted total of their weights or scores, so that the
  history is priced at its own cost (the budget-neutral rate);
* a group with fewer than ``min_cases`` cases is merged into its ADRG (DRG: the weight of all
  the ADRG's cases, source ``merged_adrg``) or flagged (source ``low_volume``; DIP always,
  since DIP comprehensive groups come from the DIP grouper).

The trimmed, year-weighted group averages, M and the values are
:mod:`drg_engine.payment.group_averages` (SQL does the per-case work, the few hundred cell
averages are combined with exact decimals), which the DIP catalogue builder's scores share;
this module adds the merging of small groups and the unit value. `write_calibrated_params` writes
the result as a parameter set that ``drg pay`` reads directly: the template set's other tables
(hospitals, outlier rules, benefits, settlement shares) are copied beside the new weights.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from drg_engine.payment.errors import PaymentInputError, PaymentParameterError
from drg_engine.payment.group_averages import (
    MONEY_PLACES,
    Cell,
    Trimming,
    group_averages,
    year_weights,
)
from drg_engine.payment.inputs import (
    COLUMN_ALIASES,
    date_column,
    money_column,
    resolve_columns,
)
from drg_engine.payment.params import PaymentParams, load_params

__all__ = [
    "CalibratedGroup",
    "Calibration",
    "CalibrationOptions",
    "calibrate",
    "write_calibrated_params",
    "year_weights",
]

DEFAULT_TEMPLATES = {"DRG": "anon_region_2025", "DIP": "dip_worked_example"}
RATE_PLACES = {"DRG": Decimal("0.01"), "DIP": Decimal("0.0001")}
SCORE_SCALE = {"DRG": Decimal(1), "DIP": Decimal(1000)}


@dataclass(frozen=True)
class CalibrationOptions:
    """How to calibrate; the defaults are common bureau practice."""

    scheme: Literal["DRG", "DIP"] = "DRG"
    # Weights of the most recent years, oldest first (e.g. 1, 2, 7); None weighs every year 1.
    year_weights: tuple[Decimal, ...] | None = None
    # Outlier trimming per group and year: Tukey fences with factor trim_value ("iqr"),
    # the trim_value .. 1 - trim_value quantiles ("quantile"), or nothing ("none").
    trim_method: Literal["iqr", "quantile", "none"] = "iqr"
    trim_value: Decimal = Decimal("1.5")
    # Where the fences are drawn: per group and year, or per group over all its weighted years
    # (as the DIP catalogue builder does: a small newest year still loses its outliers).
    trim_scope: Literal["cell_year", "cell"] = "cell_year"
    min_cases: int = 15
    small_groups: Literal["merge", "flag"] = "merge"

    def __post_init__(self) -> None:
        if self.trim_method == "quantile" and not Decimal(0) <= self.trim_value < Decimal("0.5"):
            raise PaymentInputError(f"a trim quantile must be in [0, 0.5), got {self.trim_value}")
        if self.trim_method == "iqr" and self.trim_value <= 0:
            raise PaymentInputError(f"the IQR factor must be positive, got {self.trim_value}")
        if self.min_cases < 1:
            raise PaymentInputError(f"min_cases must be at least 1, got {self.min_cases}")
        if self.year_weights is not None and (
            not self.year_weights or any(w <= 0 for w in self.year_weights)
        ):
            raise PaymentInputError("year weights must be positive numbers, e.g. 1:2:7")
        if self.scheme == "DIP" and self.small_groups == "merge":
            raise PaymentInputError(
                "merging small DIP groups needs the comprehensive groups of the DIP grouper; "
                "use small_groups 'flag'"
            )

    @property
    def trimming(self) -> Trimming:
        return Trimming(self.trim_method, self.trim_value, self.trim_scope)


@dataclass(frozen=True)
class CalibratedGroup:
    """One group's calibrated value and where it came from."""

    group: str
    adrg: str
    value: Decimal
    average_cost: Decimal
    cases: int
    trimmed_cases: int
    source: Literal["calibrated", "merged_adrg", "low_volume"]


@dataclass(frozen=True)
class Calibration:
    """The calibrated values, the unit value and the facts a reader needs to trust them."""

    options: CalibrationOptions
    year_weights: dict[int, Decimal]
    overall_average: Decimal
    unit_value: Decimal
    cases: int
    groups: list[CalibratedGroup] = field(default_factory=list)

    @property
    def last_year(self) -> int:
        return max(self.year_weights)


def calibrate(history: pa.Table, options: CalibrationOptions | None = None) -> Calibration:
    """Calibrate weights (DRG) or scores (DIP) from grouped historical claims."""
    options = options or CalibrationOptions()
    averages = group_averages(_history(history, options.scheme), scheme=options.scheme,
                              weights=options.year_weights, trimming=options.trimming)
    groups, adrgs, weights = averages.groups, averages.adrgs, averages.weights
    if not groups:
        raise PaymentInputError(
            "no usable historical cases: need grouped claims with a positive total_cost "
            f"discharged in {', '.join(map(str, weights))}"
        )
    overall = averages.overall
    scale = SCORE_SCALE[options.scheme]
    calibrated: list[CalibratedGroup] = []
    for name in sorted(groups):
        cell = groups[name]
        source: Literal["calibrated", "merged_adrg", "low_volume"] = "calibrated"
        basis = cell
        if cell.cases < options.min_cases:
            if options.small_groups == "merge" and cell.adrg in adrgs:
                basis = adrgs[cell.adrg]
                source = "merged_adrg" if basis.cases >= options.min_cases else "low_volume"
            else:
                source = "low_volume"
        average = averages.average(basis)
        calibrated.append(CalibratedGroup(
            group=name, adrg=cell.adrg, value=averages.value(average, scale),
            average_cost=average.quantize(MONEY_PLACES, ROUND_HALF_UP),
            cases=cell.cases, trimmed_cases=cell.trimmed_cases, source=source,
        ))
    unit_value = _unit_value(groups, {g.group: g.value for g in calibrated}, weights)
    return Calibration(
        options=options,
        year_weights=weights,
        overall_average=overall.quantize(MONEY_PLACES, ROUND_HALF_UP),
        unit_value=unit_value.quantize(RATE_PLACES[options.scheme], ROUND_HALF_UP),
        cases=sum(cell.cases for cell in groups.values()),
        groups=calibrated,
    )


def _history(table: pa.Table, scheme: str) -> pa.Table:
    found = resolve_columns(table)
    group_column = "drg" if scheme == "DRG" else "dip_group"
    missing = [n for n in ("discharge_date", "total_cost", group_column) if n not in found]
    if missing:
        accepted = "; ".join(f"{n}: {', '.join(COLUMN_ALIASES[n])}" for n in missing)
        raise PaymentInputError(
            f"the history lacks columns needed to calibrate {scheme}: {', '.join(missing)}. "
            f"Accepted names: {accepted}"
        )
    n = table.num_rows
    ids = (table.column(found["claim_id"]).cast(pa.string()) if "claim_id" in found
           else pa.chunked_array([pa.array([str(i + 1) for i in range(n)])]))

    def text(name: str) -> pa.ChunkedArray:
        if name not in found:
            return pa.chunked_array([pa.nulls(n, pa.string())])
        return table.column(found[name]).cast(pa.string())

    return pa.table({
        "payment_group": text(group_column),
        "adrg": text("adrg"),
        "status": text("status"),
        "discharge_date": date_column(table.column(found["discharge_date"]), ids),
        "total_cost": money_column(table.column(found["total_cost"]), "total_cost", ids),
    })


def _unit_value(
    cells: dict[str, Cell], values: dict[str, Decimal], weights: dict[int, Decimal]
) -> Decimal:
    cost = units = Decimal(0)
    for name, cell in cells.items():
        for year, (cases, total_cost, _, _) in cell.by_year.items():
            cost += weights[year] * total_cost
            units += weights[year] * values[name] * cases
    return cost / units


# --- writing the parameter set -------------------------------------------------------------


def write_calibrated_params(
    calibration: Calibration,
    directory: Path,
    *,
    template: str | Path | None = None,
    set_id: str | None = None,
    history_name: str = "history",
    overwrite: bool = False,
) -> Path:
    """Write ``calibration`` as a self-contained parameter set in ``directory``."""
    scheme = calibration.options.scheme
    base = load_params(template or DEFAULT_TEMPLATES[scheme])
    if base.scheme != scheme:
        raise PaymentParameterError(
            f"template '{base.manifest.id}' is a {base.scheme} set; calibrating {scheme} needs "
            f"a {scheme} template"
        )
    directory = Path(directory)
    if (directory / "manifest.toml").exists() and not overwrite:
        raise PaymentParameterError(
            f"{directory} already holds a parameter set; choose another folder or overwrite"
        )
    identifier = set_id or _identifier(directory.name)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a parameter set is shared data
    try:
        tables = _write_tables(calibration, base, staging)
        _write_manifest(calibration, base, staging, identifier, tables, history_name)
        _write_readme(calibration, base, staging, identifier, history_name)
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _trim_text(options: CalibrationOptions) -> str:
    if options.trim_method == "iqr":
        return (f"cases outside Q1 - {options.trim_value} x IQR .. Q3 + {options.trim_value} x "
                "IQR are left out of the averages")
    if options.trim_method == "quantile":
        return (f"cases below the {options.trim_value} and above the "
                f"{1 - options.trim_value} quantile are left out of the averages")
    return "none"


def _identifier(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
    return cleaned or "calibrated"


def _write_tables(calibration: Calibration, base: PaymentParams, folder: Path) -> dict[str, str]:
    scheme = calibration.options.scheme
    replaced = {"DRG": ("drg_weights", "base_rates"), "DIP": ("dip_scores", "point_values")}
    tables: dict[str, str] = {}
    for name, path in base.table_paths.items():
        # The other scheme's tables do not apply; auxiliary coefficients belong to the
        # template's DIP groups and would have to be recalibrated with them.
        if name in (*replaced["DRG"], *replaced["DIP"], "dip_auxiliary"):
            continue
        shutil.copyfile(path, folder / f"{name}.csv")
        tables[name] = f"{name}.csv"
    values_name, unit_name = replaced[scheme]
    note = {"calibrated": "", "merged_adrg": "fewer cases than the minimum: ADRG weight",
            "low_volume": "fewer cases than the minimum: flagged, use with care"}
    if scheme == "DRG":
        header = ["drg", "hospital_levels", "weight", "payment", "apply_hospital_coefficient",
                  "average_cost", "cases", "weight_source", "note"]
        rows = [[g.group, "", g.value, "group", "true", g.average_cost, g.cases, g.source,
                 note[g.source]] for g in calibration.groups]
        unit_rows = [["insurance_type", "hospital_level", "base_rate", "note"],
                     ["", "", calibration.unit_value,
                      "calibrated: year-weighted total cost / total weight"]]
    else:
        header = ["dip_group", "score", "payment", "apply_hospital_coefficient",
                  "average_cost", "cases", "score_source", "note"]
        rows = [[g.group, g.value, "group", "true", g.average_cost, g.cases, g.source,
                 note[g.source]] for g in calibration.groups]
        unit_rows = [["insurance_type", "budget_point_value", "settlement_point_value", "note"],
                     ["", calibration.unit_value, "",
                      "calibrated: year-weighted total cost / total score"]]
    _write_csv(folder / f"{values_name}.csv", [header, *rows])
    _write_csv(folder / f"{unit_name}.csv", unit_rows)
    tables[values_name] = f"{values_name}.csv"
    tables[unit_name] = f"{unit_name}.csv"
    return dict(sorted(tables.items()))


def _write_csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerows([["" if v is None else str(v) for v in row] for row in rows])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return json.dumps(str(value))
    return json.dumps(str(value), ensure_ascii=False)


def _write_manifest(
    calibration: Calibration, base: PaymentParams, folder: Path, identifier: str,
    tables: dict[str, str], history_name: str,
) -> None:
    year = calibration.last_year + 1
    weights = ":".join(str(w) for w in calibration.year_weights.values())
    manifest = base.manifest
    lines = [
        f"# Calibrated by `drg calibrate` from {history_name}; see README.md.",
        f"id = {_toml_value(identifier)}",
        f"title = {_toml_value(f'Calibrated {calibration.options.scheme} parameters for {year}')}",
        f"region = {_toml_value(manifest.region)}",
        f"version = {_toml_value(f'calibrated-{year}')}",
        f"effective_from = {date(year, 1, 1).isoformat()}",
        f"effective_to = {date(year, 12, 31).isoformat()}",
        f"source = {_toml_value(f'{history_name}: years {weights}; template {manifest.id}')}",
        "",
        "[pricing]",
    ]
    pricing = manifest.pricing.model_dump(exclude_none=True)
    lines += [f"{key} = {_toml_value(value)}" for key, value in pricing.items()]
    lines += ["", "[tables]"]
    lines += [f"{name} = {_toml_value(file)}" for name, file in tables.items()]
    (folder / "manifest.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_readme(
    calibration: Calibration, base: PaymentParams, folder: Path, identifier: str,
    history_name: str,
) -> None:
    options = calibration.options
    noun = "weight" if options.scheme == "DRG" else "score"
    counts = {source: sum(1 for g in calibration.groups if g.source == source)
              for source in ("calibrated", "merged_adrg", "low_volume")}
    years = ", ".join(f"{year} x {weight}" for year, weight in calibration.year_weights.items())
    flagged = [g.group for g in calibration.groups if g.source != "calibrated"]
    text = f"""# {identifier}

Calibrated by `drg calibrate` from `{history_name}` ({calibration.cases:,} grouped cases with a
positive cost).

* Scheme: {options.scheme}; {noun} = year-weighted trimmed group average cost / overall average
  (M = {calibration.overall_average} yuan){' x 1000' if options.scheme == 'DIP' else ''}.
* Years and weights: {years}.
* Trimming per group and year: {_trim_text(options)}.
* Minimum cases: {options.min_cases}; smaller groups were {'merged into their ADRG' if
  options.small_groups == 'merge' else 'flagged'}.
* Groups: {counts['calibrated']} calibrated, {counts['merged_adrg']} merged into their ADRG,
  {counts['low_volume']} flagged low volume.
* {'Base rate' if options.scheme == 'DRG' else 'Budget point value'}: {calibration.unit_value}
  yuan = year-weighted total cost / year-weighted total {noun}s.
* Other tables (hospitals, outlier rules, benefits, settlement shares) are copies of the
  template set `{base.manifest.id}`; DIP auxiliary coefficients are not carried over (they
  belong to the template's groups).

Groups not calibrated from their own cases: {', '.join(flagged) if flagged else 'none'}.
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
