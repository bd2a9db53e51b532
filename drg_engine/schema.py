"""The claim data contract: canonical columns and Arrow types, input-name aliases, reject schema.

Input files come with English names, national settlement-list field codes (医疗保障基金结算清单,
e.g. `setl_id`, `gend`, `dscg_time`) or the Chinese headers of the settlement list / 病案首页. Every
module after `validate` sees only the canonical names and types defined here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from drg_engine.errors import AmbiguousColumnsError, MissingColumnsError

CODE_LIST_TYPE = pa.list_(pa.string())
MONEY_TYPE = pa.decimal128(18, 2)

# Column order is part of the contract: the clean table has exactly these columns in this order.
CLAIM_SCHEMA = pa.schema(
    [
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("claim_id", pa.string(), nullable=False),
        pa.field("patient_id", pa.string()),
        pa.field("hospital_id", pa.string()),
        pa.field("region", pa.string()),
        pa.field("dept", pa.string()),
        pa.field("discharge_way", pa.string()),
        pa.field("sex", pa.int8()),
        pa.field("age_years", pa.float64()),
        pa.field("age_days", pa.int32()),
        pa.field("birth_weight_g", pa.float64()),
        pa.field("admit_date", pa.date32()),
        pa.field("discharge_date", pa.date32()),
        pa.field("los_days", pa.int32()),
        pa.field("ventilation_hours", pa.float64()),
        pa.field("diagnoses", CODE_LIST_TYPE, nullable=False),
        pa.field("procedures", CODE_LIST_TYPE, nullable=False),
        pa.field("total_cost", MONEY_TYPE),
    ]
)
CANONICAL_COLUMNS: tuple[str, ...] = tuple(CLAIM_SCHEMA.names)

REQUIRED_COLUMNS: tuple[str, ...] = ("claim_id", "sex", "age_years", "diagnoses", "procedures")

# Sex codes in the clean table (GB/T 2261.1 uses 1/2; 0 flags a present but unreadable value).
SEX_MALE = 1
SEX_FEMALE = 2
SEX_UNRECOGNISED = 0

# Accepted input names per canonical column. `row_number` is computed, never read from input.
# 病案号 (medical record number, `medcasno`) deliberately maps to nothing: it identifies a
# patient's chart in one hospital, not a claim. `vent_used_dura` is not an alias of
# ventilation_hours because the national field is a "d/h/m" duration text, not hours.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "claim_id": (
        "claim_id", "id", "case_id", "claim", "claim_no", "settlement_id", "visit_id",
        "setl_id", "mdtrt_id", "结算ID", "就诊ID", "结算编号", "就诊编号",
    ),
    "patient_id": (
        "patient_id", "patient", "person_id", "member_id", "psn_no", "人员编号", "患者ID",
        "患者编号", "个人编号",
    ),
    "hospital_id": (
        "hospital_id", "hospital", "hospital_code", "provider_id", "facility_id",
        "fixmedins_code", "定点医药机构编号", "定点医疗机构编号", "医疗机构编码", "医疗机构代码",
        "机构编码", "医院编码",
    ),
    # The pooling region where the stay is settled (就医地医保区划, an administrative-division
    # code such as 110105); `--rules auto` picks the rule set by it and the discharge date.
    "region": (
        "region", "region_code", "admdvs", "mdtrt_area_admvs", "就医地医保区划", "医保区划",
        "统筹区", "统筹区编码",
    ),
    "dept": (
        "dept", "department", "discharge_dept", "dept_code", "dscg_caty", "出院科别", "科室",
        "出院科室", "科别",
    ),
    "discharge_way": (
        "discharge_way", "discharge_status", "discharge_disposition", "dscg_way", "离院方式",
    ),
    "sex": ("sex", "gender", "gend", "性别"),
    "age_years": ("age_years", "age", "years", "age_in_years", "年龄", "年龄(岁)"),
    "age_days": (
        "age_days", "age_in_days", "days_old", "nwb_age", "年龄(天)", "年龄不足1周岁的年龄(天)",
        "(年龄不足1周岁)年龄(天)", "新生儿年龄(天)", "新生儿年龄",
    ),
    "birth_weight_g": (
        "birth_weight_g", "weight", "birth_weight", "newborn_weight", "weight_g", "nwb_bir_wt",
        "新生儿出生体重", "新生儿出生体重(克)", "新生儿出生体重(g)", "出生体重",
    ),
    "admit_date": (
        "admit_date", "admission_date", "admit", "admission", "admit_time", "admission_time",
        "adm_time", "adm_date", "入院时间", "入院日期",
    ),
    "discharge_date": (
        "discharge_date", "discharge", "discharge_time", "dscg_time", "dscg_date", "出院时间",
        "出院日期",
    ),
    "los_days": (
        "los_days", "los", "length_of_stay", "los_day", "act_ipt_days", "ipt_days",
        "实际住院天数", "住院天数",
    ),
    "ventilation_hours": (
        "ventilation_hours", "vent_hours", "ventilator_hours", "mechanical_ventilation_hours",
        "呼吸机使用时长(小时)", "呼吸机使用时间(小时)", "有创呼吸机使用时间(小时)",
    ),
    "diagnoses": (
        "diagnoses", "dx", "diagnosis", "diagnosis_codes", "dx_codes", "diag_codes", "diag_code",
        "诊断代码", "诊断编码", "疾病代码", "疾病编码",
    ),
    "procedures": (
        "procedures", "px", "procedure", "procedure_codes", "px_codes", "oprn_oprt_code",
        "手术操作代码", "手术编码", "手术及操作编码", "手术操作编码",
    ),
    "total_cost": (
        "total_cost", "total_charges", "total_charge", "cost", "charges", "total_amount",
        "medfee_sumamt", "总费用", "医疗费总额", "住院总费用",
    ),
}

# The grouper's output columns (one row per clean claim), in order.
RESULT_COLUMNS: list[str] = [
    "claim_id",
    "status",
    "mdc",
    "adrg",
    "drg",
    "drg_name",
    "severity",
    "reason",
    "rule_set",
]

REJECT_SCHEMA = pa.schema(
    [
        pa.field("row_number", pa.int64()),
        pa.field("claim_id", pa.string()),
        pa.field("field", pa.string()),
        pa.field("reason_code", pa.string()),
        pa.field("message", pa.string()),
    ]
)


class RejectReason(StrEnum):
    """Why an input row was rejected; when a row has several problems the first listed wins."""

    MISSING_CLAIM_ID = "MISSING_CLAIM_ID"
    BAD_NUMBER = "BAD_NUMBER"
    BAD_DATE = "BAD_DATE"
    NEGATIVE_LOS = "NEGATIVE_LOS"
    DISCHARGE_BEFORE_ADMISSION = "DISCHARGE_BEFORE_ADMISSION"
    DUPLICATE_CLAIM_ID = "DUPLICATE_CLAIM_ID"


def normalize_column_name(name: str) -> str:
    """Fold a header for alias matching: NFKC (full-width `（）` become `()`), trim, casefold."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def _build_alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            key = normalize_column_name(alias)
            previous = index.setdefault(key, canonical)
            if previous != canonical:
                raise RuntimeError(f"alias {alias!r} is listed for {previous} and {canonical}")
    return index


