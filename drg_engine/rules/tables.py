"""Read a rule set's CSV tables, validating every row; errors name file, line and field.

Each table has a pydantic row model. Values are kept verbatim (codes are case- and
space-sensitive; one map target of the reference has a leading space on purpose). After the
rows, cross-table references are checked (every ADRG's MDC exists, every DRG's ADRG exists, every
ADRG ends with an unconditional split, ...), so compilation never meets a dangling reference.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from drg_engine.errors import RuleSetError
from drg_engine.rules.manifest import ResolvedRuleSet

EntryKind = Literal[
    "main_px_in_valid_or",
    "any_dx_in_list",
    "pdx_in_list",
    "pdx_in_list_and_sex",
    "pdx_in_list_and_age_years_0",
    "pdx_in_list_and_multi_trauma",
]
CondKind = Literal[
    "pdx",
    "main_px",
    "pdx_and_main_px",
    "any_px_and_any_px2",
    "pdx_and_any_px_and_any_px2",
    "pdx_and_px_label_combo",
    "main_px_and_newborn",
    "pdx_and_newborn",
    "any_dx_and_birth_weight_newborn",
    "always",
    "main_px_in_valid_or",
    "any_dx_and_main_px_in_valid_or",
    "no_px_in_valid_or",
    "any_px",
    "newborn",
    "birth_weight_newborn",
    "pdx_and_birth_weight_newborn",
    "pdx_and_any_px",
    "any_dx",
    "any_dx_and_main_px",
    "sdx",
    "sdx_and_any_px",
    "sdx_and_main_px",
]
SplitKind = Literal["mcc", "mcc_or_cc", "none"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class MdcRow(_Row):
    mdc: str
    eval_order: int
    entry_kind: EntryKind
    entry_sex: int | None = Field(default=None, ge=1, le=2)
    entry_age_years: int | None = None
    qy_after_n_adrgs: int | None = None
    qy_drg: str | None = None
    name_zh: str
    name_en: str | None = None


class MdcCodeRow(_Row):
    mdc: str
    code: str
    trauma_region: str | None = None


class TraumaRegionRow(_Row):
    trauma_region: str
    name_zh: str


class AdrgRow(_Row):
    adrg: str
    alt: int = 1
    mdc: str
    order_in_mdc: int
    cond_kind: CondKind
    px_label_combo: str | None = None
    max_age_days: int | None = None
    birth_weight_min_g: float | None = None
    birth_weight_max_g: float | None = None
    name_zh: str


class AdrgCodeRow(_Row):
    adrg: str
    alt: int = 1
    role: Literal["dx", "sdx", "px", "px2"]
    code: str
    px_label: int | None = None


class DrgRow(_Row):
    drg: str
    adrg: str
    order_in_adrg: int
    split_kind: SplitKind
    max_age_years: float | None = None  # inclusive
    min_los_days: int | None = None  # inclusive
    max_los_days: int | None = None  # exclusive
    name_zh: str

    @property
    def bounded(self) -> bool:
        return any(
            bound is not None
            for bound in (self.max_age_years, self.min_los_days, self.max_los_days)
        )


class CcMccRow(_Row):
    code: str
    level: Literal["CC", "MCC"]
    exclusion_table: int


class CcExclusionRow(_Row):
    pdx_code: str
    exclusion_table: int


class CodeRow(_Row):
    code: str


class NameRow(_Row):
    code: str
    name_zh: str | None = None


class MapRow(_Row):
    source_code: str
    target_code: str | None = None


_ROW_MODELS: dict[str, type[_Row]] = {
    "mdc": MdcRow,
    "mdc_codes": MdcCodeRow,
    "trauma_regions": TraumaRegionRow,
    "adrg": AdrgRow,
    "adrg_codes": AdrgCodeRow,
    "drg": DrgRow,
    "cc_mcc": CcMccRow,
    "cc_exclusion": CcExclusionRow,
    "valid_or_procedures": CodeRow,
    "dx_names": NameRow,
    "px_names": NameRow,
    "dx_map": MapRow,
    "px_map": MapRow,
}


@dataclass(frozen=True)
class RuleTables:
    """Every table of a rule set as validated rows, plus where each came from."""

    rule_set: ResolvedRuleSet
    mdc: list[MdcRow]
    mdc_codes: list[MdcCodeRow]
    trauma_regions: list[TraumaRegionRow]
    adrg: list[AdrgRow]
    adrg_codes: list[AdrgCodeRow]
    drg: list[DrgRow]
    cc_mcc: list[CcMccRow]
    cc_exclusion: list[CcExclusionRow]
    valid_or_procedures: list[CodeRow]
    dx_names: list[NameRow]
    px_names: list[NameRow]
    dx_map: list[MapRow]
    px_map: list[MapRow]


RowModel = TypeVar("RowModel", bound=BaseModel)


def read_rows(path: Path, model: type[RowModel]) -> list[RowModel]:
    """Every row of a CSV file validated by ``model``; the first bad row raises with its line."""
    expected = set(model.model_fields)
    rows: list[RowModel] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = set(reader.fieldnames or [])
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        missing = sorted(required - header)
        if missing:
            raise RuleSetError(f"{path}: header lacks required columns {missing}")
        unknown = sorted(header - expected)
        if unknown:
            raise RuleSetError(f"{path}: header has unknown columns {unknown}")
        for line, record in enumerate(reader, start=2):
            if None in record:
                raise RuleSetError(f"{path}, line {line}: more values than header columns")
            try:
                rows.append(model.model_validate(record))
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "?"
                message = str(err["msg"]).removeprefix("Value error, ")
                raise RuleSetError(
                    f"{path}, line {line}, field '{field}': {message} "
                    f"(value {record.get(field, '')!r})"
                ) from None
    return rows


def _check(condition: bool, message: Callable[[], str]) -> None:
    if not condition:
        raise RuleSetError(message())


def _line_of(rows: list, index: int) -> int:
    return index + 2


def check_references(tables: RuleTables) -> None:
    """Cross-table integrity: every reference resolves and every split sequence terminates."""
    paths = tables.rule_set.table_paths
    mdcs = {row.mdc for row in tables.mdc}
    _check(len(mdcs) == len(tables.mdc), lambda: f"{paths['mdc']}: duplicate mdc codes")
    orders = [row.eval_order for row in tables.mdc]
    _check(len(set(orders)) == len(orders), lambda: f"{paths['mdc']}: duplicate eval_order")
    regions = {row.trauma_region for row in tables.trauma_regions}
    for i, row in enumerate(tables.mdc_codes):
        _check(row.mdc in mdcs, lambda i=i, row=row: (
            f"{paths['mdc_codes']}, line {_line_of(tables.mdc_codes, i)}, field 'mdc': "
            f"unknown MDC {row.mdc!r}"))
        _check(row.trauma_region is None or row.trauma_region in regions, lambda i=i, row=row: (
            f"{paths['mdc_codes']}, line {_line_of(tables.mdc_codes, i)}, field 'trauma_region': "
            f"{row.trauma_region!r} is not in trauma_regions"))
    adrgs: dict[str, AdrgRow] = {}
    rule_rows: set[tuple[str, int]] = set()
    for i, row in enumerate(tables.adrg):
        _check(row.mdc in mdcs, lambda i=i, row=row: (
            f"{paths['adrg']}, line {_line_of(tables.adrg, i)}, field 'mdc': "
            f"unknown MDC {row.mdc!r}"))
        _check((row.adrg, row.alt) not in rule_rows, lambda i=i, row=row: (
            f"{paths['adrg']}, line {_line_of(tables.adrg, i)}, field 'alt': "
            f"duplicate rule row {row.adrg!r} alt {row.alt}"))
        _check(row.adrg not in adrgs or adrgs[row.adrg].mdc == row.mdc, lambda i=i, row=row: (
            f"{paths['adrg']}, line {_line_of(tables.adrg, i)}, field 'mdc': "
            f"alternatives of ADRG {row.adrg!r} must share one MDC"))
        if row.cond_kind == "pdx_and_px_label_combo":
            _check(bool(row.px_label_combo), lambda i=i: (
                f"{paths['adrg']}, line {_line_of(tables.adrg, i)}, field 'px_label_combo': "
                "required for cond_kind pdx_and_px_label_combo"))
        rule_rows.add((row.adrg, row.alt))
        adrgs.setdefault(row.adrg, row)
    for i, row in enumerate(tables.adrg_codes):
        _check((row.adrg, row.alt) in rule_rows, lambda i=i, row=row: (
            f"{paths['adrg_codes']}, line {_line_of(tables.adrg_codes, i)}, field 'adrg': "
            f"unknown ADRG rule {row.adrg!r} alt {row.alt}"))
    splits: dict[str, list[DrgRow]] = {}
    for i, row in enumerate(tables.drg):
        _check(row.adrg in adrgs, lambda i=i, row=row: (
            f"{paths['drg']}, line {_line_of(tables.drg, i)}, field 'adrg': "
            f"unknown ADRG {row.adrg!r}"))
        splits.setdefault(row.adrg, []).append(row)
    for adrg in adrgs:
        sequence = sorted(splits.get(adrg, []), key=lambda r: r.order_in_adrg)
        _check(bool(sequence), lambda adrg=adrg: f"{paths['drg']}: ADRG {adrg} has no DRG")
        # The last split must not need a CC/MCC; age or LOS bounds may remain (Beijing 2022's
        # RC1/RE1): a claim outside every bound gets the 3-character ADRG code as its DRG.
        _check(sequence[-1].split_kind == "none", lambda adrg=adrg: (
            f"{paths['drg']}: the last split of ADRG {adrg} must have split_kind 'none' "
            "(every split sequence must end without a CC/MCC condition)"))


def load_tables(rule_set: ResolvedRuleSet) -> RuleTables:
    loaded = {
        name: read_rows(rule_set.table_paths[name], model)
        for name, model in _ROW_MODELS.items()
    }
    tables = RuleTables(rule_set=rule_set, **loaded)  # type: ignore[arg-type]
    check_references(tables)
    return tables
