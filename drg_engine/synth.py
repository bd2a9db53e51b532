"""Seeded generator of realistic synthetic inpatient claims for a CHS-DRG rule set.

Claims are built from the rule set's own tables: a claim targets an ADRG, takes a principal
diagnosis and procedures that satisfy that ADRG's condition kind, and gets plausible secondary
diagnoses (common comorbidities, CC/MCC codes, sometimes codes excluded by the principal's
exclusion table), demographics that fit the MDC (newborns in MDCP, women in MDCN/MDCO, men in
MDCM), and length of stay and cost by ADRG type.

:func:`generate_claims` first builds one claim per DRG (``cover_all_drgs``; with ``verify``,
every claim is checked and rebuilt with other codes until it lands on its DRG), then fills up to
``n`` with claims sampled from per-ADRG templates by vectorized numpy code, fast enough for
benchmark volumes. The same ``(rule set, n, seed, options)`` always gives the same table.
:func:`inject_invalid_rows` turns a table into all-string columns and adds malformed rows for
the rejects path.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.grouping.oracle import resolve_manifest
from drg_engine.schema import CLAIM_SCHEMA

# The columns of a generated claims file, in file order; types come from the claim contract.
_GENERATED_COLUMNS = (
    "claim_id", "patient_id", "hospital_id", "sex", "age_years", "age_days", "birth_weight_g",
    "admit_date", "discharge_date", "los_days", "discharge_way", "ventilation_hours", "dept",
    "diagnoses", "procedures", "total_cost",
)
CANONICAL_SCHEMA = pa.schema(
    [CLAIM_SCHEMA.field(name).with_nullable(True) for name in _GENERATED_COLUMNS]
)

INVALID_KINDS = (
    "missing_claim_id",
    "duplicate_claim_id",
    "unparseable_age",
    "unparseable_date",
    "discharge_before_admission",
    "negative_los",
    "missing_sex",
    "invalid_sex",
    "missing_age",
    "infant_without_age_days",
    "newborn_without_weight",
    "empty_diagnoses",
)

GENERAL, OBSTETRIC, NEWBORN, INFANT = 0, 1, 2, 3
SURGICAL, NON_OR, MEDICAL = 0, 1, 2

_MAX_DX = 12
_MAX_PX = 6
_COVER_ATTEMPTS = 400
_EPOCH_2024 = 19723

_MDC_SHARE = {
    "MDCA": 0.3, "MDCP": 2.5, "MDCY": 0.05, "MDCZ": 0.3, "MDCM": 1.5, "MDCN": 4.0,
    "MDCB": 9.0, "MDCC": 3.0, "MDCD": 4.0, "MDCE": 11.0, "MDCF": 12.0, "MDCG": 10.0,
    "MDCH": 4.0, "MDCI": 8.0, "MDCJ": 3.0, "MDCK": 3.0, "MDCL": 4.0, "MDCO": 8.0,
    "MDCQ": 1.5, "MDCR": 3.0, "MDCS": 1.0, "MDCT": 1.0, "MDCU": 0.3, "MDCV": 2.0,
    "MDCW": 0.3, "MDCX": 3.0,
}
_TYPE_SHARE = {SURGICAL: 0.30, NON_OR: 0.10, MEDICAL: 0.60}

# The organ system whose principal diagnoses accompany each pre-MDC (MDCA) procedure.
_MDCA_PDX_FROM = {
    "AA1": "MDCF", "AB1": "MDCH", "AC1": "MDCL", "AD1": "MDCH", "AE1": "MDCL",
    "AF1": "MDCE", "AG1": "MDCR", "AG2": "MDCR", "AH1": "MDCE",
}

_DEPT = {
    "MDCA": ("重症医学科", "器官移植科"), "MDCP": ("新生儿科", "小儿外科"),
    "MDCY": ("感染科", "感染科"), "MDCZ": ("创伤外科", "创伤外科"),
    "MDCM": ("泌尿外科", "泌尿外科"), "MDCN": ("妇科", "妇科"),
    "MDCB": ("神经内科", "神经外科"), "MDCC": ("眼科", "眼科"),
    "MDCD": ("耳鼻咽喉科", "耳鼻咽喉科"), "MDCE": ("呼吸内科", "胸外科"),
    "MDCF": ("心血管内科", "心脏大血管外科"), "MDCG": ("消化内科", "普通外科"),
    "MDCH": ("消化内科", "肝胆外科"), "MDCI": ("风湿免疫科", "骨科"),
    "MDCJ": ("皮肤科", "乳腺外科"), "MDCK": ("内分泌科", "普通外科"),
    "MDCL": ("肾内科", "泌尿外科"), "MDCO": ("产科", "产科"),
    "MDCQ": ("血液内科", "普通外科"), "MDCR": ("肿瘤科", "肿瘤外科"),
    "MDCS": ("感染科", "普通外科"), "MDCT": ("精神科", "精神科"),
    "MDCU": ("精神科", "精神科"), "MDCV": ("急诊科", "普通外科"),
    "MDCW": ("烧伤科", "烧伤科"), "MDCX": ("康复医学科", "普通外科"),
}

_COMORBIDITIES = (
    "I10.x00", "E11.900", "E78.500", "E03.900", "K76.000", "I25.103", "D64.900",
    "E66.900", "K29.700", "H25.900", "N39.000", "Z86.700", "I25.100",
)
_ROUTINE_PROCEDURES = (
    "87.0300", "88.7600x001", "89.5200", "99.1800", "88.3800x002", "93.3900", "88.0100",
    "45.2300", "45.1300",
)


@dataclass(frozen=True)
class _Adrg:
    name: str
    mdc: str
    kind: str
    adrg_type: int
    combo: tuple[tuple[str, ...], ...]
    weight_min: float | None
    weight_max: float | None
    dx: tuple[str, ...]
    px: tuple[str, ...]
    px2: tuple[str, ...]
    labels: dict[str, str]
    drgs: tuple[str, ...]


@dataclass(frozen=True)
class _Template:
    adrg: str
    pdx: str
    extra_dx: tuple[str, ...]
    px: tuple[str, ...]
    sex: int
    profile: int
    weight_band: tuple[float | None, float | None] | None = None


@dataclass
class _Rules:
    mdcs: list[str]
    mdc_codes: dict[str, list[str]]
    entry_sex: dict[str, int]
    trauma: dict[str, str]
    adrgs: dict[str, _Adrg]
    adrgs_by_mdc: dict[str, list[str]]
    vor: list[str]
    vor_set: frozenset[str]
    level: dict[str, str]
    table_of: dict[str, str]
    exclusion: dict[str, str]
    codes_by_table: dict[str, list[str]]
    mcc: list[str]
    cc: list[str]
    dx_names: list[str]
    comorbid: list[str]
    neonatal_secondary: list[str]
    filler_px: list[str]
    vocab: list[str]
    index: dict[str, int]
    pdx_clean: dict[str, list[str]] = field(default_factory=dict)
    px_clean: dict[str, list[str]] = field(default_factory=dict)
    generic_pdx: dict[str, list[str]] = field(default_factory=dict)
    trauma_by_region: dict[str, list[str]] = field(default_factory=dict)
    vor_clean: dict[str, list[str]] = field(default_factory=dict)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _adrg_type(adrg: str) -> int:
    letter = adrg[1]
    if letter <= "J":
        return SURGICAL
    if letter <= "Q":
        return NON_OR
    return MEDICAL


@lru_cache(maxsize=4)
def _load_rules(rule_dir: str) -> _Rules:
    _, _, tables = resolve_manifest(Path(rule_dir))

    def table(name: str) -> list[dict[str, str]]:
        return _read(tables.get(name, Path(rule_dir) / f"{name}.csv"))

    mdc_rows = sorted(table("mdc"), key=lambda r: int(r["eval_order"]))
    mdcs = [r["mdc"] for r in mdc_rows]
    entry_sex = {r["mdc"]: int(r["entry_sex"]) for r in mdc_rows if r["entry_sex"]}
    mdc_codes: dict[str, list[str]] = {m: [] for m in mdcs}
    trauma: dict[str, str] = {}
    for row in table("mdc_codes"):
        mdc_codes.setdefault(row["mdc"], []).append(row["code"])
        if row["trauma_region"]:
            trauma[row["code"]] = row["trauma_region"]

    lists: dict[tuple[str, str], list[str]] = {}
    labels: dict[str, dict[str, str]] = {}
    for row in table("adrg_codes"):
        lists.setdefault((row["adrg"], row["role"]), []).append(row["code"])
        if row["px_label"] and row["role"] == "px":
            labels.setdefault(row["adrg"], {}).setdefault(row["code"], row["px_label"])
    drgs: dict[str, list[tuple[int, str]]] = {}
    for row in table("drg"):
        drgs.setdefault(row["adrg"], []).append((int(row["order_in_adrg"]), row["drg"]))

    adrgs: dict[str, _Adrg] = {}
    adrgs_by_mdc: dict[str, list[str]] = {m: [] for m in mdcs}
    for row in sorted(table("adrg"), key=lambda r: (mdcs.index(r["mdc"]), int(r["order_in_mdc"]))):
        name = row["adrg"]
        adrgs[name] = _Adrg(
            name=name,
            mdc=row["mdc"],
            kind=row["cond_kind"],
            adrg_type=_adrg_type(name),
            combo=tuple(tuple(a.split("+")) for a in row["px_label_combo"].split(";") if a),
            weight_min=float(row["birth_weight_min_g"]) if row["birth_weight_min_g"] else None,
            weight_max=float(row["birth_weight_max_g"]) if row["birth_weight_max_g"] else None,
            dx=tuple(lists.get((name, "dx"), ())),
            px=tuple(lists.get((name, "px"), ())),
            px2=tuple(lists.get((name, "px2"), ())),
            labels=labels.get(name, {}),
            drgs=tuple(d for _, d in sorted(drgs.get(name, []))),
        )
        adrgs_by_mdc[row["mdc"]].append(name)

    vor = [r["code"] for r in table("valid_or_procedures")]
    level: dict[str, str] = {}
    table_of: dict[str, str] = {}
    codes_by_table: dict[str, list[str]] = {}
    for row in table("cc_mcc"):
        level[row["code"]] = row["level"]
        table_of[row["code"]] = row["exclusion_table"]
        codes_by_table.setdefault(row["exclusion_table"], []).append(row["code"])
    exclusion = {r["pdx_code"]: r["exclusion_table"] for r in table("cc_exclusion")}
    dx_names = [r["code"] for r in table("dx_names")]
    px_names = [r["code"] for r in table("px_names")]

    any_dx_codes = {c for a in adrgs.values() if a.kind.startswith("any_dx") for c in a.dx}
    all_mdc_codes = {c for codes in mdc_codes.values() for c in codes}
    dx_name_set = set(dx_names)
    comorbid = [
        c for c in _COMORBIDITIES
        if c in dx_name_set and c not in level and c not in trauma and c not in any_dx_codes
    ]
    neonatal = [
        c for c in mdc_codes.get("MDCP", [])
        if c not in level and c not in any_dx_codes and c not in trauma
    ][:200]
    adrg_px = {c for a in adrgs.values() for c in (*a.px, *a.px2)}
    vor_set = frozenset(vor)
    filler_pool = [c for c in px_names if c not in vor_set and c not in adrg_px]
    filler_set = set(filler_pool)
    filler = [c for c in _ROUTINE_PROCEDURES if c in filler_set]
    filler += filler_pool[:: max(1, len(filler_pool) // 300)]

    vocab = sorted(
        set(dx_names) | set(px_names) | all_mdc_codes | set(level) | set(exclusion) | vor_set
        | {c for a in adrgs.values() for c in (*a.dx, *a.px, *a.px2)}
    )
    rules = _Rules(
        mdcs=mdcs, mdc_codes=mdc_codes, entry_sex=entry_sex, trauma=trauma, adrgs=adrgs,
        adrgs_by_mdc=adrgs_by_mdc, vor=vor, vor_set=vor_set, level=level, table_of=table_of,
        exclusion=exclusion, codes_by_table=codes_by_table,
        mcc=[c for c in level if level[c] == "MCC"], cc=[c for c in level if level[c] == "CC"],
        dx_names=dx_names, comorbid=comorbid or dx_names[:20],
        neonatal_secondary=neonatal or comorbid, filler_px=filler, vocab=vocab,
        index={c: i for i, c in enumerate(vocab)},
    )
    _prepare_candidates(rules)
    return rules


def _prepare_candidates(rules: _Rules) -> None:
    """Per-ADRG code lists that earlier MDCs and ADRGs are unlikely to capture."""
    owners: dict[str, set[str]] = {}
    for mdc, codes in rules.mdc_codes.items():
        for code in codes:
            owners.setdefault(code, set()).add(mdc)
    mdca_px = {c for a in rules.adrgs_by_mdc.get("MDCA", []) for c in rules.adrgs[a].px}
    for mdc in rules.mdcs:
        members = set(rules.mdc_codes[mdc])
        own = [c for c in rules.mdc_codes[mdc] if owners[c] - {"MDCP", mdc} == set()]
        own_set = set(own)
        earlier_dx: set[str] = set()
        earlier_px: set[str] = set() if mdc == "MDCA" else set(mdca_px)
        medical_dx: list[str] = []
        for name in rules.adrgs_by_mdc[mdc]:
            adrg = rules.adrgs[name]
            in_mdc = [c for c in adrg.dx if c in members]
            clean = [c for c in in_mdc if c not in earlier_dx and c in own_set]
            rules.pdx_clean[name] = clean or in_mdc or list(adrg.dx)
            rules.px_clean[name] = [c for c in adrg.px if c not in earlier_px] or list(adrg.px)
            if "valid_or" in adrg.kind:
                rules.vor_clean[name] = [c for c in rules.vor if c not in earlier_px][::7]
            if adrg.kind == "pdx":
                medical_dx.extend(c for c in clean if c not in earlier_dx)
            earlier_dx.update(adrg.dx)
            earlier_px.update(adrg.px)
        rules.generic_pdx[mdc] = sorted(set(medical_dx)) or own or rules.mdc_codes[mdc]
    for code, region in rules.trauma.items():
        rules.trauma_by_region.setdefault(region, []).append(code)


def _pick(rng: np.random.Generator, seq: Sequence[str]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _template(rules: _Rules, name: str, rng: np.random.Generator) -> _Template:
    adrg = rules.adrgs[name]
    mdc = adrg.mdc
    kind = adrg.kind
    sex = rules.entry_sex.get(mdc, 2 if mdc == "MDCO" else 0)
    profile = OBSTETRIC if mdc == "MDCO" else GENERAL
    if mdc == "MDCA":
        generic = rules.generic_pdx[_MDCA_PDX_FROM.get(name, "MDCE")]
    else:
        generic = rules.generic_pdx[mdc]
    pdx = _pick(rng, rules.pdx_clean[name] if kind.startswith("pdx") else generic)
    extra: list[str] = []
    px: list[str] = []
    band = None

    if kind in ("main_px", "pdx_and_main_px", "main_px_and_newborn"):
        px = [_pick(rng, rules.px_clean[name])]
    elif kind in ("any_px_and_any_px2", "pdx_and_any_px_and_any_px2"):
        first = _pick(rng, rules.px_clean[name])
        second = _pick(rng, adrg.px2)
        px = [first] if first == second else [first, second]
        if mdc == "MDCA" and first not in rules.vor_set:
            px.reverse()
    elif kind == "pdx_and_px_label_combo":
        alternative = adrg.combo[int(rng.integers(len(adrg.combo)))]
        for label in alternative:
            px.append(_pick(rng, [c for c in adrg.px if adrg.labels.get(c) == label]))
    elif kind in ("main_px_in_valid_or", "any_dx_and_main_px_in_valid_or"):
        px = [_pick(rng, rules.vor_clean[name])]
    if kind == "any_dx_and_main_px_in_valid_or":
        code = _pick(rng, adrg.dx)
        if code in rules.mdc_codes[mdc] and rng.random() < 0.5:
            pdx = code
        else:
            extra.append(code)

    if kind in ("main_px_and_newborn", "pdx_and_newborn"):
        profile = NEWBORN
    elif kind == "any_dx_and_birth_weight_newborn":
        profile = NEWBORN
        band = (adrg.weight_min, adrg.weight_max)
        code = _pick(rng, adrg.dx)
        if code in rules.mdc_codes[mdc] and rng.random() < 0.5:
            pdx = code
        else:
            extra.append(code)
    elif kind == "always":
        profile = INFANT
    if mdc == "MDCZ":
        region = rules.trauma.get(pdx)
        others = sorted(r for r in rules.trauma_by_region if r != region)
        extra.append(_pick(rng, rules.trauma_by_region[_pick(rng, others)]))
    return _Template(name, pdx, tuple(extra), tuple(px), sex, profile, band)


def _demographics(
    rng: np.random.Generator,
    profile: np.ndarray,
    sex_req: np.ndarray,
    weight_lo: np.ndarray,
    weight_hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sex, age in years, age in days (-1 = none) and birth weight (NaN = none) per claim."""
    n = len(profile)
    sex = np.where(sex_req > 0, sex_req, rng.integers(1, 3, n)).astype(np.int8)
    u = rng.random(n)
    adult = np.clip(np.round(rng.normal(57, 17, n)), 18, 99)
    child = rng.integers(1, 18, n).astype(np.float64)
    infant_days = rng.integers(29, 365, n)
    newborn_days = np.minimum(np.floor(rng.exponential(4.0, n)), 28).astype(np.int64)
    mother = np.clip(np.round(rng.normal(30, 5, n)), 16, 50)
    decimal_age = rng.random(n) < 0.5
    normal_weight = np.clip(np.round(rng.normal(3250, 450, n), -1), 1800, 5200)
    lo = np.where(np.isnan(weight_lo), 600.0, weight_lo)
    hi = np.where(np.isnan(weight_hi), 4800.0, weight_hi)
    band_weight = np.minimum(np.round(lo + rng.random(n) * (hi - lo), -1), hi - 10)
    band_weight = np.maximum(band_weight, lo)
    infant_weight = np.where(rng.random(n) < 0.3, normal_weight, np.nan)

    general_infant = (profile == GENERAL) & (u < 0.01)
    general_child = (profile == GENERAL) & (u >= 0.01) & (u < 0.08)
    infant = (profile == INFANT) | general_infant
    newborn = profile == NEWBORN

    age = np.where(profile == OBSTETRIC, mother, adult)
    age = np.where(general_child, child, age)
    infant_age = np.where(decimal_age, np.floor(infant_days / 3.65) / 100.0, 0.0)
    age = np.where(infant, infant_age, age)
    age = np.where(newborn, 0.0, age)
    age_days = np.where(infant, infant_days, -1)
    age_days = np.where(newborn, newborn_days, age_days)
    weight = np.where(infant, infant_weight, np.nan)
    weight = np.where(newborn, np.where(np.isnan(weight_lo) & np.isnan(weight_hi),
                                        normal_weight, band_weight), weight)
    return sex, age, age_days, weight


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and position-within-row of every element of a ragged layout with these counts."""
    rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    within = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    return rows, within


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


@dataclass
class _Core:
    """Grouping-relevant content of a batch of claims, codes as vocabulary indices."""

    adrg: np.ndarray
    sex: np.ndarray
    age_years: np.ndarray
    age_days: np.ndarray
    weight: np.ndarray
    dx_offsets: np.ndarray
    dx_values: np.ndarray
    px_offsets: np.ndarray
    px_values: np.ndarray

    @staticmethod
    def concat(parts: list[_Core]) -> _Core:
        def offsets(name: str) -> np.ndarray:
            out = [np.zeros(1, np.int64)]
            base = 0
            for part in parts:
                values = getattr(part, name)
                out.append(values[1:] + base)
                base += int(values[-1])
            return np.concatenate(out)

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return _Core(
            cat("adrg"), cat("sex"), cat("age_years"), cat("age_days"), cat("weight"),
            offsets("dx_offsets"), cat("dx_values"), offsets("px_offsets"), cat("px_values"),
        )


def _claim_dict(sex: int, age: float, days: int, weight: float,
                dx: list[str], px: list[str]) -> dict[str, Any]:
    return {
        "sex": int(sex),
        "age_years": float(age),
        "age_days": int(days) if days >= 0 else None,
        "birth_weight_g": None if np.isnan(weight) else float(weight),
        "diagnoses": dx,
        "procedures": px,
    }


def _severity_codes(
    rules: _Rules, pdx: str, target: str, rng: np.random.Generator
) -> list[str]:
    """Secondary diagnoses that give the severity a DRG's fourth character asks for."""
    own_table = rules.exclusion.get(pdx)
    excluded = rules.codes_by_table.get(own_table, []) if own_table else []

    def counting(pool: list[str]) -> str:
        for _ in range(50):
            code = _pick(rng, pool)
            if own_table is None or rules.table_of[code] != own_table:
                return code
        return _pick(rng, [c for c in pool if rules.table_of[c] != own_table])

    codes = [_pick(rng, rules.comorbid) for _ in range(int(rng.integers(0, 3)))]
    if target == "1":
        codes.append(counting(rules.mcc))
    elif target == "3":
        codes.append(counting(rules.cc))
    elif target == "9":
        roll = rng.random()
        if roll < 0.2:
            codes.append(counting(rules.mcc))
        elif roll < 0.5:
            codes.append(counting(rules.cc))
    if excluded and target != "1" and rng.random() < 0.4:
        pool = excluded if target != "3" else [c for c in excluded if rules.level[c] == "MCC"]
        if pool:
            codes.append(_pick(rng, pool))
    return codes


