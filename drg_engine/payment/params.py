"""Load a payment parameter set (``manifest.toml`` + CSV tables), validate it, shape it for SQL.

A parameter set is a folder under ``payment_params/`` (or anywhere, given by path). Its manifest
may ``extends`` another set by id or path: the base's settings and tables are inherited, and the
child overrides what it names (tables are resolved relative to the manifest that names them).
Every CSV row is validated by its pydantic model, then keys, bands and references are checked
across tables; an error names the file, the line and the field. The result carries the Arrow
tables the SQL pricing reads (decimals as ``decimal128(38, s)``, so DuckDB never narrows them).
"""

from __future__ import annotations

import csv
import os
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from pydantic import ValidationError

from drg_engine.payment.errors import PaymentParameterError
from drg_engine.payment.models import (
    COMMON_TABLES,
    KNOWN_TABLES,
    ROW_MODELS,
    SCHEME_TABLES,
    BaseRateRow,
    BenefitAnnualRow,
    BenefitPolicyRow,
    DipAuxiliaryRow,
    DipScoreRow,
    DrgWeightRow,
    FundBudgetRow,
    HospitalRow,
    Manifest,
    OutlierRuleRow,
    PointValueRow,
    Row,
    SettlementShareRow,
)

MONEY = pa.decimal128(38, 2)
FOUR = pa.decimal128(38, 4)
SIX = pa.decimal128(38, 6)

R = TypeVar("R", bound=Row)


@dataclass(frozen=True)
class Numbered:
    """A validated row and the CSV line it came from."""

    line: int
    row: Row


@dataclass(frozen=True)
class PaymentParams:
    """A loaded parameter set: manifest, table files, validated rows and the SQL input tables."""

    manifest: Manifest
    directory: Path
    table_paths: dict[str, Path]
    rows: dict[str, list[Numbered]]
    engine_tables: dict[str, pa.Table]

    @property
    def scheme(self) -> str:
        return self.manifest.pricing.scheme

    def typed(self, name: str, model: type[R]) -> list[R]:
        """The rows of table ``name`` (empty if the set has no such table)."""
        return [item.row for item in self.rows.get(name, []) if isinstance(item.row, model)]


def default_params_root() -> Path:
    """Where parameter sets are looked up by id: ``$DRG_PAYMENT_PARAMS`` or ``payment_params/``."""
    env = os.environ.get("DRG_PAYMENT_PARAMS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "payment_params"


def available_param_sets(root: Path | None = None) -> list[str]:
    root = root or default_params_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.toml").is_file())


def locate_param_set(id_or_path: str | Path, root: Path | None = None) -> Path:
    """The folder of a parameter set given as a folder path or as an id under the root."""
    candidate = Path(id_or_path)
    if (candidate / "manifest.toml").is_file():
        return candidate.resolve()
    root = root or default_params_root()
    by_id = root / str(id_or_path)
    if (by_id / "manifest.toml").is_file():
        return by_id.resolve()
    known = ", ".join(available_param_sets(root)) or "none"
    raise PaymentParameterError(
        f"unknown payment parameter set '{id_or_path}': give a folder with a manifest.toml, "
        f"or one of {known} (in {root})"
    )


def load_params(id_or_path: str | Path, root: Path | None = None) -> PaymentParams:
    """Load and validate a parameter set; raises `PaymentParameterError` naming what is wrong."""
    directory = locate_param_set(id_or_path, root)
    raw = _resolved_raw(directory, [])
    manifest_path = directory / "manifest.toml"
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors()
        )
        raise PaymentParameterError(f"{manifest_path}: {problems}") from None
    table_paths = {name: Path(path) for name, path in manifest.tables.items()}
    _check_table_names(manifest, table_paths, manifest_path)
    rows = {name: _read_rows(path, ROW_MODELS[name]) for name, path in table_paths.items()}
    params = PaymentParams(
        manifest=manifest, directory=directory, table_paths=table_paths, rows=rows,
        engine_tables={},
    )
    _check_tables(params)
    params.engine_tables.update(_engine_tables(params))
    return params


# --- manifest ------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PaymentParameterError(f"{path}: manifest.toml not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PaymentParameterError(f"{path}: not valid TOML: {exc}") from None


