"""Tests of claim normalisation: parsing rules, reject reasons, and the rows-in = rows-out law."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drg_engine.errors import ColumnTypeError, MissingColumnsError
from drg_engine.schema import CLAIM_SCHEMA, REJECT_SCHEMA, RejectReason
from drg_engine.validate import NormalizedClaims, normalize_claims

BASE: dict[str, Any] = {"claim_id": "C1", "sex": "1", "age": "40", "dx": "A01", "px": ""}


def run(
    rows: list[dict[str, Any]], types: dict[str, pa.DataType] | None = None
) -> NormalizedClaims:
    """Normalise rows given as dicts; every column is text unless `types` says otherwise."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    types = types or {}
    columns = {
        name: pa.array([row.get(name) for row in rows], type=types.get(name, pa.string()))
        for name in names
    }
    return normalize_claims(pa.table(columns))


def one(**overrides: Any) -> NormalizedClaims:
    return run([{**BASE, **overrides}])


def value(column: str, **overrides: Any) -> Any:
    result = one(**overrides)
    assert result.rejects.num_rows == 0, result.rejects.to_pylist()
    return result.clean.column(column)[0].as_py()


def single_reject(**overrides: Any) -> dict[str, Any]:
    result = one(**overrides)
    assert result.clean.num_rows == 0
    (reject,) = result.rejects.to_pylist()
    return reject


# --- output shape --------------------------------------------------------------------------------


def test_clean_has_exactly_the_canonical_schema_and_absent_columns_are_null() -> None:
    result = one()
    assert result.clean.schema.equals(CLAIM_SCHEMA)
    assert result.rejects.schema.equals(REJECT_SCHEMA)
    row = result.clean.to_pylist()[0]
    assert row["row_number"] == 1
    for optional in ("patient_id", "admit_date", "los_days", "total_cost", "birth_weight_g"):
        assert row[optional] is None


def test_empty_input_gives_empty_outputs() -> None:
    raw = pa.table({name: pa.array([], pa.string()) for name in BASE})
    result = normalize_claims(raw)
    assert result.clean.num_rows == 0 and result.rejects.num_rows == 0
    assert result.clean.schema.equals(CLAIM_SCHEMA)


def test_unknown_columns_are_dropped_and_listed() -> None:
    result = one(病案号="123", notes="x")
    assert result.ignored_columns == ["病案号", "notes"]
    assert "notes" not in result.clean.column_names


def test_missing_required_column_raises() -> None:
    with pytest.raises(MissingColumnsError, match="procedures"):
        run([{"claim_id": "1", "sex": "1", "age": "1", "dx": "A"}])


def test_national_codes_and_chinese_headers_resolve() -> None:
    result = run(
        [
            {
                "setl_id": "S1",
                "性别": "女",
                "年龄": "30",
                "入院时间": "2024-03-01 09:00:00",
                "dscg_time": "2024-03-04 10:00:00",
                "诊断代码": "O80.000",
                "手术操作代码": "",
                "医疗费总额": "3200.5",
                "定点医药机构编号": "H0001",
            }
        ]
    )
    row = result.clean.to_pylist()[0]
    assert row["claim_id"] == "S1" and row["sex"] == 2 and row["age_years"] == 30.0
    assert row["admit_date"] == dt.date(2024, 3, 1) and row["los_days"] == 3
    assert row["total_cost"] == Decimal("3200.50") and row["hospital_id"] == "H0001"


def test_text_columns_are_stripped_and_empty_becomes_null() -> None:
    result = one(claim_id="  C9 ", psn_no=" ", dept=" 0301 ")
    row = result.clean.to_pylist()[0]
    assert row["claim_id"] == "C9" and row["patient_id"] is None and row["dept"] == "0301"


# --- code lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("A01.001", ["A01.001"]),
        ("A01,B02", ["A01", "B02"]),
        ("A01|B02", ["A01", "B02"]),
        ("A01, B02 | C03", ["A01", "B02", "C03"]),
        (" A01 ,, |B02|", ["A01", "B02"]),
        ("\u3000A01\u3000|B02", ["A01", "B02"]),  # ideographic spaces
        ("k80.100X001", ["k80.100X001"]),  # case is kept
        ("", []),
        ("  ", []),
        (None, []),
        (",|", []),
    ],
)
def test_text_code_lists_split_on_comma_and_pipe(text: str | None, codes: list[str]) -> None:
    assert value("diagnoses", dx=text) == codes


