"""Tests of the claim schema contract, alias resolution, and reading/writing claim files."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import stat
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from drg_engine.errors import (
    AmbiguousColumnsError,
    DrgEngineError,
    InputFileNotFoundError,
    InputFormatError,
    MissingColumnsError,
    OutputPathError,
)
from drg_engine.io import SUPPORTED_EXTENSIONS, read_claims, write_table
from drg_engine.schema import (
    CANONICAL_COLUMNS,
    CLAIM_SCHEMA,
    COLUMN_ALIASES,
    REJECT_SCHEMA,
    REQUIRED_COLUMNS,
    RESULT_COLUMNS,
    canonical_name_for,
    resolve_columns,
)
from drg_engine.validate import normalize_claims

# --- schema contract -----------------------------------------------------------------------------


def test_claim_schema_is_the_documented_contract() -> None:
    expected = [
        ("row_number", pa.int64()),
        ("claim_id", pa.string()),
        ("patient_id", pa.string()),
        ("hospital_id", pa.string()),
        ("region", pa.string()),
        ("dept", pa.string()),
        ("discharge_way", pa.string()),
        ("sex", pa.int8()),
        ("age_years", pa.float64()),
        ("age_days", pa.int32()),
        ("birth_weight_g", pa.float64()),
        ("admit_date", pa.date32()),
        ("discharge_date", pa.date32()),
        ("los_days", pa.int32()),
        ("ventilation_hours", pa.float64()),
        ("diagnoses", pa.list_(pa.string())),
        ("procedures", pa.list_(pa.string())),
        ("total_cost", pa.decimal128(18, 2)),
    ]
    assert [(f.name, f.type) for f in CLAIM_SCHEMA] == expected
    assert tuple(name for name, _ in expected) == CANONICAL_COLUMNS
    not_null = {f.name for f in CLAIM_SCHEMA if not f.nullable}
    assert not_null == {"row_number", "claim_id", "diagnoses", "procedures"}


def test_result_and_reject_schemas() -> None:
    assert RESULT_COLUMNS == [
        "claim_id", "status", "mdc", "adrg", "drg", "drg_name", "severity", "reason", "rule_set"
    ]
    assert [(f.name, f.type) for f in REJECT_SCHEMA] == [
        ("row_number", pa.int64()),
        ("claim_id", pa.string()),
        ("field", pa.string()),
        ("reason_code", pa.string()),
        ("message", pa.string()),
    ]
    assert REQUIRED_COLUMNS == ("claim_id", "sex", "age_years", "diagnoses", "procedures")


def test_every_input_column_has_aliases_including_its_own_name() -> None:
    assert set(COLUMN_ALIASES) == set(CANONICAL_COLUMNS) - {"row_number"}
    for canonical, aliases in COLUMN_ALIASES.items():
        assert canonical in aliases
        for alias in aliases:
            assert canonical_name_for(alias) == canonical


# --- alias resolution ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        # English variants
        ("id", "claim_id"),
        ("case_id", "claim_id"),
        ("gender", "sex"),
        ("age", "age_years"),
        ("age_in_days", "age_days"),
        ("weight", "birth_weight_g"),
        ("birth_weight", "birth_weight_g"),
        ("newborn_weight", "birth_weight_g"),
        ("admission_date", "admit_date"),
        ("discharge", "discharge_date"),
        ("los", "los_days"),
        ("length_of_stay", "los_days"),
        ("dx", "diagnoses"),
        ("diagnosis_codes", "diagnoses"),
        ("px", "procedures"),
        ("procedure_codes", "procedures"),
        ("hospital", "hospital_id"),
        ("hospital_code", "hospital_id"),
        ("department", "dept"),
        ("vent_hours", "ventilation_hours"),
        ("total_charges", "total_cost"),
        ("cost", "total_cost"),
        # national settlement-list field codes
        ("setl_id", "claim_id"),
        ("mdtrt_id", "claim_id"),
        ("psn_no", "patient_id"),
        ("fixmedins_code", "hospital_id"),
        ("gend", "sex"),
        ("nwb_age", "age_days"),
        ("nwb_bir_wt", "birth_weight_g"),
        ("adm_time", "admit_date"),
        ("dscg_time", "discharge_date"),
        ("act_ipt_days", "los_days"),
        ("dscg_way", "discharge_way"),
        ("dscg_caty", "dept"),
        ("medfee_sumamt", "total_cost"),
        # Chinese settlement-list / 病案首页 headers
        ("结算ID", "claim_id"),
        ("人员编号", "patient_id"),
        ("定点医药机构编号", "hospital_id"),
        ("性别", "sex"),
        ("年龄", "age_years"),
        ("年龄(天)", "age_days"),
        ("年龄不足1周岁的年龄(天)", "age_days"),
        ("新生儿年龄(天)", "age_days"),
        ("新生儿出生体重", "birth_weight_g"),
        ("入院时间", "admit_date"),
        ("入院日期", "admit_date"),
        ("出院时间", "discharge_date"),
        ("出院日期", "discharge_date"),
        ("实际住院天数", "los_days"),
        ("住院天数", "los_days"),
        ("离院方式", "discharge_way"),
        ("呼吸机使用时长(小时)", "ventilation_hours"),
        ("出院科别", "dept"),
        ("科室", "dept"),
        ("诊断代码", "diagnoses"),
        ("诊断编码", "diagnoses"),
        ("手术操作代码", "procedures"),
        ("手术编码", "procedures"),
        ("总费用", "total_cost"),
        ("医疗费总额", "total_cost"),
    ],
)
def test_alias_maps_to_canonical_column(header: str, canonical: str) -> None:
    assert canonical_name_for(header) == canonical


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("  Claim_ID ", "claim_id"),
        ("SETL_ID", "claim_id"),
        ("Gender", "sex"),
        ("DX", "diagnoses"),
        ("年龄（天）", "age_days"),  # full-width parentheses, as Chinese exports often have
        ("\t性别\u3000", "sex"),  # tab and ideographic space around the name
    ],
)
def test_alias_matching_ignores_case_whitespace_and_width(header: str, canonical: str) -> None:
    assert canonical_name_for(header) == canonical


@pytest.mark.parametrize("header", ["病案号", "medcasno", "row_number", "vent_used_dura", "备注"])
def test_names_that_are_not_claim_columns(header: str) -> None:
    assert canonical_name_for(header) is None


def test_resolve_columns_reports_positions_and_ignored_names() -> None:
    resolution = resolve_columns(["结算ID", "病案号", "gend", "age", "dx", "px", "extra"])
    assert resolution.sources == {
        "claim_id": 0,
        "sex": 2,
        "age_years": 3,
        "diagnoses": 4,
        "procedures": 5,
    }
    assert resolution.ignored_columns == ["病案号", "extra"]


def test_several_aliases_for_one_column_use_the_first_listed() -> None:
    resolution = resolve_columns(["mdtrt_id", "setl_id", "sex", "age", "dx", "px"])
    assert resolution.sources["claim_id"] == 1
    assert resolution.ignored_columns == ["mdtrt_id"]
    exact = resolve_columns(["setl_id", "claim_id", "sex", "age", "dx", "px"])
    assert exact.sources["claim_id"] == 1
    assert exact.ignored_columns == ["setl_id"]


def test_the_same_header_twice_is_ambiguous() -> None:
    with pytest.raises(AmbiguousColumnsError) as caught:
        resolve_columns(["setl_id", "SETL_ID ", "sex", "age", "dx", "px"])
    message = str(caught.value)
    assert "claim_id" in message
    assert "'setl_id'" in message and "'SETL_ID '" in message


def test_missing_required_columns_lists_each_and_its_aliases() -> None:
    with pytest.raises(MissingColumnsError) as caught:
        resolve_columns(["claim_id", "dx", "px"])
    message = str(caught.value)
    assert "sex" in message and "age_years" in message
    for alias in COLUMN_ALIASES["sex"] + COLUMN_ALIASES["age_years"]:
        assert alias in message
    assert "claim_id:" not in message
    assert isinstance(caught.value, DrgEngineError)


# --- reading and writing -------------------------------------------------------------------------


def _clean_sample() -> pa.Table:
    raw = pa.table(
        {
            "claim_id": ["C1", "C2", "C3"],
            "gender": ["男", "2", ""],
            "age": ["45", "0", "70.5"],
            "age_days": [None, "12", None],
            "weight": [None, "2450", None],
            "admission_date": ["2024-01-05", "2024-02-01 08:00:00", None],
            "discharge_date": ["2024-01-09", "2024-02-01", None],
            "dx": ["K80.100x001|I10.x00", "P07.100", ""],
            "px": ["51.2300", "", "96.0800x005,99.0400"],
            "cost": ["12345.60", "800", None],
            "hospital": ["H1", "H2", "H1"],
        }
    )
    result = normalize_claims(raw)
    assert result.rejects.num_rows == 0
    return result.clean


@pytest.mark.parametrize("extension", SUPPORTED_EXTENSIONS)
def test_round_trip_through_every_format(tmp_path: Path, extension: str) -> None:
    clean = _clean_sample()
    path = tmp_path / f"claims{extension}"
    write_table(clean, path)
    again = normalize_claims(read_claims(path))
    assert again.rejects.num_rows == 0
    assert again.clean.equals(clean)
    assert again.ignored_columns == ["row_number"]  # computed afresh, never read


@pytest.mark.parametrize("extension", [".parquet", ".arrow", ".feather", ".ipc"])
def test_binary_formats_keep_types_exactly(tmp_path: Path, extension: str) -> None:
    clean = _clean_sample()
    path = tmp_path / f"claims{extension}"
    write_table(clean, path)
    assert read_claims(path).equals(clean)


def test_csv_writes_lists_pipe_joined(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    write_table(_clean_sample(), path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert '"K80.100x001|I10.x00"' in lines[1]
    assert '"96.0800x005|99.0400"' in lines[3]


def test_jsonl_writes_lists_as_arrays(tmp_path: Path) -> None:
    path = tmp_path / "claims.jsonl"
    write_table(_clean_sample(), path)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert '"diagnoses":["K80.100x001","I10.x00"]' in first
    assert '"procedures":["51.2300"]' in first


def test_csv_is_read_as_text_with_bom_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    content = (
        "结算ID,性别,年龄,诊断代码,手术操作代码\n"
        'C1,1,045,"A01,B02",\n'
        'C2,,abc,C03|D04,"x, y"\n'
    )
    path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    table = read_claims(path)
    assert table.column_names == ["结算ID", "性别", "年龄", "诊断代码", "手术操作代码"]
    assert all(t == pa.string() for t in table.schema.types)
    assert table.column("年龄").to_pylist() == ["045", "abc"]  # no inference: leading 0 kept
    assert table.column("性别").to_pylist() == ["1", None]
    assert table.column("诊断代码").to_pylist() == ["A01,B02", "C03|D04"]


def test_csv_gz_is_read(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv.gz"
    path.write_bytes(gzip.compress(b"claim_id,sex\n7,1\n"))
    assert read_claims(path).to_pylist() == [{"claim_id": "7", "sex": "1"}]


def test_csv_duplicate_headers_survive_reading(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("claim_id,sex,age,dx,px,claim_id\n1,1,2,A,,9\n", encoding="utf-8")
    table = read_claims(path)
    assert table.column_names == ["claim_id", "sex", "age", "dx", "px", "claim_id"]
    with pytest.raises(AmbiguousColumnsError, match="'claim_id' and 'claim_id'"):
        normalize_claims(table)


def test_csv_header_only_gives_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("claim_id,sex\n", encoding="utf-8")
    table = read_claims(path)
    assert table.num_rows == 0 and table.column_names == ["claim_id", "sex"]


def test_non_utf8_csv_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_bytes("claim_id,性别\n1,男\n".encode("gbk"))
    with pytest.raises(InputFormatError, match="UTF-8"):
        read_claims(path)


def test_unknown_extension_lists_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "claims.xlsx"
    path.write_bytes(b"")
    with pytest.raises(InputFormatError) as caught:
        read_claims(path)
    for extension in (".parquet", ".arrow", ".feather", ".jsonl", ".ndjson", ".csv"):
        assert extension in str(caught.value)
    with pytest.raises(InputFormatError):
        write_table(_clean_sample(), tmp_path / "out.txt")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.parquet"
    with pytest.raises(InputFileNotFoundError, match="not found"):
        read_claims(path)
    with pytest.raises(FileNotFoundError):
        read_claims(path)


def test_corrupt_file_is_an_input_format_error(tmp_path: Path) -> None:
    path = tmp_path / "claims.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InputFormatError, match="parquet"):
        read_claims(path)


def test_jsonl_reads_typed_values_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "claims.jsonl"
    path.write_text(
        '{"id": 1, "sex": 2, "age": 30.5, "dx": ["A01", " B02 "], "px": []}\n'
        '{"id": 2, "sex": 1, "age": 40, "dx": ["C03"], "px": null}\n',
        encoding="utf-8",
    )
    result = normalize_claims(read_claims(path))
    assert result.clean.column("claim_id").to_pylist() == ["1", "2"]
    assert result.clean.column("sex").to_pylist() == [2, 1]
    assert result.clean.column("diagnoses").to_pylist() == [["A01", "B02"], ["C03"]]
    assert result.clean.column("procedures").to_pylist() == [[], []]


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "claims.parquet"
    path.write_bytes(b"old content")
    write_table(_clean_sample(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["claims.parquet"]
    assert pq.read_table(path).num_rows == 3


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("old", encoding="utf-8")
    unwritable = pa.table({"x": pa.array([{"a": 1}])})  # CSV cannot hold a struct column
    with pytest.raises(pa.ArrowException):
        write_table(unwritable, path)
    assert [p.name for p in tmp_path.iterdir()] == ["claims.csv"]
    assert path.read_text(encoding="utf-8") == "old"


def test_write_into_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="does not exist"):
        write_table(_clean_sample(), tmp_path / "missing" / "claims.parquet")


def test_csv_writes_dates_and_amounts_readably(tmp_path: Path) -> None:
    table = pa.table(
        {
            "claim_id": ["1"],
            "admit_date": pa.array([dt.date(2024, 1, 5)]),
            "total_cost": pa.array([Decimal("12.30")], pa.decimal128(18, 2)),
        }
    )
    path = tmp_path / "out.csv"
    write_table(table, path)
    assert path.read_text(encoding="utf-8").splitlines()[1] == '"1",2024-01-05,12.30'


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    write_table(pa.table({"claim_id": ["a"]}), target)
    reference = tmp_path / "reference"
    reference.write_text("x")
    assert stat.S_IMODE(os.stat(target).st_mode) == stat.S_IMODE(os.stat(reference).st_mode)