def _cover_core(
    rules: _Rules, seed: int, verify: Callable[[dict[str, Any]], str] | None
) -> tuple[_Core, list[str]]:
    """One claim per DRG; with ``verify``, rebuilt until it groups to that DRG."""
    adrg_ids = {name: i for i, name in enumerate(rules.adrgs)}
    rows: list[tuple[int, dict[str, Any]]] = []
    missed: list[str] = []
    drg_number = 0
    for name, adrg in rules.adrgs.items():
        for drg in adrg.drgs:
            drg_number += 1
            rng = np.random.default_rng([seed, 7, drg_number])
            claim: dict[str, Any] = {}
            for _ in range(_COVER_ATTEMPTS if verify else 1):
                template = _template(rules, name, rng)
                lo, hi = template.weight_band or (None, None)
                sex, age, days, weight = _demographics(
                    rng,
                    np.array([template.profile]),
                    np.array([template.sex]),
                    np.array([np.nan if lo is None else lo]),
                    np.array([np.nan if hi is None else hi]),
                )
                secondaries = list(template.extra_dx)
                secondaries += _severity_codes(rules, template.pdx, drg[3], rng)
                secondaries = [secondaries[i] for i in rng.permutation(len(secondaries))]
                extra_px = [_pick(rng, rules.filler_px) for _ in range(int(rng.integers(0, 3)))]
                claim = _claim_dict(
                    sex[0], age[0], days[0], weight[0],
                    [template.pdx, *secondaries[: _MAX_DX - 1]],
                    [*template.px, *extra_px][:_MAX_PX],
                )
                if verify is None or verify(claim) == drg:
                    break
            else:
                missed.append(drg)
            rows.append((adrg_ids[name], claim))
    core = _core_from_dicts(rules, rows)
    return core, missed


