"""The streaming job against the whole-file path: same results and rejects, row for row.

``pipeline.group_file`` (normalise the whole table, group it) is the reference. The streaming
job reads batches, normalises typed columns on a fast path, decides duplicate claim ids over
the whole input in two passes and writes in order; every test here compares it with the
reference on inputs built to hit those paths: duplicates across batches (whose first
occurrence is itself rejected, or padded with whitespace), values ``normalize_claims``
rejects, text that needs stripping, every input and output format, small batches, large row
groups, two workers.
"""

from __future__ import annotations

import decimal
import itertools
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drg_engine import stream
from drg_engine.errors import InputFormatError, MissingColumnsError
from drg_engine.io import read_claims, write_table
from drg_engine.pipeline import group_file, group_table
from drg_engine.rules import load_rules
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.schema import CLAIM_SCHEMA, REJECT_SCHEMA
from drg_engine.stream import (
    DuplicateIndex,
    clean_text,
    finish_batch,
    group_file_stream,
    id_hashes,
    normalise_batch,
    process_batch,
)
from drg_engine.synth import generate_claims, to_string_table
from drg_engine.validate import normalize_claims

RULES = load_rules("chs_drg_1_1")
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _nasty(n: int = 900, seed: int = 5) -> pa.Table:
    """Typed claims with every kind of value the fast path must hand to validate or clean."""
    table = generate_claims(locate_rule_set("chs_drg_1_1"), n, seed, cover_all_drgs=False,
                            invalid_fraction=0.04)
    rng = np.random.default_rng(seed)
    rows = table.to_pylist()
    for i, row in enumerate(rows):
        kind = i % 23
        if kind == 1:
            row["claim_id"] = rows[int(rng.integers(0, n))]["claim_id"]  # duplicate anywhere
        elif kind == 2 and row["claim_id"]:
            row["claim_id"] = f" {rows[(i * 7) % n]['claim_id']}\u3000"  # padded duplicate
        elif kind == 3:
            row["claim_id"] = rng.choice(["", "  ", "\u00a0"])  # missing after stripping
        elif kind == 4:
            row["age_years"] = float(rng.choice([np.nan, np.inf, -np.inf]))
        elif kind == 5:
            row["los_days"], row["discharge_date"] = None, row["admit_date"]  # derived: 1 day
        elif kind == 6:
            row["los_days"] = None  # derived from the dates
        elif kind == 7:
            row["los_days"] = -3
        elif kind == 8:
            row["diagnoses"] = [" ", *row["diagnoses"], "", None, " J96.000 "]
        elif kind == 9:
            row["procedures"] = None
        elif kind == 10:
            row["diagnoses"] = None
        elif kind == 11:
            row["birth_weight_g"] = float("nan")
        elif kind == 12:
            row["dept"] = "  骨科 "
        elif kind == 13:
            row["admit_date"], row["discharge_date"] = row["discharge_date"], row["admit_date"]
        elif kind == 14:
            row["ventilation_hours"] = float("inf")
    return pa.Table.from_pylist(rows, schema=table.schema)


def _expected(path: Path, rules: str, *, keep_input: bool, evidence: bool
              ) -> tuple[pa.Table, pa.Table]:
    run = group_file(path, rules, evidence=evidence)
    return (run.results_with_input() if keep_input else run.results), run.rejects


def _assert_same(path: Path, tmp_path: Path, rules: str = "chs_drg_1_1", *,
                 keep_input: bool = False, evidence: bool = False, out: str = "out.parquet",
                 **options: Any) -> None:
    expected, expected_rejects = _expected(path, rules, keep_input=keep_input,
                                           evidence=evidence)
    output = tmp_path / out
    summary = group_file_stream(path, output, rules, keep_input=keep_input, evidence=evidence,
                                **options)
    rejects = summary.rejects_path
    assert summary.input_rows == expected.num_rows + expected_rejects.num_rows
    assert (summary.grouped_rows, summary.rejected_rows) == (
        expected.num_rows, expected_rejects.num_rows)
    statuses = expected.column("status").to_pylist()
    assert summary.statuses == Counter(statuses)
    assert summary.drgs == Counter(drg for drg, status in zip(
        expected.column("drg").to_pylist(), statuses, strict=True) if status == "SUCCESS")
    assert summary.reject_reasons == Counter(expected_rejects.column("reason_code").to_pylist())
    if out.endswith(".parquet"):
        got = pq.read_table(output)
        assert got.schema == expected.schema
        assert got.equals(expected)
    else:
        # Other formats: the very bytes the whole-file writer produces.
        reference = tmp_path / f"reference{''.join(Path(out).suffixes)}"
        write_table(expected, reference)
        assert output.read_bytes() == reference.read_bytes()
    if expected_rejects.num_rows:
        assert rejects is not None
        reference = _written(expected_rejects,
                             tmp_path / f"reference_rejects{''.join(rejects.suffixes)}")
        if rejects.suffix == ".parquet":
            assert pq.read_table(rejects).equals(expected_rejects)
        else:
            assert rejects.read_bytes() == reference.read_bytes()
    else:
        assert rejects is None