def _resolved_raw(directory: Path, chain: list[Path]) -> dict[str, Any]:
    """The manifest as a dict with ``extends`` applied and table files made absolute."""
    manifest_path = directory / "manifest.toml"
    if directory in chain:
        names = " -> ".join(str(p.name) for p in [*chain, directory])
        raise PaymentParameterError(f"{manifest_path}: field 'extends' makes a cycle ({names})")
    raw = _read_toml(manifest_path)
    tables = raw.get("tables", {})
    if not isinstance(tables, dict) or not all(isinstance(v, str) for v in tables.values()):
        raise PaymentParameterError(
            f"{manifest_path}: field 'tables' must map table names to file names"
        )
    raw["tables"] = {name: str((directory / file).resolve()) for name, file in tables.items()}
    extends = raw.get("extends")
    if extends is None:
        return raw
    if not isinstance(extends, str):
        raise PaymentParameterError(f"{manifest_path}: field 'extends' must be a set id or path")
    base_dir = locate_param_set(
        directory / extends if (directory / extends / "manifest.toml").is_file() else extends,
        directory.parent,
    )
    return _deep_merge(_resolved_raw(base_dir, [*chain, directory]), raw)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_table_names(manifest: Manifest, paths: dict[str, Path], manifest_path: Path) -> None:
    unknown = sorted(set(paths) - set(KNOWN_TABLES))
    if unknown:
        raise PaymentParameterError(
            f"{manifest_path}: field 'tables' has unknown tables {unknown}; "
            f"known tables are {', '.join(KNOWN_TABLES)}"
        )
    required = [*COMMON_TABLES, *SCHEME_TABLES[manifest.pricing.scheme]]
    if manifest.pricing.unit_value == "from_budget":
        required.append("fund_budget")
    missing = [name for name in required if name not in paths]
    if missing:
        raise PaymentParameterError(
            f"{manifest_path}: field 'tables' lacks {missing} "
            f"(needed for scheme {manifest.pricing.scheme}, unit_value "
            f"{manifest.pricing.unit_value})"
        )
    for name, path in paths.items():
        if not path.is_file():
            raise PaymentParameterError(f"{manifest_path}: table '{name}' file {path} not found")


# --- CSV rows ------------------------------------------------------------------------------


def _read_rows(path: Path, model: type[Row]) -> list[Numbered]:
    fields = model.model_fields
    rows: list[Numbered] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        required = sorted(n for n, f in fields.items() if f.is_required())
        missing = [name for name in required if name not in header]
        if missing:
            raise PaymentParameterError(f"{path}: header lacks required columns {missing}")
        unknown = [name for name in header if name not in fields]
        if unknown:
            raise PaymentParameterError(
                f"{path}: header has unknown columns {unknown}; the columns are "
                f"{', '.join(fields)}"
            )
        for line, record in enumerate(reader, start=2):
            if None in record:
                raise PaymentParameterError(f"{path}, line {line}: more values than columns")
            # An empty cell is an absent value: the column's default applies.
            given = {key: value for key, value in record.items() if value != ""}
            try:
                rows.append(Numbered(line, model.model_validate(given)))
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "row"
                value = record.get(field)
                shown = f" (value {value!r})" if value is not None else ""
                raise PaymentParameterError(
                    f"{path}, line {line}, field '{field}': {err['msg']}{shown}"
                ) from None
    return rows


# --- cross-table checks --------------------------------------------------------------------


def _fail(path: Path, line: int, field: str, message: str) -> PaymentParameterError:
    return PaymentParameterError(f"{path}, line {line}, field '{field}': {message}")


def _unique(
    params: PaymentParams, table: str, key: Callable[[Any], Iterable[tuple[Any, ...]]],
    field: str,
) -> None:
    seen: dict[tuple[Any, ...], int] = {}
    for item in params.rows.get(table, []):
        for value in key(item.row):
            if value in seen:
                raise _fail(params.table_paths[table], item.line, field,
                            f"duplicate key {_show(value)} (first on line {seen[value]})")
            seen[value] = item.line


def _show(key: tuple[Any, ...]) -> str:
    return "(" + ", ".join("any" if part is None else str(part) for part in key) + ")"


