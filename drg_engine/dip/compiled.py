"""Compile validated DIP tables into integer lookups for the vectorized assignment.

* Every diagnosis prefix any table uses (group specs with ranges expanded, secondary specs,
  exclusions, CCI and severity lists) gets an id in one :class:`PrefixIndex`; per prefix id the
  compiler keeps the groups anchored on it (principal position or any position, as CSR
  arrays), whether it is an excluded principal diagnosis, its CCI component and severity level.
* Every procedure code of a group expression gets an exact id; ``(group, code)`` pairs are
  sorted int64 keys (``group * U + code``) pointing at the expression's alternatives, so testing
  a claim's procedures against its candidate groups is one ``searchsorted``.
* Procedure attributes are a second prefix index (longest prefix wins).
* Groups carry their stage, treatment type, basic-level flag, newborn bounds, score and average
  cost as arrays indexed by group; auxiliary coefficients are a [group, aux type] matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from drg_engine.dip.codes import PrefixIndex
from drg_engine.dip.manifest import DipOptions
from drg_engine.dip.specs import (
    is_wildcard,
    normalise_dx,
    normalise_px,
    parse_dx_spec,
    parse_px_expression,
    parse_px_set,
)

if TYPE_CHECKING:
    from drg_engine.dip.tables import DipTables

COMPILER_VERSION = "2"
STAGES: tuple[str, ...] = ("pregroup", "merge", "assisted", "base", "basic", "comprehensive")
STAGE_INDEX = {stage: i for i, stage in enumerate(STAGES)}
CORE_STAGE_INDEXES = (1, 2, 3, 4)
COMPREHENSIVE = STAGE_INDEX["comprehensive"]
TREATMENTS: tuple[str, ...] = ("conservative", "diagnostic", "therapeutic", "surgical")
TREATMENT_CODES: tuple[str, ...] = ("BS", "ZD", "ZL", "SS")
TREATMENT_ZH: tuple[str, ...] = ("保守治疗", "诊断性操作", "治疗性操作", "相关手术")
TREATMENT_INDEX = {name: i for i, name in enumerate(TREATMENTS)}
SEVERITY_NONE, SEVERITY_MODERATE, SEVERITY_SEVERE = 0, 1, 2


def attribute_rank(attribute: str, options: DipOptions) -> int:
    """The treatment type a procedure attribute counts as (interventional per the options)."""
    if attribute == "interventional":
        return TREATMENT_INDEX[options.interventional_as]
    return TREATMENT_INDEX[attribute]


@dataclass(frozen=True)
class Csr:
    """Lists of group ids per key id: ``groups[start[k]:start[k + 1]]``."""

    start: np.ndarray  # int64[K + 1]
    groups: np.ndarray  # int32

    @classmethod
    def build(cls, pairs: list[tuple[int, int]], n_keys: int) -> Csr:
        pairs = sorted(set(pairs))
        keys = np.array([k for k, _ in pairs], dtype=np.int64)
        counts = np.bincount(keys, minlength=n_keys) if len(keys) else np.zeros(n_keys, np.int64)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(start, np.array([g for _, g in pairs], dtype=np.int32))

    def counts(self, keys: np.ndarray) -> np.ndarray:
        return self.start[keys + 1] - self.start[keys]

    @property
    def empty(self) -> bool:
        return len(self.groups) == 0


@dataclass(frozen=True)
class GroupSpec:
    """A group's row as written, for explain."""

    code: str
    name: str
    stage: str
    principal_dx: str
    dx_position: str
    secondary_dx: str | None
    px_expression: str | None
    px_position: str
    related_px: str | None
    treatment: str
    basic_level: bool
    max_age_days: int | None
    birth_weight_min_g: float | None
    birth_weight_max_g: float | None
    score: str | None
    average_cost: str | None
    cases: int | None
    source: str | None


