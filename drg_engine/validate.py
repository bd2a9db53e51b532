"""Normalise a raw claims table to the canonical schema and split it into clean rows and rejects.

Everything is done with polars over whole columns (no Python loop over rows), so a million CSV
rows normalise in a couple of seconds. Every input row ends up in exactly one of the two
outputs: `clean.num_rows + rejects.num_rows == raw.num_rows`.

Only unparseable or contradictory values are rejected here. Missing or unrecognised sex, age or
weight pass through (as null, or sex 0) because the grouper reports them as CHECK_FAILED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from drg_engine.errors import ColumnTypeError
from drg_engine.schema import (
    CLAIM_SCHEMA,
    REJECT_SCHEMA,
    SEX_FEMALE,
    SEX_MALE,
    SEX_UNRECOGNISED,
    RejectReason,
    resolve_columns,
)

TEXT_COLUMNS = ("claim_id", "patient_id", "hospital_id", "region", "dept", "discharge_way")
# Checked for BAD_NUMBER in this order; the first bad one is reported.
NUMBER_COLUMNS = (
    "age_years",
    "age_days",
    "birth_weight_g",
    "los_days",
    "ventilation_hours",
    "total_cost",
)
FLOAT_COLUMNS = ("age_years", "birth_weight_g", "ventilation_hours")
INTEGER_COLUMNS = ("age_days", "los_days")
DATE_COLUMNS = ("admit_date", "discharge_date")
CODE_LIST_COLUMNS = ("diagnoses", "procedures")

MALE_VALUES = ("1", "1.0", "男", "男性", "m", "male")
FEMALE_VALUES = ("2", "2.0", "女", "女性", "f", "female")

# Tried in this order; the common ones first, because each later format only sees the rows
# that no earlier format could parse. `%.f` also matches no fraction ("10:30:00").
DATE_FORMATS: tuple[tuple[str, bool], ...] = (
    ("%Y-%m-%d", False),
    ("%Y-%m-%d %H:%M:%S%.f", True),
    ("%Y-%m-%dT%H:%M:%S%.f", True),
    ("%Y/%m/%d", False),
    ("%Y/%m/%d %H:%M:%S%.f", True),
    ("%Y%m%d", False),
)
DATE_HINT = "YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD, optionally with a time"

INT32_MAX = 2**31 - 1
WORK_MONEY = pl.Decimal(38, 9)
MONEY = pl.Decimal(18, 2)
EMPTY_CODES = pl.lit([], dtype=pl.List(pl.String))

_REASON_ORDER = list(RejectReason)
_REASON_INDEX = {reason: i for i, reason in enumerate(_REASON_ORDER)}


@dataclass(frozen=True)
class NormalizedClaims:
    """The outcome of `normalize_claims`: canonical clean rows, rejected rows, dropped inputs."""

    clean: pa.Table
    rejects: pa.Table
    ignored_columns: list[str]


def normalize_claims(raw: pa.Table) -> NormalizedClaims:
    """Resolve column aliases, parse every column, and split rows into clean and rejected.

    `los_days`, when missing but both dates are present, is derived as discharge minus admission
    in days with a same-day stay counted as 1 day (the national 实际住院天数 convention).
    Raises `MissingColumnsError` / `AmbiguousColumnsError` for column-level problems and
    `ColumnTypeError` for a column whose Arrow type cannot mean what its name says.
    """
    resolution = resolve_columns(raw.column_names)
    arrays: dict[str, pa.ChunkedArray | pa.Array] = {
        _raw(name): _binary_as_text(name, raw.column(position))
        for name, position in resolution.sources.items()
    }
    # Absent optional columns enter as all-null columns, so the code below has a single path.
    for field in CLAIM_SCHEMA:
        if field.name != "row_number" and field.name not in resolution.sources:
            arrays[_raw(field.name)] = pa.nulls(raw.num_rows, type=pa.null())
    frame = pl.from_arrow(pa.table(arrays))
    assert isinstance(frame, pl.DataFrame)
    kinds = {name: _kind(name, frame.schema[_raw(name)]) for name in CLAIM_SCHEMA.names[1:]}

    # Intermediate columns are materialised stage by stage: a nested expression would repeat
    # its sub-expressions (and their string parsing) at every use.
    frame = frame.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row_number"),
        *(_text(name).alias(name) for name in TEXT_COLUMNS),
        _sex(kinds["sex"]).alias("sex"),
        *(_code_list(name, kinds[name]).alias(name) for name in CODE_LIST_COLUMNS),
        *(
            _text(name).alias(_txt(name))
            for name in (*NUMBER_COLUMNS, *DATE_COLUMNS)
            if kinds[name] == "text"
        ),
    )
    frame = frame.with_columns(
        *(_float(name, kinds[name]).alias(_num(name)) for name in FLOAT_COLUMNS + INTEGER_COLUMNS),
        _money(kinds["total_cost"]).alias("total_cost"),
        *(_date(name, kinds[name]).alias(name) for name in DATE_COLUMNS if kinds[name] != "text"),
    )
    frame = frame.with_columns(
        _parse_text_dates(frame[_txt(name)]).alias(name)
        for name in DATE_COLUMNS
        if kinds[name] == "text"
    )
    frame = frame.with_columns(
        *(_finite(name).alias(name) for name in FLOAT_COLUMNS),
        *(_whole(name).alias(name) for name in INTEGER_COLUMNS),
    )
    frame = frame.with_columns(
        *(
            (_present(name, kinds[name]) & pl.col(name).is_null()).alias(_bad(name))
            for name in NUMBER_COLUMNS + DATE_COLUMNS
        ),
    )
    frame = frame.with_columns(_first_problem().alias("__reason"))
    frame = frame.with_columns(
        pl.when(pl.col("__reason").is_null())
        .then(pl.col("row_number"))
        .min()
        .over("claim_id")
        .alias("__first_kept_row")
    )
    is_duplicate = pl.col("__reason").is_null() & (
        pl.col("row_number") != pl.col("__first_kept_row")
    )
    frame = frame.with_columns(
        pl.when(is_duplicate)
        .then(_code(RejectReason.DUPLICATE_CLAIM_ID))
        .otherwise(pl.col("__reason"))
        .alias("__reason")
    )

    # Derived after the checks: a negative derived stay is already DISCHARGE_BEFORE_ADMISSION.
    stay = (pl.col("discharge_date") - pl.col("admit_date")).dt.total_days()
    derived_los = pl.when(stay == 0).then(pl.lit(1)).otherwise(stay).cast(pl.Int32)
    clean = (
        frame.filter(pl.col("__reason").is_null())
        .with_columns(pl.col("los_days").fill_null(derived_los))
        .select(CLAIM_SCHEMA.names)
    )
    rejects = frame.filter(pl.col("__reason").is_not_null()).select(
        pl.col("row_number"),
        pl.col("claim_id"),
        _reject_field().alias("field"),
        pl.col("__reason")
        .replace_strict(list(_REASON_INDEX.values()), [str(r) for r in _REASON_ORDER])
        .alias("reason_code"),
        _reject_message(kinds).alias("message"),
    )
    return NormalizedClaims(
        clean=clean.to_arrow().cast(CLAIM_SCHEMA),
        rejects=rejects.to_arrow().cast(REJECT_SCHEMA),
        ignored_columns=resolution.ignored_columns,
    )


def _binary_as_text(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Decode byte columns (Parquet writers sometimes omit the UTF-8 annotation) as UTF-8 text."""
    if not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        return column
    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        raise ColumnTypeError(f"{name}: the column holds bytes that are not UTF-8 text") from None


