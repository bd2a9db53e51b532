"""The audit rule registry: one ``<CODE>.sql`` plus one ``<CODE>.toml`` per rule in ``rules/``.

A rule may also have ``<CODE>.notes.sql``: a query returning one ``note`` column whose rows
are shown next to the rule's counts (e.g. how many cases could not be judged and why).

A rule is identified by a stable code (``HB001``) and a kebab-case name
(``hanging-bed-empty-days``), like ruff's rules. The TOML file holds everything that is not the
query: version, family, default grade, the inputs the rule needs (so it can be skipped with a
notice when they are absent), the exemptions it honours, its parameters with defaults and
documentation in one shape (what it flags, why regulators care, evidence shown, known false
positives). ``load_registry`` validates all of it once and checks that every ``$parameter`` a
query uses is declared, and every declared one is used.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from drg_engine.errors import DrgEngineError

RULES_DIR = Path(__file__).with_name("rules")
GLOBALS_FILE = Path(__file__).with_name("globals.toml")

ParamValue = bool | int | float | str | list[str]

# Inputs a rule may require. "charges:item_code" means the charge lines must carry that column.
INPUTS = (
    "claims",
    "charges",
    "charges:item_code",
    "charges:quantity",
    "visits",
    "hospitals",
    "hospitals:approved_beds",
)
FAMILIES = (
    "data-quality",
    "hanging-bed",
    "overlapping-stays",
    "decomposed-hospitalisation",
    "low-standard-admission",
    "upcoding",
    "charges-after-discharge",
    "length-of-stay",
)
EXEMPTIONS = (
    "rehabilitation",
    "psychiatry",
    "hospice",
    "planned-chemo-cycle",
    "pre-operative-wait",
    "ordered-transfer",
    "batched-posting",
)
_PARAM_REFERENCE = re.compile(r"\$([a-z_][a-z0-9_]*)")
_CODE = re.compile(r"^(DQ|HB|OV|DH|LA|UC|CD|LS)\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class RegistryError(DrgEngineError):
    """A rule's TOML or SQL file is invalid (a defect of the package, or of a local rule)."""


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: ParamValue
    description: str = Field(min_length=10)
    unit: str = ""
    source: str = ""


class RuleDocs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: str = Field(min_length=20)
    why: str = Field(min_length=20)
    evidence: str = Field(min_length=20)
    false_positives: str = Field(min_length=20)


class RuleSpec(BaseModel):
    """The metadata of one rule (its TOML file)."""

    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    version: int = Field(ge=1)
    family: str
    title: str
    level: Literal["claim", "hospital"] = "claim"
    grade: Literal["clue", "suspect", "data"]
    inputs: list[str]
    optional_inputs: list[str] = []
    exemptions: list[str] = []
    escalate_with: list[str] = []
    evidence: list[Literal["calendar"]] = []
    blocks: Literal["none", "all", "charges"] = "none"
    amount: str
    legal_basis: str = ""
    params: dict[str, ParamSpec] = {}
    docs: RuleDocs

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError(f"rule code {value!r} must look like HB001 (family prefix + 3 digits)")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"rule name {value!r} must be kebab-case")
        return value

    @field_validator("family")
    @classmethod
    def _family(cls, value: str) -> str:
        if value not in FAMILIES:
            raise ValueError(f"unknown family {value!r}; one of {', '.join(FAMILIES)}")
        return value

    @field_validator("inputs", "optional_inputs")
    @classmethod
    def _inputs(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in INPUTS]
        if unknown:
            raise ValueError(f"unknown input(s) {unknown}; known: {', '.join(INPUTS)}")
        return value

    @field_validator("exemptions")
    @classmethod
    def _exemptions(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in EXEMPTIONS]
        if unknown:
            raise ValueError(f"unknown exemption(s) {unknown}; known: {', '.join(EXEMPTIONS)}")
        return value


