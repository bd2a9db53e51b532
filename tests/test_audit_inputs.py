"""Audit inputs: national field names, fee-category mapping, refunds, grouped or raw claims."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from drg_engine.audit import load_inputs, run_audit
from drg_engine.audit.inputs import prepare_charges, prepare_visits, with_fund_payments
from drg_engine.errors import MissingColumnsError

CLAIMS = pa.table({
    "setl_id": ["S1", "S2"], "psn_no": ["P1", "P2"], "fixmedins_code": ["H1", "H1"],
    "gend": [1, 2], "age": [60.0, 50.0],
    "adm_time": [date(2024, 5, 1), date(2024, 5, 1)],
    "dscg_time": [date(2024, 5, 8), date(2024, 5, 8)],
    "diagnoses": [["J18.900"], ["J18.900"]], "procedures": [[], []],
    "medfee_sumamt": ["900.00", "1000.00"],  # S1: 8 days x 125 minus a 100 refund
})


def national_charges() -> pa.Table:
    """Fee lines with national field names (upload 2301): timestamps, local categories, a
    refund linked by init_feedetl_sn."""
    rows = []
    for day in range(8):
        for category, amount in (("1409" if day == 3 else "09", 100.0), ("01", 25.0)):
            rows.append({"setl_id": "S1", "feedetl_sn": f"S1-{day}-{category}",
                         "init_feedetl_sn": None, "fee_ocur_time": f"2024-05-0{day + 1} 10:00:00",
                         "med_list_codg": "X", "med_chrgitm_type": category, "cnt": 1,
                         "det_item_fee_sumamt": amount})
    rows.append({"setl_id": "S1", "feedetl_sn": "S1-refund", "init_feedetl_sn": "S1-2-09",
                 "fee_ocur_time": "2024-05-07 09:00:00", "med_list_codg": "X",
                 "med_chrgitm_type": "09", "cnt": -1, "det_item_fee_sumamt": -100.0})
    return pa.Table.from_pylist(rows)


def test_national_field_names_are_recognised() -> None:
    charges = prepare_charges(national_charges())
    assert {"claim_id", "line_id", "refund_of", "service_date", "category", "quantity",
            "amount"} <= set(charges.column_names)
    visits = prepare_visits(pa.table({"psn_no": ["P1"], "fixmedins_code": ["H2"],
                                      "med_type": ["11"], "begntime": ["2024-05-04"]}))
    assert visits.column("visit_id").to_pylist() == ["V1"]
    with pytest.raises(MissingColumnsError, match="category: accepted names are"):
        prepare_charges(pa.table({"setl_id": ["S1"], "fee_ocur_time": ["2024-05-01"],
                                  "det_item_fee_sumamt": [1.0]}))


def test_refunds_are_netted_on_the_refunded_day_and_categories_mapped() -> None:
    result = run_audit(load_inputs(CLAIMS, charges=national_charges()))
    assert [r["claim_id"] for r in result.data_quality.to_pylist()
            if r["rule_code"] == "DQ004"] == ["S2"]  # S2 has no lines; S1 reconciles
    # Day 2's drug is refunded (on day 6): day 2 is empty; day 3's CT (local 1409 -> 03
    # exam by the mapping table) keeps day 3 busy, so the run is day 2 only: no HB001.
    assert not [r for r in result.findings.to_pylist() if r["rule_code"] == "HB001"]
    assert not [r for r in result.data_quality.to_pylist() if r["rule_code"] == "DQ006"]


def test_unmapped_local_category_is_reported_and_never_makes_a_day_empty(
        tmp_path: Path) -> None:
    charges = national_charges().to_pylist()
    for row in charges:
        if row["med_chrgitm_type"] == "09" and row["feedetl_sn"] in ("S1-4-09", "S1-5-09"):
            row["med_chrgitm_type"] = "Z7"
    result = run_audit(load_inputs(CLAIMS, charges=pa.Table.from_pylist(charges)))
    unmapped = [r for r in result.data_quality.to_pylist() if r["rule_code"] == "DQ006"]
    assert [r["key"] for r in unmapped] == ["category Z7"]
    assert not [r for r in result.findings.to_pylist() if r["rule_code"] == "HB001"]
    # A local table mapping Z7 to bed fees makes days 4-5 hotel-only: with day 2 (refunded)
    # and day 3 (CT) the run is only days 4-5; mapping 1409 to bed too gives days 2-5.
    table = tmp_path / "map.csv"
    table.write_text("local_code,national_code\nZ7,01\n1409,01\n", encoding="utf-8")
    mapped = run_audit(load_inputs(CLAIMS, charges=pa.Table.from_pylist(charges),
                                   category_map=table))
    empty = [r for r in mapped.findings.to_pylist() if r["rule_code"] == "HB001"]
    assert [(r["claim_id"], r["key"]) for r in empty] == [("S1", "d2-d5")]


def test_fund_payment_column_is_used_when_present() -> None:
    claims = CLAIMS.append_column("fund_pay_sumamt", pa.array(["500.00", "800.00"]))
    result = run_audit(load_inputs(claims))
    assert result.meta["payment_source"] == "fund_payment column"
    estimated = run_audit(load_inputs(CLAIMS))
    assert estimated.meta["payment_source"].startswith("estimated")


def test_payments_from_drg_pay_become_the_fund_payment_by_claim_id() -> None:
    # In another order, with an extra claim, and covering only S1: S2 stays estimated.
    payments = pa.table({"claim_id": ["X9", "S1"], "fund_payable": ["1.00", "1234.56"]})
    claims = with_fund_payments(CLAIMS, payments)
    assert claims.column("fund_payment").to_pylist() == [1234.56, None]
    assert claims.column("setl_id").to_pylist() == CLAIMS.column("setl_id").to_pylist()
    result = run_audit(load_inputs(CLAIMS, payments=payments))
    assert result.meta["payment_source"] == (
        "estimated: total_cost x fund_share; fund_payment column")
    # The payments win over a fund_payment column; claims they miss keep the column's value.
    own = CLAIMS.append_column("fund_pay_sumamt", pa.array(["500.00", "800.00"]))
    assert with_fund_payments(own, payments).column("fund_payment").to_pylist() == [
        1234.56, 800.0]


def test_payments_without_the_pay_columns_are_refused() -> None:
    with pytest.raises(MissingColumnsError, match="fund_payable"):
        with_fund_payments(CLAIMS, pa.table({"claim_id": ["S1"], "amount": [1.0]}))