# --- column names of intermediate results --------------------------------------------------------


def _raw(name: str) -> str:
    return f"__raw_{name}"


def _txt(name: str) -> str:
    return f"__txt_{name}"


def _num(name: str) -> str:
    return f"__num_{name}"


def _bad(name: str) -> str:
    return f"__bad_{name}"


# --- parsing -------------------------------------------------------------------------------------


def _kind(name: str, dtype: pl.DataType) -> str:
    """Classify an input column: "null", "text", "float", "number" (other numeric), "date",
    "datetime" or "list"; reject types that cannot mean what the column's name says."""
    if dtype == pl.Null:
        return "null"
    if isinstance(dtype, pl.List | pl.Array):
        nested = isinstance(dtype.inner, pl.List | pl.Array | pl.Struct)
        if name in CODE_LIST_COLUMNS and not nested:
            return "list"
        raise ColumnTypeError(f"{name}: a column of type {dtype} cannot be read as {name}")
    if isinstance(dtype, pl.Struct | pl.Object):
        raise ColumnTypeError(f"{name}: a column of type {dtype} cannot be read as {name}")
    if name in CODE_LIST_COLUMNS and not (dtype == pl.String or _is_categorical(dtype)):
        raise ColumnTypeError(
            f"{name}: a column of type {dtype} cannot be read as a list of codes "
            "(use text like 'A01.001|B02.003' or a list of strings)"
        )
    if dtype.is_float():
        return "float"
    if dtype.is_numeric():
        return "number"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    # Text, categoricals, booleans, times...: read as text, so unusable values get a message.
    return "text"


def _is_categorical(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Categorical | pl.Enum)


