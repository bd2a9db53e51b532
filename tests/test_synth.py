"""Tests of the synthetic claim generator and of the committed sample claims."""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from drg_engine.grouping.oracle import CHECK_FAILED, Oracle, claim_from_record, load_oracle
from drg_engine.synth import (
    CANONICAL_SCHEMA,
    INVALID_KINDS,
    generate_claims,
    inject_invalid_rows,
    to_string_table,
)

ROOT = Path(__file__).resolve().parents[1]
RULE_DIR = ROOT / "grouper_rules" / "chs_drg_1_1"
SAMPLE = ROOT / "sample_claims"


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    return load_oracle(RULE_DIR)


@pytest.fixture(scope="module")
def drg_codes() -> list[str]:
    with (RULE_DIR / "drg.csv").open(newline="", encoding="utf-8") as handle:
        return [row["drg"] for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def random_table() -> pa.Table:
    return generate_claims(RULE_DIR, 20_000, 11, cover_all_drgs=False)


def test_deterministic_per_seed() -> None:
    first = generate_claims(RULE_DIR, 3_000, 5, cover_all_drgs=False)
    again = generate_claims(RULE_DIR, 3_000, 5, cover_all_drgs=False)
    other = generate_claims(RULE_DIR, 3_000, 6, cover_all_drgs=False)
    assert first.equals(again)
    assert not first.equals(other)


def test_cover_all_drgs_verified(oracle: Oracle, drg_codes: list[str]) -> None:
    table = generate_claims(RULE_DIR, 700, 3, verify=oracle)
    assert table.num_rows == 700
    assert table.equals(generate_claims(RULE_DIR, 700, 3, verify=oracle))
    rows = table.slice(0, len(drg_codes)).to_pylist()
    assert [oracle.group(claim_from_record(r)).drg for r in rows] == drg_codes


def test_cover_needs_enough_rows() -> None:
    with pytest.raises(ValueError, match="628"):
        generate_claims(RULE_DIR, 100, 1)


def test_schema_and_consistency(random_table: pa.Table) -> None:
    t = random_table
    assert t.schema == CANONICAL_SCHEMA
    assert t.num_rows == 20_000
    assert pc.count_distinct(t["claim_id"]).as_py() == t.num_rows
    assert t["claim_id"].null_count == 0
    assert set(pc.unique(t["sex"]).to_pylist()) == {1, 2}
    hospitals = set(pc.unique(t["hospital_id"]).to_pylist())
    assert 20 <= len(hospitals) <= 40 and all(h.startswith("H3301") for h in hospitals)
    assert set(pc.unique(t["discharge_way"]).to_pylist()) <= set("123456789")
    admit = t["admit_date"].cast(pa.int32()).to_numpy()
    discharge = t["discharge_date"].cast(pa.int32()).to_numpy()
    assert np.array_equal(discharge - admit, t["los_days"].to_numpy())
    assert (t["los_days"].to_numpy() >= 1).all()
    n_dx = pc.list_value_length(t["diagnoses"]).to_numpy()
    n_px = pc.list_value_length(t["procedures"]).to_numpy()
    assert n_dx.min() >= 1 and n_dx.max() <= 12
    assert n_px.min() == 0 and n_px.max() <= 6
    age = t["age_years"].to_numpy()
    has_days = t["age_days"].is_valid().to_numpy(zero_copy_only=False)
    assert np.array_equal(has_days, age < 1)
    days = t["age_days"].fill_null(999).to_numpy()
    has_weight = t["birth_weight_g"].is_valid().to_numpy(zero_copy_only=False)
    assert has_weight[days <= 28].all()
    assert t["ventilation_hours"].null_count > 0.9 * t.num_rows
    assert (pc.cast(t["total_cost"], pa.float64()).to_numpy() > 0).all()


def test_random_claims_group_plausibly(random_table: pa.Table, oracle: Oracle) -> None:
    rows = random_table.slice(0, 4_000).to_pylist()
    results = [oracle.group(claim_from_record(r)) for r in rows]
    statuses = Counter(r.status for r in results)
    assert statuses["SUCCESS"] > 0.97 * len(rows)
    assert len({r.mdc for r in results if r.status == "SUCCESS"}) >= 20
    for row, result in zip(rows, results, strict=True):
        if result.mdc == "MDCM":
            assert row["sex"] == 1
        if result.mdc == "MDCN" or result.mdc == "MDCO":
            assert row["sex"] == 2
        if result.mdc == "MDCP":
            assert row["age_years"] < 1
    severities = Counter(r.severity for r in results)
    assert severities["MCC"] > 0 and severities["CC"] > 0 and severities[""] > 0


def test_typed_invalid_fraction(oracle: Oracle) -> None:
    table = generate_claims(RULE_DIR, 2_000, 9, cover_all_drgs=False, invalid_fraction=0.05)
    assert table.schema == CANONICAL_SCHEMA
    rows = table.to_pylist()
    failed = sum(oracle.group(claim_from_record(r)).status == CHECK_FAILED for r in rows)
    assert 40 <= failed <= 100
    assert pc.count_distinct(table["claim_id"]).as_py() < table.num_rows


def test_fast_enough_for_benchmarks() -> None:
    started = time.perf_counter()
    table = generate_claims(RULE_DIR, 200_000, 1, cover_all_drgs=False)
    assert table.num_rows == 200_000
    assert time.perf_counter() - started < 15


def test_inject_invalid_rows(random_table: pa.Table) -> None:
    base = random_table.slice(0, 500)
    out = inject_invalid_rows(base, per_kind=2, seed=4)
    assert out.num_rows == 500 + 2 * len(INVALID_KINDS)
    assert out.column_names == base.column_names
    assert all(pa.types.is_string(f.type) for f in out.schema)
    assert out.equals(inject_invalid_rows(base, per_kind=2, seed=4))
    rows = out.to_pylist()
    original = to_string_table(base).to_pylist()
    position, added = 0, 0
    for row in rows:
        if position < len(original) and row == original[position]:
            position += 1
        else:
            added += 1
    assert (position, added) == (len(original), 2 * len(INVALID_KINDS))
    ids = Counter(r["claim_id"] for r in rows)
    assert sum(r["claim_id"] is None for r in rows) == 2
    assert sum(n - 1 for k, n in ids.items() if k is not None and n > 1) == 2
    assert sum(r["age_years"] == "abc" for r in rows) == 2
    assert sum(r["admit_date"] == "2024-13-45" for r in rows) == 2
    assert sum(r["sex"] == "9" for r in rows) == 2
    assert sum(r["sex"] is None for r in rows) == 2
    assert sum(r["age_years"] is None for r in rows) == 2
    assert sum(r["diagnoses"] == "" for r in rows) == 2
    assert sum(r["los_days"].startswith("-") for r in rows) == 2
    assert sum(r["admit_date"] > r["discharge_date"] for r in rows
               if r["admit_date"] != "2024-13-45") == 2
    assert sum(r["age_years"] == "0" and r["age_days"] is None for r in rows) == 2
    assert sum(r["age_days"] == "5" and r["birth_weight_g"] is None for r in rows) == 2


def test_committed_sample_covers_every_drg(oracle: Oracle, drg_codes: list[str]) -> None:
    table = pq.read_table(SAMPLE / "claims.parquet")
    assert table.schema.remove_metadata() == CANONICAL_SCHEMA
    results = [oracle.group(claim_from_record(r)) for r in table.to_pylist()]
    success = [r for r in results if r.status == "SUCCESS"]
    assert {r.drg for r in success} == set(drg_codes)
    assert len({r.mdc for r in success}) == 26
    assert sum(r.status == CHECK_FAILED for r in results) > 0
    with (SAMPLE / "claims.csv").open(newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert list(csv_rows[0]) == CANONICAL_SCHEMA.names
    assert 0.005 * len(csv_rows) < len(csv_rows) - 9_900 < 0.02 * len(csv_rows)
    untypeable = [r for r in csv_rows if r["age_years"] == "abc"
                  or r["admit_date"] == "2024-13-45"]
    assert len(csv_rows) - len(untypeable) == table.num_rows