def _core_from_dicts(rules: _Rules, rows: list[tuple[int, dict[str, Any]]]) -> _Core:
    dx = [c["diagnoses"] for _, c in rows]
    px = [c["procedures"] for _, c in rows]
    index = rules.index
    return _Core(
        adrg=np.array([a for a, _ in rows], dtype=np.int32),
        sex=np.array([c["sex"] for _, c in rows], dtype=np.int8),
        age_years=np.array([c["age_years"] for _, c in rows], dtype=np.float64),
        age_days=np.array([-1 if c["age_days"] is None else c["age_days"] for _, c in rows]),
        weight=np.array([np.nan if c["birth_weight_g"] is None else c["birth_weight_g"]
                         for _, c in rows], dtype=np.float64),
        dx_offsets=_offsets(np.array([len(d) for d in dx], dtype=np.int64)),
        dx_values=np.array([index[c] for d in dx for c in d], dtype=np.int32),
        px_offsets=_offsets(np.array([len(p) for p in px], dtype=np.int64)),
        px_values=np.array([index[c] for p in px for c in p], dtype=np.int32),
    )


def _random_core(rules: _Rules, n: int, seed: int) -> _Core:
    """``n`` claims sampled from per-ADRG templates, vectorized."""
    index = rules.index
    names = list(rules.adrgs)
    per_adrg = int(np.clip(n // 2000, 8, 64))
    rng_t = np.random.default_rng([seed, 2])
    templates = [_template(rules, name, rng_t) for name in names for _ in range(per_adrg)]

    t_pdx = np.array([index[t.pdx] for t in templates], dtype=np.int32)
    t_sex = np.array([t.sex for t in templates], dtype=np.int8)
    t_profile = np.array([t.profile for t in templates], dtype=np.int8)
    t_lo = np.array([np.nan if not t.weight_band or t.weight_band[0] is None
                     else t.weight_band[0] for t in templates])
    t_hi = np.array([np.nan if not t.weight_band or t.weight_band[1] is None
                     else t.weight_band[1] for t in templates])
    t_extra_n = np.array([len(t.extra_dx) for t in templates], dtype=np.int64)
    t_extra_off = _offsets(t_extra_n)
    t_extra = np.array([index[c] for t in templates for c in t.extra_dx], dtype=np.int32)
    t_px_n = np.array([len(t.px) for t in templates], dtype=np.int64)
    t_px_off = _offsets(t_px_n)
    t_px = np.array([index[c] for t in templates for c in t.px], dtype=np.int32)
    t_excl_off, t_excl_n, excl_values = _exclusion_pools(rules, templates)

    rng_w = np.random.default_rng([seed, 3])
    mdc_count: dict[tuple[str, int], int] = {}
    for name in names:
        key = (rules.adrgs[name].mdc, rules.adrgs[name].adrg_type)
        mdc_count[key] = mdc_count.get(key, 0) + 1
    weights = np.array([
        _MDC_SHARE.get(rules.adrgs[a].mdc, 1.0) * _TYPE_SHARE[rules.adrgs[a].adrg_type]
        / mdc_count[(rules.adrgs[a].mdc, rules.adrgs[a].adrg_type)]
        for a in names
    ]) * rng_w.lognormal(0.0, 0.7, len(names))
    weights /= weights.sum()

    rng = np.random.default_rng([seed, 1])
    adrg = rng.choice(len(names), size=n, p=weights).astype(np.int32)
    tpl = adrg.astype(np.int64) * per_adrg + rng.integers(0, per_adrg, n)
    sex, age, age_days, weight = _demographics(
        rng, t_profile[tpl], t_sex[tpl], t_lo[tpl], t_hi[tpl]
    )

    n_extra = t_extra_n[tpl]
    lam = np.where(age_days >= 0, 0.8, 0.6 + age / 22.0)
    n_sec = np.minimum(rng.poisson(lam), _MAX_DX - 1 - n_extra)
    dx_len = 1 + n_extra + n_sec
    dx_off = _offsets(dx_len)
    dx_values = np.empty(int(dx_off[-1]), dtype=np.int32)
    dx_values[dx_off[:-1]] = t_pdx[tpl]
    stray = rng.random(n) < 0.005
    dx_values[dx_off[:-1][stray]] = rng.choice(
        np.array([index[c] for c in rules.dx_names], dtype=np.int32), int(stray.sum())
    )
    rows, within = _ragged(n_extra)
    dx_values[dx_off[rows] + 1 + within] = t_extra[t_extra_off[tpl[rows]] + within]

    rows, within = _ragged(n_sec)
    m = len(rows)
    owner = tpl[rows]
    young = age_days[rows] >= 0
    comorbid = np.array([index[c] for c in rules.comorbid], dtype=np.int32)
    neonatal = np.array([index[c] for c in rules.neonatal_secondary], dtype=np.int32)
    cc = np.array([index[c] for c in rules.cc], dtype=np.int32)
    mcc = np.array([index[c] for c in rules.mcc], dtype=np.int32)
    any_dx = np.array([index[c] for c in rules.dx_names], dtype=np.int32)
    sec = np.where(young, neonatal[rng.integers(0, len(neonatal), m)],
                   comorbid[rng.integers(0, len(comorbid), m)])
    roll = rng.random(m)
    sec = np.where(roll < 0.20, cc[rng.integers(0, len(cc), m)], sec)
    sec = np.where((roll >= 0.20) & (roll < 0.26), mcc[rng.integers(0, len(mcc), m)], sec)
    sec = np.where((roll >= 0.26) & (roll < 0.34), any_dx[rng.integers(0, len(any_dx), m)], sec)
    has_excl = t_excl_n[owner] > 0
    pick = t_excl_off[owner] + np.floor(rng.random(m) * np.maximum(t_excl_n[owner], 1))
    excl_pick = excl_values[np.minimum(pick.astype(np.int64), max(len(excl_values) - 1, 0))]
    sec = np.where((roll >= 0.34) & (roll < 0.38) & has_excl, excl_pick, sec)
    sec = np.where((roll >= 0.38) & (roll < 0.385), t_pdx[owner], sec)
    dx_values[dx_off[rows] + 1 + n_extra[rows] + within] = sec

    n_tpx = t_px_n[tpl]
    n_fill = np.minimum(rng.poisson(np.where(n_tpx > 0, 1.2, 0.7)), _MAX_PX - n_tpx)
    px_off = _offsets(n_tpx + n_fill)
    px_values = np.empty(int(px_off[-1]), dtype=np.int32)
    rows, within = _ragged(n_tpx)
    px_values[px_off[rows] + within] = t_px[t_px_off[tpl[rows]] + within]
    rows, within = _ragged(n_fill)
    filler = np.array([index[c] for c in rules.filler_px], dtype=np.int32)
    px_values[px_off[rows] + n_tpx[rows] + within] = filler[rng.integers(0, len(filler), len(rows))]

    return _Core(adrg, sex, age, age_days, weight, dx_off, dx_values, px_off, px_values)


def _exclusion_pools(
    rules: _Rules, templates: list[_Template]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per template: the CC/MCC codes its principal's exclusion table would exclude."""
    index = rules.index
    tables = sorted(rules.codes_by_table)
    table_pos = {t: i for i, t in enumerate(tables)}
    counts = np.array([len(rules.codes_by_table[t]) for t in tables], dtype=np.int64)
    offsets = _offsets(counts)
    values = np.array([index[c] for t in tables for c in rules.codes_by_table[t]],
                      dtype=np.int32)
    pos = np.array([table_pos.get(rules.exclusion.get(t.pdx, ""), -1) for t in templates])
    t_off = np.where(pos >= 0, offsets[np.maximum(pos, 0)], 0)
    t_n = np.where(pos >= 0, counts[np.maximum(pos, 0)], 0)
    return t_off, t_n, values


def _decimal_from_cents(cents: np.ndarray) -> pa.Array:
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(
        pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.tobytes())]
    )


def _string_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _list_column(vocab: pa.Array, offsets: np.ndarray, values: np.ndarray) -> pa.Array:
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), vocab.take(pa.array(values))
    )


