"""Audit inputs as Arrow tables with canonical column names, ready to register in DuckDB.

* claims: raw claims (grouped here with ``group_table``) or a grouped file written by
  ``drg group --keep-input`` (recognised by its ``drg`` and ``status`` columns);
* charges: fee detail lines (费用明细, national upload 2301);
* visits: the same persons' outpatient, emergency, pharmacy and other inpatient settlements;
* hospitals: the hospital master (level, approved beds 核定床位).

Column names may be canonical, the national field codes or Chinese headers (see the alias
tables). Values are cast in SQL (``sql/charge_lines.sql`` ...) with ``TRY_CAST``, so an
unreadable value becomes a data-quality finding instead of aborting a month's run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.audit.regroup import by_rule_set, or_procedures
from drg_engine.errors import MissingColumnsError
from drg_engine.io import read_claims
from drg_engine.pipeline import group_table
from drg_engine.rules import CompiledRules, load_rules
from drg_engine.schema import (
    CLAIM_SCHEMA,
    COLUMN_ALIASES,
    REJECT_SCHEMA,
    RESULT_COLUMNS,
    normalize_column_name,
)
from drg_engine.validate import normalize_claims

CHARGE_ALIASES: dict[str, tuple[str, ...]] = {
    "claim_id": ("claim_id", "setl_id", "mdtrt_id", "stay_id", "visit_id", "结算ID", "就诊ID"),
    "line_id": ("line_id", "feedetl_sn", "fee_line_id", "费用明细流水号", "明细流水号"),
    "refund_of": ("refund_of", "init_feedetl_sn", "original_line_id", "原费用流水号"),
    "service_date": (
        "service_date", "service_time", "fee_ocur_time", "charge_date", "charge_time",
        "费用发生时间", "费用发生日期",
    ),
    "item_code": (
        "item_code", "item_code_national", "med_list_codg", "hilist_code", "医疗目录编码",
        "医保目录编码", "项目编码",
    ),
    "item_name": ("item_name", "hilist_name", "medins_list_name", "项目名称", "医保目录名称"),
    "category": (
        "category", "fee_category", "med_chrgitm_type", "med_chrgitm", "收费项目类别",
        "医疗收费项目类别", "收费类别",
    ),
    "quantity": ("quantity", "cnt", "qty", "数量"),
    "unit_price": ("unit_price", "pric", "price", "单价"),
    "amount": ("amount", "det_item_fee_sumamt", "line_amount", "明细项目费用总额", "金额"),
    "ordering_dept": (
        "ordering_dept", "bilg_dept_codg", "bilg_dept_name", "开单科室编码", "开单科室",
    ),
    "executing_dept": ("executing_dept", "acord_dept_codg", "acord_dept_name", "执行科室编码"),
    "is_discharge_med": ("is_discharge_med", "dscg_tkdrug_flag", "出院带药标志"),
}
CHARGE_REQUIRED = ("claim_id", "service_date", "category", "amount")

VISIT_ALIASES: dict[str, tuple[str, ...]] = {
    "visit_id": ("visit_id", "mdtrt_id", "setl_id", "transaction_id", "就诊ID", "结算ID"),
    "patient_id": ("patient_id", "psn_no", "person_id", "人员编号"),
    "hospital_id": (
        "hospital_id", "fixmedins_code", "institution_id", "hospital_code", "定点医药机构编号",
    ),
    "med_type": ("med_type", "medical_type", "医疗类别"),
    "visit_date": (
        "visit_date", "visit_time", "begntime", "begin_date", "setl_time", "就诊时间", "结算时间",
        "开始时间",
    ),
    "end_date": ("end_date", "endtime", "discharge_date", "结束时间", "出院时间"),
    "amount": ("amount", "medfee_sumamt", "total_amount", "医疗费总额", "金额"),
    "items": ("items", "item_summary", "description", "项目摘要"),
}
VISIT_REQUIRED = ("patient_id", "hospital_id", "med_type", "visit_date")

HOSPITAL_ALIASES: dict[str, tuple[str, ...]] = {
    "hospital_id": (
        "hospital_id", "fixmedins_code", "hospital_code", "定点医药机构编号", "医院编码",
    ),
    "hospital_name": ("hospital_name", "fixmedins_name", "name", "定点医药机构名称", "医院名称"),
    "level": ("level", "hospital_level", "hi_setl_lv", "医院等级", "医保结算等级"),
    "approved_beds": ("approved_beds", "beds", "核定床位", "编制床位", "核定床位数", "编制床位数"),
    "region": ("region", "admdvs", "统筹区", "区划"),
}
HOSPITAL_REQUIRED = ("hospital_id",)

CATEGORY_MAP_ALIASES: dict[str, tuple[str, ...]] = {
    "local_code": ("local_code", "code", "local_category", "本地类别编码"),
    "national_code": ("national_code", "national_category", "国家类别编码"),
    "name": ("name", "name_zh", "类别名称"),
}
DX_SUPPORT_ALIASES: dict[str, tuple[str, ...]] = {
    "dx_prefix": ("dx_prefix",),
    "item_prefix": ("item_prefix",),
    "note": ("note",),
}

CLAIM_EXTRA_ALIASES: dict[str, tuple[str, ...]] = {
    "fund_payment": (
        "fund_payment", "fund_pay_sumamt", "hifp_pay", "基金支付总额", "统筹基金支付",
        "医保基金支付",
    ),
    "planned_readmission": (
        "planned_readmission", "planned_readmission_31d", "days_rinp_flag_31",
        "出院31天内再住院计划", "出院31天内再住院计划标志",
    ),
}

DATA_DIR = Path(__file__).with_name("data")


@dataclass(frozen=True)
class PreparedClaims:
    """Claims for the audit: canonical input columns plus the group, clean rows for regrouping."""

    table: pa.Table  # registered as input_claims
    clean: pa.Table  # CLAIM_SCHEMA rows + the rule_set each was grouped with (for regrouping)
    rejects: pa.Table  # REJECT_SCHEMA rows that never reach the rules
    rule_sets: dict[str, CompiledRules]
    grouped_here: bool
    input_rows: int

    @property
    def rule_set_label(self) -> str:
        return ", ".join(sorted(self.rule_sets)) or "none"


@dataclass(frozen=True)
class AuditInputs:
    """Everything a run reads. Absent optional inputs are ``None`` (rules needing them skip)."""

    claims: PreparedClaims
    charges: pa.Table | None = None
    visits: pa.Table | None = None
    hospitals: pa.Table | None = None
    category_map: pa.Table = field(default_factory=lambda: default_table("category_map"))
    dx_support: pa.Table = field(default_factory=lambda: default_table("dx_support"))

    def available(self) -> set[str]:
        """Input names present, in the registry's vocabulary (``charges:item_code`` ...)."""
        names = {"claims"}
        for label, table in (("charges", self.charges), ("visits", self.visits),
                             ("hospitals", self.hospitals)):
            if table is None:
                continue
            names.add(label)
            for column in table.column_names:
                if not column.startswith("__") and table.column(column).null_count < len(table):
                    names.add(f"{label}:{column}")
        return names