def _written(table: pa.Table, path: Path) -> Path:
    write_table(table, path)
    return path


@pytest.fixture(scope="module")
def nasty() -> pa.Table:
    return _nasty()


@pytest.fixture()
def typed_parquet(nasty: pa.Table, tmp_path: Path) -> Path:
    path = tmp_path / "claims.parquet"
    pq.write_table(nasty, path, row_group_size=200)
    return path


@pytest.mark.parametrize(("workers", "batch_rows"), [(2, 262_144), (1, 97), (2, 150)])
def test_typed_parquet_matches_the_whole_file_path(typed_parquet: Path, tmp_path: Path,
                                                   workers: int, batch_rows: int) -> None:
    # Row groups of 200: 97 and 150 read large row groups in slices.
    _assert_same(typed_parquet, tmp_path, workers=workers, batch_rows=batch_rows)


@pytest.mark.parametrize(("rules", "keep_input", "evidence"), [
    ("chs_drg_1_1", True, False), ("chs_drg_1_1", False, True), ("auto", True, True),
    ("chs_drg_1_0", False, False), ("beijing_2022", True, False),
])
def test_options_and_rule_sets(typed_parquet: Path, tmp_path: Path, rules: str,
                               keep_input: bool, evidence: bool) -> None:
    _assert_same(typed_parquet, tmp_path, rules, keep_input=keep_input, evidence=evidence)


@pytest.mark.parametrize("out", ["out.csv", "out.jsonl", "out.csv.gz"])
def test_other_output_formats_are_byte_identical(typed_parquet: Path, tmp_path: Path,
                                                 out: str) -> None:
    _assert_same(typed_parquet, tmp_path, keep_input=True, out=out, batch_rows=128)


@pytest.mark.parametrize("name", ["claims.csv", "claims.jsonl", "claims.arrow",
                                  "strings.parquet"])
def test_input_formats(nasty: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       name: str) -> None:
    # Text input (CSV, all-string Parquet) goes through normalize_claims batch by batch.
    monkeypatch.setattr(stream, "_JSONL_BLOCK_BYTES", 20_000)  # several JSON blocks
    monkeypatch.setattr(stream, "_CSV_BLOCK_BYTES", 20_000)
    table = to_string_table(nasty) if name.startswith(("strings", "claims.csv")) else nasty
    path = tmp_path / name
    write_table(table, path)
    _assert_same(path, tmp_path, keep_input=True, batch_rows=128)


def test_columns_of_other_types_and_aliases(nasty: pa.Table, tmp_path: Path) -> None:
    # Integer claim ids and text sex under Chinese headers, large strings and lists,
    # dictionary-encoded text, int64 lengths of stay out of int32 range, integer amounts
    # out of decimal(18, 2) range.
    n = nasty.num_rows
    los = nasty.column("los_days").cast(pa.int64()).to_numpy(zero_copy_only=False)
    los = np.where(np.arange(n) % 31 == 0, 2**40, np.nan_to_num(los, nan=5)).astype(np.int64)
    cost = np.where(np.arange(n) % 37 == 0, 10**17, 12_345).astype(np.int64)
    sex = pa.array(np.array(["男", "女", "F", "x", "", "2"])[np.arange(n) % 6])
    table = pa.table({
        "结算ID": pa.array(np.arange(n) % 700, pa.int64()),
        "性别": sex,
        "年龄": nasty.column("age_years").cast(pa.float32()),
        "dept": nasty.column("dept").cast(pa.large_string()).combine_chunks().dictionary_encode(),
        "los": pa.array(los),
        "admit_date": nasty.column("admit_date"),
        "discharge_date": nasty.column("discharge_date"),
        "total_cost": pa.array(cost),
        "diagnoses": nasty.column("diagnoses").cast(pa.large_list(pa.large_string())),
        "procedures": nasty.column("procedures"),
        "not_a_claim_column": pa.array(["?"] * n),
    })
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path, row_group_size=256)
    _assert_same(path, tmp_path, keep_input=True, batch_rows=256)
    assert group_file_stream(path, tmp_path / "o.parquet").ignored_columns == [
        "not_a_claim_column"]


