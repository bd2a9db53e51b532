"""DIP rule-set manifests: identity, effective dates, matching options and table files.

DIP rule sets live in ``grouper_rules/dip/<id>/`` (``$DRG_DIP_RULES_PATH`` overrides the root),
outside the folder listing of the CHS-DRG tools, which treat every direct child of
``grouper_rules/`` with a manifest as a DRG rule set. A manifest names its tables, says whether
the catalogue is partial (built from a sample of the national workbook), and carries the
regional choices the national rules leave open (reference §2.3, §9.3): the tie-break strategy,
how comprehensive groups are formed, whether interventional procedures count as surgery, the
conservative fallback, how related procedures match, the blank group, and the auxiliary bands.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drg_engine.errors import RuleSetError
from drg_engine.rules.manifest import locate_manifest_folder, manifest_folders, read_toml_model

REQUIRED_TABLES = ("groups", "procedure_attributes")
OPTIONAL_TABLES = (
    "excluded_principal_dx",
    "excluded_procedures",
    "cci_components",
    "severity_codes",
    "auxiliary_coefficients",
)
TieBreak = Literal[
    "treatment_rank",  # 相关手术 > 治疗性操作 > 诊断性操作 > 保守治疗
    "principal_px",  # the group's procedure list holds the claim's principal procedure
    "required_count",  # more `+`-joined required procedures
    "matched_count",  # more matched procedure codes (required + related)
    "exact_set",  # the group's procedures equal the claim's procedures
    "closest_cost",  # group average cost closest to the claim's total cost
    "highest_score",  # the higher score
]
DEFAULT_TIE_BREAK: tuple[TieBreak, ...] = (
    "treatment_rank", "principal_px", "required_count", "matched_count", "closest_cost",
)


class AgeBand(BaseModel):
    """An age band of the auxiliary age typing: [min, max) in days or in years."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9A-Za-z+\-]+$")
    min_days: int | None = Field(default=None, ge=0)
    max_days: int | None = Field(default=None, gt=0)
    min_years: float | None = Field(default=None, ge=0)
    max_years: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_unit(self) -> AgeBand:
        in_days = self.min_days is not None or self.max_days is not None
        in_years = self.min_years is not None or self.max_years is not None
        if in_days == in_years:
            raise ValueError("give the band in days (min_days/max_days) or in years, not both")
        return self