def _resolve(
    names: list[str], aliases: dict[str, tuple[str, ...]], required: tuple[str, ...], what: str
) -> dict[str, int]:
    index = {
        normalize_column_name(alias): canonical
        for canonical, options in aliases.items()
        for alias in options
    }
    found: dict[str, int] = {}
    for position, name in enumerate(names):
        canonical = index.get(normalize_column_name(name))
        if canonical is None:
            continue
        rank = [normalize_column_name(a) for a in aliases[canonical]]
        current = found.get(canonical)
        if current is None or rank.index(normalize_column_name(name)) < rank.index(
            normalize_column_name(names[current])
        ):
            found[canonical] = position
    missing = [name for name in required if name not in found]
    if missing:
        lines = [f"  {name}: accepted names are {', '.join(aliases[name])}" for name in missing]
        raise MissingColumnsError(
            f"{what}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}:\n" + "\n".join(lines)
        )
    return found


def canonical_table(
    table: pa.Table, aliases: dict[str, tuple[str, ...]], required: tuple[str, ...], what: str
) -> pa.Table:
    """``table`` with canonical names; absent optional columns are all-null text columns."""
    found = _resolve(table.column_names, aliases, required, what)
    columns = {}
    for name in aliases:
        if name in found:
            column = table.column(found[name])
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
                column = column.cast(pa.string())
            columns[name] = column
        else:
            columns[name] = pa.nulls(table.num_rows, type=pa.string())
    return pa.table(columns)