@dataclass(frozen=True)
class CompiledDip:
    rule_set_id: str
    title: str
    content_hash: str
    partial: bool
    partial_note: str | None
    options: DipOptions

    group_codes: list[str]
    group_names: list[str]
    stage: np.ndarray  # int8[G]
    treatment: np.ndarray  # int8[G]
    basic_level: np.ndarray  # bool[G]
    px_any: np.ndarray  # bool[G]: listed procedures may be anywhere on the claim
    needs_conservative: np.ndarray  # bool[G]: a core group without procedures
    max_age_days: np.ndarray  # float64[G], inf = no bound
    bw_min: np.ndarray  # float64[G], -inf = no bound
    bw_max: np.ndarray  # float64[G], inf = no bound (exclusive)
    has_newborn: np.ndarray  # bool[G]
    has_sdx: np.ndarray  # bool[G]
    has_px: np.ndarray  # bool[G]
    has_related: np.ndarray  # bool[G]
    n_related: np.ndarray  # int16[G]
    score: np.ndarray  # float64[G], nan = none
    average_cost: np.ndarray  # float64[G], nan = none

    dx_index: PrefixIndex
    anchor_pdx: Csr  # prefix id -> groups matched on the principal diagnosis
    anchor_anydx: Csr  # prefix id -> groups matched on a diagnosis in any position
    nested_pdx: bool  # some group lists a prefix of another of its prefixes (K35|K35.8)
    sdx_keys: np.ndarray  # sorted int64: group * P + prefix id
    excluded_dx: np.ndarray  # bool[P]
    cci_component: np.ndarray  # int8[P], -1 none
    severity_level: np.ndarray  # int8[P]

    px_universe: list[str]  # exact procedure codes; id = position + 1, 0 = other
    anchor_px: Csr  # px id -> groups that take any diagnosis
    alt_group: np.ndarray  # int32[A]
    alt_size: np.ndarray  # int16[A]
    alt_keys: np.ndarray  # sorted int64: group * U + px id, one per (alternative, code)
    alt_of_key: np.ndarray  # int32, parallel to alt_keys
    related_keys: np.ndarray  # sorted int64: group * U + px id
    px_excluded: np.ndarray  # bool[U + 1]

    attr_index: PrefixIndex
    attr_rank: np.ndarray  # int8[Pa]: treatment type of each attribute prefix, -1 none
    unknown_px_rank: int

    cci_names: list[str]
    cci_weights: np.ndarray  # int16[K]
    cci_cleared_by: np.ndarray  # uint32[K]: bits a present component removes (hierarchy)
    cci_level_min: np.ndarray  # int16[L]
    cci_level_codes: list[str]

    aux_types: list[str]
    aux_coefficient: np.ndarray  # float64[G, T], nan = no coefficient

    group_specs: list[GroupSpec] = field(repr=False)
    px_names: dict[str, str] = field(repr=False)
    excluded_dx_specs: list[str] = field(repr=False)
    excluded_px_codes: list[str] = field(repr=False)
    cci_prefixes: dict[str, str] = field(repr=False)  # prefix -> component

    @property
    def n_groups(self) -> int:
        return len(self.group_codes)

    @property
    def px_size(self) -> int:
        return len(self.px_universe) + 1