@dataclass(frozen=True)
class Rule:
    """A registered rule: its metadata and its query."""

    spec: RuleSpec
    sql: str
    path: Path
    notes_sql: str = ""

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def is_data_quality(self) -> bool:
        return self.spec.family == "data-quality"

    def referenced_params(self) -> set[str]:
        return set(_PARAM_REFERENCE.findall(self.sql))

    def referenced_note_params(self) -> set[str]:
        return set(_PARAM_REFERENCE.findall(self.notes_sql))


@dataclass(frozen=True)
class Registry:
    rules: tuple[Rule, ...]
    global_params: dict[str, ParamSpec]

    def by_code(self) -> dict[str, Rule]:
        return {rule.code: rule for rule in self.rules}

    def resolve(self, code_or_name: str) -> Rule:
        for rule in self.rules:
            if code_or_name in (rule.code, rule.spec.name):
                return rule
        raise RegistryError(f"no audit rule {code_or_name!r}; known codes: "
                            + ", ".join(rule.code for rule in self.rules))

    @property
    def data_quality(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.is_data_quality]

    @property
    def violations(self) -> list[Rule]:
        return [rule for rule in self.rules if not rule.is_data_quality]


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: invalid TOML: {exc}") from None


def _load_globals(path: Path) -> dict[str, ParamSpec]:
    data = _read_toml(path)
    try:
        return {name: ParamSpec(**spec) for name, spec in data.get("params", {}).items()}
    except ValidationError as exc:
        raise RegistryError(f"{path}: {exc}") from None


def _load_rule(toml_path: Path, global_params: dict[str, ParamSpec]) -> Rule:
    sql_path = toml_path.with_suffix(".sql")
    if not sql_path.is_file():
        raise RegistryError(f"{toml_path}: the rule has no query file {sql_path.name}")
    try:
        spec = RuleSpec(**_read_toml(toml_path))
    except ValidationError as exc:
        raise RegistryError(f"{toml_path}: {exc}") from None
    if spec.code != toml_path.stem:
        raise RegistryError(f"{toml_path}: file name must be the rule code {spec.code}.toml")
    notes_path = toml_path.with_name(f"{spec.code}.notes.sql")
    rule = Rule(spec=spec, sql=sql_path.read_text(encoding="utf-8"), path=toml_path,
                notes_sql=notes_path.read_text(encoding="utf-8") if notes_path.is_file() else "")
    used = rule.referenced_params() | rule.referenced_note_params()
    clashes = set(spec.params) & set(global_params)
    if clashes:
        raise RegistryError(f"{toml_path}: parameter(s) {sorted(clashes)} shadow global ones")
    undeclared = used - set(spec.params) - set(global_params)
    if undeclared:
        raise RegistryError(f"{sql_path}: uses undeclared parameter(s) {sorted(undeclared)}")
    unused = set(spec.params) - used
    if unused:
        raise RegistryError(f"{toml_path}: declared parameter(s) {sorted(unused)} never used")
    return rule


@cache
def load_registry(rules_dir: Path = RULES_DIR, globals_file: Path = GLOBALS_FILE) -> Registry:
    """Every rule under ``rules_dir``, data-quality checks first, then by code."""
    global_params = _load_globals(globals_file)
    paths = sorted(rules_dir.glob("[A-Z][A-Z][0-9][0-9][0-9].toml"))
    rules = [_load_rule(path, global_params) for path in paths]
    codes = [rule.code for rule in rules]
    names = [rule.spec.name for rule in rules]
    for label, values in (("code", codes), ("name", names)):
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise RegistryError(f"duplicate rule {label}(s): {', '.join(duplicates)}")
    known = set(codes)
    for rule in rules:
        missing = [code for code in rule.spec.escalate_with if code not in known]
        if missing:
            raise RegistryError(f"{rule.path}: escalate_with names unknown rule(s) {missing}")
    rules.sort(key=lambda rule: (not rule.is_data_quality, rule.code))
    return Registry(rules=tuple(rules), global_params=global_params)
