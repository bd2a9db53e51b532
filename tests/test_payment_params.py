"""Parameter sets: the shipped sets load and cover the grouper's DRGs; broken sets fail with a
message naming the file, the line and the field."""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from drg_engine.payment import PaymentParameterError, available_param_sets, load_params
from tests.conftest import REPO
from tests.test_payment_support import DEFAULT_TABLES, make_params

D = Decimal
SHIPPED = ("anon_region_2025", "dip_worked_example", "ncms_2013_targets")


def test_shipped_sets_load() -> None:
    assert set(SHIPPED) <= set(available_param_sets())
    schemes = {name: load_params(name).scheme for name in SHIPPED}
    assert schemes == {"anon_region_2025": "DRG", "dip_worked_example": "DIP",
                       "ncms_2013_targets": "DRG"}


def test_real_catalogue_set_covers_every_chs_drg_1_1_group() -> None:
    with (REPO / "grouper_rules" / "chs_drg_1_1" / "drg.csv").open(encoding="utf-8") as handle:
        drgs = [row["drg"] for row in csv.DictReader(handle)]
    params = load_params("anon_region_2025")
    rows = params.rows["drg_weights"]
    covered = {item.row.drg for item in rows}  # type: ignore[attr-defined]
    assert covered == set(drgs) and len(drgs) == 628
    source = {item.row.drg: item.row.weight_source for item in rows}  # type: ignore[attr-defined]
    tiers = Counter(source.values())
    assert set(tiers) == {"catalogue", "catalogue_renamed", "catalogue_unsplit",
                          "catalogue_split_mean", "imputed_mdc_median"}
    real = tiers["catalogue"] + tiers["catalogue_renamed"] + tiers["catalogue_unsplit"]
    assert real / 628 > 0.75
    # name-matched, not code-matched: 1.1 AA19 is a heart transplant, the catalogue's AA29
    heart = [item.row for item in rows if item.row.drg == "AA19"]  # type: ignore[attr-defined]
    assert {(r.hospital_levels, r.weight, r.catalogue_code) for r in heart} == {
        ("2|3", D("23.4874"), "AA29"), ("1", None, "AA29")}


def test_ncms_set_reflects_the_2013_targets() -> None:
    params = load_params("ncms_2013_targets")
    policy = params.engine_tables["benefit_policy"].to_pylist()
    annual = params.engine_tables["benefit_annual"].to_pylist()
    assert [(p["insurance_type"], p["reimbursement_ratio"]) for p in policy] == [
        ("ncms", D("0.7500"))]
    assert annual[0]["annual_cap"] >= D(80000)
    assert params.manifest.pricing.default_insurance_type == "ncms"
    # inherited from the base set by `extends`
    assert params.table_paths["drg_weights"].parent.name == "anon_region_2025"


def broken(tmp_path: Path, **kwargs) -> str:
    with pytest.raises(PaymentParameterError) as error:
        load_params(make_params(tmp_path / "set", **kwargs))
    return str(error.value)


def test_too_many_decimals_names_file_line_and_field(tmp_path: Path) -> None:
    weights = [{"drg": "AA11", "weight": "1.5"}, {"drg": "BB13", "weight": "1.1234567"}]
    message = broken(tmp_path, tables={"drg_weights": weights})
    assert "drg_weights.csv, line 3, field 'weight'" in message
    assert "no more than 6 decimal places" in message


def test_ratio_out_of_range(tmp_path: Path) -> None:
    policy = [{"insurance_type": "resident", "deductible": "0", "reimbursement_ratio": "1.2"}]
    assert "benefit_policy.csv, line 2, field 'reimbursement_ratio'" in broken(
        tmp_path, tables={"benefit_policy": policy})


def test_group_paid_by_weight_needs_a_weight(tmp_path: Path) -> None:
    message = broken(tmp_path, tables={"drg_weights": [{"drg": "AA11"}]})
    assert "drg_weights.csv, line 2" in message and "weight must be > 0" in message


