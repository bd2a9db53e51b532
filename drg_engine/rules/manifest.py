"""Rule-set manifests: identity, effective dates, options and table files, validated by pydantic.

A manifest may ``extends`` another rule set by id; it then inherits the base's tables (resolved
relative to the base's folder) and overrides identity and options. This is how an edition that
differs only by an option (such as QY handling) stays a data drop.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drg_engine.errors import RuleSetError

REQUIRED_TABLES = (
    "mdc",
    "mdc_codes",
    "trauma_regions",
    "adrg",
    "adrg_codes",
    "drg",
    "cc_mcc",
    "cc_exclusion",
    "valid_or_procedures",
    "dx_names",
    "px_names",
    "dx_map",
    "px_map",
)


class RuleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    qy_enabled: bool = False
    code_conversion: bool = False


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    scheme: str
    version: str
    region: str
    # Administrative-division code prefixes (行政区划, e.g. "11" Beijing) the rule set applies
    # to; empty means national: any region without a regional rule set of its own.
    region_codes: list[str] = []
    title: str
    effective_from: date
    effective_to: date | None = None
    source: str
    extends: str | None = None
    options: RuleOptions = RuleOptions()
    tables: dict[str, str] = {}


class ResolvedRuleSet(BaseModel):
    """A manifest with inheritance applied: every table is an absolute path."""

    manifest: Manifest
    directory: Path
    table_paths: dict[str, Path]
    manifest_paths: list[Path]


M = TypeVar("M", bound=BaseModel)


def default_rules_root() -> Path:
    """Where rule sets are looked up by id: ``$DRG_RULES_PATH`` or the repo's grouper_rules/."""
    env = os.environ.get("DRG_RULES_PATH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "grouper_rules"


def manifest_folders(root: Path) -> list[str]:
    """Names of the folders directly under ``root`` that hold a manifest.toml."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.toml").is_file())


def available_rule_sets(root: Path | None = None) -> list[str]:
    return manifest_folders(root or default_rules_root())


def locate_manifest_folder(id_or_path: str | Path, root: Path, what: str) -> Path:
    """The folder of ``id_or_path``: a folder with a manifest.toml, or an id under ``root``.

    ``what`` names the kind in the error ("rule set", "DIP rule set", ...).
    """
    candidate = Path(id_or_path)
    if (candidate / "manifest.toml").is_file():
        return candidate.resolve()
    by_id = root / str(id_or_path)
    if (by_id / "manifest.toml").is_file():
        return by_id.resolve()
    known = ", ".join(manifest_folders(root)) or "none"
    raise RuleSetError(f"unknown {what} '{id_or_path}': known {what}s are {known} (in {root})")


def read_toml_model(path: Path, model: type[M]) -> M:
    """A TOML file validated by ``model``; errors name the file and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleSetError(f"{path}: manifest.toml not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleSetError(f"{path}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors()
        )
        raise RuleSetError(f"{path}: {problems}") from None


def locate_rule_set(id_or_path: str | Path, root: Path | None = None) -> Path:
    """Return the folder of a rule set given its id (under the rules root) or a folder path."""
    return locate_manifest_folder(id_or_path, root or default_rules_root(), "rule set")


def resolve_rule_set(id_or_path: str | Path, root: Path | None = None) -> ResolvedRuleSet:
    directory = locate_rule_set(id_or_path, root)
    manifest_path = directory / "manifest.toml"
    manifest = read_toml_model(manifest_path, Manifest)
    if manifest.id != directory.name:
        raise RuleSetError(
            f"{manifest_path}: field 'id' is '{manifest.id}' but the folder is '{directory.name}'"
        )
    table_paths: dict[str, Path] = {}
    manifest_paths = [manifest_path]
    if manifest.extends:
        if manifest.extends == manifest.id:
            raise RuleSetError(f"{manifest_path}: field 'extends' names the rule set itself")
        base = resolve_rule_set(manifest.extends, directory.parent)
        table_paths.update(base.table_paths)
        manifest_paths = base.manifest_paths + manifest_paths
    table_paths.update({name: directory / file for name, file in manifest.tables.items()})
    unknown = sorted(set(table_paths) - set(REQUIRED_TABLES))
    if unknown:
        raise RuleSetError(f"{manifest_path}: field 'tables' has unknown tables {unknown}")
    missing = [name for name in REQUIRED_TABLES if name not in table_paths]
    if missing:
        raise RuleSetError(f"{manifest_path}: field 'tables' lacks {missing}")
    for name, path in table_paths.items():
        if not path.is_file():
            raise RuleSetError(f"{manifest_path}: table '{name}' file {path} does not exist")
    return ResolvedRuleSet(
        manifest=manifest,
        directory=directory,
        table_paths=table_paths,
        manifest_paths=manifest_paths,
    )