def test_principal_diagnosis_stays_first() -> None:
    assert value("diagnoses", dx="Z51.1|C34.9,J18.9") == ["Z51.1", "C34.9", "J18.9"]


def test_list_columns_are_cleaned_and_items_cast_to_text() -> None:
    rows = [
        {**BASE, "claim_id": "1", "dx": [" A01 ", "", None, "B02"], "px": [1, 2]},
        {**BASE, "claim_id": "2", "dx": None, "px": None},
    ]
    result = run(rows, {"dx": pa.list_(pa.string()), "px": pa.list_(pa.int64())})
    assert result.clean.column("diagnoses").to_pylist() == [["A01", "B02"], []]
    assert result.clean.column("procedures").to_pylist() == [["1", "2"], []]


def test_struct_code_list_is_a_column_type_error() -> None:
    raw = pa.table(
        {
            "claim_id": ["1"],
            "sex": ["1"],
            "age": ["1"],
            "dx": pa.array([{"code": "A01"}]),
            "px": [""],
        }
    )
    with pytest.raises(ColumnTypeError, match="diagnoses"):
        normalize_claims(raw)


def test_numeric_code_list_is_a_column_type_error() -> None:
    # 51.2300 stored as a number would silently become the wrong code "51.23".
    with pytest.raises(ColumnTypeError, match="list of codes"):
        run([{**BASE, "px": 51.23}], {"px": pa.float64()})


def test_utf8_bytes_columns_are_read_as_text() -> None:
    rows = [{**BASE, "claim_id": "甲1".encode(), "dx": b"A01|B02"}]
    result = run(rows, {"claim_id": pa.binary(), "dx": pa.binary()})
    assert result.clean.column("claim_id").to_pylist() == ["甲1"]
    assert result.clean.column("diagnoses").to_pylist() == [["A01", "B02"]]
    with pytest.raises(ColumnTypeError, match="not UTF-8"):
        run([{**BASE, "claim_id": b"\xff"}], {"claim_id": pa.binary()})


# --- sex -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_sex", "expected"),
    [
        ("1", 1), ("2", 2), ("1.0", 1), ("2.0", 2),
        ("男", 1), ("女", 2),
        ("M", 1), ("F", 2), ("m", 1), ("f", 2),
        ("male", 1), ("FEMALE", 2), ("Male", 1), (" 2 ", 2),
        ("0", 0), ("3", 0), ("9", 0), ("x", 0), ("未知", 0), ("01", 0),
        ("", None), ("  ", None), (None, None),
    ],
)
def test_sex_mapping_from_text(given_sex: str | None, expected: int | None) -> None:
    assert value("sex", sex=given_sex) == expected


@pytest.mark.parametrize(
    ("arrow_type", "given_sex", "expected"),
    [
        (pa.int64(), 1, 1),
        (pa.int8(), 2, 2),
        (pa.int64(), 3, 0),
        (pa.int64(), None, None),
        (pa.float64(), 1.0, 1),
        (pa.float64(), 2.0, 2),
        (pa.float64(), 1.5, 0),
        (pa.float64(), float("nan"), None),
    ],
)
def test_sex_mapping_from_numbers(arrow_type: pa.DataType, given_sex: Any, expected: Any) -> None:
    result = run([{**BASE, "sex": given_sex}], {"sex": arrow_type})
    assert result.clean.column("sex").to_pylist() == [expected]


# --- numbers -------------------------------------------------------------------------------------


def test_numbers_parse_and_missing_stays_null() -> None:
    row = one(age="0", age_days="12", weight="2450.5", vent_hours="96", los="3").clean.to_pylist()
    assert row[0]["age_years"] == 0.0 and row[0]["age_days"] == 12
    assert row[0]["birth_weight_g"] == 2450.5 and row[0]["ventilation_hours"] == 96.0
    assert row[0]["los_days"] == 3
    assert value("age_years", age="") is None
    assert value("age_years", age="-3.5") == -3.5  # negatives pass; the grouper decides
    assert value("age_days", age_days="12.0") == 12


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"age": "abc"}, "age_years", "age_years: 'abc' is not a number"),
        ({"age": "4 5"}, "age_years", "age_years: '4 5' is not a number"),
        ({"age": "nan"}, "age_years", "age_years: 'nan' is not a finite number"),
        ({"age_days": "12.5"}, "age_days", "age_days: '12.5' is not a whole number"),
        ({"age_days": "9999999999"}, "age_days", "age_days: '9999999999' is out of range"),
        ({"weight": "2.4kg"}, "birth_weight_g", "birth_weight_g: '2.4kg' is not a number"),
        ({"los": "3天"}, "los_days", "los_days: '3天' is not a number"),
        ({"vent_hours": "1d2h"}, "ventilation_hours", "ventilation_hours: '1d2h' is not a number"),
        ({"cost": "1,234.00"}, "total_cost", "total_cost: '1,234.00' is not a number"),
    ],
)
def test_bad_numbers_are_rejected_with_field_and_value(
    overrides: dict[str, str], field: str, message: str
) -> None:
    reject = single_reject(**overrides)
    assert reject["reason_code"] == RejectReason.BAD_NUMBER
    assert reject["field"] == field
    assert reject["message"] == message
    assert reject["row_number"] == 1 and reject["claim_id"] == "C1"