def _check_tables(params: PaymentParams) -> None:
    _unique(params, "hospitals", lambda r: [(r.hospital_id,)], "hospital_id")
    _unique(params, "drg_weights", lambda r: [(r.drg, lv) for lv in r.levels], "hospital_levels")
    _unique(params, "dip_scores", lambda r: [(r.dip_group,)], "dip_group")
    _unique(params, "dip_auxiliary", lambda r: [(r.dip_group, r.aux_type)], "aux_type")
    _unique(params, "base_rates", lambda r: [(r.insurance_type, r.hospital_level)],
            "hospital_level")
    _unique(params, "point_values", lambda r: [(r.insurance_type,)], "insurance_type")
    _unique(params, "fund_budget", lambda r: [(r.insurance_type,)], "insurance_type")
    _unique(params, "benefit_policy", lambda r: [(r.insurance_type, r.hospital_level)],
            "hospital_level")
    _unique(params, "benefit_annual", lambda r: [(r.insurance_type,)], "insurance_type")
    _check_outlier_bands(params)
    _check_settlement_bands(params)
    _check_budget_scopes(params)
    _check_references(params)


def _check_outlier_bands(params: PaymentParams) -> None:
    bands: dict[tuple[str, int | None], list[tuple[OutlierRuleRow, int]]] = defaultdict(list)
    for item in params.rows["outlier_rules"]:
        row = item.row
        assert isinstance(row, OutlierRuleRow)
        bands[(row.kind, row.hospital_level)].append((row, item.line))
    path = params.table_paths["outlier_rules"]
    for rules in bands.values():
        rules.sort(key=lambda pair: pair[0].band_from)
        for (previous, _), (current, line) in pairwise(rules):
            if previous.band_to is None or previous.band_to > current.band_from:
                raise _fail(path, line, "band_from",
                            f"{current.kind} rule overlaps the band starting at "
                            f"{previous.band_from} for the same hospital level")


def _check_settlement_bands(params: PaymentParams) -> None:
    path = params.table_paths["settlement_shares"]
    by_direction: dict[str, list[tuple[SettlementShareRow, int]]] = defaultdict(list)
    for item in params.rows["settlement_shares"]:
        row = item.row
        assert isinstance(row, SettlementShareRow)
        by_direction[row.direction].append((row, item.line))
    for direction in ("surplus", "overspend"):
        bands = sorted(by_direction.get(direction, []), key=lambda pair: pair[0].band_from)
        if not bands:
            raise PaymentParameterError(
                f"{path}: no '{direction}' rows; give at least one band from 0 "
                f"(e.g. '{direction},0,,1' or '{direction},0,,0')"
            )
        if bands[0][0].band_from != 0:
            raise _fail(path, bands[0][1], "band_from",
                        f"the first {direction} band must start at 0")
        for (previous, line), (current, _) in pairwise(bands):
            if previous.band_to != current.band_from:
                raise _fail(path, line, "band_to",
                            f"{direction} bands must be contiguous: this band ends at "
                            f"{previous.band_to}, the next starts at {current.band_from}")
        last, line = bands[-1]
        if last.band_to is not None:
            raise _fail(path, line, "band_to",
                        f"the last {direction} band must be open-ended (empty band_to)")


def _check_budget_scopes(params: PaymentParams) -> None:
    scopes = {row.insurance_type for row in params.typed("fund_budget", FundBudgetRow)}
    if None in scopes and len(scopes) > 1:
        raise PaymentParameterError(
            f"{params.table_paths['fund_budget']}: a row for all insurance types (empty "
            "insurance_type) cannot be combined with rows for single insurance types"
        )


