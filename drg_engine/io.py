"""Read and write claim tables: Parquet, Arrow IPC/Feather, JSON Lines or CSV, by file extension.

CSV is read with every column as text so that validation, not the reader, decides what is a bad
number or date and can report it per row. Writes are atomic: a temp file in the target folder,
then `os.replace`, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.json as pajson
import pyarrow.parquet as pq

from drg_engine.errors import InputFileNotFoundError, InputFormatError, OutputPathError

FORMATS: dict[str, str] = {
    ".parquet": "parquet",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".csv.gz": "csv",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(FORMATS)
LIST_SEPARATOR = "|"

_HEADER_PROBE_BYTES = 1 << 16


def file_format(path: str | os.PathLike[str]) -> str:
    """The format implied by a file name: "parquet", "ipc", "jsonl" or "csv"."""
    name = Path(path).name.lower()
    for extension in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(extension):
            return FORMATS[extension]
    raise InputFormatError(
        f"{path}: unsupported file type; use one of {', '.join(SUPPORTED_EXTENSIONS)}"
    )


def claims_file(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """The path of an existing claims file and its format; a clear error otherwise."""
    source = Path(path)
    kind = file_format(source)
    if not source.exists():
        raise InputFileNotFoundError(f"claims file not found: {source}")
    if source.is_dir():
        raise InputFormatError(f"{source} is a folder; give the path of a claims file")
    return source, kind


def read_claims(path: str | os.PathLike[str]) -> pa.Table:
    """Read a claims file into an Arrow table.

    CSV must be UTF-8 (a BOM is fine) and every column comes back as text. Raises
    `InputFormatError` for an unsupported extension or unreadable content and
    `InputFileNotFoundError` for a missing file.
    """
    source, kind = claims_file(path)
    readers: dict[str, Callable[[Path], pa.Table]] = {
        "parquet": pq.read_table,
        "ipc": _read_ipc,
        "jsonl": _read_jsonl,
        "csv": _read_csv,
    }
    try:
        return readers[kind](source)
    except (pa.ArrowException, pl.exceptions.PolarsError, OSError, ValueError) as exc:
        hint = ""
        if "utf8" in str(exc).lower().replace("-", ""):
            hint = " (the file must be UTF-8; re-save GBK/GB18030 files as UTF-8)"
        raise InputFormatError(f"{source}: cannot be read as {kind}: {exc}{hint}") from None


def _read_ipc(path: Path) -> pa.Table:
    try:
        return feather.read_table(path, memory_map=False)
    except pa.ArrowInvalid:
        # Not the IPC file format (.arrow / Feather v2); try the IPC stream format.
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_stream(source).read_all()


def _read_jsonl(path: Path) -> pa.Table:
    with path.open("rb") as handle:
        if not handle.read(1):
            raise InputFormatError(f"{path}: the file is empty (expected one JSON object a line)")
    return pajson.read_json(path)


def _read_csv_header(path: Path) -> list[str]:
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(_HEADER_PROBE_BYTES)
        while head.count(b"\n") == 0 and (more := stream.read(_HEADER_PROBE_BYTES)):
            head += more
    # A multi-byte character may be cut at the probe's end; only the first line matters.
    text = head.decode("utf-8-sig", errors="ignore")
    try:
        header = next(csv.reader(io.StringIO(text)))
    except StopIteration:
        raise InputFormatError(f"{path}: the file is empty (expected a header line)") from None
    return header


def _read_csv(path: Path) -> pa.Table:
    header = _read_csv_header(path)
    # Placeholder names keep duplicate headers apart while reading; the real names (duplicates
    # included, so validation can report them) are put back afterwards.
    placeholders = [f"c{i}" for i in range(len(header))]
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=placeholders, skip_rows=1),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(placeholders, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    return table.rename_columns(header)


def _read_umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = _read_umask()


def publish(temp: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move a finished temporary file into place with the permissions of a plain ``open``.

    ``mkstemp`` creates files readable by the owner only; outputs are meant to be shared.
    """
    os.chmod(temp, 0o666 & ~_UMASK)
    os.replace(temp, target)


def default_rejects_path(output: Path) -> Path:
    """Where rejects go when not named: OUT with ``.rejects`` before its extension(s)."""
    suffixes = "".join(output.suffixes)
    stem = output.name[: -len(suffixes)] if suffixes else output.name
    return output.with_name(f"{stem}.rejects{suffixes or '.csv'}")


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write a table in the format its extension implies, atomically.

    List columns become `|`-joined text in CSV and JSON arrays in JSON Lines.
    """
    target = Path(path)
    kind = file_format(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {target}: folder {folder} does not exist")
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(descriptor)
    temp = Path(temp_name)
    try:
        if kind == "parquet":
            pq.write_table(table, temp)
        elif kind == "ipc":
            with pa.OSFile(str(temp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
                out.write_table(table)
        elif kind == "jsonl":
            _as_polars(table).write_ndjson(temp)
        else:
            _write_csv(table, temp, gzip=target.name.lower().endswith(".gz"))
        publish(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _as_polars(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _write_csv(table: pa.Table, path: Path, *, gzip: bool) -> None:
    columns = [
        _join_list(column) if _is_list(column.type) else column for column in table.columns
    ]
    flat = pa.table(columns, names=table.column_names)
    if gzip:
        with pa.CompressedOutputStream(str(path), "gzip") as sink:
            pacsv.write_csv(flat, sink)
    else:
        pacsv.write_csv(flat, path)


def _is_list(arrow_type: pa.DataType) -> bool:
    return pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)


def _join_list(column: pa.ChunkedArray) -> pa.ChunkedArray:
    as_text = column.cast(pa.list_(pa.string()))
    return pc.binary_join(as_text, LIST_SEPARATOR)