def prepare_charges(table: pa.Table) -> pa.Table:
    """Charge lines with canonical names; a missing line id becomes ``<claim_id>#<position>``."""
    charges = canonical_table(table, CHARGE_ALIASES, CHARGE_REQUIRED, "charges")
    if charges.column("line_id").null_count == charges.num_rows:
        position = pa.array(np.arange(1, charges.num_rows + 1).astype(str))
        claim = pc.cast(charges.column("claim_id"), pa.string())
        line_id = pc.binary_join_element_wise(claim, position, "#")
        charges = charges.set_column(charges.schema.get_field_index("line_id"), "line_id", line_id)
    return charges


def prepare_visits(table: pa.Table) -> pa.Table:
    visits = canonical_table(table, VISIT_ALIASES, VISIT_REQUIRED, "visits")
    if visits.column("visit_id").null_count == visits.num_rows:
        position = pa.array(np.char.add("V", np.arange(1, visits.num_rows + 1).astype(str)))
        visits = visits.set_column(0, "visit_id", position)
    return visits


def prepare_hospitals(table: pa.Table) -> pa.Table:
    return canonical_table(table, HOSPITAL_ALIASES, HOSPITAL_REQUIRED, "hospitals")


def default_table(name: str) -> pa.Table:
    """A reference table shipped with the package (``data/<name>.csv``), as text columns."""
    return read_reference_table(DATA_DIR / f"{name}.csv", name)


def read_reference_table(path: str | Path, name: str) -> pa.Table:
    aliases = CATEGORY_MAP_ALIASES if name == "category_map" else DX_SUPPORT_ALIASES
    required = ("local_code", "national_code") if name == "category_map" else (
        "dx_prefix", "item_prefix",
    )
    return canonical_table(read_claims(Path(path)), aliases, required, f"{name} table {path}")


def _is_grouped(table: pa.Table) -> bool:
    return "drg" in table.column_names and "status" in table.column_names


def _take_extra(raw: pa.Table, rows: pa.Array) -> dict[str, pa.Array]:
    found = _resolve(raw.column_names, CLAIM_EXTRA_ALIASES, (), "claims")
    extras: dict[str, pa.Array] = {}
    for name in CLAIM_EXTRA_ALIASES:
        if name in found:
            column = raw.column(found[name]).take(rows)
            extras[name] = column.cast(pa.string()) if name == "planned_readmission" else column
        else:
            extras[name] = pa.nulls(len(rows), type=pa.string())
    return extras


def prepare_claims(
    raw: pa.Table, rules: str | Path | CompiledRules = "chs_drg_1_1"
) -> PreparedClaims:
    """Group raw claims, or take the group columns of an already grouped table as they are.

    ``rules`` is what ``group_table`` accepts (an id, a folder, compiled rules or "auto"); for a
    grouped file the rule sets named in its ``rule_set`` column are loaded for regrouping.
    """
    if _is_grouped(raw):
        normalized = normalize_claims(raw.drop_columns(
            [name for name in RESULT_COLUMNS if name != "claim_id" and name in raw.column_names]
        ))
        clean, rejects = normalized.clean, normalized.rejects
        rows = pc.subtract(clean.column("row_number"), 1)
        groups = {name: raw.column(name).take(rows).cast(pa.string())
                  for name in RESULT_COLUMNS[1:] if name in raw.column_names}
        for name in RESULT_COLUMNS[1:]:
            groups.setdefault(name, pa.nulls(clean.num_rows, type=pa.string()))
        named = [value for value in pc.unique(groups["rule_set"]).to_pylist() if value]
        if isinstance(rules, CompiledRules):
            rule_sets = {rules.rule_set_id: rules}
        elif named:
            rule_sets = {rule_set_id: load_rules(rule_set_id) for rule_set_id in named}
        else:
            compiled = load_rules(rules)
            rule_sets = {compiled.rule_set_id: compiled}
        grouped_here = False
    else:
        run = group_table(raw, rules)
        clean, rejects, rule_sets = run.clean, run.rejects, dict(run.rule_sets)
        rows = pc.subtract(clean.column("row_number"), 1)
        groups = {name: run.results.column(name) for name in RESULT_COLUMNS[1:]}
        grouped_here = True
    clean = clean.append_column("rule_set", pa.chunked_array(
        [pc.cast(groups["rule_set"], pa.string())]
        if not isinstance(groups["rule_set"], pa.ChunkedArray)
        else groups["rule_set"].cast(pa.string()).chunks, type=pa.string()))
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: clean.column(name) for name in CLAIM_SCHEMA.names if name != "row_number"
    }
    columns.update(groups)
    columns["or_procedures"] = by_rule_set(
        clean, rule_sets, lambda part, compiled: or_procedures(part.column("procedures"), compiled),
        empty=pa.array([], type=pa.list_(pa.string())),
    )
    columns.update(_take_extra(raw, rows))
    columns["row_index"] = pa.array(np.arange(clean.num_rows, dtype=np.int64))
    return PreparedClaims(
        table=pa.table(columns),
        clean=clean,
        rejects=rejects.cast(REJECT_SCHEMA),
        rule_sets=rule_sets,
        grouped_here=grouped_here,
        input_rows=raw.num_rows,
    )


