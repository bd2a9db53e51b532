"""Build the national DIP 3.0 rule set from the reference tables (a small, repeatable converter).

    python -m drg_engine.dip.convert ../shared/reference/dip_and_payment/data \\
        grouper_rules/dip/dip3_national_partial [--drg-rules grouper_rules/chs_drg_1_1]

Inputs (reference §7): the DIP 3.0 pre-groups and primary-care groups (complete), the sampled
merge, assisted (burn/tumour) and base core groups, and the Charlson components. The
procedure-attribute dictionary and the severity lists, which the national workbook leaves to
local dictionaries or to attachments we could not read, are derived from the CHS-DRG 1.1 rule
set (valid OR procedures -> surgical, MCC/CC -> severe/moderate); the README of the output says
so. Output: ``manifest.toml`` plus CSV tables, rows sorted, so a re-run gives identical files.
"""

from __future__ import annotations

import argparse
import csv
import re
from collections.abc import Iterable
from pathlib import Path

from drg_engine.dip.specs import normalise_px

DIAGNOSTIC_CHAPTERS = ("87", "88", "89", "90", "91", "92.0", "92.1")
DIAGNOSTIC_WORDS = re.compile(r"检查|活检|活组织|造影|测定|监测|描记|诊断性|腰椎穿刺|骨髓穿刺|刷检")
# Non-operative treatments the CHS-DRG OR list carries because they steer DRG grouping.
THERAPEUTIC_WORDS = re.compile(
    r"透析|滤过|灌流|置换|替代治疗|呼吸机|放液|穿刺抽|引流|输注|注射|置管|灌洗|氧合"
)
# Charlson hierarchy (Quan et al. 2005): the severe form replaces the mild one.
CCI_SUPERSEDES = {
    "Diabetes with end-organ damage": "Diabetes without complications",
    "Moderate or severe liver disease": "Mild liver disease",
    "Metastatic solid tumour": "Any malignancy incl. leukaemia and lymphoma",
}
GROUP_COLUMNS = (
    "group_code", "stage", "name_zh", "principal_dx", "dx_position", "secondary_dx",
    "px_expression", "px_position", "related_px", "treatment", "basic_level", "max_age_days",
    "birth_weight_min_g", "birth_weight_max_g", "source",
)
TREATMENT_OF_RANK = ("conservative", "diagnostic", "therapeutic", "surgical")
RANK_OF_ATTRIBUTE = {"conservative": 0, "diagnostic": 1, "therapeutic": 2, "interventional": 3,
                     "surgical": 3}
WEIGHT_BAND = re.compile(r"(\d+)-(\d+)克")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, columns: Iterable[str], rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _attribute_of(code: str, name: str, operation: bool) -> str:
    """Diagnostic chapters or words, then non-operative treatment words, then operations."""
    if code.startswith(DIAGNOSTIC_CHAPTERS) or DIAGNOSTIC_WORDS.search(name):
        return "diagnostic"
    if THERAPEUTIC_WORDS.search(name) or code[:2] > "86":
        return "therapeutic"
    return "surgical" if operation else "therapeutic"


def procedure_attributes(drg_rules: Path, extra: dict[str, str]) -> list[dict[str, object]]:
    """The attribute dictionary: every CHS-DRG 1.1 procedure, the DIP tables' own codes, and
    ICD-9-CM-3 chapter fallbacks (01-86 operations, 87-91 diagnostic, 92-99 other)."""
    valid_or = {row["code"] for row in _read(drg_rules / "valid_or_procedures.csv")}
    rows: dict[str, dict[str, object]] = {}
    for row in _read(drg_rules / "px_names.csv"):
        code = normalise_px(row["code"])
        rows[code] = {
            "code": code,
            "attribute": _attribute_of(code, row["name_zh"], row["code"] in valid_or),
            "name_zh": row["name_zh"],
            "source": "CHS-DRG 1.1 procedure dictionary"
            + (" (valid-OR list)" if row["code"] in valid_or else " (non-OR)")
            + "; chapter/name rule",
        }
    for code, name in sorted(extra.items()):
        if code in rows:
            continue
        operation = code[:2] <= "86"
        rows[code] = {
            "code": code,
            "attribute": _attribute_of(code, name, operation),
            "name_zh": name,
            "source": "DIP 3.0 workbook code (not in CHS-DRG 1.1; chapter/name rule)",
        }
    for chapter in range(100):
        code = f"{chapter:02d}"
        if chapter <= 86:
            attribute = "surgical"
        elif code in DIAGNOSTIC_CHAPTERS:
            attribute = "diagnostic"
        else:
            attribute = "therapeutic"
        rows.setdefault(code, {"code": code, "attribute": attribute, "name_zh": "",
                               "source": "ICD-9-CM-3 chapter fallback"})
    for code in ("92.0", "92.1"):
        rows[code] = {"code": code, "attribute": "diagnostic", "name_zh": "",
                      "source": "ICD-9-CM-3 chapter fallback (diagnostic nuclear medicine)"}
    return [rows[code] for code in sorted(rows)]


