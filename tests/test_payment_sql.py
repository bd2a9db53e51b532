"""The exact-decimal SQL helpers (sql/macros.sql) against Python's Decimal: division exact to
18 places, rounding half away from zero to the fen and to 4 places on exact ties and near-ties,
whether the DOUBLE shortcut or the exact path decides. And the runner: parameter binding, and
putting per-claim results back in input order."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drg_engine.payment.runner import MIN_RUN, SqlSession, restore_input_order, sql_text

D = Decimal


@pytest.fixture(scope="module")
def session() -> SqlSession:
    return SqlSession()


def one(session: SqlSession, expression: str, **params: object) -> object:
    return session.connection.sql(f"SELECT {expression}", params=params).fetchall()[0][0]


@pytest.mark.parametrize(("numerator", "denominator"), [
    ("4000.00", "9690"), ("25000", "9690"), ("-100", "3"), ("1", "3"), ("0", "5"),
    ("123456789.12", "0.0001"), ("10", "-4"), ("-7", "-2"),
    ("9999999.99", "1234.567890123456789012"),
])
def test_exact_division(session: SqlSession, numerator: str, denominator: str) -> None:
    got = one(session, "exact_div(CAST($n AS DECIMAL(38, 2)), CAST($d AS DECIMAL(38, 18)))",
              n=numerator, d=denominator)
    with localcontext() as context:
        context.prec = 60
        expected = (D(numerator) / D(denominator)).quantize(D("1e-18"), ROUND_DOWN)
    assert got == expected


@pytest.mark.parametrize("scaled", [
    "0", "1", "-1", "999999999999999999", "-1000000000000000001",
    "99999999999999999999999999999999999999", "-99999999999999999999999999999999999999",
])
def test_scaled_integer_back_to_decimal(session: SqlSession, scaled: str) -> None:
    got = one(session, "int_to_dec18(CAST($q AS HUGEINT))", q=scaled)
    with localcontext() as context:
        context.prec = 60
        assert got == D(scaled).scaleb(-18)


def test_division_by_zero_is_null(session: SqlSession) -> None:
    assert one(session, "exact_div(CAST(1 AS DECIMAL(38, 2)), CAST(0 AS DECIMAL(38, 2)))") is None


exact = st.decimals(min_value=D("-1e9"), max_value=D("1e9"), places=18, allow_nan=False)
tie = st.builds(lambda cents, sign: (D(cents) / 100 + D("0.005")) * sign,
                st.integers(-10**9, 10**9), st.sampled_from([1, -1]))
near = st.builds(lambda x, e: x + D(e) * D("1e-18"), tie, st.integers(-3, 3))


@settings(max_examples=150, deadline=None)
@given(st.one_of(exact, tie, near))
def test_rounding_to_the_fen_and_to_four_places(session: SqlSession, value: Decimal) -> None:
    money, units = session.connection.sql(
        "SELECT round_money(CAST($x AS DECIMAL(38, 18)), CAST($x AS DOUBLE)), "
        "round_units(CAST($x AS DECIMAL(38, 18)), CAST($x AS DOUBLE))",
        params={"x": str(value)},
    ).fetchall()[0]
    assert money == value.quantize(D("0.01"), ROUND_HALF_UP)
    assert units == value.quantize(D("0.0001"), ROUND_HALF_UP)


def test_runner_binds_only_the_parameters_a_file_uses(session: SqlSession) -> None:
    session.register("hospitals", pa.table({
        "hospital_id": ["*"], "level": pa.array([3], pa.int32()),
        "drg_coefficient": pa.array([D("0.9")], pa.decimal128(38, 4)),
        "dip_coefficient": pa.array([D("1")], pa.decimal128(38, 4)),
    }))
    assert "$scheme" in sql_text("hospital_terms")
    with pytest.raises(ValueError, match="not given"):
        session.query("hospital_terms", {})
    with pytest.raises(ValueError, match="not a SQL file name"):
        sql_text("../secrets")


def positions_table(positions: list[int] | np.ndarray) -> pa.Table:
    position = np.asarray(positions, dtype=np.int64)
    return pa.table({"row_position": position, "value": position * 10})


def assert_in_input_order(table: pa.Table) -> None:
    n = table.num_rows
    assert table.column("row_position").to_pylist() == list(range(n))
    assert table.column("value").to_pylist() == [10 * i for i in range(n)]


def test_input_order_kept_when_already_in_order() -> None:
    table = positions_table(range(5))
    assert restore_input_order(table) is table
    assert restore_input_order(positions_table([])).num_rows == 0


def test_runs_out_of_order_are_moved_whole() -> None:
    # as a streamed join returns them: consecutive rows, runs in another order
    runs = [range(2 * MIN_RUN, 3 * MIN_RUN), range(MIN_RUN, 2 * MIN_RUN), range(MIN_RUN)]
    table = positions_table(np.concatenate([np.arange(r.start, r.stop) for r in runs]))
    restored = restore_input_order(table)
    assert_in_input_order(restored)
    assert restored.column("value").num_chunks == 3  # slices of the result, not a copy


def test_shuffled_rows_are_gathered() -> None:
    table = positions_table(np.random.default_rng(5).permutation(3 * MIN_RUN))
    assert_in_input_order(restore_input_order(table))


@pytest.mark.parametrize("positions", [[0, 0], [1, 2], [-1, 0], [0, 2, 1, 2]])
def test_positions_must_number_the_rows(positions: list[int]) -> None:
    with pytest.raises(AssertionError, match="row_position"):
        restore_input_order(positions_table(positions))
