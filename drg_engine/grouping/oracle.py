"""Slow, literal, per-claim reference implementation of the CHS-DRG grouping algorithm.

This module exists ONLY to cross-check the fast vectorized grouper and to verify generated
sample claims. It is not part of the production path: it evaluates one claim at a time with
plain Python sets and dictionaries, following ``shared/reference/chs_drg_1_1/README.md`` step by
step (conversion §3, validation §4, MDC loop §5.1, ADRG conditions §5.2, QY §5.3, splits §5.4)
and the format extensions of the CHS-DRG 1.0 and Beijing 2022 READMEs (§2 and §3 of each):

* alternative entry rules (column ``alt``): every row of ``adrg.csv`` is one rule row, tried in
  ``order_in_mdc`` order with its own code lists; all rows of one ADRG share its DRG splits;
* the secondary-diagnosis list (role ``sdx``), tested position-wise against ``dx[1:]``;
* the MDC entry kind ``any_dx_in_list`` and the ADRG kinds ``any_px``, ``newborn``,
  ``birth_weight_newborn``, ``pdx_and_birth_weight_newborn``, ``pdx_and_any_px``, ``any_dx``,
  ``any_dx_and_main_px``, ``sdx``, ``sdx_and_any_px`` and ``sdx_and_main_px``;
* split bounds ``max_age_years`` (inclusive), ``min_los_days`` (inclusive) and
  ``max_los_days`` (exclusive), tested before the split kind; when no split matches, the DRG is
  the 3-character ADRG code.

Project decisions that override the reference's quirks:

* sex, age and weight are numbers; ``sex`` is 1/2, 0 = present but unrecognised, None = missing;
* "age == 0" means ``age_years < 1``; likewise the integer age compared with ``max_age_years``
  is ``floor(age_years)``;
* an empty diagnosis list is rejected (``NO_DIAGNOSIS``);
* code conversion maps every token at its own position;
* QY, when the rule set enables it, returns status ``QY`` with drg ``xQY``;
* a split with a length-of-stay bound, tested while ``los_days`` is missing (where OpenDRG
  raises a type error), gives ``CHECK_FAILED`` with reason ``LOS_MISSING``.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUCCESS = "SUCCESS"
FAIL = "FAIL"
CHECK_FAILED = "CHECK_FAILED"
ZD_NOT_MAPPING = "ZD_NOT_MAPPING"
SS_NOT_MAPPING = "SS_NOT_MAPPING"
QY = "QY"

NO_GROUP = "NO_GROUP"
SEX_MISSING = "SEX_MISSING"
SEX_INVALID = "SEX_INVALID"
AGE_MISSING = "AGE_MISSING"
AGE_DAYS_MISSING = "AGE_DAYS_MISSING"
BIRTH_WEIGHT_MISSING = "BIRTH_WEIGHT_MISSING"
NO_DIAGNOSIS = "NO_DIAGNOSIS"
LOS_MISSING = "LOS_MISSING"

CLAIM_FIELDS = (
    "sex", "age_years", "age_days", "birth_weight_g", "los_days", "diagnoses", "procedures",
)


@dataclass(frozen=True)
class OracleResult:
    """Outcome of grouping one claim."""

    status: str
    mdc: str
    adrg: str
    drg: str
    severity: str = ""
    reason: str = ""


@dataclass(frozen=True)
class MdcRule:
    mdc: str
    entry_kind: str
    entry_sex: int | None
    qy_after_n_adrgs: int
    qy_drg: str
    codes: frozenset[str]
    trauma_region: dict[str, str]
    adrgs: tuple[AdrgRule, ...]


@dataclass(frozen=True)
class SplitRule:
    """One row of ``drg.csv``: a DRG of an ADRG, its split kind and its optional bounds."""

    drg: str
    split_kind: str
    max_age_years: int | None = None
    min_los_days: int | None = None
    max_los_days: int | None = None

    @property
    def uses_los(self) -> bool:
        return self.min_los_days is not None or self.max_los_days is not None


@dataclass(frozen=True)
class AdrgRule:
    """One entry-rule row of ``adrg.csv`` (an ADRG, or one alternative of it)."""

    adrg: str
    mdc: str
    order_in_mdc: int
    cond_kind: str
    label_combo: tuple[frozenset[str], ...]
    max_age_days: int | None
    weight_min: float | None
    weight_max: float | None
    dx: frozenset[str]
    px: frozenset[str]
    px2: frozenset[str]
    px_label: dict[str, str]
    split_rules: tuple[SplitRule, ...]
    alt: int = 1
    sdx: frozenset[str] = frozenset()

    @property
    def splits(self) -> tuple[tuple[str, str], ...]:
        """(drg, split_kind) of every split, in ``order_in_adrg`` order."""
        return tuple((split.drg, split.split_kind) for split in self.split_rules)


@dataclass
class Oracle:
    """A loaded rule set and the literal grouping algorithm over it."""

    rule_id: str
    qy_enabled: bool
    code_conversion: bool
    mdcs: tuple[MdcRule, ...]
    valid_or: frozenset[str]
    cc_mcc: dict[str, tuple[str, str]]
    cc_exclusion: dict[str, str]
    dx_map: dict[str, str] = field(default_factory=dict)
    px_map: dict[str, str] = field(default_factory=dict)

    def __call__(self, claim: Mapping[str, Any] | object) -> str:
        """Return only the DRG code, so an Oracle can be passed as ``verify=`` to synth."""
        return self.group(claim).drg

    def group(self, claim: Mapping[str, Any] | object) -> OracleResult:
        sex = _get(claim, "sex")
        age_years = _get(claim, "age_years")
        age_days = _get(claim, "age_days")
        weight = _get(claim, "birth_weight_g")
        los = _get(claim, "los_days")
        dx = list(_get(claim, "diagnoses") or [])
        px = list(_get(claim, "procedures") or [])

        if self.code_conversion:
            converted_dx = _convert(dx, self.dx_map)
            if converted_dx is None:
                return _failure(ZD_NOT_MAPPING, ZD_NOT_MAPPING)
            converted_px = _convert(px, self.px_map)
            if converted_px is None:
                return _failure(SS_NOT_MAPPING, SS_NOT_MAPPING)
            dx, px = converted_dx, converted_px

        reason = _validate(sex, age_years, age_days, weight, dx)
        if reason:
            return _failure(CHECK_FAILED, reason)

        for mdc in self.mdcs:
            if not self._enters(mdc, sex, age_years, dx, px):
                continue
            for position, adrg in enumerate(mdc.adrgs):
                if self.qy_enabled and position == mdc.qy_after_n_adrgs and self._qy(px):
                    return OracleResult(QY, mdc.mdc, "QY", mdc.qy_drg, "", "")
                if self._matches(adrg, age_days, weight, dx, px):
                    return self._split(adrg, age_years, los, dx)
            if self.qy_enabled and mdc.qy_after_n_adrgs >= len(mdc.adrgs) and self._qy(px):
                return OracleResult(QY, mdc.mdc, "QY", mdc.qy_drg, "", "")
        return _failure(FAIL, NO_GROUP)

    def severity(self, dx: list[str]) -> str:
        """The highest non-excluded CC/MCC level among the secondary diagnoses ``dx[1:]``."""
        if len(dx) < 2:
            return ""
        principal_table = self.cc_exclusion.get(dx[0])
        best = ""
        for code in dx[1:]:
            entry = self.cc_mcc.get(code)
            if entry is None:
                continue
            level, table = entry
            if principal_table is not None and principal_table == table:
                continue
            if level == "MCC":
                return "MCC"
            best = "CC"
        return best

    def _enters(
        self, mdc: MdcRule, sex: int, age_years: float, dx: list[str], px: list[str]
    ) -> bool:
        kind = mdc.entry_kind
        if kind == "main_px_in_valid_or":
            return bool(px) and px[0] in self.valid_or
        if kind == "any_dx_in_list":
            return any(code in mdc.codes for code in dx)
        if dx[0] not in mdc.codes:
            return False
        if kind == "pdx_in_list":
            return True
        if kind == "pdx_in_list_and_sex":
            return sex == mdc.entry_sex
        if kind == "pdx_in_list_and_age_years_0":
            return age_years < 1
        if kind == "pdx_in_list_and_multi_trauma":
            regions = {mdc.trauma_region[code] for code in set(dx) if code in mdc.codes}
            return len(regions) >= 2
        raise ValueError(f"unknown MDC entry kind {kind!r} for {mdc.mdc}")

    def _matches(
        self,
        adrg: AdrgRule,
        age_days: int | None,
        weight: float | None,
        dx: list[str],
        px: list[str],
    ) -> bool:
        kind = adrg.cond_kind
        main_px = px[0] if px else None
        pdx_in = dx[0] in adrg.dx
        main_in = main_px is not None and main_px in adrg.px
        any_px = any(code in adrg.px for code in px)
        any_px2 = any(code in adrg.px2 for code in px)
        any_dx = any(code in adrg.dx for code in dx)
        any_sdx = any(code in adrg.sdx for code in dx[1:])
        main_vor = main_px is not None and main_px in self.valid_or
        newborn = age_days is not None and adrg.max_age_days is not None and (
            age_days <= adrg.max_age_days
        )
        in_band = _weight_in_band(weight, adrg.weight_min, adrg.weight_max)
        if kind == "pdx":
            return pdx_in
        if kind == "main_px":
            return main_in
        if kind == "pdx_and_main_px":
            return pdx_in and main_in
        if kind == "any_px_and_any_px2":
            return bool(px) and any_px and any_px2
        if kind == "pdx_and_any_px_and_any_px2":
            return pdx_in and bool(px) and any_px and any_px2
        if kind == "pdx_and_px_label_combo":
            labels = {adrg.px_label[code] for code in px if code in adrg.px}
            return pdx_in and any(alt <= labels for alt in adrg.label_combo)
        if kind == "main_px_and_newborn":
            return main_in and newborn
        if kind == "pdx_and_newborn":
            return pdx_in and newborn
        if kind == "any_dx_and_birth_weight_newborn":
            return in_band and any_dx and newborn
        if kind == "pdx_and_birth_weight_newborn":
            return in_band and pdx_in and newborn
        if kind == "birth_weight_newborn":
            return in_band and newborn
        if kind == "newborn":
            return newborn
        if kind == "any_px":
            return any_px
        if kind == "pdx_and_any_px":
            return pdx_in and any_px
        if kind == "any_dx":
            return any_dx
        if kind == "any_dx_and_main_px":
            return any_dx and main_in
        if kind == "sdx":
            return any_sdx
        if kind == "sdx_and_any_px":
            return any_sdx and any_px
        if kind == "sdx_and_main_px":
            return any_sdx and main_in
        if kind == "always":
            return True
        if kind == "main_px_in_valid_or":
            return main_vor
        if kind == "any_dx_and_main_px_in_valid_or":
            return any_dx and main_vor
        if kind == "no_px_in_valid_or":
            return not any(code in self.valid_or for code in px)
        raise ValueError(f"unknown ADRG condition kind {kind!r} for {adrg.adrg}")

    def _qy(self, px: list[str]) -> bool:
        return any(code in self.valid_or for code in px)

    def _split(
        self, adrg: AdrgRule, age_years: float, los: int | None, dx: list[str]
    ) -> OracleResult:
        severity = self.severity(dx)
        for split in adrg.split_rules:
            drg, split_kind = split.drg, split.split_kind
            if split.max_age_years is not None and math.floor(age_years) > split.max_age_years:
                continue
            if split.uses_los:
                if los is None:
                    return _failure(CHECK_FAILED, LOS_MISSING)
                if split.min_los_days is not None and los < split.min_los_days:
                    continue
                if split.max_los_days is not None and los >= split.max_los_days:
                    continue
            if split_kind == "none":
                ok = True
            elif split_kind == "mcc":
                ok = severity == "MCC"
            elif split_kind == "mcc_or_cc":
                ok = severity in ("MCC", "CC")
            else:
                raise ValueError(f"unknown split kind {split_kind!r} for {drg}")
            if ok:
                return OracleResult(SUCCESS, "MDC" + drg[0], drg[:3], drg, severity, "")
        return OracleResult(SUCCESS, adrg.mdc, adrg.adrg, adrg.adrg, severity, "")


def _get(claim: Mapping[str, Any] | object, name: str) -> Any:
    value = claim.get(name) if isinstance(claim, Mapping) else getattr(claim, name, None)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _weight_in_band(weight: float | None, low: float | None, high: float | None) -> bool:
    """Birth weight truthy (0 and missing fail) and ``low <= weight < high``; empty bounds pass."""
    if not weight:
        return False
    if low is not None and weight < low:
        return False
    return high is None or weight < high


def _failure(status: str, reason: str) -> OracleResult:
    return OracleResult(status, "0000", "00", "0000", "", reason)


def _validate(
    sex: int | None,
    age_years: float | None,
    age_days: int | None,
    weight: float | None,
    dx: list[str],
) -> str:
    if sex is None:
        return SEX_MISSING
    if sex not in (1, 2):
        return SEX_INVALID
    if age_years is None:
        return AGE_MISSING
    if age_years < 1 and age_days is None:
        return AGE_DAYS_MISSING
    if age_years < 1 and age_days is not None and age_days <= 28 and weight is None:
        return BIRTH_WEIGHT_MISSING
    if not dx:
        return NO_DIAGNOSIS
    return ""


def _convert(codes: list[str], mapping: dict[str, str]) -> list[str] | None:
    converted: list[str] = []
    for code in codes:
        if code not in mapping:
            return None
        converted.append(mapping[code])
    return [code for code in converted if code not in ("", "-")]


def claim_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical oracle input from a typed claim record (e.g. a row of a synth table).

    A sex other than 1/2 becomes 0 ("present but unrecognised"); missing lists become empty.
    ``los_days`` is carried over only when the record has that field.
    """
    sex = _get(record, "sex")
    if sex is not None:
        sex = int(sex) if sex in (1, 2) else 0
    claim: dict[str, Any] = {
        "sex": sex,
        "age_years": _get(record, "age_years"),
        "age_days": _get(record, "age_days"),
        "birth_weight_g": _get(record, "birth_weight_g"),
        "diagnoses": list(record.get("diagnoses") or []),
        "procedures": list(record.get("procedures") or []),
    }
    if "los_days" in record:
        los = _get(record, "los_days")
        claim["los_days"] = None if los is None else int(los)
    return claim


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _opt(row: Mapping[str, str | None], column: str) -> str:
    """An optional column's text; a column the file does not have reads as empty."""
    return (row.get(column) or "").strip()