def _text(name: str) -> pl.Expr:
    """The raw column as stripped text; empty text becomes null."""
    text = pl.col(_raw(name)).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text)


def _present(name: str, kind: str) -> pl.Expr:
    """Whether the input had a value (empty text and NaN count as missing)."""
    if kind == "text":
        return pl.col(_txt(name)).is_not_null()
    if name in FLOAT_COLUMNS + INTEGER_COLUMNS:
        return pl.col(_num(name)).is_not_null()
    column = pl.col(_raw(name))
    return column.fill_nan(None).is_not_null() if kind == "float" else column.is_not_null()


def _float(name: str, kind: str) -> pl.Expr:
    """Float64 of the input, null where missing or unparseable, NaN as missing."""
    if kind == "text":
        return pl.col(_txt(name)).cast(pl.Float64, strict=False)
    number = pl.col(_raw(name)).cast(pl.Float64)
    return number.fill_nan(None) if kind == "float" else number


def _finite(name: str) -> pl.Expr:
    number = pl.col(_num(name))
    return pl.when(number.is_finite()).then(number)


def _whole(name: str) -> pl.Expr:
    """Int32 where the number is whole and in range ("12" and 12.0 are fine, 12.5 is not)."""
    number = pl.col(_num(name))
    usable = (number == number.floor()) & (number.abs() <= INT32_MAX)
    return pl.when(usable).then(number).cast(pl.Int32)


def _money(kind: str) -> pl.Expr:
    """decimal(18, 2), rounded half away from zero (四舍五入) to the fen."""
    if kind == "text":
        wide = pl.col(_txt("total_cost")).cast(WORK_MONEY, strict=False)
    elif kind == "float":
        wide = pl.col(_raw("total_cost")).fill_nan(None).cast(WORK_MONEY, strict=False)
    else:
        wide = pl.col(_raw("total_cost")).cast(WORK_MONEY, strict=False)
    return wide.round(2, mode="half_away_from_zero").cast(MONEY, strict=False)


def _date(name: str, kind: str) -> pl.Expr:
    """Typed (non-text) input to a date; other types are classified as text upstream."""
    column = pl.col(_raw(name))
    if kind == "datetime":
        return column.dt.date()
    if kind in ("number", "float"):
        # 20240105 stored as a number: read its digits as YYYYMMDD.
        digits = column.cast(pl.Int64, strict=False).cast(pl.String)
        return digits.str.to_date("%Y%m%d", strict=False)
    return column.cast(pl.Date)


def _parse_text_dates(text: pl.Series) -> pl.Series:
    """Parse stripped text with the accepted formats, each later one only on the leftovers."""
    result = pl.repeat(None, len(text), dtype=pl.Date, eager=True)
    remaining = text.is_not_null()
    for fmt, has_time in DATE_FORMATS:
        positions = remaining.arg_true()
        if positions.is_empty():
            break
        candidates = text.gather(positions)
        if has_time:
            parsed = candidates.str.to_datetime(fmt, strict=False).dt.date()
        else:
            parsed = candidates.str.to_date(fmt, strict=False)
        ok = parsed.is_not_null()
        result = result.scatter(positions.filter(ok), parsed.filter(ok))
        remaining = remaining.scatter(positions.filter(ok), False)
    return result


def _sex(kind: str) -> pl.Expr:
    """1 male, 2 female, 0 present but unrecognised, null missing."""
    if kind in ("number", "float"):
        value = pl.col(_raw("sex")).cast(pl.Float64).fill_nan(None)
        male, female = value == 1, value == 2
    else:
        value = _text("sex").str.to_lowercase()
        male, female = value.is_in(MALE_VALUES), value.is_in(FEMALE_VALUES)
    return (
        pl.when(male)
        .then(pl.lit(SEX_MALE))
        .when(female)
        .then(pl.lit(SEX_FEMALE))
        .when(value.is_not_null())
        .then(pl.lit(SEX_UNRECOGNISED))
        .cast(pl.Int8)
    )


def _code_list(name: str, kind: str) -> pl.Expr:
    """Codes as a list: split text on `,` and `|`, strip each token, drop empties; keep case."""
    column = pl.col(_raw(name))
    if kind == "list":
        tokens = column.cast(pl.List(pl.String))
    else:
        tokens = column.cast(pl.String).str.replace_all("|", ",", literal=True).str.split(",")
    cleaned = tokens.list.eval(pl.element().str.strip_chars()).list.eval(
        pl.element().filter(pl.element() != "")
    )
    return cleaned.fill_null(EMPTY_CODES)


# --- reject rules --------------------------------------------------------------------------------


def _code(reason: RejectReason) -> pl.Expr:
    return pl.lit(_REASON_INDEX[reason], dtype=pl.UInt8)