def _build_table(rules: _Rules, core: _Core, seed: int) -> pa.Table:
    n = len(core.adrg)
    rng = np.random.default_rng([seed, 4])
    names = list(rules.adrgs)
    adrg_type = np.array([rules.adrgs[a].adrg_type for a in names], dtype=np.int8)[core.adrg]
    adrg_mdc = [rules.adrgs[a].mdc for a in names]
    is_mdca = np.array([m == "MDCA" for m in adrg_mdc])[core.adrg]
    is_obstetric = np.array([m == "MDCO" for m in adrg_mdc])[core.adrg]
    newborn = core.age_days >= 0

    level_code = np.zeros(len(rules.vocab), dtype=np.int8)
    for code, level in rules.level.items():
        level_code[rules.index[code]] = 2 if level == "MCC" else 1
    dx_level = level_code[core.dx_values]
    nonempty = np.diff(core.dx_offsets) > 0
    starts = core.dx_offsets[:-1][nonempty]
    dx_level[starts] = 0
    severity = np.zeros(n, dtype=np.int8)
    if len(starts):
        severity[nonempty] = np.maximum.reduceat(dx_level, starts)

    median = np.select(
        [is_mdca, is_obstetric, newborn, adrg_type == SURGICAL, adrg_type == NON_OR],
        [25.0, 4.0, 6.0, 9.0, 6.0], 7.0,
    )
    los = np.round(median * rng.lognormal(0.0, 0.5, n) * (1 + 0.25 * severity))
    los = np.clip(los, 1, 180).astype(np.int32)
    admit = (_EPOCH_2024 + rng.integers(0, 366, n)).astype(np.int32)
    discharge = admit + los

    fixed = np.select(
        [is_mdca, is_obstetric, newborn, adrg_type == SURGICAL, adrg_type == NON_OR],
        [150000.0, 3000.0, 1500.0, 15000.0, 8000.0], 2000.0,
    )
    per_day = np.select(
        [is_mdca, is_obstetric, newborn, adrg_type == SURGICAL, adrg_type == NON_OR],
        [2500.0, 600.0, 900.0, 800.0, 600.0], 700.0,
    )
    multiplier = np.array([1.0, 1.3, 1.7])[severity]
    cost = (fixed + per_day * los) * multiplier * rng.lognormal(0.0, 0.25, n)
    cents = np.round(cost * 100).astype(np.int64)

    way_roll = rng.random(n)
    death = 0.002 + 0.04 * (severity == 2)
    way = np.select(
        [way_roll < death, way_roll < death + 0.03, way_roll < death + 0.04,
         way_roll < death + 0.07, way_roll < death + 0.09],
        [5, 2, 3, 4, 9], 1,
    )
    ventilated = np.array([a in ("AH1", "PK1") for a in names])[core.adrg]
    vent = np.where(ventilated, np.round(rng.uniform(96, 500, n), 1), np.nan)
    vent = np.where((severity == 2) & ~ventilated & (rng.random(n) < 0.05),
                    np.round(rng.uniform(2, 95, n), 1), vent)

    dept_names = sorted({d for pair in _DEPT.values() for d in pair} | {"全科医学科"})
    dept_pos = {d: i for i, d in enumerate(dept_names)}
    adrg_dept = np.array([
        dept_pos[_DEPT.get(rules.adrgs[a].mdc, ("全科医学科", "全科医学科"))[
            0 if rules.adrgs[a].adrg_type == MEDICAL else 1]]
        for a in names
    ])
    dept = adrg_dept[core.adrg]

    hospitals = 36
    zipf = 1.0 / np.arange(1, hospitals + 1) ** 0.8
    hospital = rng.choice(hospitals, n, p=zipf / zipf.sum()) + 1
    patient = rng.integers(0, int(n * 0.9) + 10, n)
    vocab = pa.array(rules.vocab, pa.string())
    arrays = [
        _string_ids(f"C{seed % 10000:04d}", np.arange(1, n + 1), 9),
        _string_ids("P", patient, 9),
        _string_ids("H3301", hospital, 2),
        pa.array(core.sex, pa.int8()),
        pa.array(core.age_years, pa.float64()),
        pa.array(core.age_days, pa.int32(), mask=core.age_days < 0),
        pa.array(core.weight, pa.float64(), from_pandas=True),
        pa.array(admit, pa.date32()),
        pa.array(discharge, pa.date32()),
        pa.array(los, pa.int32()),
        pa.array(way.astype(str), pa.string()),
        pa.array(vent, pa.float64(), from_pandas=True),
        pa.array(dept_names, pa.string()).take(pa.array(dept)),
        _list_column(vocab, core.dx_offsets, core.dx_values),
        _list_column(vocab, core.px_offsets, core.px_values),
        _decimal_from_cents(cents),
    ]
    return pa.Table.from_arrays(arrays, schema=CANONICAL_SCHEMA)


