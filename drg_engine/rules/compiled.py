"""Compile validated rule tables into integer-coded lookup arrays for the vectorized grouper.

Codes become integer ids (id 0 = a code the rule set does not know). Every code attribute the
grouper needs is an array indexed by code id, so a lookup is an array gather:

* ``dx_mdc_mask[id]``: bit m set when the code is in MDC m's principal list;
* ``dx_trauma_bit[id]``: the MDCZ trauma-region bit of the code;
* ``dx_bits[id]`` / ``px_bits[id]`` / ``px2_bits[id]``: a bitset over *candidates* (the ADRGs,
  plus the QY steps when enabled, numbered in evaluation order) whose dx / px / px2 list holds
  the code;
* ``dx_cc_level``, ``dx_cc_table``, ``dx_exclusion_table``: CC/MCC level and exclusion tables.

Each ADRG condition kind is a conjunction of *atoms* (principal dx in list, main px in list,
any px in list, newborn, weight band, valid-OR tests, ...). For every atom the compiler keeps
the bitset of candidates that require it, so the grouper evaluates all 376 conditions of a claim
with a handful of word-wise operations, and the winner is the lowest set bit (DESIGN §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the table models are needed only when compiling, not on a cache hit
    from drg_engine.rules.tables import RuleTables

# The atoms each condition kind is made of. A candidate satisfies its condition when every
# atom it requires holds for the claim.
ATOMS_BY_KIND: dict[str, tuple[str, ...]] = {
    "pdx": ("pdx",),
    "main_px": ("main_px",),
    "pdx_and_main_px": ("pdx", "main_px"),
    "any_px_and_any_px2": ("any_px", "any_px2"),
    "pdx_and_any_px_and_any_px2": ("pdx", "any_px", "any_px2"),
    "pdx_and_px_label_combo": ("pdx", "label_combo"),
    "main_px_and_newborn": ("main_px", "newborn"),
    "pdx_and_newborn": ("pdx", "newborn"),
    "any_dx_and_birth_weight_newborn": ("any_dx", "birth_weight", "newborn"),
    "always": (),
    "main_px_in_valid_or": ("main_px_in_valid_or",),
    "any_dx_and_main_px_in_valid_or": ("any_dx", "main_px_in_valid_or"),
    "no_px_in_valid_or": ("no_px_in_valid_or",),
    "any_px": ("any_px",),
    "newborn": ("newborn",),
    "birth_weight_newborn": ("birth_weight", "newborn"),
    "pdx_and_birth_weight_newborn": ("pdx", "birth_weight", "newborn"),
    "pdx_and_any_px": ("pdx", "any_px"),
    "any_dx": ("any_dx",),
    "any_dx_and_main_px": ("any_dx", "main_px"),
    "sdx": ("sdx",),
    "sdx_and_any_px": ("sdx", "any_px"),
    "sdx_and_main_px": ("sdx", "main_px"),
    "qy": ("any_px_in_valid_or",),
}
ATOMS: tuple[str, ...] = (
    "pdx",
    "any_dx",
    "sdx",
    "main_px",
    "any_px",
    "any_px2",
    "label_combo",
    "newborn",
    "birth_weight",
    "main_px_in_valid_or",
    "no_px_in_valid_or",
    "any_px_in_valid_or",
)
SEVERITY_NONE, SEVERITY_CC, SEVERITY_MCC = 0, 1, 2
SEVERITY_LABELS = ("none", "CC", "MCC")
# split_kind -> the lowest severity it accepts
SPLIT_MIN_SEVERITY = {"none": SEVERITY_NONE, "mcc_or_cc": SEVERITY_CC, "mcc": SEVERITY_MCC}
COMPILER_VERSION = "2"


@dataclass(frozen=True)
class LabelCombo:
    """A label-combination condition (JA1 ``1+2;1+3+4``): labels of matched procedures."""

    candidate: int
    px_label_bits: np.ndarray  # uint32 per px id: 1 << label when the code is in the list
    alternatives: tuple[int, ...]  # each a bitmask of labels that must all be present


@dataclass(frozen=True)
class BandAtom:
    """Candidates sharing one parameter value of a banded atom (newborn age, birth weight)."""

    low: float | None
    high: float | None
    mask: np.ndarray  # uint64[W] candidates using this band


@dataclass(frozen=True)
class DrgSplit:
    """One split of an ADRG's sequence, for display (explain) and the split arrays."""

    drg: str
    split_kind: str
    max_age_years: float | None
    min_los_days: int | None
    max_los_days: int | None