def compile_dip(tables: DipTables, content_hash: str) -> CompiledDip:
    manifest = tables.rule_set.manifest
    options = manifest.options
    groups = tables.groups
    n = len(groups)

    # Diagnosis prefixes of every role.
    dx_specs = [parse_dx_spec(row.principal_dx) for row in groups]
    sdx_specs = [parse_dx_spec(row.secondary_dx) if row.secondary_dx else () for row in groups]
    excluded = [parse_dx_spec(row.code) or () for row in tables.excluded_principal_dx]
    cci = [parse_dx_spec(row.icd10_prefixes) or () for row in tables.cci_components]
    severity = [parse_dx_spec(row.code) or () for row in tables.severity_codes]
    prefixes: set[str] = set()
    for spec in (*dx_specs, *sdx_specs, *excluded, *cci, *severity):
        prefixes.update(spec or ())
    dx_index = PrefixIndex.build(prefixes)
    dx_id = dx_index.ids()
    n_prefix = len(dx_index.prefixes)

    # Exact procedure codes of the group expressions and the exclusion list.
    expressions = [parse_px_expression(row.px_expression) for row in groups]
    related = [parse_px_set(row.related_px) for row in groups]
    px_codes: set[str] = {normalise_px(row.code) for row in tables.excluded_procedures}
    for alternatives in expressions:
        for alternative in alternatives:
            px_codes.update(alternative)
    for codes in related:
        px_codes.update(codes)
    px_universe = sorted(px_codes)
    px_id = {code: i + 1 for i, code in enumerate(px_universe)}
    size = len(px_universe) + 1

    pdx_pairs: list[tuple[int, int]] = []
    anydx_pairs: list[tuple[int, int]] = []
    px_pairs: list[tuple[int, int]] = []
    sdx_keys: list[int] = []
    alt_group: list[int] = []
    alt_size: list[int] = []
    alt_key_pairs: list[tuple[int, int]] = []
    related_keys: list[int] = []
    px_any = np.zeros(n, dtype=bool)
    for g, row in enumerate(groups):
        position = row.px_position if options.core_px_position == "table" or \
            STAGE_INDEX[row.stage] not in CORE_STAGE_INDEXES else options.core_px_position
        px_any[g] = position == "any"
        spec = dx_specs[g]
        if spec is None:  # any diagnosis: anchored on its procedures
            for alternative in expressions[g]:
                for code in alternative:
                    px_pairs.append((px_id[code], g))
        else:
            target = anydx_pairs if row.dx_position == "any" else pdx_pairs
            target.extend((dx_id[prefix], g) for prefix in spec)
        sdx_keys.extend(g * n_prefix + dx_id[prefix] for prefix in sdx_specs[g] or ())
        for alternative in expressions[g]:
            a = len(alt_group)
            alt_group.append(g)
            alt_size.append(len(alternative))
            alt_key_pairs.extend((g * size + px_id[code], a) for code in alternative)
        related_keys.extend(g * size + px_id[code] for code in related[g])
    alt_key_pairs.sort()

    excluded_dx = np.zeros(n_prefix, dtype=bool)
    for spec in excluded:
        excluded_dx[[dx_id[p] for p in spec]] = True
    cci_component = np.full(n_prefix, -1, dtype=np.int8)
    cci_prefixes: dict[str, str] = {}
    for k, spec in enumerate(cci):
        for prefix in spec:
            cci_component[dx_id[prefix]] = k
            cci_prefixes[prefix] = tables.cci_components[k].component
    severity_level = np.zeros(n_prefix, dtype=np.int8)
    for row, spec in zip(tables.severity_codes, severity, strict=True):
        level = SEVERITY_SEVERE if row.level == "severe" else SEVERITY_MODERATE
        for prefix in spec:
            i = dx_id[prefix]
            severity_level[i] = max(severity_level[i], level)

    px_excluded = np.zeros(size, dtype=bool)
    for row in tables.excluded_procedures:
        px_excluded[px_id[normalise_px(row.code)]] = True

    attr_index = PrefixIndex.build({normalise_px(r.code) for r in tables.procedure_attributes})
    attr_id = attr_index.ids()
    attr_rank = np.full(len(attr_index.prefixes), -1, dtype=np.int8)
    px_names: dict[str, str] = {}
    for row in tables.procedure_attributes:
        attr_rank[attr_id[normalise_px(row.code)]] = attribute_rank(row.attribute, options)
        if row.name_zh:
            px_names[normalise_px(row.code)] = row.name_zh

    names = [c.component for c in tables.cci_components]
    cleared = np.zeros(len(names), dtype=np.uint32)
    for k, row in enumerate(tables.cci_components):
        if row.supersedes is not None:
            cleared[k] |= np.uint32(1 << names.index(row.supersedes))

    aux_types = sorted({row.aux_type for row in tables.auxiliary_coefficients})
    aux_coefficient = np.full((n, len(aux_types)), np.nan)
    code_index = {row.group_code: g for g, row in enumerate(groups)}
    for row in tables.auxiliary_coefficients:
        aux_coefficient[code_index[row.group_code], aux_types.index(row.aux_type)] = float(
            row.coefficient)

    def floats(values: list[float | None], missing: float) -> np.ndarray:
        return np.array([missing if v is None else float(v) for v in values], dtype=np.float64)

    stage = np.array([STAGE_INDEX[row.stage] for row in groups], dtype=np.int8)
    has_px = np.array([bool(e) for e in expressions], dtype=bool)
    return CompiledDip(
        rule_set_id=manifest.id,
        title=manifest.title,
        content_hash=content_hash,
        partial=manifest.partial,
        partial_note=manifest.partial_note,
        options=options,
        group_codes=[row.group_code for row in groups],
        group_names=[row.name_zh for row in groups],
        stage=stage,
        treatment=np.array([TREATMENT_INDEX[row.treatment] for row in groups], dtype=np.int8),
        basic_level=np.array([row.basic_level for row in groups], dtype=bool),
        px_any=px_any,
        needs_conservative=np.isin(stage, CORE_STAGE_INDEXES) & ~has_px,
        max_age_days=floats([row.max_age_days for row in groups], np.inf),
        bw_min=floats([row.birth_weight_min_g for row in groups], -np.inf),
        bw_max=floats([row.birth_weight_max_g for row in groups], np.inf),
        has_newborn=np.array([row.max_age_days is not None for row in groups], dtype=bool),
        has_sdx=np.array([bool(s) for s in sdx_specs], dtype=bool),
        has_px=has_px,
        has_related=np.array([bool(r) for r in related], dtype=bool),
        n_related=np.array([len(r) for r in related], dtype=np.int16),
        score=floats([row.score for row in groups], np.nan),  # type: ignore[misc]
        average_cost=floats([row.average_cost for row in groups], np.nan),  # type: ignore[misc]
        dx_index=dx_index,
        anchor_pdx=Csr.build(pdx_pairs, n_prefix),
        anchor_anydx=Csr.build(anydx_pairs, n_prefix),
        nested_pdx=any(
            a != b and b.startswith(a)
            for spec in dx_specs if spec for a in spec for b in spec
        ),
        sdx_keys=np.array(sorted(set(sdx_keys)), dtype=np.int64),
        excluded_dx=excluded_dx,
        cci_component=cci_component,
        severity_level=severity_level,
        px_universe=px_universe,
        anchor_px=Csr.build(px_pairs, size),
        alt_group=np.array(alt_group, dtype=np.int32),
        alt_size=np.array(alt_size, dtype=np.int16),
        alt_keys=np.array([k for k, _ in alt_key_pairs], dtype=np.int64),
        alt_of_key=np.array([a for _, a in alt_key_pairs], dtype=np.int32),
        related_keys=np.array(sorted(set(related_keys)), dtype=np.int64),
        px_excluded=px_excluded,
        attr_index=attr_index,
        attr_rank=attr_rank,
        unknown_px_rank=attribute_rank(options.unknown_procedure_attribute, options),
        cci_names=names,
        cci_weights=np.array([c.weight for c in tables.cci_components], dtype=np.int16),
        cci_cleared_by=cleared,
        cci_level_min=np.array([lv.min_score for lv in options.cci_levels], dtype=np.int16),
        cci_level_codes=[lv.code for lv in options.cci_levels],
        aux_types=aux_types,
        aux_coefficient=aux_coefficient,
        group_specs=[
            GroupSpec(
                code=row.group_code, name=row.name_zh, stage=row.stage,
                principal_dx=row.principal_dx, dx_position=row.dx_position,
                secondary_dx=row.secondary_dx, px_expression=row.px_expression,
                px_position="any" if px_any[g] else "principal", related_px=row.related_px,
                treatment=row.treatment, basic_level=row.basic_level,
                max_age_days=row.max_age_days, birth_weight_min_g=row.birth_weight_min_g,
                birth_weight_max_g=row.birth_weight_max_g,
                score=None if row.score is None else str(row.score),
                average_cost=None if row.average_cost is None else str(row.average_cost),
                cases=row.cases, source=row.source,
            )
            for g, row in enumerate(groups)
        ],
        px_names=px_names,
        excluded_dx_specs=[normalise_dx(r.code) for r in tables.excluded_principal_dx],
        excluded_px_codes=[normalise_px(r.code) for r in tables.excluded_procedures],
        cci_prefixes=cci_prefixes,
    )


def is_wildcard_group(spec: GroupSpec) -> bool:
    return is_wildcard(spec.principal_dx)