def _apply_typed_invalid(table: pa.Table, fraction: float, first: int, seed: int) -> pa.Table:
    """Corrupt about ``fraction`` of the rows from ``first`` on, with typed invalid values."""
    n = table.num_rows
    rng = np.random.default_rng([seed, 5])
    k = min(n - first, round(fraction * n))
    if k <= 0:
        return table
    kind = np.full(n, -1)
    kind[rng.choice(np.arange(first, n), k, replace=False)] = rng.integers(0, 9, k)
    back = rng.integers(1, 5, n).astype(np.int32)
    donor = rng.integers(0, n, n)

    def mask(*kinds: int) -> pa.Array:
        return pa.array(np.isin(kind, kinds))

    def replace(name: str, where: pa.Array, value: Any) -> None:
        nonlocal table
        position = table.schema.get_field_index(name)
        column = table.column(name)
        if not isinstance(value, pa.Array | pa.ChunkedArray):
            value = pa.scalar(value, column.type)
        table = table.set_column(position, table.schema.field(position),
                                 pc.if_else(where, value, column))

    admit = table.column("admit_date").cast(pa.int32()).to_numpy()
    replace("sex", mask(0), None)
    replace("sex", mask(1), 9)
    replace("age_years", mask(2), None)
    replace("age_years", mask(3, 4), 0.0)
    replace("age_days", mask(3), None)
    replace("age_days", mask(4), 3)
    replace("birth_weight_g", mask(4), None)
    replace("diagnoses", mask(5), [])
    replace("claim_id", mask(6), None)
    replace("claim_id", mask(7), table.column("claim_id").take(pa.array(donor)))
    replace("discharge_date", mask(8), pa.array(admit - back).cast(pa.date32()))
    replace("los_days", mask(8), pa.array(-back, pa.int32()))
    return table