def _is(reason: RejectReason) -> pl.Expr:
    return pl.col("__reason") == _code(reason)


def _any_bad(names: tuple[str, ...]) -> pl.Expr:
    return pl.any_horizontal([pl.col(_bad(name)) for name in names])


def _first_problem() -> pl.Expr:
    """The first row-level problem (an index into RejectReason); duplicates come later."""
    return (
        pl.when(pl.col("claim_id").is_null())
        .then(_code(RejectReason.MISSING_CLAIM_ID))
        .when(_any_bad(NUMBER_COLUMNS))
        .then(_code(RejectReason.BAD_NUMBER))
        .when(_any_bad(DATE_COLUMNS))
        .then(_code(RejectReason.BAD_DATE))
        .when(pl.col("los_days") < 0)
        .then(_code(RejectReason.NEGATIVE_LOS))
        .when(pl.col("discharge_date") < pl.col("admit_date"))
        .then(_code(RejectReason.DISCHARGE_BEFORE_ADMISSION))
    )


def _first_bad(names: tuple[str, ...], make: Callable[[str], pl.Expr]) -> pl.Expr:
    """`make(name)` for the first of `names` whose value is bad."""
    chain = pl.when(pl.col(_bad(names[0]))).then(make(names[0]))
    for name in names[1:]:
        chain = chain.when(pl.col(_bad(name))).then(make(name))
    return chain


def _reject_field() -> pl.Expr:
    return (
        pl.when(_is(RejectReason.MISSING_CLAIM_ID) | _is(RejectReason.DUPLICATE_CLAIM_ID))
        .then(pl.lit("claim_id"))
        .when(_is(RejectReason.BAD_NUMBER))
        .then(_first_bad(NUMBER_COLUMNS, pl.lit))
        .when(_is(RejectReason.BAD_DATE))
        .then(_first_bad(DATE_COLUMNS, pl.lit))
        .when(_is(RejectReason.NEGATIVE_LOS))
        .then(pl.lit("los_days"))
        .when(_is(RejectReason.DISCHARGE_BEFORE_ADMISSION))
        .then(pl.lit("discharge_date"))
    )


def _problem(name: str, kind: str) -> pl.Expr:
    """Why a present value of `name` is unusable (evaluated on rejected rows only)."""
    if name in DATE_COLUMNS:
        return pl.lit(f"is not a date (expected {DATE_HINT})")
    if name == "total_cost":
        as_number = _shown_value(name, kind).cast(pl.Float64, strict=False)
        return (
            pl.when(as_number.is_finite())
            .then(pl.lit("is out of range for an amount (at most 16 digits before the point)"))
            .otherwise(pl.lit("is not a number"))
        )
    number = pl.col(_num(name))
    problem = (
        pl.when(number.is_null())
        .then(pl.lit("is not a number"))
        .when(~number.is_finite())
        .then(pl.lit("is not a finite number"))
    )
    if name in INTEGER_COLUMNS:
        problem = (
            problem.when(number != number.floor())
            .then(pl.lit("is not a whole number"))
            .otherwise(pl.lit("is out of range"))
        )
    return problem


def _shown_value(name: str, kind: str) -> pl.Expr:
    return pl.col(_txt(name)) if kind == "text" else pl.col(_raw(name)).cast(pl.String)


def _reject_message(kinds: dict[str, str]) -> pl.Expr:
    def bad_value(name: str) -> pl.Expr:
        return pl.format(
            f"{name}: '{{}}' {{}}", _shown_value(name, kinds[name]), _problem(name, kinds[name])
        )

    return (
        pl.when(_is(RejectReason.MISSING_CLAIM_ID))
        .then(pl.lit("claim_id is missing or empty"))
        .when(_is(RejectReason.BAD_NUMBER))
        .then(_first_bad(NUMBER_COLUMNS, bad_value))
        .when(_is(RejectReason.BAD_DATE))
        .then(_first_bad(DATE_COLUMNS, bad_value))
        .when(_is(RejectReason.NEGATIVE_LOS))
        .then(pl.format("los_days {} is negative", pl.col("los_days")))
        .when(_is(RejectReason.DISCHARGE_BEFORE_ADMISSION))
        .then(
            pl.format(
                "discharge_date {} is before admit_date {}",
                pl.col("discharge_date"),
                pl.col("admit_date"),
            )
        )
        .when(_is(RejectReason.DUPLICATE_CLAIM_ID))
        .then(
            pl.format(
                "claim_id '{}' already appears on row {} (the first occurrence is kept)",
                pl.col("claim_id"),
                pl.col("__first_kept_row"),
            )
        )
    )