def test_first_bad_number_in_column_order_is_reported() -> None:
    reject = single_reject(cost="x", age="y")
    assert reject["field"] == "age_years"


@pytest.mark.parametrize(
    ("text", "amount"),
    [("12.3", "12.30"), ("12.345", "12.35"), ("-12.345", "-12.35"), ("1e3", "1000.00")],
)
def test_total_cost_is_decimal_rounded_half_up(text: str, amount: str) -> None:
    assert value("total_cost", cost=text) == Decimal(amount)


def test_typed_numeric_columns() -> None:
    rows = [
        {**BASE, "claim_id": "1", "age": 45, "age_days": 3.0, "cost": 10.005, "los": 4},
        {**BASE, "claim_id": "2", "age": None, "age_days": None, "cost": None, "los": None},
    ]
    result = run(
        rows,
        {"age": pa.int64(), "age_days": pa.float64(), "cost": pa.float64(), "los": pa.int64()},
    )
    assert result.rejects.num_rows == 0
    clean = result.clean.to_pydict()
    assert clean["age_years"] == [45.0, None] and clean["age_days"] == [3, None]
    assert clean["los_days"] == [4, None]
    assert clean["total_cost"][1] is None


def test_typed_float_nan_is_missing_but_infinity_is_bad() -> None:
    rows = [
        {**BASE, "claim_id": "1", "age": float("nan")},
        {**BASE, "claim_id": "2", "age": float("inf")},
        {**BASE, "claim_id": "3", "age": 40.0, "age_days": 1.5},
    ]
    result = run(rows, {"age": pa.float64(), "age_days": pa.float64()})
    assert result.clean.column("age_years").to_pylist() == [None]
    rejects = result.rejects.to_pylist()
    assert [r["row_number"] for r in rejects] == [2, 3]
    assert rejects[0]["message"] == "age_years: 'inf' is not a finite number"
    assert rejects[1]["message"] == "age_days: '1.5' is not a whole number"


def test_typed_decimal_amounts() -> None:
    rows = [{**BASE, "cost": Decimal("99.999")}]
    result = run(rows, {"cost": pa.decimal128(10, 3)})
    assert result.clean.column("total_cost").to_pylist() == [Decimal("100.00")]


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-05",
        "2024-01-05 10:30:00",
        "2024-01-05T10:30:00",
        "2024-01-05 10:30:00.250",
        "2024/01/05",
        "2024/01/05 10:30:00",
        "20240105",
        " 2024-01-05 ",
    ],
)
def test_every_accepted_date_text_format(text: str) -> None:
    assert value("admit_date", admit_date=text) == dt.date(2024, 1, 5)


def test_mixed_date_formats_in_one_column() -> None:
    dates = ["20240105", "2024-01-06 08:00:00", "2024/01/07", None, "2024-01-08"]
    rows = [{**BASE, "claim_id": str(i), "admit_date": d} for i, d in enumerate(dates)]
    result = run(rows)
    assert result.clean.column("admit_date").to_pylist() == [
        dt.date(2024, 1, 5), dt.date(2024, 1, 6), dt.date(2024, 1, 7), None, dt.date(2024, 1, 8)
    ]


def test_typed_dates_and_timestamps() -> None:
    rows = [
        {
            **BASE,
            "admit_date": dt.date(2024, 1, 5),
            "discharge_date": dt.datetime(2024, 1, 7, 23, 59),
        }
    ]
    result = run(rows, {"admit_date": pa.date32(), "discharge_date": pa.timestamp("ms")})
    row = result.clean.to_pylist()[0]
    assert row["admit_date"] == dt.date(2024, 1, 5)
    assert row["discharge_date"] == dt.date(2024, 1, 7)
    assert row["los_days"] == 2


