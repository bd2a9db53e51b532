"""Static analysis of rule sets: summaries, validation warnings, unreachable rules, diffs.

Unreachability is decided from the tables alone. A rule row B can never win when an earlier row
A of the same MDC holds for every claim that satisfies B (A's every atom is implied by B's, e.g.
A "newborn" before B "main procedure in list and newborn"), when the principal-diagnosis-only
rows before B together cover every principal that can reach B, or when B's own lists cannot meet
the MDC's entry condition (a main-procedure list with no valid OR procedure under MDCA). A DRG
split is dead when an earlier split of the same ADRG accepts a superset of its claims.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from drg_engine.errors import RuleSetError
from drg_engine.rules.cache import content_hash
from drg_engine.rules.compiled import ATOMS_BY_KIND, SPLIT_MIN_SEVERITY
from drg_engine.rules.manifest import ResolvedRuleSet, resolve_rule_set
from drg_engine.rules.tables import AdrgRow, DrgRow, RuleTables
from drg_engine.rules.tables import load_tables as _load_tables


@lru_cache(maxsize=4)
def _tables_by_hash(directory: str, digest: str) -> RuleTables:
    return _load_tables(resolve_rule_set(directory))


def load_tables(rule_set: ResolvedRuleSet) -> RuleTables:
    """Validated tables, memoised by content hash (analysis reads the same set repeatedly)."""
    return _tables_by_hash(str(rule_set.directory), content_hash(rule_set))


@dataclass(frozen=True)
class _Rule:
    row: AdrgRow
    atoms: frozenset[str]
    lists: dict[str, frozenset[str]]  # role -> codes

    @property
    def label(self) -> str:
        return self.row.adrg if self.row.alt == 1 else f"{self.row.adrg} alt {self.row.alt}"


@dataclass
class ValidationReport:
    rule_set_id: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreachable_rules: list[str] = field(default_factory=list)
    unreachable_adrgs: list[str] = field(default_factory=list)
    unreachable_drgs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _rules_by_mdc(tables: RuleTables) -> dict[str, list[_Rule]]:
    lists: dict[tuple[str, int], dict[str, set[str]]] = {}
    for row in tables.adrg_codes:
        lists.setdefault((row.adrg, row.alt), {}).setdefault(row.role, set()).add(row.code)
    by_mdc: dict[str, list[_Rule]] = {}
    for row in sorted(tables.adrg, key=lambda r: r.order_in_mdc):
        codes = lists.get((row.adrg, row.alt), {})
        by_mdc.setdefault(row.mdc, []).append(
            _Rule(row, frozenset(ATOMS_BY_KIND[row.cond_kind]),
                  {role: frozenset(c) for role, c in codes.items()})
        )
    return by_mdc


def _implies(b: _Rule, a: _Rule, pdx_domain: frozenset[str] | None,
             valid_or: frozenset[str], entry_valid_or: bool) -> bool:
    """True when every claim that satisfies B (inside this MDC) also satisfies A."""
    b_dx, b_sdx = b.lists.get("dx", frozenset()), b.lists.get("sdx", frozenset())
    b_px, b_px2 = b.lists.get("px", frozenset()), b.lists.get("px2", frozenset())
    b_pdx = (b_dx & pdx_domain if pdx_domain is not None else b_dx) if "pdx" in b.atoms \
        else pdx_domain
    for atom in a.atoms:
        a_list = a.lists.get("px2" if atom == "any_px2" else
                             "sdx" if atom == "sdx" else
                             "px" if atom in ("main_px", "any_px") else "dx", frozenset())
        if atom == "pdx":
            holds = b_pdx is not None and b_pdx <= a_list
        elif atom == "any_dx":
            holds = (b_pdx is not None and b_pdx <= a_list) or (
                "any_dx" in b.atoms and b_dx <= a_list) or ("sdx" in b.atoms and b_sdx <= a_list)
        elif atom == "sdx":
            holds = "sdx" in b.atoms and b_sdx <= a_list
        elif atom == "main_px":
            holds = "main_px" in b.atoms and (b_px & valid_or if entry_valid_or else b_px) <= a_list
        elif atom == "any_px":
            holds = ("main_px" in b.atoms or "any_px" in b.atoms) and b_px <= a_list
        elif atom == "any_px2":
            holds = "any_px2" in b.atoms and b_px2 <= a_list
        elif atom == "main_px_in_valid_or":
            holds = entry_valid_or or "main_px_in_valid_or" in b.atoms or (
                "main_px" in b.atoms and b_px <= valid_or)
        elif atom == "newborn":
            b_limit, a_limit = b.row.max_age_days or 28, a.row.max_age_days or 28
            holds = "newborn" in b.atoms and b_limit <= a_limit
        elif atom == "birth_weight":
            holds = "birth_weight" in b.atoms and (
                (a.row.birth_weight_min_g or 0) <= (b.row.birth_weight_min_g or 0)
                and (a.row.birth_weight_max_g or float("inf"))
                >= (b.row.birth_weight_max_g or float("inf")))
        else:  # no_px_in_valid_or, label_combo, any_px_in_valid_or: only the same rule implies
            holds = atom in b.atoms and a.lists == b.lists and a.row.px_label_combo == \
                b.row.px_label_combo
        if not holds:
            return False
    return True


def unreachable_rules(tables: RuleTables) -> list[str]:
    """Rule rows (``ADRG`` or ``ADRG alt N``) that no claim can reach, in evaluation order."""
    valid_or = frozenset(r.code for r in tables.valid_or_procedures)
    principal_lists: dict[str, set[str]] = {}
    for row in tables.mdc_codes:
        principal_lists.setdefault(row.mdc, set()).add(row.code)
    dead: list[str] = []
    for mdc in sorted(tables.mdc, key=lambda r: r.eval_order):
        entry_valid_or = mdc.entry_kind == "main_px_in_valid_or"
        pdx_domain = (frozenset(principal_lists.get(mdc.mdc, set()))
                      if mdc.entry_kind.startswith("pdx_in_list") else None)
        earlier: list[_Rule] = []
        covered: set[str] = set()  # principals taken by earlier principal-only rules
        for rule in _rules_by_mdc(tables).get(mdc.mdc, []):
            px = rule.lists.get("px", frozenset())
            dx = rule.lists.get("dx", frozenset())
            reach_pdx = (dx if "pdx" in rule.atoms else pdx_domain)
            if reach_pdx is not None and pdx_domain is not None:
                reach_pdx = reach_pdx & pdx_domain
            impossible = (
                ("main_px" in rule.atoms and entry_valid_or and not px & valid_or)
                or (reach_pdx is not None and not reach_pdx)
                or (reach_pdx is not None and reach_pdx <= covered)
            )
            if impossible or any(
                _implies(rule, a, pdx_domain, valid_or, entry_valid_or) for a in earlier
            ):
                dead.append(rule.label)
            earlier.append(rule)
            if rule.atoms == {"pdx"}:
                covered |= dx
    return dead


def dead_splits(tables: RuleTables) -> list[str]:
    """DRGs whose split can never be chosen because an earlier split takes all its claims."""
    by_adrg: dict[str, list[DrgRow]] = {}
    for row in tables.drg:
        by_adrg.setdefault(row.adrg, []).append(row)
    inf = float("inf")
    dead = []
    for splits in by_adrg.values():
        ordered = sorted(splits, key=lambda r: r.order_in_adrg)
        for k, later in enumerate(ordered):
            for earlier in ordered[:k]:
                if (
                    SPLIT_MIN_SEVERITY[earlier.split_kind] <= SPLIT_MIN_SEVERITY[later.split_kind]
                    and (earlier.max_age_years or inf) >= (later.max_age_years or inf)
                    and (earlier.min_los_days or -inf) <= (later.min_los_days or -inf)
                    and (earlier.max_los_days or inf) >= (later.max_los_days or inf)
                ):
                    dead.append(later.drg)
                    break
    return dead


def validate_rule_set(path: str | Path) -> ValidationReport:
    """Schema and references (errors), unreachable rules and dictionary gaps (warnings)."""
    try:
        rule_set = resolve_rule_set(path)
        tables = load_tables(rule_set)
    except RuleSetError as exc:
        return ValidationReport(rule_set_id=str(path), errors=[str(exc)])
    report = ValidationReport(rule_set_id=rule_set.manifest.id)
    rules = unreachable_rules(tables)
    rows_per_adrg = Counter(row.adrg for row in tables.adrg)
    dead_rows = Counter(label.split()[0] for label in rules)
    report.unreachable_rules = rules
    report.unreachable_adrgs = sorted(a for a, n in dead_rows.items() if n == rows_per_adrg[a])
    dead_adrgs = set(report.unreachable_adrgs)
    report.unreachable_drgs = sorted(
        {row.drg for row in tables.drg if row.adrg in dead_adrgs} | set(dead_splits(tables))
    )
    for label in rules:
        report.warnings.append(f"adrg.csv: rule {label} can never be reached")
    for drg in report.unreachable_drgs:
        report.warnings.append(f"drg.csv: DRG {drg} can never be returned")
    dx_names = {r.code for r in tables.dx_names}
    px_names = {r.code for r in tables.px_names}
    listed_dx = {r.code for r in tables.mdc_codes} | {
        r.code for r in tables.adrg_codes if r.role in ("dx", "sdx")
    }
    missing_dx = sorted(listed_dx - dx_names)
    missing_px = sorted({r.code for r in tables.adrg_codes if r.role in ("px", "px2")}
                        - px_names)
    if missing_dx:
        report.warnings.append(
            f"dx_names.csv lacks {len(missing_dx)} diagnosis codes used by the lists: "
            + ", ".join(missing_dx[:10]) + (" ..." if len(missing_dx) > 10 else ""))
    if missing_px:
        report.warnings.append(
            f"px_names.csv lacks {len(missing_px)} procedure codes used by the lists: "
            + ", ".join(missing_px[:10]) + (" ..." if len(missing_px) > 10 else ""))
    for adrg, splits in _split_sequences(tables).items():
        if not any(s.split_kind == "none" and not s.bounded for s in splits):
            report.warnings.append(
                f"drg.csv: every split of ADRG {adrg} has age/LOS bounds; a claim outside "
                f"them gets the ADRG code {adrg} as its DRG")
    return report


def _split_sequences(tables: RuleTables) -> dict[str, list[DrgRow]]:
    by_adrg: dict[str, list[DrgRow]] = {}
    for row in sorted(tables.drg, key=lambda r: r.order_in_adrg):
        by_adrg.setdefault(row.adrg, []).append(row)
    return by_adrg


def summarize(tables: RuleTables) -> dict[str, object]:
    """What `drg rules show` prints: identity, dates, options, sizes, kinds, split sequences."""
    manifest = tables.rule_set.manifest
    sequences = Counter(
        "".join(row.drg[3:] for row in rows) for rows in _split_sequences(tables).values()
    )
    return {
        "id": manifest.id,
        "title": manifest.title,
        "scheme": f"{manifest.scheme} {manifest.version}",
        "region": manifest.region + (
            f" (region codes {', '.join(manifest.region_codes)})" if manifest.region_codes
            else ""),
        "effective": f"{manifest.effective_from} .. {manifest.effective_to or 'open'}",
        "extends": manifest.extends or "-",
        "options": ", ".join(f"{k}={v}" for k, v in manifest.options.model_dump().items()),
        "MDCs": len(tables.mdc),
        "ADRGs": len({row.adrg for row in tables.adrg}),
        "ADRG rule rows": len(tables.adrg),
        "DRGs": len(tables.drg),
        "MCC / CC codes": (
            f"{sum(r.level == 'MCC' for r in tables.cc_mcc):,} / "
            f"{sum(r.level == 'CC' for r in tables.cc_mcc):,}"),
        "valid OR procedures": len(tables.valid_or_procedures),
        "trauma regions": len(tables.trauma_regions),
        "MDC entry kinds": dict(Counter(row.entry_kind for row in tables.mdc).most_common()),
        "ADRG condition kinds": dict(Counter(row.cond_kind for row in tables.adrg).most_common()),
        "split sequences": dict(sequences.most_common()),
    }


@dataclass
class RuleSetDiff:
    a: str
    b: str
    dx_mdc_changed: list[tuple[str, str, str]]  # code, MDCs in A, MDCs in B
    dx_adrg_changed: list[tuple[str, str, str]]
    px_adrg_changed: list[tuple[str, str, str]]
    adrgs_added: list[str]
    adrgs_removed: list[str]
    drgs_added: list[tuple[str, str]]
    drgs_removed: list[tuple[str, str]]
    drgs_renamed: list[tuple[str, str, str]]  # beyond full/half-width characters
    drgs_renamed_width_only: list[tuple[str, str, str]]


def _membership(pairs: list[tuple[str, str]]) -> dict[str, frozenset[str]]:
    members: dict[str, set[str]] = {}
    for code, owner in pairs:
        members.setdefault(code, set()).add(owner)
    return {code: frozenset(owners) for code, owners in members.items()}


def _changed(a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> list[
        tuple[str, str, str]]:
    empty: frozenset[str] = frozenset()
    return [
        (code, " ".join(sorted(a.get(code, empty))) or "-",
         " ".join(sorted(b.get(code, empty))) or "-")
        for code in sorted(set(a) | set(b)) if a.get(code, empty) != b.get(code, empty)
    ]


def diff_rule_sets(a_path: str | Path, b_path: str | Path) -> RuleSetDiff:
    a = load_tables(resolve_rule_set(a_path))
    b = load_tables(resolve_rule_set(b_path))

    def dx_mdc(t: RuleTables) -> dict[str, frozenset[str]]:
        return _membership([(r.code, r.mdc) for r in t.mdc_codes])

    def adrg_members(t: RuleTables, roles: tuple[str, ...]) -> dict[str, frozenset[str]]:
        return _membership([(r.code, r.adrg) for r in t.adrg_codes if r.role in roles])

    a_drg = {r.drg: r.name_zh for r in a.drg}
    b_drg = {r.drg: r.name_zh for r in b.drg}
    kept = sorted(set(a_drg) & set(b_drg))
    renamed = [(d, a_drg[d], b_drg[d]) for d in kept if a_drg[d] != b_drg[d]]

    def fold(name: str) -> str:
        return unicodedata.normalize("NFKC", name)

    a_adrgs = {r.adrg for r in a.adrg}
    b_adrgs = {r.adrg for r in b.adrg}
    return RuleSetDiff(
        a=a.rule_set.manifest.id,
        b=b.rule_set.manifest.id,
        dx_mdc_changed=_changed(dx_mdc(a), dx_mdc(b)),
        dx_adrg_changed=_changed(adrg_members(a, ("dx", "sdx")), adrg_members(b, ("dx", "sdx"))),
        px_adrg_changed=_changed(adrg_members(a, ("px", "px2")), adrg_members(b, ("px", "px2"))),
        adrgs_added=sorted(b_adrgs - a_adrgs),
        adrgs_removed=sorted(a_adrgs - b_adrgs),
        drgs_added=[(d, b_drg[d]) for d in sorted(set(b_drg) - set(a_drg))],
        drgs_removed=[(d, a_drg[d]) for d in sorted(set(a_drg) - set(b_drg))],
        drgs_renamed=[r for r in renamed if fold(r[1]) != fold(r[2])],
        drgs_renamed_width_only=[r for r in renamed if fold(r[1]) == fold(r[2])],
    )