class CciLevel(BaseModel):
    """A CCI level: scores from ``min_score`` up to the next level's minimum."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9A-Za-z+\-]+$")
    min_score: int = Field(ge=0)


DEFAULT_AGE_BANDS = (
    AgeBand(code="0-28d", min_days=0, max_days=29),
    AgeBand(code="29d-1y", min_days=29, max_days=366),
    AgeBand(code="1-6y", min_years=1, max_years=7),
    AgeBand(code="7-17y", min_years=7, max_years=18),
    AgeBand(code="65+", min_years=65),
)
DEFAULT_CCI_LEVELS = (
    CciLevel(code="0", min_score=0),
    CciLevel(code="1-2", min_score=1),
    CciLevel(code="3-4", min_score=3),
    CciLevel(code="5+", min_score=5),
)


class DipOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Ranking among candidates still tied after stage, longest code and the partial-match rule.
    tie_break: list[TieBreak] = list(DEFAULT_TIE_BREAK)
    # "generated": every 3-character category x treatment type is a comprehensive group (a
    # library without history, e.g. the national one); "listed": only the table's rows.
    comprehensive: Literal["generated", "listed", "none"] = "generated"
    # The 3.0 spec sends interventional procedures to the surgery comprehensive group.
    interventional_as: Literal["surgical", "therapeutic"] = "surgical"
    # Core procedure rows: where the listed procedure must be ("table" = the row's px_position).
    core_px_position: Literal["table", "principal", "any"] = "table"
    # Yichang: a claim whose procedures match no core row may enter the conservative row.
    conservative_fallback: bool = False
    # "partial": the national rule (most related procedures wins); "all": Jining/Tai'an.
    related_match: Literal["partial", "all"] = "partial"
    # The attribute of a procedure the attribute dictionary does not know.
    unknown_procedure_attribute: Literal[
        "conservative", "diagnostic", "therapeutic", "interventional", "surgical"
    ] = "therapeutic"
    # A claim that fits no group: ungrouped, or this blank group (e.g. KBBZ).
    blank_group: str | None = None
    # Auxiliary typing (辅助分型).
    severity_los_days: int = 3  # severity lists count only when LOS > this
    death_discharge_ways: list[str] = ["5"]
    transfer_discharge_ways: list[str] = ["2", "3"]
    age_bands: list[AgeBand] = list(DEFAULT_AGE_BANDS)
    cci_levels: list[CciLevel] = list(DEFAULT_CCI_LEVELS)
    # Scores are stored on this scale (1000 = the average case).
    score_scale: int = 1000

    @model_validator(mode="after")
    def _checks(self) -> DipOptions:
        if len(set(self.tie_break)) != len(self.tie_break):
            raise ValueError("tie_break names a strategy twice")
        levels = [level.min_score for level in self.cci_levels]
        if not levels or levels[0] != 0 or levels != sorted(set(levels)):
            raise ValueError("cci_levels must start at min_score 0 and increase")
        return self


class DipManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    scheme: Literal["DIP"]
    version: str
    region: str
    region_codes: list[str] = []
    title: str
    effective_from: date
    effective_to: date | None = None
    source: str
    # A partial catalogue (e.g. sampled rows of the national workbook) says so, and how.
    partial: bool = False
    partial_note: str | None = None
    options: DipOptions = DipOptions()
    tables: dict[str, str]

    @model_validator(mode="after")
    def _partial_note(self) -> DipManifest:
        if self.partial and not self.partial_note:
            raise ValueError("a partial rule set needs a partial_note saying what is missing")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class ResolvedDipRuleSet(BaseModel):
    manifest: DipManifest
    directory: Path
    table_paths: dict[str, Path]
    manifest_path: Path


def default_dip_root() -> Path:
    """``$DRG_DIP_RULES_PATH`` or the repo's ``grouper_rules/dip``."""
    env = os.environ.get("DRG_DIP_RULES_PATH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "grouper_rules" / "dip"


def available_dip_rule_sets(root: Path | None = None) -> list[str]:
    return manifest_folders(root or default_dip_root())


def locate_dip_rule_set(id_or_path: str | Path, root: Path | None = None) -> Path:
    return locate_manifest_folder(id_or_path, root or default_dip_root(), "DIP rule set")


def resolve_dip_rule_set(id_or_path: str | Path, root: Path | None = None) -> ResolvedDipRuleSet:
    directory = locate_dip_rule_set(id_or_path, root)
    manifest_path = directory / "manifest.toml"
    manifest = read_toml_model(manifest_path, DipManifest)
    if manifest.id != directory.name:
        raise RuleSetError(
            f"{manifest_path}: field 'id' is '{manifest.id}' but the folder is '{directory.name}'"
        )
    unknown = sorted(set(manifest.tables) - set(REQUIRED_TABLES) - set(OPTIONAL_TABLES))
    if unknown:
        raise RuleSetError(f"{manifest_path}: field 'tables' has unknown tables {unknown}")
    missing = [name for name in REQUIRED_TABLES if name not in manifest.tables]
    if missing:
        raise RuleSetError(f"{manifest_path}: field 'tables' lacks {missing}")
    table_paths = {name: directory / file for name, file in manifest.tables.items()}
    for name, path in table_paths.items():
        if not path.is_file():
            raise RuleSetError(f"{manifest_path}: table '{name}' file {path} does not exist")
    return ResolvedDipRuleSet(
        manifest=manifest, directory=directory, table_paths=table_paths,
        manifest_path=manifest_path,
    )