ALIAS_INDEX: dict[str, str] = _build_alias_index()


@dataclass(frozen=True)
class ColumnResolution:
    """How the input columns map to canonical ones.

    `sources` maps each canonical column found to the index of its input column (indices, not
    names, because an input table may carry two columns with the same name).
    """

    sources: dict[str, int]
    ignored_columns: list[str]


def canonical_name_for(name: str) -> str | None:
    """The canonical column an input header stands for, or None if it matches no alias."""
    return ALIAS_INDEX.get(normalize_column_name(name))


def resolve_columns(
    names: Sequence[str], required: Iterable[str] = REQUIRED_COLUMNS
) -> ColumnResolution:
    """Map input headers to canonical columns.

    When several inputs resolve to one canonical column, the alias listed first in
    `COLUMN_ALIASES` is used and the others are ignored. Raises `AmbiguousColumnsError` if a
    header appears twice and
    `MissingColumnsError` (listing the accepted names of each) if a required column is absent.
    """
    found: dict[str, list[int]] = {}
    ignored: list[str] = []
    for position, name in enumerate(names):
        canonical = canonical_name_for(name)
        if canonical is None:
            ignored.append(name)
        else:
            found.setdefault(canonical, []).append(position)

    # Real settlement exports often carry several ids (setl_id and mdtrt_id): the alias listed
    # first wins and the others are reported as ignored. The same header twice is ambiguous.
    clashes: dict[str, list[int]] = {}
    for canonical, positions in found.items():
        rank = [normalize_column_name(a) for a in COLUMN_ALIASES[canonical]]
        keys = [normalize_column_name(names[p]) for p in positions]
        best = min(rank.index(key) for key in keys)
        winners = [p for p, key in zip(positions, keys, strict=True) if rank.index(key) == best]
        if len(winners) > 1:
            clashes[canonical] = winners
        ignored.extend(names[p] for p in positions if p not in winners)
        found[canonical] = winners[:1]
    if clashes:
        lines = [
            f"  {canonical}: " + " and ".join(repr(names[p]) for p in positions)
            for canonical, positions in clashes.items()
        ]
        raise AmbiguousColumnsError(
            "several input columns have the same name; rename or drop all but one:\n"
            + "\n".join(lines)
        )

    missing = [c for c in required if c not in found]
    if missing:
        lines = [f"  {c}: accepted names are {', '.join(COLUMN_ALIASES[c])}" for c in missing]
        raise MissingColumnsError(
            f"missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}:\n" + "\n".join(lines)
        )
    return ColumnResolution(
        sources={c: positions[0] for c, positions in found.items()}, ignored_columns=ignored
    )
