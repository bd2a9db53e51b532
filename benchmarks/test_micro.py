"""Micro-benchmarks (pytest-benchmark): rule compilation, warm load, grouping, explain, streaming.

    python -m pytest benchmarks/test_micro.py --benchmark-only

Not part of the test suite (``testpaths`` is ``tests``); speed targets live here, never in tests.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from drg_engine.explain import explain_table
from drg_engine.grouping.drg import group_batch
from drg_engine.rules import load_rules
from drg_engine.rules.cache import compile_rule_set
from drg_engine.rules.manifest import locate_rule_set, resolve_rule_set
from drg_engine.stream import group_file_stream, normalise_batch
from drg_engine.synth import generate_claims
from drg_engine.validate import normalize_claims


@pytest.fixture(scope="module")
def claims_100k() -> pa.Table:
    return generate_claims(locate_rule_set("chs_drg_1_1"), 100_000, 1, cover_all_drgs=False)


@pytest.fixture(scope="module")
def clean_100k(claims_100k: pa.Table) -> pa.Table:
    return normalize_claims(claims_100k).clean


@pytest.fixture(scope="module")
def parquet_100k(claims_100k: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("micro") / "claims.parquet"
    pq.write_table(claims_100k, path, row_group_size=100_000)  # one row group, one batch
    return path


@pytest.fixture(scope="module")
def streamed_100k(parquet_100k: Path) -> pa.Table:
    """A batch as the streaming job hands it to the kernel (code lists dictionary-encoded)."""
    raw = pq.read_table(parquet_100k, read_dictionary=["diagnoses.list.element",
                                                       "procedures.list.element"])
    return normalise_batch(raw, carry_input=False).clean


def test_compile_rule_set(benchmark) -> None:
    rule_set = resolve_rule_set("chs_drg_1_1")
    benchmark.pedantic(compile_rule_set, args=(rule_set,), rounds=3, iterations=1)


def test_load_compiled_from_cache(benchmark, tmp_path: Path) -> None:
    path = tmp_path / "rules.pickle"
    path.write_bytes(pickle.dumps(load_rules("chs_drg_1_1"), protocol=pickle.HIGHEST_PROTOCOL))
    benchmark(lambda: pickle.loads(path.read_bytes()))


def test_group_100k(benchmark, clean_100k: pa.Table) -> None:
    rules = load_rules("chs_drg_1_1")
    result = benchmark(group_batch, clean_100k, rules)
    assert result.num_rows == 100_000


def test_group_100k_as_streamed(benchmark, streamed_100k: pa.Table) -> None:
    # Dictionary-encoded codes in, dictionary-encoded labels out: the streaming job's kernel.
    rules = load_rules("chs_drg_1_1")
    result = benchmark(group_batch, streamed_100k, rules, dictionary=True)
    assert result.num_rows == 100_000


def test_group_100k_with_evidence(benchmark, clean_100k: pa.Table) -> None:
    rules = load_rules("chs_drg_1_1")
    benchmark(group_batch, clean_100k, rules, evidence=True)


def test_normalise_100k_whole_table(benchmark, claims_100k: pa.Table) -> None:
    benchmark(normalize_claims, claims_100k)


def test_normalise_100k_typed_batch(benchmark, parquet_100k: Path) -> None:
    raw = pq.read_table(parquet_100k, read_dictionary=["diagnoses.list.element",
                                                       "procedures.list.element"])
    benchmark(normalise_batch, raw, carry_input=False)


def test_stream_100k_parquet_to_parquet(benchmark, parquet_100k: Path, tmp_path: Path) -> None:
    summary = benchmark.pedantic(group_file_stream, args=(parquet_100k,
                                                          tmp_path / "out.parquet"),
                                 rounds=5, iterations=1)
    assert summary.input_rows == 100_000


def test_explain_one_claim(benchmark, clean_100k: pa.Table) -> None:
    raw = clean_100k.slice(0, 1_000).drop_columns(["row_number"])
    claim_id = raw.column("claim_id")[500].as_py()
    text = benchmark(explain_table, raw, claim_id, "chs_drg_1_1")
    assert claim_id in text