def _alt(row: Mapping[str, str | None]) -> int:
    """The ``alt`` number of a rule or code row; a missing or empty column means 1."""
    text = _opt(row, "alt")
    return int(text) if text else 1


def _int_or_none(text: str) -> int | None:
    return int(text) if text != "" else None


def _float_or_none(text: str) -> float | None:
    return float(text) if text != "" else None


def resolve_manifest(rule_dir: Path) -> tuple[str, dict[str, Any], dict[str, Path]]:
    """Rule-set id, merged options and table paths, following ``extends`` to sibling folders."""
    with (rule_dir / "manifest.toml").open("rb") as handle:
        manifest = tomllib.load(handle)
    options: dict[str, Any] = {}
    tables: dict[str, Path] = {}
    base_id = manifest.get("extends")
    if base_id:
        _, options, tables = resolve_manifest(rule_dir.parent / base_id)
        options = dict(options)
        tables = dict(tables)
    options.update(manifest.get("options", {}))
    for name, filename in manifest.get("tables", {}).items():
        tables[name] = rule_dir / filename
    return manifest.get("id", rule_dir.name), options, tables


def load_oracle(rule_dir: Path) -> Oracle:
    """Load a rule-set folder (``manifest.toml`` plus CSV tables) into an :class:`Oracle`."""
    rule_dir = Path(rule_dir)
    rule_id, options, tables = resolve_manifest(rule_dir)

    def table(name: str) -> list[dict[str, str]]:
        return _read_csv(tables.get(name, rule_dir / f"{name}.csv"))

    mdc_codes: dict[str, set[str]] = {}
    trauma: dict[str, dict[str, str]] = {}
    for row in table("mdc_codes"):
        mdc_codes.setdefault(row["mdc"], set()).add(row["code"])
        if row["trauma_region"]:
            trauma.setdefault(row["mdc"], {})[row["code"]] = row["trauma_region"]

    codes: dict[tuple[str, int, str], set[str]] = {}
    labels: dict[tuple[str, int], dict[str, str]] = {}
    for row in table("adrg_codes"):
        key = (row["adrg"], _alt(row))
        codes.setdefault((*key, row["role"]), set()).add(row["code"])
        if _opt(row, "px_label") and row["role"] == "px":
            labels.setdefault(key, {}).setdefault(row["code"], row["px_label"])

    splits: dict[str, list[tuple[int, SplitRule]]] = {}
    for row in table("drg"):
        splits.setdefault(row["adrg"], []).append((
            int(row["order_in_adrg"]),
            SplitRule(
                drg=row["drg"],
                split_kind=row["split_kind"],
                max_age_years=_int_or_none(_opt(row, "max_age_years")),
                min_los_days=_int_or_none(_opt(row, "min_los_days")),
                max_los_days=_int_or_none(_opt(row, "max_los_days")),
            ),
        ))

    adrgs_by_mdc: dict[str, list[AdrgRule]] = {}
    for row in table("adrg"):
        name, alt = row["adrg"], _alt(row)
        combo = tuple(
            frozenset(option.split("+"))
            for option in _opt(row, "px_label_combo").split(";") if option
        )
        adrgs_by_mdc.setdefault(row["mdc"], []).append(
            AdrgRule(
                adrg=name,
                mdc=row["mdc"],
                order_in_mdc=int(row["order_in_mdc"]),
                cond_kind=row["cond_kind"],
                label_combo=combo,
                max_age_days=_int_or_none(_opt(row, "max_age_days")),
                weight_min=_float_or_none(_opt(row, "birth_weight_min_g")),
                weight_max=_float_or_none(_opt(row, "birth_weight_max_g")),
                dx=frozenset(codes.get((name, alt, "dx"), ())),
                px=frozenset(codes.get((name, alt, "px"), ())),
                px2=frozenset(codes.get((name, alt, "px2"), ())),
                px_label=labels.get((name, alt), {}),
                split_rules=tuple(
                    split for _, split in sorted(splits.get(name, []), key=lambda s: s[0])
                ),
                alt=alt,
                sdx=frozenset(codes.get((name, alt, "sdx"), ())),
            )
        )

    mdcs = []
    for row in sorted(table("mdc"), key=lambda r: int(r["eval_order"])):
        mdc = row["mdc"]
        mdcs.append(
            MdcRule(
                mdc=mdc,
                entry_kind=row["entry_kind"],
                entry_sex=_int_or_none(row["entry_sex"]),
                qy_after_n_adrgs=int(row["qy_after_n_adrgs"]),
                qy_drg=row["qy_drg"],
                codes=frozenset(mdc_codes.get(mdc, ())),
                trauma_region=trauma.get(mdc, {}),
                adrgs=tuple(sorted(adrgs_by_mdc.get(mdc, []), key=lambda a: a.order_in_mdc)),
            )
        )

    code_conversion = bool(options.get("code_conversion", False))
    return Oracle(
        rule_id=rule_id,
        qy_enabled=bool(options.get("qy_enabled", False)),
        code_conversion=code_conversion,
        mdcs=tuple(mdcs),
        valid_or=frozenset(row["code"] for row in table("valid_or_procedures")),
        cc_mcc={row["code"]: (row["level"], row["exclusion_table"]) for row in table("cc_mcc")},
        cc_exclusion={row["pdx_code"]: row["exclusion_table"] for row in table("cc_exclusion")},
        dx_map=(
            {row["source_code"]: row["target_code"] for row in table("dx_map")}
            if code_conversion else {}
        ),
        px_map=(
            {row["source_code"]: row["target_code"] for row in table("px_map")}
            if code_conversion else {}
        ),
    )