def test_dictionary_encoded_parquet_columns(nasty: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "dict.parquet"
    pq.write_table(nasty, path, row_group_size=300, use_dictionary=True)
    table = pq.read_table(path, read_dictionary=["dept", "hospital_id"])
    pq.write_table(table, path, row_group_size=300)
    _assert_same(path, tmp_path, keep_input=True)


def test_a_duplicate_whose_first_occurrence_is_rejected(tmp_path: Path) -> None:
    # Row 1 is rejected (negative LOS), so row 3 - in another batch - is the first kept
    # occurrence of "a" and row 5 its duplicate; " a " strips to "a".
    table = pa.table({
        "claim_id": ["a", "b", " a ", "c", "a"],
        "sex": pa.array([1, 2, 1, 2, 1], pa.int8()),
        "age_years": [60.0, 30.0, 61.0, 40.0, 62.0],
        "los_days": pa.array([-1, 3, 4, 5, 6], pa.int32()),
        "diagnoses": [["I21.001"]] * 5,
        "procedures": [[]] * 5,
    })
    path = tmp_path / "dups.parquet"
    pq.write_table(table, path, row_group_size=2)
    out = tmp_path / "out.parquet"
    summary = group_file_stream(path, out, batch_rows=2)
    assert pq.read_table(out).column("claim_id").to_pylist() == ["b", "a", "c"]
    rejects = pq.read_table(summary.rejects_path).to_pylist()
    assert [(r["row_number"], r["reason_code"], r["message"]) for r in rejects] == [
        (1, "NEGATIVE_LOS", "los_days -1 is negative"),
        (5, "DUPLICATE_CLAIM_ID",
         "claim_id 'a' already appears on row 3 (the first occurrence is kept)"),
    ]
    _assert_same(path, tmp_path, batch_rows=2)


@_SETTINGS
@given(rows=st.lists(st.fixed_dictionaries({
    "claim_id": st.one_of(st.none(), st.sampled_from(["a", "b", " a", "c\u3000", "", " ", "d"])),
    "sex": st.one_of(st.none(), st.sampled_from([1, 2, 0, 9])),
    "age_years": st.one_of(st.none(), st.sampled_from([0.0, 0.5, 30.0, float("nan"),
                                                       float("inf")])),
    "age_days": st.one_of(st.none(), st.integers(0, 40)),
    "birth_weight_g": st.one_of(st.none(), st.sampled_from([0.0, 1200.0, 2600.0])),
    "los_days": st.one_of(st.none(), st.integers(-2, 20)),
    "admit_date": st.one_of(st.none(), st.sampled_from([date(2024, 1, 5), date(2024, 1, 9)])),
    "discharge_date": st.one_of(st.none(), st.sampled_from([date(2024, 1, 5),
                                                            date(2024, 1, 7)])),
    "diagnoses": st.one_of(st.none(), st.lists(st.one_of(
        st.none(), st.sampled_from(["I21.001", " J96.000", "", " ", "P07.300", "X"])),
        max_size=4)),
    "procedures": st.one_of(st.none(), st.lists(st.sampled_from(
        ["85.4500", " 89.0100 ", ""]), max_size=3)),
    "total_cost": st.one_of(st.none(), st.decimals(0, 10**6, places=2, allow_nan=False)),
}), max_size=25), cuts=st.lists(st.integers(0, 25), max_size=4))
def test_batches_give_the_whole_table_result(rows: list[dict[str, Any]],
                                             cuts: list[int]) -> None:
    schema = pa.schema([(f.name, f.type) for f in CLAIM_SCHEMA if f.name in (
        "claim_id", "sex", "age_years", "age_days", "birth_weight_g", "los_days",
        "admit_date", "discharge_date", "diagnoses", "procedures", "total_cost")])
    raw = pa.Table.from_pylist(rows, schema=schema)
    expected = group_table(raw, RULES)
    results, rejects = _in_batches(raw, cuts)
    assert results.equals(expected.results_with_input())
    assert rejects.equals(expected.rejects)


def _in_batches(raw: pa.Table, cuts: list[int]) -> tuple[pa.Table, pa.Table]:
    """What group_file_stream does, in memory: hash pass, then batches in order."""
    bounds = sorted({0, raw.num_rows, *(min(c, raw.num_rows) for c in cuts)})
    batches = [raw.slice(a, b - a) for a, b in itertools.pairwise(bounds)] or [raw]
    index = DuplicateIndex(spill=3)  # spills to partition files after three ids
    for batch in batches:
        index.add(id_hashes(clean_text(stream._single(batch.column("claim_id")))))
    repeated = index.repeated()
    first_rows: dict[str, int] = {}
    offset, results, rejects = 0, [], []
    for batch in batches:
        finished = finish_batch(process_batch(batch, RULES, repeated=repeated,
                                              keep_input=True), offset, first_rows)
        offset += batch.num_rows
        results.append(finished.output(True))
        rejects.append(finished.rejects)
    return pa.concat_tables(results), pa.concat_tables(rejects)


_TEXT = st.text(alphabet=["a", "中", "骨", " ", "\u3000", "\u00a0", "\u2003", "\t", "\u200b",
                          "\ufeff", "é", "\u0085", "x", "1"], max_size=6)


@_SETTINGS
@given(values=st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=30))
def test_text_is_cleaned_as_validate_cleans_it(values: list[str | None]) -> None:
    table = pa.table({
        "claim_id": [f"c{i}" for i in range(len(values))],
        "sex": pa.array([1] * len(values), pa.int8()),
        "age_years": [40.0] * len(values),
        "dept": pa.array(values, pa.string()),
        "diagnoses": [[v] if v is not None else [] for v in values],
        "procedures": [[]] * len(values),
    })
    reference = normalize_claims(table).clean
    assert clean_text(table.column("dept").combine_chunks()).equals(
        reference.column("dept").combine_chunks())
    ours = normalise_batch(table).clean
    assert ours.column("diagnoses").cast(CLAIM_SCHEMA.field("diagnoses").type).equals(
        reference.column("diagnoses"))