@pytest.mark.parametrize("text", ["2024-13-01", "2024-02-30", "05/01/2024", "yesterday", "2024"])
def test_bad_dates_are_rejected(text: str) -> None:
    reject = single_reject(discharge_date=text)
    assert reject["reason_code"] == RejectReason.BAD_DATE
    assert reject["field"] == "discharge_date"
    assert reject["message"].startswith(f"discharge_date: '{text}' is not a date")


# --- length of stay ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("admit", "discharge", "los", "expected"),
    [
        ("2024-01-05", "2024-01-09", None, 4),
        ("2024-01-05", "2024-01-05", None, 1),  # same-day stay counts one day
        ("2024-01-05 08:00:00", "2024-01-05 17:00:00", None, 1),
        ("2024-01-05", "2024-01-09", "7", 7),  # a given LOS wins over the dates
        ("2024-01-05", None, None, None),
        (None, "2024-01-05", None, None),
        (None, None, "0", 0),
    ],
)
def test_los_is_derived_only_when_missing(
    admit: str | None, discharge: str | None, los: str | None, expected: int | None
) -> None:
    assert value("los_days", admit_date=admit, discharge_date=discharge, los=los) == expected


def test_negative_los_is_rejected() -> None:
    reject = single_reject(los="-2")
    assert reject["reason_code"] == RejectReason.NEGATIVE_LOS
    assert reject["field"] == "los_days"
    assert reject["message"] == "los_days -2 is negative"


def test_discharge_before_admission_is_rejected() -> None:
    reject = single_reject(admit_date="2024-01-05", discharge_date="2024-01-03 09:00:00")
    assert reject["reason_code"] == RejectReason.DISCHARGE_BEFORE_ADMISSION
    assert reject["field"] == "discharge_date"
    assert reject["message"] == "discharge_date 2024-01-03 is before admit_date 2024-01-05"


# --- claim ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("claim_id", [None, "", "   "])
def test_missing_claim_id_is_rejected(claim_id: str | None) -> None:
    reject = single_reject(claim_id=claim_id)
    assert reject["reason_code"] == RejectReason.MISSING_CLAIM_ID
    assert reject["field"] == "claim_id" and reject["claim_id"] is None
    assert reject["message"] == "claim_id is missing or empty"


def test_duplicate_claim_id_keeps_first_and_names_its_row() -> None:
    rows = [
        {**BASE, "claim_id": "A"},
        {**BASE, "claim_id": "B"},
        {**BASE, "claim_id": "A", "age": "50"},
        {**BASE, "claim_id": " A "},
    ]
    result = run(rows)
    assert result.clean.column("row_number").to_pylist() == [1, 2]
    assert result.clean.column("age_years").to_pylist() == [40.0, 40.0]
    rejects = result.rejects.to_pylist()
    assert [r["row_number"] for r in rejects] == [3, 4]
    assert {r["reason_code"] for r in rejects} == {RejectReason.DUPLICATE_CLAIM_ID}
    assert rejects[0]["field"] == "claim_id"
    assert rejects[0]["message"] == (
        "claim_id 'A' already appears on row 1 (the first occurrence is kept)"
    )


def test_duplicate_of_a_rejected_row_is_kept() -> None:
    rows = [
        {**BASE, "claim_id": "A", "age": "bad"},
        {**BASE, "claim_id": "A"},
        {**BASE, "claim_id": "A"},
    ]
    result = run(rows)
    assert result.clean.column("row_number").to_pylist() == [2]
    rejects = result.rejects.to_pylist()
    assert [(r["row_number"], r["reason_code"]) for r in rejects] == [
        (1, RejectReason.BAD_NUMBER),
        (3, RejectReason.DUPLICATE_CLAIM_ID),
    ]
    assert "row 2" in rejects[1]["message"]


def test_claim_ids_are_case_sensitive() -> None:
    result = run([{**BASE, "claim_id": "a"}, {**BASE, "claim_id": "A"}])
    assert result.clean.num_rows == 2


def test_integer_claim_ids_become_text() -> None:
    result = run([{**BASE, "claim_id": 7}], {"claim_id": pa.int64()})
    assert result.clean.column("claim_id").to_pylist() == ["7"]


