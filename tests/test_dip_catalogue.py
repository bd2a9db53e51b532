"""Catalogue building from history: scores, related-procedure groups, the round trip."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from drg_engine.dip.cache import compile_dip_rule_set
from drg_engine.dip.catalogue import CatalogueError, build_catalogue
from drg_engine.dip.codes import code_list, normalised_dx, normalised_px
from drg_engine.dip.manifest import resolve_dip_rule_set
from drg_engine.dip.scores import group_scores
from drg_engine.grouping.dip import dip_batch, procedure_treatment
from drg_engine.payment.calibration import CalibrationOptions, calibrate
from drg_engine.payment.models import DipAuxiliaryRow, DipScoreRow
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.synth import generate_claims
from drg_engine.validate import normalize_claims
from tests.test_dip_support import claim, compile_set


def test_scores_weight_years_one_two_seven_and_scale_to_the_overall_average():
    cases = pl.DataFrame({
        "group": ["A", "A", "A", "B", "B", "B"],
        "cost_cents": [100_00, 200_00, 400_00, 300_00, 300_00, 600_00],
        "year": [2022, 2023, 2024, 2022, 2023, 2024],
    })
    table = group_scores(cases)
    # A: (1 x 100 + 2 x 200 + 7 x 400) / 10 = 330; B: (300 + 600 + 4200) / 10 = 510;
    # all cases: 2022 mean 200, 2023 mean 250, 2024 mean 500 -> (200 + 500 + 3500) / 10 = 420.
    assert table.overall_average == Decimal("420.00")
    assert table.groups["A"].average_cost == Decimal("330.00")
    assert table.groups["A"].score == Decimal("785.7143")  # 330 / 420 x 1000
    assert table.groups["B"].score == Decimal("1214.2857")
    assert table.years == (2022, 2023, 2024) and table.weights == (1, 2, 7)


def test_scores_trim_only_large_groups_and_count_all_cases():
    costs = [1_00] * 2 + [100_00] * 96 + [100_000_00] * 2
    cases = pl.DataFrame({"group": ["G"] * 100 + ["S"] * 15,
                          "cost_cents": costs + [50_00] * 14 + [5_000_00],
                          "year": [2024] * 115})
    table = group_scores(cases)
    assert (table.groups["G"].cases, table.groups["G"].trimmed_cases) == (100, 96)
    assert table.groups["G"].average_cost == Decimal("100.00")
    assert table.groups["S"].trimmed_cases == 15  # 15 cases: nothing trimmed


@pytest.fixture(scope="module")
def history() -> pa.Table:
    return generate_claims(locate_rule_set("chs_drg_1_1"), 20_000, 20261122,
                           cover_all_drgs=False)


@pytest.fixture(scope="module")
def built(history, tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogue") / "local_2026"
    report = build_catalogue(history, folder, min_cases=15)
    return folder, report


def _keys(history: pa.Table, rules) -> list[tuple[str | None, str | None]]:
    """Each claim's catalogue key computed independently of the builder, per claim."""
    clean = normalize_claims(history).clean
    px = code_list(clean.column("procedures"))
    excluded, rank = procedure_treatment(rules, px.distinct)
    px_rank = dict(zip(normalised_px(px.distinct).to_pylist(), rank.tolist(), strict=True))
    px_excl = dict(zip(normalised_px(px.distinct).to_pylist(), excluded.tolist(), strict=True))
    keys = []
    for diagnoses, procedures in zip(clean.column("diagnoses").to_pylist(),
                                     clean.column("procedures").to_pylist(), strict=True):
        if not diagnoses:
            keys.append((None, None))
            continue
        pdx = normalised_dx(pa.array(diagnoses[:1])).to_pylist()[0]
        dx_key = pdx[:5] if len(pdx) >= 5 and pdx[3] == "." and pdx[4].isdigit() else pdx[:3]
        kept = [code for code in normalised_px(pa.array(procedures, pa.string())).to_pylist()
                if not px_excl[code]]
        conservative = not kept or max(px_rank[code] for code in kept) == 0
        keys.append((dx_key, None if conservative else kept[0]))
    return keys