def _check_references(params: PaymentParams) -> None:
    options = params.manifest.pricing
    annual = {row.insurance_type for row in params.typed("benefit_annual", BenefitAnnualRow)}
    for item in params.rows["benefit_policy"]:
        row = item.row
        assert isinstance(row, BenefitPolicyRow)
        if row.insurance_type not in annual:
            raise _fail(params.table_paths["benefit_policy"], item.line, "insurance_type",
                        f"no benefit_annual row for insurance type '{row.insurance_type}' "
                        "(add one; leave annual_cap empty for no cap)")
    policies = {row.insurance_type for row in params.typed("benefit_policy", BenefitPolicyRow)}
    if options.default_insurance_type not in policies:
        raise PaymentParameterError(
            f"{params.directory / 'manifest.toml'}: field 'pricing.default_insurance_type': "
            f"'{options.default_insurance_type}' has no benefit_policy row"
        )
    if params.scheme == "DIP" and "dip_auxiliary" in params.rows:
        groups = {row.dip_group for row in params.typed("dip_scores", DipScoreRow)}
        for item in params.rows["dip_auxiliary"]:
            row = item.row
            assert isinstance(row, DipAuxiliaryRow)
            if row.dip_group not in groups:
                raise _fail(params.table_paths["dip_auxiliary"], item.line, "dip_group",
                            f"DIP group '{row.dip_group}' is not in dip_scores")
    if options.outlier_basis == "group_average":
        table = "drg_weights" if params.scheme == "DRG" else "dip_scores"
        for item in params.rows[table]:
            row = item.row
            assert isinstance(row, DrgWeightRow | DipScoreRow)
            if row.payment == "group" and row.average_cost is None:
                raise _fail(params.table_paths[table], item.line, "average_cost",
                            "required when pricing.outlier_basis is 'group_average'")


# --- tables for the SQL --------------------------------------------------------------------


def _engine_tables(params: PaymentParams) -> dict[str, pa.Table]:
    hospitals = params.typed("hospitals", HospitalRow)
    tables = {
        "hospitals": pa.table({
            "hospital_id": pa.array([r.hospital_id for r in hospitals], pa.string()),
            "level": pa.array([r.level for r in hospitals], pa.int32()),
            "drg_coefficient": pa.array([r.drg_coefficient for r in hospitals], FOUR),
            "dip_coefficient": pa.array([r.dip_coefficient for r in hospitals], FOUR),
        }),
        "group_values": _group_values(params),
        "aux_coefficients": _aux_coefficients(params),
        "unit_values": _unit_values(params),
        "outlier_rules": _outlier_rules(params),
        "benefit_policy": _benefit_policy(params),
        "benefit_annual": _benefit_annual(params),
        "settlement_shares": _settlement_shares(params),
        "fund_budget": _fund_budget(params),
    }
    return tables


def _group_values(params: PaymentParams) -> pa.Table:
    groups: list[str] = []
    levels: list[int | None] = []
    values: list[Decimal | None] = []
    per_item: list[bool] = []
    coefficient: list[bool] = []
    averages: list[Decimal | None] = []
    if params.scheme == "DRG":
        for row in params.typed("drg_weights", DrgWeightRow):
            for level in row.levels:
                groups.append(row.drg)
                levels.append(level)
                values.append(row.weight)
                per_item.append(row.payment == "per_item")
                coefficient.append(row.apply_hospital_coefficient)
                averages.append(row.average_cost)
    else:
        for dip in params.typed("dip_scores", DipScoreRow):
            groups.append(dip.dip_group)
            levels.append(None)
            values.append(dip.score)
            per_item.append(dip.payment == "per_item")
            coefficient.append(dip.apply_hospital_coefficient)
            averages.append(dip.average_cost)
    return pa.table({
        "payment_group": pa.array(groups, pa.string()),
        "hospital_level": pa.array(levels, pa.int32()),
        "group_value": pa.array(values, SIX),
        "payable_per_item": pa.array(per_item, pa.bool_()),
        "apply_hospital_coefficient": pa.array(coefficient, pa.bool_()),
        "average_cost": pa.array(averages, MONEY),
    })


def _aux_coefficients(params: PaymentParams) -> pa.Table:
    rows = params.typed("dip_auxiliary", DipAuxiliaryRow) if params.scheme == "DIP" else []
    return pa.table({
        "payment_group": pa.array([r.dip_group for r in rows], pa.string()),
        "aux_type": pa.array([r.aux_type for r in rows], pa.string()),
        "aux_coefficient": pa.array([r.aux_coefficient for r in rows], FOUR),
    })


