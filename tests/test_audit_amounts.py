"""Amount at risk counted once across rules (the ``attributed`` step of sql/findings.sql)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from drg_engine.audit.runner import SQL_DIR, _statements

LINE = pa.struct([("line_id", pa.string()), ("amount", pa.float64())])
STAGE = pa.schema([("finding_id", pa.string()), ("claim_id", pa.string()),
                   ("rule_code", pa.string()), ("grade", pa.string()), ("status", pa.string()),
                   ("amount_claimed", pa.float64()), ("lines", pa.list_(LINE)),
                   ("stay_payment", pa.float64())])


def attribute(rows: list[dict]) -> dict[str, float]:
    statement = next(s for s in _statements((SQL_DIR / "findings.sql").read_text("utf-8"))
                     if "TABLE attributed" in s)
    con = duckdb.connect()
    con.register("findings_stage", pa.Table.from_pylist(rows, schema=STAGE))
    con.execute(statement).fetchall()
    return {fid: float(amount) for fid, amount in
            con.execute("SELECT finding_id, amount_at_risk FROM attributed").fetchall()}


def finding(fid: str, rule: str, amount: float, *, grade: str = "clue", claim: str = "C1",
            lines: list[tuple[str, float]] | None = None, payment: float = 1000.0,
            status: str = "open") -> dict:
    return {"finding_id": fid, "claim_id": claim, "rule_code": rule, "grade": grade,
            "status": status, "amount_claimed": amount, "stay_payment": payment,
            "lines": None if lines is None else [{"line_id": i, "amount": a} for i, a in lines]}


def test_shared_lines_are_counted_once() -> None:
    amounts = attribute([
        finding("a", "HB001", 300.0, lines=[("L1", 100.0), ("L2", 100.0), ("L3", 100.0)]),
        finding("b", "HB006", 150.0, lines=[("L3", 100.0), ("L4", 50.0)]),
    ])
    # HB001 claims more and goes first; HB006 keeps only L4.
    assert amounts == pytest.approx({"a": 300.0, "b": 50.0})


def test_suspects_go_first_and_the_stay_payment_caps_the_total() -> None:
    amounts = attribute([
        finding("clue", "HB003", 800.0),
        finding("suspect", "OV001", 700.0, grade="suspect"),
        finding("delta", "UC002", 250.0),
    ])
    assert amounts == pytest.approx({"suspect": 700.0, "clue": 300.0, "delta": 0.0})
    assert sum(amounts.values()) == pytest.approx(1000.0)


def test_claims_are_independent_and_amount_beyond_lines_is_kept() -> None:
    amounts = attribute([
        finding("x", "CD002", 500.0, claim="C1", lines=[("L1", 200.0)]),
        finding("y", "CD001", 200.0, claim="C1", lines=[("L1", 200.0)]),
        finding("z", "HB001", 200.0, claim="C2", lines=[("L1", 200.0)]),
        finding("h", "UC001", 0.0, claim=None, payment=None),
        finding("e", "HB001", 999.0, status="exempted"),
    ])
    # CD002's 300 beyond its listed line (settlements after death) stays with it.
    assert amounts == pytest.approx({"x": 500.0, "y": 0.0, "z": 200.0, "h": 0.0})