@dataclass(frozen=True)
class CompiledRules:
    rule_set_id: str
    title: str
    content_hash: str
    qy_enabled: bool
    code_conversion: bool

    dx_universe: list[str]
    px_universe: list[str]

    mdc_codes: list[str]
    mdc_names: list[str]
    mdc_entry_kind: list[str]
    mdc_entry_sex: np.ndarray  # int8, 0 = no sex condition
    dx_mdc_mask: np.ndarray  # uint32[Ud]
    dx_trauma_bit: np.ndarray  # uint16[Ud]
    trauma_region_names: list[str]

    candidate_codes: list[str]  # ADRG code (repeated for alternative rules), or "QY"
    candidate_alt: list[int]
    candidate_mdc: np.ndarray  # int16 index into mdc_codes
    candidate_is_qy: np.ndarray  # bool
    candidate_kind: list[str]
    words: int
    atom_masks: dict[str, np.ndarray]  # atom -> uint64[W]
    mdc_byte_lut: np.ndarray  # uint64[4, 256, W]: MDC-mask byte -> bits of those MDCs' candidates
    dx_bits: np.ndarray  # uint64[Ud, W]
    px_bits: np.ndarray  # uint64[Up, W]
    any_dx_bits: np.ndarray  # dx_bits restricted to candidates using the any_dx atom
    any_px_bits: np.ndarray  # px_bits restricted to any_px candidates
    any_px2_bits: np.ndarray  # uint64[Up, W] px2 lists
    sdx_bits: np.ndarray  # uint64[Ud, W] secondary-diagnosis lists
    px_valid_or: np.ndarray  # bool[Up]
    newborn_bands: list[BandAtom]
    weight_bands: list[BandAtom]
    label_combos: list[LabelCombo]

    dx_cc_level: np.ndarray  # int8[Ud]
    dx_cc_table: np.ndarray  # int32[Ud], -1 none
    dx_exclusion_table: np.ndarray  # int32[Ud], principal's table, -1 none

    drg_codes: list[str]
    drg_names: list[str]
    # The split sequence of each candidate's ADRG, padded to K positions with -1 / no bound.
    split_drg: np.ndarray  # int32[C, K] DRG index
    split_min_severity: np.ndarray  # int8[C, K]
    split_max_age: np.ndarray  # float64[C, K], inclusive, +inf = no bound
    split_min_los: np.ndarray  # float64[C, K], inclusive, -inf = no bound
    split_max_los: np.ndarray  # float64[C, K], exclusive, +inf = no bound
    candidate_needs_los: np.ndarray  # bool[C]: some split of the ADRG has an LOS bound
    qy_drg_codes: list[str]  # per MDC

    dx_names: dict[str, str] = field(repr=False)
    px_names: dict[str, str] = field(repr=False)
    adrg_names: dict[str, str] = field(repr=False)
    drg_splits: dict[str, list[DrgSplit]] = field(repr=False)
    dx_map: dict[str, str] = field(repr=False)
    px_map: dict[str, str] = field(repr=False)


def _universe(*code_lists: list[str]) -> tuple[list[str], dict[str, int]]:
    codes = sorted({code for codes in code_lists for code in codes})
    return codes, {code: i + 1 for i, code in enumerate(codes)}