def generate_claims(
    rule_dir: Path,
    n: int,
    seed: int,
    *,
    cover_all_drgs: bool = True,
    invalid_fraction: float = 0.0,
    verify: Callable[[dict[str, Any]], str] | None = None,
) -> pa.Table:
    """``n`` synthetic claims with the canonical typed columns (:data:`CANONICAL_SCHEMA`).

    With ``cover_all_drgs`` the first claims target every DRG of the rule set in table order
    (``n`` must be at least the number of DRGs); ``verify`` maps a canonical claim dict to the
    DRG it groups to (pass an oracle) and makes every such claim land on its DRG. A DRG that
    cannot be reached within the attempt budget is reported with a warning. ``invalid_fraction``
    corrupts that share of the remaining rows with invalid values the typed columns can hold
    (missing or unknown sex, missing age, infant without age_days, newborn without weight,
    empty diagnoses, missing or duplicate claim id, discharge before admission).
    """
    rules = _load_rules(str(Path(rule_dir).resolve()))
    parts: list[_Core] = []
    first_random = 0
    if cover_all_drgs:
        n_drg = sum(len(a.drgs) for a in rules.adrgs.values())
        if n < n_drg:
            raise ValueError(f"cover_all_drgs needs n >= {n_drg} (the number of DRGs), got {n}")
        cover, missed = _cover_core(rules, seed, verify)
        if missed:
            warnings.warn(
                f"{len(missed)} DRG(s) not reached by a verified claim: {', '.join(missed)}",
                stacklevel=2,
            )
        parts.append(cover)
        first_random = n_drg
    if n - first_random > 0 or not parts:
        parts.append(_random_core(rules, n - first_random, seed))
    table = _build_table(rules, _Core.concat(parts), seed)
    if invalid_fraction > 0:
        table = _apply_typed_invalid(table, invalid_fraction, first_random, seed)
    return table