def test_duplicate_index_spills_without_changing_the_answer() -> None:
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, 5_000, dtype=np.int64).view(np.uint64)
    hashes[::97] = hashes[5]  # one hash many times
    hashes[1::389] = hashes[7]
    in_memory, spilled = DuplicateIndex(), DuplicateIndex(spill=700)
    for part in np.array_split(hashes, 13):
        in_memory.add(part)
        spilled.add(part)
    expected = np.unique(hashes[pl.Series(hashes).is_duplicated().to_numpy()])
    assert np.array_equal(in_memory.repeated(), expected)
    assert np.array_equal(spilled.repeated(), expected)


def test_spilling_the_id_pass_gives_the_same_files(typed_parquet: Path, tmp_path: Path) -> None:
    _assert_same(typed_parquet, tmp_path, spill=100, batch_rows=128)


def test_work_is_bounded_ahead_of_the_writer() -> None:
    started: list[int] = []

    def tasks() -> Any:
        for i in range(50):
            started.append(i)
            yield lambda i=i: i

    results = stream._ordered(tasks(), workers=2)
    assert next(results) == 0
    assert len(started) <= 5  # two workers, at most 2 x 2 batches in flight, plus one
    assert list(results) == list(range(1, 50))

    # The second pass is queued behind the first, still at most 2 x 2 batches ahead.
    second: list[int] = []

    def later() -> Any:
        for i in range(30):
            second.append(i)
            yield lambda i=i: -i

    with stream._Workers(2) as pool:
        queued = pool.queued(later())
        assert list(pool.ordered((lambda i=i: i for i in range(10)), then=queued.start)) == \
            list(range(10))
        assert len(second) == 4
        assert list(queued) == [-i for i in range(30)]


def test_results_are_written_with_plain_string_types(typed_parquet: Path,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    group_file_stream(typed_parquet, out)
    schema = pq.read_schema(out)
    assert all(t == pa.string() for t in schema.types)
    assert pl.read_parquet(out).schema["drg_name"] == pl.String


def test_empty_input_and_requested_rejects_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.Table.from_pylist([], schema=pa.schema([
        ("claim_id", pa.string()), ("sex", pa.int8()), ("age_years", pa.float64()),
        ("diagnoses", pa.list_(pa.string())), ("procedures", pa.list_(pa.string()))])), path)
    out, rejects = tmp_path / "out.parquet", tmp_path / "bad.csv"
    summary = group_file_stream(path, out, rejects_path=rejects)
    assert summary.input_rows == 0
    assert pq.read_table(out).num_rows == 0
    assert read_claims(rejects).column_names == REJECT_SCHEMA.names