def _bit(words: int, position: int) -> np.ndarray:
    mask = np.zeros(words, dtype=np.uint64)
    mask[position // 64] = np.uint64(1) << np.uint64(position % 64)
    return mask


def _set_bit(array: np.ndarray, row: int, position: int) -> None:
    array[row, position // 64] |= np.uint64(1) << np.uint64(position % 64)


def _parse_label_combo(text: str) -> tuple[int, ...]:
    alternatives = []
    for alternative in text.split(";"):
        mask = 0
        for label in alternative.split("+"):
            mask |= 1 << int(label)
        alternatives.append(mask)
    return tuple(alternatives)


def compile_rules(tables: RuleTables, content_hash: str) -> CompiledRules:
    manifest = tables.rule_set.manifest
    qy_enabled = manifest.options.qy_enabled

    mdcs = sorted(tables.mdc, key=lambda r: r.eval_order)
    mdc_index = {row.mdc: i for i, row in enumerate(mdcs)}
    rules_by_mdc: dict[str, list] = {row.mdc: [] for row in mdcs}
    for row in tables.adrg:
        rules_by_mdc[row.mdc].append(row)

    dx_universe, dx_id = _universe(
        [r.code for r in tables.mdc_codes],
        [r.code for r in tables.adrg_codes if r.role in ("dx", "sdx")],
        [r.code for r in tables.cc_mcc],
        [r.pdx_code for r in tables.cc_exclusion],
        [r.code for r in tables.dx_names],
    )
    px_universe, px_id = _universe(
        [r.code for r in tables.adrg_codes if r.role in ("px", "px2")],
        [r.code for r in tables.valid_or_procedures],
        [r.code for r in tables.px_names],
    )
    n_dx, n_px = len(dx_universe) + 1, len(px_universe) + 1

    # Candidates in evaluation order: each MDC's ADRG rule rows (alternatives are separate
    # rows), with the MDC's QY step at its position.
    candidates: list[tuple[str, int, str, object]] = []  # (code, mdc index, kind, rule row)
    for m, mdc in enumerate(mdcs):
        ordered = sorted(rules_by_mdc[mdc.mdc], key=lambda r: r.order_in_mdc)
        qy_at = mdc.qy_after_n_adrgs if mdc.qy_after_n_adrgs is not None else len(ordered)
        for position, rule in enumerate(ordered):
            if qy_enabled and position == qy_at:
                candidates.append(("QY", m, "qy", None))
            candidates.append((rule.adrg, m, rule.cond_kind, rule))
        if qy_enabled and qy_at >= len(ordered):
            candidates.append(("QY", m, "qy", None))
    n_cand = len(candidates)
    words = (n_cand + 63) // 64
    candidate_index = {
        (code, rule.alt): i for i, (code, _, kind, rule) in enumerate(candidates) if kind != "qy"
    }

    atom_masks = {atom: np.zeros(words, dtype=np.uint64) for atom in ATOMS}
    mdc_candidate_masks = np.zeros((len(mdcs), words), dtype=np.uint64)
    newborn: dict[float, np.ndarray] = {}
    weight: dict[tuple[float | None, float | None], np.ndarray] = {}
    label_rows: dict[int, tuple[int, ...]] = {}
    for c, (_code, m, kind, adrg) in enumerate(candidates):
        bit = _bit(words, c)
        mdc_candidate_masks[m] |= bit
        for atom in ATOMS_BY_KIND[kind]:
            atom_masks[atom] |= bit
        if adrg is None:
            continue
        if "newborn" in ATOMS_BY_KIND[kind]:
            limit = float(adrg.max_age_days if adrg.max_age_days is not None else 28)
            newborn[limit] = newborn.get(limit, np.zeros(words, dtype=np.uint64)) | bit
        if "birth_weight" in ATOMS_BY_KIND[kind]:
            band = (adrg.birth_weight_min_g, adrg.birth_weight_max_g)
            weight[band] = weight.get(band, np.zeros(words, dtype=np.uint64)) | bit
        if kind == "pdx_and_px_label_combo":
            label_rows[c] = _parse_label_combo(adrg.px_label_combo)

    dx_bits = np.zeros((n_dx, words), dtype=np.uint64)
    sdx_bits = np.zeros((n_dx, words), dtype=np.uint64)
    px_bits = np.zeros((n_px, words), dtype=np.uint64)
    px2_bits = np.zeros((n_px, words), dtype=np.uint64)
    label_bits = {c: np.zeros(n_px, dtype=np.uint32) for c in label_rows}
    for row in tables.adrg_codes:
        c = candidate_index[(row.adrg, row.alt)]
        if row.role == "dx":
            _set_bit(dx_bits, dx_id[row.code], c)
        elif row.role == "sdx":
            _set_bit(sdx_bits, dx_id[row.code], c)
        elif row.role == "px":
            _set_bit(px_bits, px_id[row.code], c)
            if c in label_bits and row.px_label is not None:
                label_bits[c][px_id[row.code]] = np.uint32(1 << row.px_label)
        else:
            _set_bit(px2_bits, px_id[row.code], c)

    dx_mdc_mask = np.zeros(n_dx, dtype=np.uint32)
    dx_trauma_bit = np.zeros(n_dx, dtype=np.uint16)
    regions = [r.trauma_region for r in tables.trauma_regions]
    for row in tables.mdc_codes:
        i = dx_id[row.code]
        dx_mdc_mask[i] |= np.uint32(1 << mdc_index[row.mdc])
        if row.trauma_region is not None:
            dx_trauma_bit[i] |= np.uint16(1 << regions.index(row.trauma_region))

    px_valid_or = np.zeros(n_px, dtype=bool)
    for row in tables.valid_or_procedures:
        px_valid_or[px_id[row.code]] = True

    mdc_byte_lut = np.zeros((4, 256, words), dtype=np.uint64)
    for byte_index in range(4):
        for value in range(256):
            for bit in range(8):
                m = byte_index * 8 + bit
                if value >> bit & 1 and m < len(mdcs):
                    mdc_byte_lut[byte_index, value] |= mdc_candidate_masks[m]

    dx_cc_level = np.zeros(n_dx, dtype=np.int8)
    dx_cc_table = np.full(n_dx, -1, dtype=np.int32)
    for row in tables.cc_mcc:
        i = dx_id[row.code]
        dx_cc_level[i] = 2 if row.level == "MCC" else 1
        dx_cc_table[i] = row.exclusion_table
    dx_exclusion_table = np.full(n_dx, -1, dtype=np.int32)
    for row in tables.cc_exclusion:
        dx_exclusion_table[dx_id[row.pdx_code]] = row.exclusion_table

    first_candidate = {}
    for (code, _alt), c in candidate_index.items():
        first_candidate.setdefault(code, c)
    drgs = sorted(tables.drg, key=lambda r: (first_candidate[r.adrg], r.order_in_adrg))
    drg_codes = [r.drg for r in drgs]
    drg_index = {code: i for i, code in enumerate(drg_codes)}
    splits: dict[str, list[DrgSplit]] = {}
    for row in drgs:
        splits.setdefault(row.adrg, []).append(
            DrgSplit(row.drg, row.split_kind, row.max_age_years, row.min_los_days,
                     row.max_los_days)
        )
    positions = max(len(sequence) for sequence in splits.values())
    split_drg = np.full((n_cand, positions), -1, dtype=np.int32)
    split_min_severity = np.full((n_cand, positions), SEVERITY_MCC + 1, dtype=np.int8)
    split_max_age = np.full((n_cand, positions), np.inf)
    split_min_los = np.full((n_cand, positions), -np.inf)
    split_max_los = np.full((n_cand, positions), np.inf)
    for c, (code, _m, kind, _rule) in enumerate(candidates):
        if kind == "qy":
            continue
        for k, split in enumerate(splits[code]):
            split_drg[c, k] = drg_index[split.drg]
            split_min_severity[c, k] = SPLIT_MIN_SEVERITY[split.split_kind]
            if split.max_age_years is not None:
                split_max_age[c, k] = split.max_age_years
            if split.min_los_days is not None:
                split_min_los[c, k] = split.min_los_days
            if split.max_los_days is not None:
                split_max_los[c, k] = split.max_los_days
    candidate_needs_los = np.isfinite(split_min_los).any(axis=1) | np.isfinite(
        split_max_los
    ).any(axis=1)

    any_dx_bits = dx_bits & atom_masks["any_dx"]
    return CompiledRules(
        rule_set_id=manifest.id,
        title=manifest.title,
        content_hash=content_hash,
        qy_enabled=qy_enabled,
        code_conversion=manifest.options.code_conversion,
        dx_universe=dx_universe,
        px_universe=px_universe,
        mdc_codes=[r.mdc for r in mdcs],
        mdc_names=[r.name_zh for r in mdcs],
        mdc_entry_kind=[r.entry_kind for r in mdcs],
        mdc_entry_sex=np.array([r.entry_sex or 0 for r in mdcs], dtype=np.int8),
        dx_mdc_mask=dx_mdc_mask,
        dx_trauma_bit=dx_trauma_bit,
        trauma_region_names=[r.name_zh for r in tables.trauma_regions],
        candidate_codes=[c[0] for c in candidates],
        candidate_alt=[c[3].alt if c[3] is not None else 0 for c in candidates],
        candidate_mdc=np.array([c[1] for c in candidates], dtype=np.int16),
        candidate_is_qy=np.array([c[2] == "qy" for c in candidates], dtype=bool),
        candidate_kind=[c[2] for c in candidates],
        words=words,
        atom_masks=atom_masks,
        mdc_byte_lut=mdc_byte_lut,
        dx_bits=dx_bits,
        px_bits=px_bits,
        any_dx_bits=any_dx_bits,
        any_px_bits=px_bits & atom_masks["any_px"],
        any_px2_bits=px2_bits,
        sdx_bits=sdx_bits,
        px_valid_or=px_valid_or,
        newborn_bands=[BandAtom(None, limit, mask) for limit, mask in sorted(newborn.items())],
        weight_bands=[
            BandAtom(low, high, mask)
            for (low, high), mask in sorted(weight.items(), key=lambda kv: (kv[0][0] or 0.0))
        ],
        label_combos=[
            LabelCombo(c, label_bits[c], alternatives) for c, alternatives in label_rows.items()
        ],
        dx_cc_level=dx_cc_level,
        dx_cc_table=dx_cc_table,
        dx_exclusion_table=dx_exclusion_table,
        drg_codes=drg_codes,
        drg_names=[r.name_zh for r in drgs],
        split_drg=split_drg,
        split_min_severity=split_min_severity,
        split_max_age=split_max_age,
        split_min_los=split_min_los,
        split_max_los=split_max_los,
        candidate_needs_los=candidate_needs_los,
        qy_drg_codes=[r.qy_drg or f"{r.mdc[-1]}QY" for r in mdcs],
        dx_names={r.code: r.name_zh or "" for r in tables.dx_names},
        px_names={r.code: r.name_zh or "" for r in tables.px_names},
        adrg_names={r.adrg: r.name_zh for r in tables.adrg},
        drg_splits=splits,
        dx_map={r.source_code: r.target_code or "" for r in tables.dx_map},
        px_map={r.source_code: r.target_code or "" for r in tables.px_map},
    )