def _unit_values(params: PaymentParams) -> pa.Table:
    from_budget = params.manifest.pricing.unit_value == "from_budget"
    insurance: list[str | None] = []
    levels: list[int | None] = []
    basis: list[Decimal] = []
    pay: list[Decimal | None] = []
    source: list[str] = []
    if params.scheme == "DRG":
        for rate in params.typed("base_rates", BaseRateRow):
            insurance.append(rate.insurance_type)
            levels.append(rate.hospital_level)
            basis.append(rate.base_rate)
            pay.append(None if from_budget else rate.base_rate)
            source.append("from_budget" if from_budget else "base_rate")
    else:
        for point in params.typed("point_values", PointValueRow):
            insurance.append(point.insurance_type)
            levels.append(None)
            basis.append(point.budget_point_value)
            if from_budget:
                pay.append(None)
                source.append("from_budget")
            elif point.settlement_point_value is not None:
                pay.append(point.settlement_point_value)
                source.append("settlement_point_value")
            else:
                pay.append(point.budget_point_value)
                source.append("budget_point_value")
    return pa.table({
        "insurance_type": pa.array(insurance, pa.string()),
        "hospital_level": pa.array(levels, pa.int32()),
        "basis_unit_value": pa.array(basis, FOUR),
        "pay_unit_value": pa.array(pay, FOUR),
        "unit_value_source": pa.array(source, pa.string()),
    })


def _outlier_rules(params: PaymentParams) -> pa.Table:
    rows = params.typed("outlier_rules", OutlierRuleRow)
    return pa.table({
        "kind": pa.array([r.kind for r in rows], pa.string()),
        "hospital_level": pa.array([r.hospital_level for r in rows], pa.int32()),
        "band_from": pa.array([r.band_from for r in rows], SIX),
        "band_to": pa.array([r.band_to for r in rows], SIX),
        "multiple": pa.array([r.multiple for r in rows], FOUR),
        "inclusive": pa.array([r.inclusive for r in rows], pa.bool_()),
        "mode": pa.array([r.mode for r in rows], pa.string()),
        "add_on_ratio": pa.array([r.add_on_ratio for r in rows], FOUR),
        "apply_coefficient": pa.array([r.apply_coefficient for r in rows], pa.bool_()),
    })


def _benefit_policy(params: PaymentParams) -> pa.Table:
    rows = params.typed("benefit_policy", BenefitPolicyRow)
    return pa.table({
        "insurance_type": pa.array([r.insurance_type for r in rows], pa.string()),
        "hospital_level": pa.array([r.hospital_level for r in rows], pa.int32()),
        "deductible": pa.array([r.deductible for r in rows], MONEY),
        "reimbursement_ratio": pa.array([r.reimbursement_ratio for r in rows], FOUR),
        "stay_cap": pa.array([r.stay_cap for r in rows], MONEY),
    })


def _benefit_annual(params: PaymentParams) -> pa.Table:
    rows = params.typed("benefit_annual", BenefitAnnualRow)
    return pa.table({
        "insurance_type": pa.array([r.insurance_type for r in rows], pa.string()),
        "annual_cap": pa.array([r.annual_cap for r in rows], MONEY),
        "serious_illness_deductible": pa.array(
            [r.serious_illness_deductible for r in rows], MONEY),
        "serious_illness_ratio": pa.array([r.serious_illness_ratio for r in rows], FOUR),
        "serious_illness_cap": pa.array([r.serious_illness_cap for r in rows], MONEY),
    })


def _settlement_shares(params: PaymentParams) -> pa.Table:
    rows = params.typed("settlement_shares", SettlementShareRow)
    return pa.table({
        "direction": pa.array([r.direction for r in rows], pa.string()),
        "band_from": pa.array([r.band_from for r in rows], FOUR),
        "band_to": pa.array([r.band_to for r in rows], FOUR),
        "share": pa.array([r.share for r in rows], FOUR),
    })


def _fund_budget(params: PaymentParams) -> pa.Table:
    rows = params.typed("fund_budget", FundBudgetRow)
    return pa.table({
        "insurance_type": pa.array([r.insurance_type for r in rows], pa.string()),
        "fund_budget": pa.array([r.fund_budget for r in rows], MONEY),
        "fund_payment_ratio": pa.array([r.fund_payment_ratio for r in rows], FOUR),
    })
