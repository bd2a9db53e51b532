"""Properties: results do not depend on batch size or row order, and rows are conserved."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drg_engine.grouping.drg import group_batch
from drg_engine.pipeline import group_table
from tests.conftest import make_clean_batch
from tests.test_differential import RULES, claims_strategy

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(claims=claims_strategy, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_batch_size_does_not_change_results(claims: list[dict], cuts: list[int]) -> None:
    for i, claim in enumerate(claims):
        claim["claim_id"] = f"c{i}"
    batch = make_clean_batch(claims)
    whole = group_batch(batch, RULES, evidence=True)
    bounds = sorted({0, len(claims), *(min(c, len(claims)) for c in cuts)})
    pieces = [group_batch(batch.slice(a, b - a), RULES, evidence=True)
              for a, b in itertools.pairwise(bounds)]
    assert pa.concat_tables(pieces).equals(whole)


@_SETTINGS
@given(claims=claims_strategy, data=st.data())
def test_row_order_does_not_change_results(claims: list[dict], data: st.DataObject) -> None:
    for i, claim in enumerate(claims):
        claim["claim_id"] = f"c{i}"
    batch = make_clean_batch(claims)
    order = data.draw(st.permutations(range(len(claims))))
    shuffled = group_batch(batch.take(pa.array(order, pa.int64())), RULES)
    original = group_batch(batch, RULES)
    by_id = pc.sort_indices(shuffled, [("claim_id", "ascending")])
    assert shuffled.take(by_id).equals(original.take(pc.sort_indices(original, [("claim_id",
                                                                                  "ascending")])))


_text = st.one_of(st.none(), st.sampled_from(["", "1", "2", "男", "abc", "-3", "45.5", "0"]))
raw_rows = st.lists(
    st.fixed_dictionaries({
        "claim_id": st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", ""])),
        "sex": _text,
        "age_years": _text,
        "age_days": _text,
        "los_days": _text,
        "admit_date": st.one_of(st.none(), st.sampled_from(["2024-01-05", "2024/01/09", "x"])),
        "discharge_date": st.one_of(st.none(), st.sampled_from(["2024-01-07", "20240101", "?"])),
        "diagnoses": st.one_of(st.none(), st.sampled_from(["I21.001|J96.000", "", "I63.900"])),
        "procedures": st.one_of(st.none(), st.sampled_from(["", "85.4500", "89.0100,85.4500"])),
    }),
    max_size=30,
)


@_SETTINGS
@given(rows=raw_rows)
def test_rows_in_equal_grouped_plus_rejected(rows: list[dict]) -> None:
    raw = pa.Table.from_pylist(rows, schema=pa.schema(
        [(name, pa.string()) for name in (
            "claim_id", "sex", "age_years", "age_days", "los_days", "admit_date",
            "discharge_date", "diagnoses", "procedures")]))
    run = group_table(raw, RULES)
    assert run.results.num_rows + run.rejects.num_rows == len(rows)
    grouped_ids = run.results.column("claim_id").to_pylist()
    assert len(set(grouped_ids)) == len(grouped_ids)
    assert None not in grouped_ids
