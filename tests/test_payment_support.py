"""Builders shared by the payment tests: small parameter sets in a temp folder, claim tables.

`make_params` writes a complete DRG or DIP parameter set whose numbers are easy to compute by
hand; a test overrides only the tables or pricing options it is about. `claims_table` builds a
grouped-claims table with exact decimal costs. The tests at the bottom check the builders.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from drg_engine.payment.params import PaymentParams, load_params

D = Decimal

DEFAULT_TABLES: dict[str, list[dict[str, Any]]] = {
    "hospitals": [
        {"hospital_id": "*", "level": 3, "drg_coefficient": "0.9", "dip_coefficient": "0.95"},
        {"hospital_id": "H1", "level": 1, "drg_coefficient": "1", "dip_coefficient": "1"},
    ],
    "drg_weights": [
        {"drg": "AA11", "weight": "1.5"},
        {"drg": "BB13", "hospital_levels": "2|3", "weight": "2"},
        {"drg": "BB13", "hospital_levels": "1", "weight": "1.2"},
        {"drg": "CC15", "payment": "per_item", "note": "no weight"},
    ],
    "base_rates": [{"base_rate": "10000"}],
    "dip_scores": [
        {"dip_group": "D1200", "score": "1200"},
        {"dip_group": "B500", "score": "500", "apply_hospital_coefficient": "false"},
        {"dip_group": "Z0", "payment": "per_item"},
    ],
    "dip_auxiliary": [{"dip_group": "D1200", "aux_type": "SEV3", "aux_coefficient": "1.2"}],
    "point_values": [{"budget_point_value": "8.5"}],
    "fund_budget": [{"fund_budget": "100000", "fund_payment_ratio": "0.68"}],
    "outlier_rules": [
        {"kind": "low", "multiple": "0.5", "inclusive": "true", "mode": "per_item"},
        {"kind": "high", "multiple": "2", "inclusive": "true", "mode": "per_item"},
    ],
    "benefit_policy": [
        {"insurance_type": "resident", "deductible": "1000", "reimbursement_ratio": "0.8"},
    ],
    "benefit_annual": [{"insurance_type": "resident", "annual_cap": "50000"}],
    "settlement_shares": [
        {"direction": "surplus", "band_from": "0", "share": "1"},
        {"direction": "overspend", "band_from": "0", "share": "0"},
    ],
}
SCHEME_TABLES = {
    "DRG": ("hospitals", "drg_weights", "base_rates", "outlier_rules", "benefit_policy",
            "benefit_annual", "settlement_shares"),
    "DIP": ("hospitals", "dip_scores", "dip_auxiliary", "point_values", "fund_budget",
            "outlier_rules", "benefit_policy", "benefit_annual", "settlement_shares"),
}


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] | None = None) -> None:
    columns = header or list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def make_params(
    folder: Path,
    *,
    scheme: str = "DRG",
    pricing: dict[str, str] | None = None,
    tables: dict[str, list[dict[str, Any]]] | None = None,
    set_id: str = "test_set",
    extra_manifest: str = "",
) -> Path:
    """Write a parameter set to ``folder`` and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {name: DEFAULT_TABLES[name] for name in SCHEME_TABLES[scheme]}
    chosen.update(tables or {})
    options = {"scheme": scheme, "default_insurance_type": "resident", **(pricing or {})}
    lines = [
        f'id = "{set_id}"', 'title = "test"', 'region = "test"', 'version = "1"',
        "effective_from = 2024-01-01", 'source = "tests"', extra_manifest, "", "[pricing]",
        *[f'{key} = "{value}"' for key, value in options.items()], "", "[tables]",
    ]
    for name, rows in chosen.items():
        header = list(dict.fromkeys(key for row in rows for key in row)) or _header(name)
        write_csv(folder / f"{name}.csv", rows, header)
        lines.append(f'{name} = "{name}.csv"')
    (folder / "manifest.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _header(name: str) -> list[str]:
    from drg_engine.payment.models import ROW_MODELS

    return [field for field, info in ROW_MODELS[name].model_fields.items() if info.is_required()]


def params(folder: Path, **kwargs: Any) -> PaymentParams:
    return load_params(make_params(folder, **kwargs))


def claims_table(rows: list[dict[str, Any]], *, scheme: str = "DRG") -> pa.Table:
    """Grouped claims: defaults claim_id c<i>, status SUCCESS, hospital HX (level 3 via '*'),
    patient p<i>, discharged 2024-06-01."""
    filled = []
    for index, row in enumerate(rows, start=1):
        base = {
            "claim_id": f"c{index}", "status": "SUCCESS", "hospital_id": "HX",
            "patient_id": f"p{index}", "discharge_date": date(2024, 6, 1),
        }
        base.update(row)
        base["total_cost"] = D(str(base["total_cost"]))
        if base.get("in_policy_cost") is not None:
            base["in_policy_cost"] = D(str(base["in_policy_cost"]))
        filled.append(base)
    group = "drg" if scheme == "DRG" else "dip_group"
    columns: dict[str, pa.Array] = {
        "claim_id": pa.array([r["claim_id"] for r in filled], pa.string()),
        "status": pa.array([r.get("status") for r in filled], pa.string()),
        group: pa.array([r.get(group) for r in filled], pa.string()),
        "hospital_id": pa.array([r["hospital_id"] for r in filled], pa.string()),
        "patient_id": pa.array([r["patient_id"] for r in filled], pa.string()),
        "discharge_date": pa.array([r["discharge_date"] for r in filled], pa.date32()),
        "total_cost": pa.array([r["total_cost"] for r in filled], pa.decimal128(18, 2)),
    }
    for optional, arrow_type in (("in_policy_cost", pa.decimal128(18, 2)),
                                 ("insurance_type", pa.string()),
                                 ("dip_aux_type", pa.string())):
        if any(optional in r for r in filled):
            columns[optional] = pa.array([r.get(optional) for r in filled], arrow_type)
    return pa.table(columns)


def by_claim(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["claim_id"]: row for row in table.to_pylist()}


def test_make_params_writes_a_set_that_loads(tmp_path: Path) -> None:
    drg = params(tmp_path / "drg")
    assert drg.scheme == "DRG"
    # BB13 gives one row per level (2, 3 and 1); AA11 and CC15 one each.
    assert drg.engine_tables["group_values"].num_rows == 5
    dip = params(tmp_path / "dip", scheme="DIP")
    assert dip.scheme == "DIP"
    assert dip.engine_tables["aux_coefficients"].num_rows == 1


def test_claims_table_keeps_costs_exact() -> None:
    table = claims_table([{"drg": "AA11", "total_cost": "0.10"}, {"drg": "AA11",
                                                                   "total_cost": "-3"}])
    assert table.column("total_cost").to_pylist() == [D("0.10"), D("-3.00")]
    assert table.column("claim_id").to_pylist() == ["c1", "c2"]