def test_duplicate_weight_for_the_same_level(tmp_path: Path) -> None:
    weights = [{"drg": "AA11", "hospital_levels": "2|3", "weight": "1"},
               {"drg": "AA11", "hospital_levels": "3", "weight": "2"}]
    message = broken(tmp_path, tables={"drg_weights": weights})
    assert "line 3, field 'hospital_levels': duplicate key (AA11, 3) (first on line 2)" in message


def test_unknown_column_and_unknown_table(tmp_path: Path) -> None:
    hospitals = [{**DEFAULT_TABLES["hospitals"][0], "colour": "red"}]
    assert "unknown columns ['colour']" in broken(tmp_path / "a", tables={"hospitals": hospitals})
    folder = make_params(tmp_path / "b")
    manifest = folder / "manifest.toml"
    manifest.write_text(manifest.read_text() + 'weights = "x.csv"\n', encoding="utf-8")
    with pytest.raises(PaymentParameterError, match="unknown tables \\['weights'\\]"):
        load_params(folder)


def test_missing_scheme_table(tmp_path: Path) -> None:
    folder = make_params(tmp_path / "set")
    manifest = folder / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('base_rates = "base_rates.csv"\n', ""),
                        encoding="utf-8")
    with pytest.raises(PaymentParameterError, match="lacks \\['base_rates'\\]"):
        load_params(folder)


def test_overlapping_outlier_bands(tmp_path: Path) -> None:
    rules = [{"kind": "high", "band_from": "0", "band_to": "2", "multiple": "3",
              "inclusive": "true", "mode": "per_item"},
             {"kind": "high", "band_from": "1", "multiple": "2", "inclusive": "true",
              "mode": "per_item"}]
    assert "outlier_rules.csv, line 3, field 'band_from'" in broken(
        tmp_path, tables={"outlier_rules": rules})


def test_settlement_bands_must_start_at_zero_and_be_contiguous(tmp_path: Path) -> None:
    gap = [{"direction": "surplus", "band_from": "0", "band_to": "0.1", "share": "1"},
           {"direction": "surplus", "band_from": "0.2", "share": "0.5"},
           {"direction": "overspend", "band_from": "0", "share": "0"}]
    assert "must be contiguous" in broken(tmp_path / "a", tables={"settlement_shares": gap})
    one_sided = [{"direction": "surplus", "band_from": "0", "share": "1"}]
    assert "no 'overspend' rows" in broken(tmp_path / "b",
                                            tables={"settlement_shares": one_sided})


def test_default_insurance_type_needs_a_policy(tmp_path: Path) -> None:
    message = broken(tmp_path, pricing={"default_insurance_type": "employee"})
    assert "'employee' has no benefit_policy row" in message


def test_policy_needs_an_annual_row(tmp_path: Path) -> None:
    policy = [*DEFAULT_TABLES["benefit_policy"],
              {"insurance_type": "employee", "deductible": "0", "reimbursement_ratio": "0.9"}]
    assert "no benefit_annual row for insurance type 'employee'" in broken(
        tmp_path, tables={"benefit_policy": policy})


def test_bad_manifest_values(tmp_path: Path) -> None:
    assert "field 'pricing.scheme'" in broken(tmp_path / "a", pricing={"scheme": "FFS"})
    assert "field 'pricing.outlier_basis'" in broken(
        tmp_path / "b", pricing={"outlier_basis": "median"})


def test_extends_cycle_and_unknown_set(tmp_path: Path) -> None:
    first = make_params(tmp_path / "one", extra_manifest='extends = "two"')
    make_params(tmp_path / "two", extra_manifest='extends = "one"')
    with pytest.raises(PaymentParameterError, match="cycle"):
        load_params(first)
    with pytest.raises(PaymentParameterError, match="unknown payment parameter set 'nope'"):
        load_params("nope")


def test_group_average_basis_needs_average_costs(tmp_path: Path) -> None:
    message = broken(tmp_path, pricing={"outlier_basis": "group_average"})
    assert "drg_weights.csv, line 2, field 'average_cost'" in message
