"""Micro-benchmarks (pytest-benchmark): rule compilation, warm load, grouping, explain.

    python -m pytest benchmarks/test_micro.py --benchmark-only

Not part of the test suite (``testpaths`` is ``tests``); speed targets live here, never in tests.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from drg_engine.explain import explain_table
from drg_engine.grouping.drg import group_batch
from drg_engine.rules import load_rules
from drg_engine.rules.cache import compile_rule_set
from drg_engine.rules.manifest import locate_rule_set, resolve_rule_set
from drg_engine.synth import generate_claims
from drg_engine.validate import normalize_claims


@pytest.fixture(scope="module")
def clean_100k() -> pa.Table:
    claims = generate_claims(locate_rule_set("chs_drg_1_1"), 100_000, 1, cover_all_drgs=False)
    return normalize_claims(claims).clean


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


def test_group_100k_with_evidence(benchmark, clean_100k: pa.Table) -> None:
    rules = load_rules("chs_drg_1_1")
    benchmark(group_batch, clean_100k, rules, evidence=True)


def test_explain_one_claim(benchmark, clean_100k: pa.Table) -> None:
    raw = clean_100k.slice(0, 1_000).drop_columns(["row_number"])
    claim_id = raw.column("claim_id")[500].as_py()
    text = benchmark(explain_table, raw, claim_id, "chs_drg_1_1")
    assert claim_id in text
