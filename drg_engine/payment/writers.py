"""Write the payment tables: Parquet / Arrow / JSON Lines / CSV through `drg_engine.io`, Excel here.

Excel (``.xlsx``, written with xlsxwriter) is for the people who check the numbers by hand:
money as numbers formatted ``#,##0.00`` (Excel keeps doubles, which hold every amount below
10^13 yuan to the fen), dates as dates, a frozen header row and an autofilter. A sheet holds at
most 1,048,575 data rows; larger tables must go to Parquet or CSV. Writes are atomic.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from drg_engine.errors import OutputPathError
from drg_engine.io import file_format, write_table

EXCEL_SUFFIXES = (".xlsx",)
EXCEL_MAX_ROWS = 1_048_575


def is_excel(path: Path) -> bool:
    return path.name.lower().endswith(EXCEL_SUFFIXES)


def check_output_path(path: Path) -> None:
    """Raise `InputFormatError` / `OutputPathError` now if ``path`` cannot be written later."""
    if not is_excel(path):
        file_format(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {path}: folder {folder} does not exist")


def sibling_path(output: Path, label: str) -> Path:
    """``out/pay.parquet`` -> ``out/pay.<label>.parquet`` (``.csv.gz`` stays whole)."""
    name = output.name
    lower = name.lower()
    for suffix in (".csv.gz", *EXCEL_SUFFIXES, ".parquet", ".arrow", ".ipc", ".feather",
                   ".jsonl", ".ndjson", ".csv"):
        if lower.endswith(suffix):
            return output.with_name(f"{name[: -len(suffix)]}.{label}{name[-len(suffix):]}")
    return output.with_name(f"{name}.{label}")


def write_payment_table(
    table: pa.Table, path: Path, *, sheet: str, about: Mapping[str, Any] | None = None
) -> None:
    """Write one table in the format its extension names (``.xlsx`` for Excel)."""
    if is_excel(path):
        write_excel(table, path, sheet=sheet, about=about)
    else:
        write_table(table, path)


def write_excel(
    table: pa.Table, path: Path, *, sheet: str, about: Mapping[str, Any] | None = None
) -> None:
    """Write ``table`` to one sheet of a new workbook (plus an ``about`` sheet if given)."""
    import xlsxwriter

    if table.num_rows > EXCEL_MAX_ROWS:
        raise OutputPathError(
            f"cannot write {path}: {table.num_rows:,} rows do not fit an Excel sheet "
            f"({EXCEL_MAX_ROWS:,} at most); write .parquet or .csv instead"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {path}: folder {folder} does not exist")
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(descriptor)
    try:
        workbook = xlsxwriter.Workbook(temp_name, {
            "constant_memory": True, "default_date_format": "yyyy-mm-dd",
        })
        bold = workbook.add_format({"bold": True})
        formats = {
            "money": workbook.add_format({"num_format": "#,##0.00"}),
            "units": workbook.add_format({"num_format": "0.0000"}),
            "fine": workbook.add_format({"num_format": "0.00000000"}),
            "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        }
        worksheet = workbook.add_worksheet(sheet)
        for index, field in enumerate(table.schema):
            kind = _column_kind(field.type)
            width = max(len(field.name) + 2, 12)
            worksheet.set_column(index, index, width, formats.get(kind))
        worksheet.write_row(0, 0, table.column_names, bold)
        columns = [_excel_values(table.column(name)) for name in table.column_names]
        for row in range(table.num_rows):
            worksheet.write_row(row + 1, 0, [column[row] for column in columns])
        worksheet.freeze_panes(1, 0)
        worksheet.autofilter(0, 0, max(table.num_rows, 1), max(table.num_columns - 1, 0))
        if about:
            info = workbook.add_worksheet("about")
            info.set_column(0, 0, 28)
            info.set_column(1, 1, 80)
            for row, (key, value) in enumerate(about.items()):
                info.write(row, 0, key, bold)
                info.write(row, 1, str(value))
        workbook.close()
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _column_kind(arrow_type: pa.DataType) -> str | None:
    if pa.types.is_decimal(arrow_type):
        return {2: "money", 4: "units"}.get(arrow_type.scale, "fine")  # type: ignore[attr-defined]
    if pa.types.is_date(arrow_type):
        return "date"
    return None


def _excel_values(column: pa.ChunkedArray) -> list[Any]:
    """Python values for one column; decimals as floats (Excel numbers are doubles)."""
    if pa.types.is_decimal(column.type):
        return [None if v is None else float(v) for v in column.to_pylist()]
    return column.to_pylist()
