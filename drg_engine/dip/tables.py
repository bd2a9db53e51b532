"""Read a DIP rule set's CSV tables, validating every row; errors name file, line and field.

Tables (``manifest.toml`` names them):

* ``groups`` - one row per DIP group: stage (pregroup / merge / assisted / base / basic /
  comprehensive), the principal-diagnosis spec, optional secondary-diagnosis spec, procedure
  expression and related procedures, treatment type, basic-level flag, newborn conditions, and
  (for catalogues built from history) score, average cost and case count;
* ``procedure_attributes`` - the local dictionary of procedure attributes (code or prefix ->
  surgical / interventional / therapeutic / diagnostic / conservative), longest prefix wins;
* optional ``excluded_principal_dx`` and ``excluded_procedures`` (workbook sheet 五),
  ``cci_components`` (Charlson components, weights and ICD-10 prefixes), ``severity_codes``
  (the severe / moderate secondary-diagnosis lists) and ``auxiliary_coefficients``
  (m_j / M per group and auxiliary type).

Every spec is parsed here (``drg_engine.dip.specs``), so a malformed code stops loading with
its file, line and field; cross-row checks (unique codes, stage rules, references) follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drg_engine.dip.manifest import ResolvedDipRuleSet
from drg_engine.dip.specs import (
    PX_TOKEN,
    SpecError,
    is_wildcard,
    normalise_px,
    parse_dx_spec,
    parse_px_expression,
    parse_px_set,
)
from drg_engine.errors import RuleSetError
from drg_engine.rules.tables import read_rows

Stage = Literal["pregroup", "merge", "assisted", "base", "basic", "comprehensive"]
STAGES: tuple[str, ...] = ("pregroup", "merge", "assisted", "base", "basic", "comprehensive")
CORE_STAGES = ("merge", "assisted", "base", "basic")
Treatment = Literal["conservative", "diagnostic", "therapeutic", "surgical"]
TREATMENTS: tuple[str, ...] = ("conservative", "diagnostic", "therapeutic", "surgical")
Attribute = Literal["conservative", "diagnostic", "therapeutic", "interventional", "surgical"]
AUX_TYPE_PATTERN = r"^(CCI|SEV|TUM|AGE|OUT):[0-9A-Za-z+\-]+$"
MAX_CCI_COMPONENTS = 26  # one bit each in the packed typing bits of the assignment
Coefficient = Annotated[Decimal, Field(gt=0, decimal_places=4)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


def _check(parse: object, value: str | None) -> str | None:
    try:
        parse(value)  # type: ignore[operator]
    except SpecError as exc:
        raise ValueError(str(exc)) from None
    return value


class GroupRow(_Row):
    group_code: str = Field(pattern=r"^[0-9A-Za-z.:+\-_]+$")
    stage: Stage
    name_zh: str
    principal_dx: str
    dx_position: Literal["principal", "any"] = "principal"
    secondary_dx: str | None = None
    px_expression: str | None = None
    px_position: Literal["principal", "any"] = "principal"
    related_px: str | None = None
    treatment: Treatment
    basic_level: bool = False
    max_age_days: int | None = Field(default=None, ge=0)
    birth_weight_min_g: float | None = Field(default=None, ge=0)
    birth_weight_max_g: float | None = Field(default=None, gt=0)  # exclusive
    score: Annotated[Decimal, Field(ge=0, decimal_places=6)] | None = None
    average_cost: Annotated[Decimal, Field(gt=0, decimal_places=2)] | None = None
    cases: int | None = Field(default=None, ge=0)
    source: str | None = None
    note: str | None = None

    @field_validator("principal_dx")
    @classmethod
    def _dx(cls, value: str) -> str:
        return _check(parse_dx_spec, value) or value

    @field_validator("secondary_dx")
    @classmethod
    def _sdx(cls, value: str | None) -> str | None:
        if value is not None and is_wildcard(value):
            raise ValueError("a wildcard secondary diagnosis means nothing; leave it empty")
        return _check(parse_dx_spec, value)

    @field_validator("px_expression")
    @classmethod
    def _px(cls, value: str | None) -> str | None:
        return _check(parse_px_expression, value)

    @field_validator("related_px")
    @classmethod
    def _related(cls, value: str | None) -> str | None:
        return _check(parse_px_set, value)


class ProcedureAttributeRow(_Row):
    code: str
    attribute: Attribute
    name_zh: str | None = None
    source: str | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not PX_TOKEN.match(normalise_px(value)):
            raise ValueError("not an ICD-9-CM-3 code or chapter prefix (e.g. 87 or 45.2302)")
        return value


class ExcludedDxRow(_Row):
    code: str
    name_zh: str | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if is_wildcard(value) or "|" in value:
            raise ValueError("one ICD-10 code, category or range per row")
        return _check(parse_dx_spec, value) or value


class ExcludedPxRow(_Row):
    code: str
    name_zh: str | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not PX_TOKEN.match(normalise_px(value)):
            raise ValueError("not an ICD-9-CM-3 procedure code")
        return value


class CciComponentRow(_Row):
    component: str
    name_zh: str | None = None
    weight: int = Field(ge=1, le=9)
    icd10_prefixes: str
    supersedes: str | None = None
    note: str | None = None

    @field_validator("icd10_prefixes")
    @classmethod
    def _prefixes(cls, value: str) -> str:
        if is_wildcard(value):
            raise ValueError("a CCI component cannot be a wildcard")
        return _check(parse_dx_spec, value) or value


class SeverityCodeRow(_Row):
    code: str
    level: Literal["severe", "moderate"]
    source: str | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if is_wildcard(value) or "|" in value:
            raise ValueError("one ICD-10 code, category or range per row")
        return _check(parse_dx_spec, value) or value


class AuxCoefficientRow(_Row):
    group_code: str
    aux_type: str = Field(pattern=AUX_TYPE_PATTERN)
    coefficient: Coefficient
    cases: int | None = Field(default=None, ge=0)
    note: str | None = None


ROW_MODELS: dict[str, type[_Row]] = {
    "groups": GroupRow,
    "procedure_attributes": ProcedureAttributeRow,
    "excluded_principal_dx": ExcludedDxRow,
    "excluded_procedures": ExcludedPxRow,
    "cci_components": CciComponentRow,
    "severity_codes": SeverityCodeRow,
    "auxiliary_coefficients": AuxCoefficientRow,
}


@dataclass(frozen=True)
class DipTables:
    rule_set: ResolvedDipRuleSet
    groups: list[GroupRow]
    procedure_attributes: list[ProcedureAttributeRow]
    excluded_principal_dx: list[ExcludedDxRow]
    excluded_procedures: list[ExcludedPxRow]
    cci_components: list[CciComponentRow]
    severity_codes: list[SeverityCodeRow]
    auxiliary_coefficients: list[AuxCoefficientRow]


def _fail(path: Path, index: int, field: str, message: str) -> RuleSetError:
    return RuleSetError(f"{path}, line {index + 2}, field '{field}': {message}")


def check_groups(tables: DipTables) -> None:
    """Cross-row rules of the groups table and the references of the other tables."""
    path = tables.rule_set.table_paths["groups"]
    seen: set[str] = set()
    for i, row in enumerate(tables.groups):
        if row.group_code in seen:
            raise _fail(path, i, "group_code", f"duplicate group code {row.group_code!r}")
        seen.add(row.group_code)
        wildcard = is_wildcard(row.principal_dx)
        has_px = bool(row.px_expression)
        if wildcard and row.stage != "pregroup":
            raise _fail(path, i, "principal_dx", "only pre-groups may take any diagnosis (*)")
        if wildcard and not has_px:
            raise _fail(path, i, "px_expression",
                        "a group that takes any diagnosis must name its procedures")
        if row.related_px and not has_px:
            raise _fail(path, i, "related_px", "related procedures need a px_expression")
        if row.stage == "comprehensive" and (has_px or row.related_px or row.secondary_dx):
            raise _fail(path, i, "px_expression",
                        "comprehensive groups are diagnosis x treatment type only")
        if (row.stage in CORE_STAGES and not has_px and not row.secondary_dx
                and row.treatment != "conservative"):
            raise _fail(path, i, "treatment",
                        "a core group without procedures is a conservative (内科) group")
        if row.stage == "basic" and not row.basic_level:
            raise _fail(path, i, "basic_level", "rows of stage 'basic' are basic-level groups")
        low, high = row.birth_weight_min_g, row.birth_weight_max_g
        if low is not None and high is not None and high <= low:
            raise _fail(path, i, "birth_weight_max_g", "must be above birth_weight_min_g")
        if (low is not None or high is not None) and row.max_age_days is None:
            raise _fail(path, i, "max_age_days", "a birth-weight band applies to newborns only")
    if "cci_components" in tables.rule_set.table_paths:
        cci_path = tables.rule_set.table_paths["cci_components"]
        names = [row.component for row in tables.cci_components]
        if len(names) > MAX_CCI_COMPONENTS:
            raise RuleSetError(f"{cci_path}: at most {MAX_CCI_COMPONENTS} CCI components")
        for i, row in enumerate(tables.cci_components):
            if names.count(row.component) > 1:
                raise _fail(cci_path, i, "component", f"duplicate component {row.component!r}")
            if row.supersedes is not None and row.supersedes not in names:
                raise _fail(cci_path, i, "supersedes", f"unknown component {row.supersedes!r}")
    if "auxiliary_coefficients" in tables.rule_set.table_paths:
        aux_path = tables.rule_set.table_paths["auxiliary_coefficients"]
        pairs: set[tuple[str, str]] = set()
        for i, row in enumerate(tables.auxiliary_coefficients):
            if row.group_code not in seen:
                raise _fail(aux_path, i, "group_code", f"unknown group {row.group_code!r}")
            if (row.group_code, row.aux_type) in pairs:
                raise _fail(aux_path, i, "aux_type", "duplicate (group_code, aux_type)")
            pairs.add((row.group_code, row.aux_type))


def load_dip_tables(rule_set: ResolvedDipRuleSet) -> DipTables:
    loaded: dict[str, list[_Row]] = {}
    for name, model in ROW_MODELS.items():
        path = rule_set.table_paths.get(name)
        loaded[name] = read_rows(path, model) if path is not None else []
    tables = DipTables(rule_set=rule_set, **loaded)  # type: ignore[arg-type]
    check_groups(tables)
    return tables
