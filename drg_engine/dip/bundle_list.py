"""Single-disease fixed-price lists (按单病种付费): manifest, validated rows, compiled lookups.

A list lives in ``grouper_rules/bundles/<id>/`` (``$DRG_BUNDLES_PATH`` overrides the root):
``manifest.toml`` (identity, effective dates, source, whether the quotas are illustrative) and
``bundles.csv``, one row per bundle (reference §6):

* ``bundle_code``, ``priority`` (unique; the lowest wins when a claim fits several), names;
* ``principal_dx`` - diagnosis spec (prefixes, ranges, ``|``) the principal diagnosis must match;
* ``required_px`` - procedure expression (``|`` any of, ``+`` all of), codes matched by prefix
  (``35.52`` covers ``35.5200x001``), anywhere on the claim; empty = no procedure required;
* ``excluded_px`` / ``excluded_dx`` - any procedure / secondary diagnosis matching makes the
  claim ineligible (complications, other operations);
* ``min_age_years`` / ``max_age_years`` (inclusive, completed years), ``max_los_days``
  (inclusive), ``exclude_death`` / ``exclude_transfer``;
* ``quota_yuan`` (the fixed all-inclusive price), ``fund_share`` (share of the quota the fund
  pays), ``quota_status`` (``official`` with a source, or ``illustrative``) and ``quota_source``.

Compilation turns the specs into prefix indexes and sorted ``bundle * P + prefix`` keys, so
assignment is gathers and ``searchsorted`` over claim codes, like the DIP groups.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drg_engine.dip.codes import PrefixIndex
from drg_engine.dip.compiled import Csr
from drg_engine.dip.specs import (
    SpecError,
    is_wildcard,
    parse_dx_spec,
    parse_px_expression,
    parse_px_set,
)
from drg_engine.dip.tables import read_rows
from drg_engine.errors import RuleSetError
from drg_engine.rules.manifest import locate_manifest_folder, manifest_folders, read_toml_model


class BundleManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    scheme: Literal["single_disease"]
    title: str
    region: str
    version: str
    effective_from: date
    effective_to: date | None = None
    source: str
    # True when any quota of the list is illustrative (no official figure was available).
    quotas_illustrative: bool
    tables: dict[Literal["bundles"], str]


def _spec(parse: object, value: str | None) -> str | None:
    try:
        parse(value)  # type: ignore[operator]
    except SpecError as exc:
        raise ValueError(str(exc)) from None
    return value


class BundleRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle_code: str = Field(pattern=r"^[0-9A-Za-z.\-_]+$")
    priority: int = Field(ge=1)
    name_zh: str
    name_en: str | None = None
    principal_dx: str
    required_px: str | None = None
    excluded_px: str | None = None
    excluded_dx: str | None = None
    min_age_years: float | None = Field(default=None, ge=0)
    max_age_years: float | None = Field(default=None, ge=0)
    max_los_days: int | None = Field(default=None, ge=0)
    exclude_death: bool = False
    exclude_transfer: bool = False
    quota_yuan: Annotated[Decimal, Field(gt=0, decimal_places=2)]
    fund_share: Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
    quota_status: Literal["official", "illustrative"]
    quota_source: str | None = None
    note: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("principal_dx")
    @classmethod
    def _dx(cls, value: str) -> str:
        if is_wildcard(value):
            raise ValueError("a bundle names its principal diagnoses; no wildcard")
        return _spec(parse_dx_spec, value) or value

    @field_validator("excluded_dx")
    @classmethod
    def _excluded_dx(cls, value: str | None) -> str | None:
        if value is not None and is_wildcard(value):
            raise ValueError("a wildcard would exclude every claim")
        return _spec(parse_dx_spec, value)

    @field_validator("required_px")
    @classmethod
    def _required(cls, value: str | None) -> str | None:
        return _spec(parse_px_expression, value)

    @field_validator("excluded_px")
    @classmethod
    def _excluded_px(cls, value: str | None) -> str | None:
        return _spec(parse_px_set, value)

    @model_validator(mode="after")
    def _consistent(self) -> BundleRow:
        if (self.min_age_years is not None and self.max_age_years is not None
                and self.max_age_years < self.min_age_years):
            raise ValueError("max_age_years is below min_age_years")
        if self.quota_status == "official" and not self.quota_source:
            raise ValueError("an official quota needs its quota_source")
        return self


@dataclass(frozen=True)
class BundleList:
    """A compiled single-disease list."""

    list_id: str
    title: str
    content_hash: str
    quotas_illustrative: bool
    codes: list[str]  # in priority order (index = rank)
    names: list[str]
    quota: list[Decimal]
    fund_share: list[Decimal]
    quota_status: list[str]
    min_age: np.ndarray  # float64, -inf none
    max_age: np.ndarray  # float64, inf none (inclusive)
    max_los: np.ndarray  # float64, inf none (inclusive)
    exclude_death: np.ndarray  # bool
    exclude_transfer: np.ndarray  # bool
    has_age: np.ndarray  # bool
    has_required: np.ndarray  # bool
    dx_index: PrefixIndex  # principal and excluded diagnosis prefixes
    anchor: Csr  # dx prefix id -> bundles
    excluded_dx_keys: np.ndarray  # sorted int64 bundle * P + prefix id
    px_index: PrefixIndex  # required and excluded procedure prefixes
    alt_bundle: np.ndarray  # int32[A]
    alt_size: np.ndarray  # int16[A]
    alt_keys: np.ndarray  # sorted int64 bundle * Q + px prefix id
    alt_of_key: np.ndarray  # int32
    excluded_px_keys: np.ndarray  # sorted int64 bundle * Q + px prefix id
    rows: list[BundleRow] = field(repr=False)


def default_bundles_root() -> Path:
    env = os.environ.get("DRG_BUNDLES_PATH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "grouper_rules" / "bundles"


def available_bundle_lists(root: Path | None = None) -> list[str]:
    return manifest_folders(root or default_bundles_root())


def locate_bundle_list(id_or_path: str | Path, root: Path | None = None) -> Path:
    return locate_manifest_folder(id_or_path, root or default_bundles_root(),
                                  "single-disease list")


def compile_bundles(manifest: BundleManifest, rows: list[BundleRow], path: Path,
                    content_hash: str) -> BundleList:
    seen_codes: set[str] = set()
    seen_priority: set[int] = set()
    for i, row in enumerate(rows):
        if row.bundle_code in seen_codes:
            raise RuleSetError(f"{path}, line {i + 2}, field 'bundle_code': duplicate "
                               f"{row.bundle_code!r}")
        if row.priority in seen_priority:
            raise RuleSetError(f"{path}, line {i + 2}, field 'priority': duplicate priority "
                               f"{row.priority}")
        seen_codes.add(row.bundle_code)
        seen_priority.add(row.priority)
    rows = sorted(rows, key=lambda r: r.priority)
    dx_specs = [parse_dx_spec(r.principal_dx) or () for r in rows]
    excluded_dx = [parse_dx_spec(r.excluded_dx) or () for r in rows]
    required = [parse_px_expression(r.required_px) for r in rows]
    excluded_px = [parse_px_set(r.excluded_px) for r in rows]
    dx_index = PrefixIndex.build({p for spec in (*dx_specs, *excluded_dx) for p in spec})
    dx_id = dx_index.ids()
    px_index = PrefixIndex.build({code for alternatives in required for alt in alternatives
                                  for code in alt} | {c for codes in excluded_px for c in codes})
    px_id = px_index.ids()
    n_dx, n_px = len(dx_index.prefixes), len(px_index.prefixes)
    alt_bundle: list[int] = []
    alt_size: list[int] = []
    alt_pairs: list[tuple[int, int]] = []
    for b, alternatives in enumerate(required):
        for alternative in alternatives:
            a = len(alt_bundle)
            alt_bundle.append(b)
            alt_size.append(len(alternative))
            alt_pairs.extend((b * n_px + px_id[code], a) for code in alternative)
    alt_pairs.sort()

    def bound(values: list[float | None], missing: float) -> np.ndarray:
        return np.array([missing if v is None else float(v) for v in values])

    return BundleList(
        list_id=manifest.id,
        title=manifest.title,
        content_hash=content_hash,
        quotas_illustrative=manifest.quotas_illustrative,
        codes=[r.bundle_code for r in rows],
        names=[r.name_zh for r in rows],
        quota=[r.quota_yuan for r in rows],
        fund_share=[r.fund_share for r in rows],
        quota_status=[r.quota_status for r in rows],
        min_age=bound([r.min_age_years for r in rows], -np.inf),
        max_age=bound([r.max_age_years for r in rows], np.inf),
        max_los=bound([r.max_los_days for r in rows], np.inf),  # type: ignore[misc]
        exclude_death=np.array([r.exclude_death for r in rows], dtype=bool),
        exclude_transfer=np.array([r.exclude_transfer for r in rows], dtype=bool),
        has_age=np.array([r.min_age_years is not None or r.max_age_years is not None
                          for r in rows], dtype=bool),
        has_required=np.array([bool(alts) for alts in required], dtype=bool),
        dx_index=dx_index,
        anchor=Csr.build([(dx_id[p], b) for b, spec in enumerate(dx_specs) for p in spec], n_dx),
        excluded_dx_keys=np.array(sorted({b * n_dx + dx_id[p] for b, spec in
                                          enumerate(excluded_dx) for p in spec}), dtype=np.int64),
        px_index=px_index,
        alt_bundle=np.array(alt_bundle, dtype=np.int32),
        alt_size=np.array(alt_size, dtype=np.int16),
        alt_keys=np.array([k for k, _ in alt_pairs], dtype=np.int64),
        alt_of_key=np.array([a for _, a in alt_pairs], dtype=np.int32),
        excluded_px_keys=np.array(sorted({b * n_px + px_id[c] for b, codes in
                                          enumerate(excluded_px) for c in codes}),
                                  dtype=np.int64),
        rows=rows,
    )


@lru_cache(maxsize=8)
def _load(directory: str, digest: str) -> BundleList:
    folder = Path(directory)
    manifest = read_toml_model(folder / "manifest.toml", BundleManifest)
    assert isinstance(manifest, BundleManifest)
    if manifest.id != folder.name:
        raise RuleSetError(f"{folder / 'manifest.toml'}: field 'id' is '{manifest.id}' but the "
                           f"folder is '{folder.name}'")
    path = folder / manifest.tables["bundles"]
    if not path.is_file():
        raise RuleSetError(f"{folder / 'manifest.toml'}: table 'bundles' file {path} does not "
                           "exist")
    rows = read_rows(path, BundleRow)  # type: ignore[arg-type]
    return compile_bundles(manifest, rows, path, digest)  # type: ignore[arg-type]


def load_bundle_list(id_or_path: str | Path = "major_disease_pilot") -> BundleList:
    """The compiled single-disease list for an id (under grouper_rules/bundles/) or a folder."""
    folder = locate_bundle_list(id_or_path)
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*")):
        if path.suffix in (".toml", ".csv"):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return _load(str(folder), digest.hexdigest())