def to_string_table(table: pa.Table) -> pa.Table:
    """Every column as text: lists ``|``-joined, dates ISO, numbers without trailing ``.0``."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_list(column.type):
            column = pc.binary_join(column, "|")
        elif not pa.types.is_string(column.type):
            column = pc.cast(column, pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def inject_invalid_rows(table: pa.Table, *, per_kind: int = 1, seed: int = 0) -> pa.Table:
    """All-string copy of ``table`` with ``per_kind`` malformed rows of every kind added.

    Each added row is a corrupted copy of an existing row (kinds in :data:`INVALID_KINDS`);
    the added rows are interleaved at seeded random positions, the original rows keep their
    order. Rows that get a new id are named ``<original id>-X<k>``.
    """
    strings = to_string_table(table)
    rows = strings.to_pylist()
    rng = np.random.default_rng([seed, 6])
    adults = [i for i, r in enumerate(rows) if r["age_days"] is None and r["claim_id"]]
    pool = adults or list(range(len(rows)))
    added: list[dict[str, str | None]] = []
    for kind in INVALID_KINDS:
        for _ in range(per_kind):
            base = dict(rows[pool[int(rng.integers(len(pool)))]])
            base["claim_id"] = f"{base['claim_id']}-X{len(added) + 1}"
            if kind == "missing_claim_id":
                base["claim_id"] = None
            elif kind == "duplicate_claim_id":
                base["claim_id"] = rows[pool[int(rng.integers(len(pool)))]]["claim_id"]
            elif kind == "unparseable_age":
                base["age_years"] = "abc"
            elif kind == "unparseable_date":
                base["admit_date"] = "2024-13-45"
            elif kind == "discharge_before_admission":
                base["admit_date"] = _shift_iso(base["discharge_date"] or "2024-06-01", 3)
            elif kind == "negative_los":
                base["los_days"] = str(-int(rng.integers(1, 10)))
            elif kind == "missing_sex":
                base["sex"] = None
            elif kind == "invalid_sex":
                base["sex"] = "9"
            elif kind == "missing_age":
                base["age_years"] = None
            elif kind == "infant_without_age_days":
                base["age_years"], base["age_days"] = "0", None
            elif kind == "newborn_without_weight":
                base["age_years"], base["age_days"], base["birth_weight_g"] = "0", "5", None
            elif kind == "empty_diagnoses":
                base["diagnoses"] = ""
            added.append(base)
    slots = np.sort(rng.integers(0, len(rows) + 1, len(added)))
    merged: list[dict[str, str | None]] = []
    j = 0
    for i in range(len(rows) + 1):
        while j < len(added) and slots[j] == i:
            merged.append(added[j])
            j += 1
        if i < len(rows):
            merged.append(rows[i])
    schema = pa.schema([(name, pa.string()) for name in table.column_names])
    return pa.Table.from_pylist(merged, schema=schema)


def _shift_iso(text: str, days: int) -> str:
    return str(np.datetime64(text) + np.timedelta64(days, "D"))