def with_fund_payments(claims: pa.Table, payments: pa.Table) -> pa.Table:
    """The claims with ``fund_payment`` taken from a ``drg pay`` output (its ``fund_payable``:
    what the fund pays the hospital for the stay), matched by claim id, in the claims' order.

    Claims the payments do not cover keep their own ``fund_payment`` (or none: estimated).
    """
    missing = [name for name in ("claim_id", "fund_payable") if name not in payments.column_names]
    if missing:
        raise MissingColumnsError(
            f"the payments file lacks {', '.join(missing)}; give the per-claim output of "
            "`drg pay` (claim_id, fund_payable)"
        )
    paid = pl.from_arrow(payments.select(["claim_id", "fund_payable"]))
    assert isinstance(paid, pl.DataFrame)
    paid = paid.with_columns(pl.col("claim_id").cast(pl.Utf8).str.strip_chars()).unique(
        "claim_id", keep="first", maintain_order=True)
    frame = pl.from_arrow(claims)
    assert isinstance(frame, pl.DataFrame)
    aliases = {"claim_id": COLUMN_ALIASES["claim_id"], **CLAIM_EXTRA_ALIASES}
    found = _resolve(claims.column_names, aliases, ("claim_id",), "claims")
    key = claims.column_names[found["claim_id"]]
    joined = frame.with_columns(
        pl.col(key).cast(pl.Utf8).str.strip_chars().alias("__claim_key")
    ).join(paid.rename({"claim_id": "__claim_key"}), on="__claim_key", how="left",
           maintain_order="left")
    fund = joined.get_column("fund_payable").cast(pl.Float64)
    existing = (claims.column_names[found["fund_payment"]] if "fund_payment" in found
                else None)
    if existing is not None:
        fund = fund.fill_null(joined.get_column(existing).cast(pl.Float64, strict=False))
        claims = claims.drop_columns([existing])
    return claims.append_column("fund_payment", fund.to_arrow())


def load_inputs(
    claims: str | Path | pa.Table,
    *,
    payments: str | Path | pa.Table | None = None,
    charges: str | Path | pa.Table | None = None,
    visits: str | Path | pa.Table | None = None,
    hospitals: str | Path | pa.Table | None = None,
    category_map: str | Path | None = None,
    dx_support: str | Path | None = None,
    rules: str | Path | CompiledRules = "chs_drg_1_1",
) -> AuditInputs:
    """Read (paths) or take (tables) the audit inputs and give them canonical columns."""

    def table_of(source: str | Path | pa.Table) -> pa.Table:
        return source if isinstance(source, pa.Table) else read_claims(Path(source))

    claims_table = table_of(claims)
    if payments is not None:
        claims_table = with_fund_payments(claims_table, table_of(payments))
    return AuditInputs(
        claims=prepare_claims(claims_table, rules),
        charges=None if charges is None else prepare_charges(table_of(charges)),
        visits=None if visits is None else prepare_visits(table_of(visits)),
        hospitals=None if hospitals is None else prepare_hospitals(table_of(hospitals)),
        category_map=default_table("category_map") if category_map is None
        else read_reference_table(category_map, "category_map"),
        dx_support=default_table("dx_support") if dx_support is None
        else read_reference_table(dx_support, "dx_support"),
    )
