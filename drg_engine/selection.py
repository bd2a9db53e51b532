"""Choose the rule set of each claim by region and discharge date (``--rules auto``).

The registry (``grouper_rules/registry.toml``) lists the rule sets that take part; each one's
manifest gives its region codes and effective dates. Selection is a few vectorized masks over
the batch: regional rule sets first, then national ones, first match wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.errors import RuleSetError
from drg_engine.rules.manifest import default_rules_root, resolve_rule_set

AUTO = "auto"
NO_RULE_SET = "NO_RULE_SET"
SELECTION_REASONS = {
    "NO_RULE_SET": "no rule set in the registry covers the claim's region and discharge date",
    "DISCHARGE_DATE_MISSING": "choosing a rule set needs the discharge date, which is missing",
}


@dataclass(frozen=True)
class RegistryEntry:
    rule_set_id: str
    region_codes: tuple[str, ...]
    effective_from: date
    effective_to: date | None

    @property
    def is_regional(self) -> bool:
        return bool(self.region_codes)


def load_registry(root: Path | None = None) -> list[RegistryEntry]:
    """The registered rule sets, regional ones first, each in registry order."""
    root = root or default_rules_root()
    path = root / "registry.toml"
    try:
        ids = tomllib.loads(path.read_text(encoding="utf-8"))["rule_sets"]
    except FileNotFoundError:
        raise RuleSetError(f"{path}: the rule-set registry is missing") from None
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise RuleSetError(f"{path}: field 'rule_sets' (a list of rule-set ids): {exc}") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise RuleSetError(f"{path}: field 'rule_sets' must be a list of rule-set ids")
    entries = []
    for rule_set_id in ids:
        manifest = resolve_rule_set(rule_set_id, root).manifest
        entries.append(RegistryEntry(rule_set_id, tuple(manifest.region_codes),
                                     manifest.effective_from, manifest.effective_to))
    return sorted(entries, key=lambda e: not e.is_regional)


def select_rule_sets(clean: pa.Table, registry: list[RegistryEntry]) -> np.ndarray:
    """Per claim, the index of its registry entry, or -1 when none covers it."""
    n = clean.num_rows
    discharge = clean.column("discharge_date")
    region = pc.fill_null(clean.column("region"), "")
    chosen = np.full(n, -1, dtype=np.int64)
    for index, entry in enumerate(registry):
        covered = pc.greater_equal(discharge, pa.scalar(entry.effective_from, pa.date32()))
        if entry.effective_to is not None:
            covered = pc.and_(
                covered, pc.less_equal(discharge, pa.scalar(entry.effective_to, pa.date32()))
            )
        if entry.is_regional:
            in_region = pc.starts_with(region, entry.region_codes[0])
            for prefix in entry.region_codes[1:]:
                in_region = pc.or_(in_region, pc.starts_with(region, prefix))
            covered = pc.and_(covered, in_region)
        mask = np.asarray(pc.fill_null(covered, False)) & (chosen < 0)
        chosen[mask] = index
    return chosen


def unselected_reasons(clean: pa.Table, chosen: np.ndarray) -> np.ndarray:
    """Reason code per claim that no rule set covers (empty string for selected claims)."""
    date_missing = np.asarray(clean.column("discharge_date").is_null())
    return np.where(
        chosen >= 0, "", np.where(date_missing, "DISCHARGE_DATE_MISSING", "NO_RULE_SET")
    )
