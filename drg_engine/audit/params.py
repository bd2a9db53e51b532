"""Audit parameters: registry defaults, overridden by a user's TOML or JSON file.

Every threshold is a parameter because local rules differ by region. A parameters file looks
like::

    [global]
    fund_share = 0.65

    [HB001]                 # a rule's code or its kebab-case name
    min_empty_run = 4

    [decomposed-hospitalisation]
    window_days = 7

    [UC001]
    enabled = false         # switch a rule off (reported as skipped, with this reason)

    [tables]                # reference tables, paths relative to the parameters file
    category_map = "local_fee_categories.csv"
    dx_support = "dx_support.csv"

Unknown sections, rules or parameter names and values of the wrong type are errors that name
what is accepted, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drg_engine.audit.registry import ParamSpec, ParamValue, Registry
from drg_engine.errors import DrgEngineError

TABLE_NAMES = ("category_map", "dx_support")


class AuditParamsError(DrgEngineError):
    """The parameters file is unreadable or names unknown rules, parameters or wrong types."""


@dataclass(frozen=True)
class AuditParams:
    """Resolved parameters: global values, per-rule values, disabled rules, table paths."""

    global_values: dict[str, ParamValue]
    rule_values: dict[str, dict[str, ParamValue]]
    disabled: frozenset[str] = frozenset()
    tables: dict[str, Path] = field(default_factory=dict)
    source: str = "defaults"

    def for_rule(self, code: str) -> dict[str, ParamValue]:
        """The rule's own parameters (what a finding records as 'parameters used')."""
        return dict(self.rule_values.get(code, {}))

    def query_values(self, code: str, names: set[str]) -> dict[str, ParamValue]:
        """The values a query references, its own parameters shadowing nothing global."""
        values = {**self.global_values, **self.rule_values.get(code, {})}
        return {name: values[name] for name in names}


def _coerce(value: Any, spec: ParamSpec, where: str) -> ParamValue:
    default = spec.default
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    expected = "a list of strings" if isinstance(default, list) else type(default).__name__
    raise AuditParamsError(f"{where}: expected {expected}, got {value!r}")


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AuditParamsError(f"parameters file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AuditParamsError(f"{path}: cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise AuditParamsError(f"{path}: expected a table of sections")
    return data


def resolve_params(
    registry: Registry,
    path: str | Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> AuditParams:
    """Defaults, then the file at ``path``, then ``overrides`` (same shape as the file)."""
    global_values = {name: spec.default for name, spec in registry.global_params.items()}
    rule_values = {
        rule.code: {name: spec.default for name, spec in rule.spec.params.items()}
        for rule in registry.rules
    }
    disabled: set[str] = set()
    tables: dict[str, Path] = {}
    layers: list[tuple[str, dict[str, Any], Path | None]] = []
    if path is not None:
        file_path = Path(path)
        layers.append((str(file_path), _read_file(file_path), file_path.parent))
    if overrides:
        layers.append(("overrides", overrides, None))
    for origin, data, base in layers:
        for section, values in data.items():
            if not isinstance(values, dict):
                raise AuditParamsError(f"{origin}: [{section}] must be a table of values")
            if section == "global":
                for name, value in values.items():
                    spec = registry.global_params.get(name)
                    if spec is None:
                        raise AuditParamsError(
                            f"{origin}: unknown global parameter {name!r}; known: "
                            + ", ".join(sorted(registry.global_params))
                        )
                    global_values[name] = _coerce(value, spec, f"{origin} [global] {name}")
            elif section == "tables":
                for name, value in values.items():
                    if name not in TABLE_NAMES or not isinstance(value, str):
                        raise AuditParamsError(
                            f"{origin}: [tables] accepts {', '.join(TABLE_NAMES)} as file paths"
                        )
                    table_path = Path(value)
                    tables[name] = table_path if base is None else base / table_path
            else:
                rule = registry.resolve(section) if section else None
                assert rule is not None
                for name, value in values.items():
                    if name == "enabled":
                        if not isinstance(value, bool):
                            raise AuditParamsError(f"{origin} [{section}] enabled: true or false")
                        (disabled.discard if value else disabled.add)(rule.code)
                        continue
                    spec = rule.spec.params.get(name)
                    if spec is None:
                        raise AuditParamsError(
                            f"{origin}: rule {rule.code} has no parameter {name!r}; known: "
                            + (", ".join(sorted(rule.spec.params)) or "none") + ", enabled"
                        )
                    rule_values[rule.code][name] = _coerce(
                        value, spec, f"{origin} [{section}] {name}"
                    )
    source = ", ".join(origin for origin, _, _ in layers) or "defaults"
    return AuditParams(global_values, rule_values, frozenset(disabled), tables, source)
