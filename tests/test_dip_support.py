"""Helpers shared by the DIP and bundle tests: hand-built rule sets and claim batches."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from drg_engine.dip.cache import compile_dip_rule_set, load_dip_rules
from drg_engine.dip.compiled import CompiledDip
from drg_engine.dip.manifest import resolve_dip_rule_set
from drg_engine.grouping.dip import dip_batch
from tests.conftest import make_clean_batch

GROUP_HEADER = (
    "group_code,stage,name_zh,principal_dx,dx_position,secondary_dx,px_expression,px_position,"
    "related_px,treatment,basic_level,max_age_days,birth_weight_min_g,birth_weight_max_g,score,"
    "average_cost,cases,source,note"
)
# Real ICD-9-CM-3 codes with the attribute a local dictionary would give them.
ATTRIBUTES = """code,attribute,name_zh,source
51.2300,surgical,腹腔镜下胆囊切除术,test
51.2200,surgical,胆囊切除术,test
45.2302,diagnostic,电子结肠镜检查,test
88.7200,diagnostic,心脏诊断性超声,test
99.2503,therapeutic,静脉注射化疗药物,test
39.9500,therapeutic,血液透析,test
87,diagnostic,,test
"""


def group_row(code: str, stage: str, dx: str, px: str = "", *, treatment: str = "",
              position: str = "principal", related: str = "", secondary: str = "",
              basic: bool = False, score: str = "", cost: str = "") -> str:
    treatment = treatment or ("conservative" if not px else "surgical")
    return (f"{code},{stage},{code} name,{dx},principal,{secondary},{px},{position},{related},"
            f"{treatment},{'true' if basic else 'false'},,,,{score},{cost},,test,")


def write_rule_set(folder: Path, rows: list[str], *, options: str = "",
                   extra_tables: dict[str, str] | None = None) -> Path:
    """A DIP rule set in ``folder`` (its name is the id) with the given group rows."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "groups.csv").write_text("\n".join([GROUP_HEADER, *rows]) + "\n", encoding="utf-8")
    (folder / "procedure_attributes.csv").write_text(ATTRIBUTES, encoding="utf-8")
    tables = {"groups": "groups.csv", "procedure_attributes": "procedure_attributes.csv"}
    for name, text in (extra_tables or {}).items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
        tables[name] = f"{name}.csv"
    table_lines = "\n".join(f'{k} = "{v}"' for k, v in tables.items())
    (folder / "manifest.toml").write_text(
        f'id = "{folder.name}"\nscheme = "DIP"\nversion = "test"\nregion = "test"\n'
        f'title = "test rule set"\neffective_from = 2024-01-01\nsource = "tests"\n\n'
        f"[options]\n{options}\n\n[tables]\n{table_lines}\n", encoding="utf-8")
    return folder


def compile_set(folder: Path) -> CompiledDip:
    """Compile a hand-built rule set without touching the on-disk cache."""
    return compile_dip_rule_set(resolve_dip_rule_set(folder))


def claim(claim_id: str, diagnoses: list[str], procedures: list[str] | None = None,
          **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "claim_id": claim_id, "sex": 1, "age_years": 40.0, "los_days": 5,
        "discharge_way": "1", "total_cost": Decimal("10000.00"),
        "diagnoses": diagnoses, "procedures": procedures or [],
    }
    values.update(fields)
    return values


def assign(rules: CompiledDip | str | Path, claims: list[dict[str, Any]],
           evidence: bool = True) -> list[dict[str, Any]]:
    if isinstance(rules, CompiledDip):
        compiled = rules
    elif isinstance(rules, Path):
        compiled = compile_set(rules)
    else:
        compiled = load_dip_rules(rules)
    return dip_batch(make_clean_batch(claims), compiled, evidence=evidence).to_pylist()


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["claim_id"]: row for row in rows}


def batch(claims: list[dict[str, Any]]) -> pa.Table:
    return make_clean_batch(claims)