def test_round_trip_every_core_group_recovers_its_cases(history, built):
    folder, report = built
    rules = compile_dip_rule_set(resolve_dip_rule_set(folder))
    assert report.core_groups > 100 and report.comprehensive_groups > 100
    clean = normalize_claims(history).clean
    plain = dip_batch(clean, rules)
    with_evidence = dip_batch(clean, rules, evidence=True)
    assert plain.equals(with_evidence.select(plain.column_names))
    results = plain.to_pylist()
    keys = _keys(history, rules)
    with (folder / "groups.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    core = {r["group_code"]: r for r in rows if r["stage"] == "base"}
    by_key = {(r["principal_dx"], r["px_expression"] or None): code for code, r in core.items()
              if not r["related_px"]}
    key_counts = Counter(keys)
    assigned = Counter(row["dip_group"] for row in results)
    recovered = 0
    for key, code in by_key.items():
        members = [row for row, k in zip(results, keys, strict=True) if k == key]
        assert len(members) == key_counts[key] >= 15
        for row in members:
            # Its own group, or a related-procedure extension of it.
            assert row["dip_group"] == code or row["dip_group"].startswith(code + ":")
            recovered += 1
    for code, row in core.items():
        assert int(row["cases"]) == assigned[code] >= 15
    assert recovered == report.core_claims
    # Every key with enough cases became a core group.
    for key, count in key_counts.items():
        if key[0] is not None and count >= 15:
            assert key in by_key


def test_catalogue_scores_and_payment_tables(built):
    folder, report = built
    with (folder / "groups.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scores = [Decimal(r["score"]) for r in rows if r["score"]]
    assert len(scores) == len(rows)
    total_cases = sum(int(r["cases"]) for r in rows)
    weighted = sum(Decimal(r["average_cost"]) * int(r["cases"]) for r in rows) / total_cases
    assert abs(weighted / report.overall_average - 1) < Decimal("0.1")
    with (folder / "payment" / "dip_scores.csv").open(encoding="utf-8") as handle:
        payment = [DipScoreRow.model_validate(r) for r in csv.DictReader(handle)]
    assert {p.dip_group for p in payment} == {r["group_code"] for r in rows}
    with (folder / "payment" / "dip_auxiliary.csv").open(encoding="utf-8") as handle:
        aux = [DipAuxiliaryRow.model_validate(r) for r in csv.DictReader(handle)]
    assert len(aux) == report.auxiliary_rows
    manifest = (folder / "manifest.toml").read_text(encoding="utf-8")
    assert 'comprehensive = "listed"' in manifest and 'id = "local_2026"' in manifest


def test_catalogue_scores_are_what_payment_calibration_computes(history, built):
    """One computation (drg_engine.payment.group_averages): payment calibration of the history
    as the catalogue grouped it gives the catalogue's scores, average costs and M."""
    folder, report = built
    clean = normalize_claims(history).clean
    result = dip_batch(clean, compile_dip_rule_set(resolve_dip_rule_set(folder)))
    grouped = pc.equal(result.column("dip_status").cast(pa.string()), "GROUPED")
    grouped_history = pa.table({
        "claim_id": clean.column("claim_id"),
        "dip_group": pc.if_else(grouped, result.column("dip_group"), None),
        "discharge_date": clean.column("discharge_date"),
        "total_cost": clean.column("total_cost"),
    })
    calibration = calibrate(grouped_history, CalibrationOptions(
        scheme="DIP", year_weights=(Decimal(1), Decimal(2), Decimal(7)),
        trim_method="quantile", trim_value=Decimal("0.025"), trim_scope="cell", min_cases=1,
        small_groups="flag"))
    calibrated = {g.group: g for g in calibration.groups}
    with (folder / "groups.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["group_code"] for r in rows} == set(calibrated)
    for row in rows:
        group = calibrated[row["group_code"]]
        assert (Decimal(row["score"]), Decimal(row["average_cost"])) == (
            group.value, group.average_cost)
    assert report.overall_average == calibration.overall_average
    assert report.years == tuple(calibration.year_weights)


def test_related_procedure_group_needs_ten_percent_more_cost(tmp_path: Path):
    cheap, dear = Decimal("10000.00"), Decimal("15000.00")
    claims = (
        [claim(f"p{i}", ["K80.100"], ["51.2300"], total_cost=cheap) for i in range(20)]
        + [claim(f"r{i}", ["K80.100"], ["51.2300", "51.2200"], total_cost=dear)
           for i in range(20)]
        + [claim(f"n{i}", ["K80.100"], ["51.2300", "45.2302"], total_cost=cheap)
           for i in range(20)]
    )
    from tests.conftest import make_clean_batch

    history = make_clean_batch([{**c, "discharge_date": date(2024, 6, 1)} for c in claims])
    report = build_catalogue(history.drop_columns(["row_number"]), tmp_path / "rel",
                             min_cases=15)
    assert (report.core_groups, report.related_groups) == (1, 1)
    rules = compile_set(tmp_path / "rel")
    results = {r["claim_id"]: r for r in dip_batch(history, rules, evidence=True).to_pylist()}
    assert results["r0"]["dip_group"] == "K80.1:51.2300:51.2200"
    assert results["r0"]["dip_decided_by"] == "related_count"
    assert results["p0"]["dip_group"] == results["n0"]["dip_group"] == "K80.1:51.2300"


def test_min_cases_sends_small_combinations_to_comprehensive_groups(history, tmp_path: Path):
    report = build_catalogue(history.slice(0, 3000), tmp_path / "big", min_cases=1000)
    assert report.core_groups == 0
    assert report.core_claims == 0
    assert report.comprehensive_claims + report.ungrouped_claims == 3000


def test_bad_parameters_are_errors(history, tmp_path: Path):
    with pytest.raises(CatalogueError, match="min-cases"):
        build_catalogue(history.slice(0, 10), tmp_path / "x", min_cases=0)