def _rank(codes: Iterable[str], attributes: dict[str, str]) -> int:
    best = 0
    for code in codes:
        for length in range(len(code), 0, -1):
            attribute = attributes.get(code[:length])
            if attribute is not None:
                best = max(best, RANK_OF_ATTRIBUTE[attribute])
                break
    return best


def _codes(expression: str) -> list[str]:
    return [normalise_px(c) for c in re.split(r"[|+]", expression) if c]


def _names(codes: str, names: str, into: dict[str, str]) -> None:
    if not codes:
        return
    code_list = re.split(r"[|+]", codes)
    name_list = re.split(r"[|+]", names)
    if len(code_list) == len(name_list):
        for code, name in zip(code_list, name_list, strict=True):
            into.setdefault(normalise_px(code), name)


def convert(data: Path, output: Path, drg_rules: Path) -> None:
    pregroups = _read(data / "dip3_national_pregroups.csv")
    merge = _read(data / "dip3_national_merge_core_groups_sample.csv")
    assisted = _read(data / "dip3_national_assisted_groups_sample.csv")
    base = _read(data / "dip3_national_base_core_groups_sample.csv")
    primary = _read(data / "dip3_national_primary_care_groups.csv")

    dip_px_names: dict[str, str] = {}
    for row in pregroups:
        _names(row["procedure_codes"], row["procedure_name_zh"], dip_px_names)
    for row in merge:
        _names(row["principal_procedure_codes_any_of"], row["principal_procedure_name_zh"],
               dip_px_names)
        _names(row["related_procedure_codes"], row["related_procedure_name_zh"], dip_px_names)
    for row in assisted:
        _names(row["procedure_expression"], row["procedure_name_zh"], dip_px_names)
    for row in base:
        _names(row["principal_procedure_codes_any_of"], row["principal_procedure_name_zh"],
               dip_px_names)
    for row in primary:
        _names(row["procedure_codes_any_of"], row["procedure_name_zh"], dip_px_names)
    attributes_rows = procedure_attributes(drg_rules, dip_px_names)
    attributes = {str(r["code"]): str(r["attribute"]) for r in attributes_rows}

    def treatment(expression: str) -> str:
        return TREATMENT_OF_RANK[_rank(_codes(expression), attributes)] if expression \
            else "conservative"

    groups: list[dict[str, object]] = []
    for row in pregroups:
        newborn = row["principal_dx_codes"] == "P07"
        band = WEIGHT_BAND.search(row["birth_weight_condition_zh"])
        anywhere = "不限定为主要手术操作" in row["note_zh"]
        groups.append({
            "group_code": f"XQ{int(row['seq']):04d}", "stage": "pregroup",
            "name_zh": row["group_name_zh"],
            "principal_dx": "P07" if newborn else "*",
            "dx_position": "any" if newborn else "principal",
            "px_expression": row["procedure_codes"],
            "px_position": "any" if anywhere else "principal",
            "treatment": treatment(row["procedure_codes"]),
            "basic_level": "false",
            "max_age_days": 28 if row["age_in_days_condition"] == "<29天" else None,
            "birth_weight_min_g": int(band.group(1)) if band else None,
            "birth_weight_max_g": int(band.group(2)) + 1 if band else None,
            "source": f"一 先期分组 row {row['source_sheet_row']}",
        })
    for row in merge:
        expression = row["principal_procedure_codes_any_of"]
        groups.append({
            "group_code": f"BX{int(row['seq']):04d}", "stage": "merge",
            "name_zh": f"{row['principal_dx_name_zh']}：{row['principal_procedure_name_zh']}"
            + (f"+{row['related_procedure_name_zh']}" if row["related_procedure_codes"] else ""),
            "principal_dx": row["principal_dx_code"], "dx_position": "principal",
            "px_expression": expression, "px_position": "principal",
            "related_px": row["related_procedure_codes"],
            "treatment": treatment(expression), "basic_level": "false",
            "source": f"二 并项规则下的核心病种 row {row['source_sheet_row']}",
        })
    for row in assisted:
        expression = row["procedure_expression"]
        tumour = row["kind"] == "TUMOR"
        name = (f"{row['principal_dx_name_zh']}（{row['secondary_dx_name_zh']}）"
                if tumour else f"{row['burn_degree_zh']}（{row['burn_area_zh']}）")
        groups.append({
            "group_code": f"FZ{int(row['seq']):04d}", "stage": "assisted",
            "name_zh": name + (f"：{row['procedure_name_zh']}" if expression else "：无手术操作"),
            "principal_dx": row["principal_dx_codes"], "dx_position": "principal",
            "secondary_dx": row["secondary_dx_codes"],
            "px_expression": expression,
            "px_position": "any" if tumour else "principal",
            "treatment": treatment(expression), "basic_level": "false",
            "source": f"{row['source_sheet']} row {row['source_sheet_row']}",
        })
    core_keys: dict[tuple[str, frozenset[str]], dict[str, object]] = {}
    for row in base:
        expression = row["principal_procedure_codes_any_of"]
        group = {
            "group_code": f"JC{int(row['seq']):04d}", "stage": "base",
            "name_zh": row["principal_dx_name_zh"]
            + (f"：{row['principal_procedure_name_zh']}" if expression else "：保守治疗"),
            "principal_dx": row["principal_dx_code"], "dx_position": "principal",
            "px_expression": expression, "px_position": "principal",
            "treatment": treatment(expression), "basic_level": "false",
            "source": f"四 基础规则下的核心病种 row {row['source_sheet_row']}",
        }
        groups.append(group)
        core_keys[(row["principal_dx_code"], frozenset(_codes(expression)))] = group
    for row in merge:
        if not row["related_procedure_codes"]:
            key = (row["principal_dx_code"],
                   frozenset(_codes(row["principal_procedure_codes_any_of"])))
            core_keys.setdefault(key, next(g for g in groups
                                           if g["group_code"] == f"BX{int(row['seq']):04d}"))
    for row in primary:
        expression = row["procedure_codes_any_of"]
        same = core_keys.get((row["principal_dx_code"], frozenset(_codes(expression))))
        if same is not None:  # a basic-level group is a core group: flag it, do not repeat it
            same["basic_level"] = "true"
            same["source"] = f"{same['source']}; 六 基层病种 row {row['source_sheet_row']}"
            continue
        groups.append({
            "group_code": f"JCB{int(row['seq']):03d}", "stage": "basic",
            "name_zh": row["principal_dx_name_zh"]
            + (f"：{row['procedure_name_zh']}" if expression else "：保守治疗"),
            "principal_dx": row["principal_dx_code"], "dx_position": "principal",
            "px_expression": expression, "px_position": "principal",
            "treatment": treatment(expression), "basic_level": "true",
            "source": f"六 基层病种 row {row['source_sheet_row']}",
        })

    output.mkdir(parents=True, exist_ok=True)
    _write(output / "groups.csv", GROUP_COLUMNS, groups)
    _write(output / "procedure_attributes.csv", ("code", "attribute", "name_zh", "source"),
           attributes_rows)
    cci_rows = [
        {
            "component": row["component_en"], "name_zh": row["component_zh"],
            "weight": row["charlson_weight"], "icd10_prefixes": row["icd10_prefixes_simplified"],
            "supersedes": CCI_SUPERSEDES.get(row["component_en"], ""),
            "note": "simplified fallback prefixes (LQ-karl/DIP-3.0), not the official 2,292-code "
            "DIP CCI dictionary",
        }
        for row in _read(data / "charlson_cci_components.csv")
    ]
    _write(output / "cci_components.csv",
           ("component", "name_zh", "weight", "icd10_prefixes", "supersedes", "note"), cci_rows)
    severity = [
        {"code": row["code"], "level": "severe" if row["level"] == "MCC" else "moderate",
         "source": f"proxy: CHS-DRG 1.1 {row['level']} list"}
        for row in _read(drg_rules / "cc_mcc.csv")
    ]
    _write(output / "severity_codes.csv", ("code", "level", "source"),
           sorted(severity, key=lambda r: str(r["code"])))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="shared/reference/dip_and_payment/data")
    parser.add_argument("output", type=Path, help="the rule-set folder to write")
    parser.add_argument("--drg-rules", type=Path,
                        default=Path(__file__).resolve().parents[2] / "grouper_rules"
                        / "chs_drg_1_1",
                        help="the CHS-DRG 1.1 rule set (procedure dictionary, CC/MCC lists)")
    args = parser.parse_args(argv)
    convert(args.data, args.output, args.drg_rules)


if __name__ == "__main__":
    main()