def test_a_failing_batch_leaves_no_files(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "_JSONL_BLOCK_BYTES", 200)
    lines = [f'{{"claim_id": "c{i}", "sex": 1, "age_years": 50, "diagnoses": ["I21.001"], '
             f'"procedures": []}}' for i in range(40)]
    path = tmp_path / "claims.jsonl"
    path.write_text("\n".join([*lines[:30], "{not json", *lines[30:]]) + "\n")
    with pytest.raises(InputFormatError, match="cannot be read as jsonl"):
        group_file_stream(path, tmp_path / "out.parquet", batch_rows=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.jsonl"]


def test_column_errors_are_those_of_the_whole_file_path(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("claim_id,sex\nc1,1\n", encoding="utf-8")
    with pytest.raises(MissingColumnsError, match="age_years"):
        group_file_stream(path, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_typed_normalisation_takes_the_fast_path(nasty: pa.Table,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the rows normalize_claims rejects reach it; a typed batch is never parsed whole.
    seen: list[int] = []
    original = stream.normalize_claims

    def counting(raw: pa.Table) -> Any:
        seen.append(raw.num_rows)
        return original(raw)

    monkeypatch.setattr(stream, "normalize_claims", counting)
    normalised = normalise_batch(nasty)
    assert seen == [normalised.rejects.num_rows]
    assert 0 < seen[0] < nasty.num_rows // 3
    assert pc.all(pc.is_valid(normalised.clean.column("claim_id"))).as_py()


def test_money_and_decimals_keep_their_value(tmp_path: Path) -> None:
    table = pa.table({
        "claim_id": ["a", "b"], "sex": pa.array([1, 2], pa.int8()), "age_years": [50.0, 50.0],
        "diagnoses": [["I21.001"], ["I21.001"]], "procedures": [[], []],
        "total_cost": pa.array([decimal.Decimal("12.5"), decimal.Decimal("99999999.9")],
                               pa.decimal128(10, 1)),
    })
    path = tmp_path / "money.parquet"
    pq.write_table(table, path)
    _assert_same(path, tmp_path, keep_input=True)


@pytest.mark.parametrize("rule_set", ["chs_drg_1_1", "chs_drg_1_0", "beijing_2022",
                                      "chs_drg_1_1_qy"])
def test_the_kernels_two_candidate_layouts_agree(nasty: pa.Table, rule_set: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel keeps one 64-bit word per MDC when every MDC has at most 64 candidates (all
    # shipped rule sets), bitsets over all candidates otherwise; both must group alike.
    from drg_engine.grouping import drg

    rules = load_rules(rule_set)
    clean = normalise_batch(nasty).clean
    per_mdc = drg.group_batch(clean, rules, evidence=True)
    monkeypatch.setattr(drg, "_TABLES", {})
    monkeypatch.setattr(drg, "_MAX_WORD_CANDIDATES", 0)
    assert not drg._tables(rules).by_mdc
    assert drg.group_batch(clean, rules, evidence=True).equals(per_mdc)


def test_run_group_command_writes_and_summarises(nasty: pa.Table, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from drg_engine.cli.engines import run_group_command

    source = tmp_path / "claims.csv"
    write_table(to_string_table(nasty), source)
    out = tmp_path / "deep" / "grouped.parquet"
    assert run_group_command(source, out, "chs_drg_1_1") == 0
    expected = group_file(source, "chs_drg_1_1")
    assert pq.read_table(out).equals(expected.results)
    assert pq.read_table(tmp_path / "deep" / "grouped.rejects.parquet").equals(expected.rejects)
    printed = capsys.readouterr().out
    assert (f"{expected.results.num_rows:,} grouped + {expected.rejects.num_rows:,} rejected"
            in printed)
    assert "status SUCCESS" in printed and "rejected DUPLICATE_CLAIM_ID" in printed

    assert run_group_command(tmp_path / "missing.csv", out, "chs_drg_1_1", quiet=True) == 1
    assert "claims file not found" in capsys.readouterr().err
    assert run_group_command(source, out, "chs_drg_1_1", engine="dask", quiet=True) == 1
    assert "reads Parquet" in capsys.readouterr().err