# --- reject precedence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"claim_id": "", "age": "x", "admit_date": "bad"}, RejectReason.MISSING_CLAIM_ID),
        ({"age": "x", "admit_date": "bad", "los": "-1"}, RejectReason.BAD_NUMBER),
        ({"admit_date": "bad", "los": "-1"}, RejectReason.BAD_DATE),
        (
            {"los": "-1", "admit_date": "2024-01-05", "discharge_date": "2024-01-01"},
            RejectReason.NEGATIVE_LOS,
        ),
    ],
)
def test_first_problem_in_order_is_reported(
    overrides: dict[str, str], reason: RejectReason
) -> None:
    assert single_reject(**overrides)["reason_code"] == reason


def test_rows_keep_input_order_and_row_numbers() -> None:
    ids = ["5", "3", "", "9", "1"]
    result = run([{**BASE, "claim_id": i} for i in ids])
    assert result.clean.column("claim_id").to_pylist() == ["5", "3", "9", "1"]
    assert result.clean.column("row_number").to_pylist() == [1, 2, 4, 5]
    assert result.rejects.column("row_number").to_pylist() == [3]


# --- conservation property -----------------------------------------------------------------------

GOOD_AGE, BAD_AGE = ["40", "0", "", None, "-1", "7.5"], ["abc", "1..2", "nan"]
GOOD_DATE, BAD_DATE = ["2024-01-05", "20240110", "2024/01/03 08:00:00", None], ["2024-99-01"]
GOOD_LOS, BAD_LOS = ["3", "0", None, "12.0"], ["x", "1.5"]

row_strategy_names = ["claim_id", "sex", "age", "admit_date", "discharge_date", "los", "dx", "px"]
row_strategy = st.fixed_dictionaries(
    {
        "claim_id": st.sampled_from(["A", "B", "C", "D", "", None, " B "]),
        "sex": st.sampled_from(["1", "2", "男", "x", None]),
        "age": st.sampled_from(GOOD_AGE + BAD_AGE),
        "admit_date": st.sampled_from(GOOD_DATE + BAD_DATE),
        "discharge_date": st.sampled_from(GOOD_DATE + BAD_DATE),
        "los": st.sampled_from([*GOOD_LOS, *BAD_LOS, "-4"]),
        "dx": st.sampled_from(["A01", "A01|B02", "", None, " ,C03"]),
        "px": st.sampled_from(["", "51.23", None]),
    }
)


def _parse_date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    return {
        "2024-01-05": dt.date(2024, 1, 5),
        "20240110": dt.date(2024, 1, 10),
        "2024/01/03 08:00:00": dt.date(2024, 1, 3),
    }[text]


def _expected_reason(row: dict[str, Any], kept_ids: set[str]) -> RejectReason | None:
    """An independent, row-at-a-time statement of the reject rules."""
    claim_id = (row["claim_id"] or "").strip()
    if not claim_id:
        return RejectReason.MISSING_CLAIM_ID
    if row["age"] in BAD_AGE or row["los"] in BAD_LOS:
        return RejectReason.BAD_NUMBER
    if row["admit_date"] in BAD_DATE or row["discharge_date"] in BAD_DATE:
        return RejectReason.BAD_DATE
    if row["los"] == "-4":
        return RejectReason.NEGATIVE_LOS
    admit, discharge = _parse_date(row["admit_date"]), _parse_date(row["discharge_date"])
    if admit and discharge and discharge < admit:
        return RejectReason.DISCHARGE_BEFORE_ADMISSION
    if claim_id in kept_ids:
        return RejectReason.DUPLICATE_CLAIM_ID
    kept_ids.add(claim_id)
    return None


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, max_size=25))
def test_every_row_is_either_clean_or_rejected(rows: list[dict[str, Any]]) -> None:
    columns = {name: pa.array([r[name] for r in rows], pa.string()) for name in row_strategy_names}
    result = normalize_claims(pa.table(columns))

    assert result.clean.num_rows + result.rejects.num_rows == len(rows)
    clean_rows = result.clean.column("row_number").to_pylist()
    reject_rows = result.rejects.column("row_number").to_pylist()
    assert clean_rows == sorted(clean_rows) and reject_rows == sorted(reject_rows)
    assert sorted(clean_rows + reject_rows) == list(range(1, len(rows) + 1))
    clean_ids = result.clean.column("claim_id").to_pylist()
    assert len(set(clean_ids)) == len(clean_ids)
    assert result.clean.schema.equals(CLAIM_SCHEMA)

    kept: set[str] = set()
    expected = [_expected_reason(row, kept) for row in rows]
    actual: list[RejectReason | None] = [None] * len(rows)
    for reject in result.rejects.to_pylist():
        actual[reject["row_number"] - 1] = RejectReason(reject["reason_code"])
    assert actual == expected

