"""The rule registry (codes, names, docs, parameters, inputs) and the parameters file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drg_engine.audit.params import AuditParamsError, resolve_params
from drg_engine.audit.registry import (
    FAMILIES,
    RULES_DIR,
    RegistryError,
    load_registry,
)

REQUIRED_FAMILIES = {"data-quality", "hanging-bed", "overlapping-stays",
                     "decomposed-hospitalisation", "low-standard-admission", "upcoding",
                     "charges-after-discharge", "length-of-stay"}


def test_every_rule_has_query_metadata_and_docs() -> None:
    registry = load_registry()
    codes = [rule.code for rule in registry.rules]
    assert len(codes) == len(set(codes)) and len(codes) >= 25
    assert {rule.spec.family for rule in registry.rules} == REQUIRED_FAMILIES <= set(FAMILIES)
    for rule in registry.rules:
        assert rule.path.with_suffix(".sql").is_file()
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", rule.spec.name)
        assert rule.spec.docs.what and rule.spec.docs.false_positives
        for name, spec in rule.spec.params.items():
            assert f"${name}" in rule.sql + rule.notes_sql, (rule.code, name)
            assert spec.description
    # data-quality rules run first
    families = [rule.spec.family for rule in registry.rules]
    assert families.index("hanging-bed") > max(i for i, f in enumerate(families)
                                               if f == "data-quality")


def test_hanging_bed_family_covers_the_reference_signals() -> None:
    names = {rule.spec.name for rule in load_registry().rules}
    assert {"hanging-bed-empty-days", "hanging-bed-idle-start", "hanging-bed-low-intensity",
            "hanging-bed-activity-elsewhere", "hanging-bed-templated-days",
            "bed-nursing-units-above-los", "hospital-census-above-beds",
            "overlapping-inpatient-stays", "decomposed-hospitalisation",
            "low-standard-admission", "cc-mcc-rate-above-peers",
            "secondary-dx-alone-changes-group", "procedure-without-surgery-charges",
            "ventilation-hours-just-over-threshold", "charges-after-discharge",
            "services-after-death", "length-of-stay-extreme"} <= names


def test_registry_rejects_undeclared_and_unused_parameters(tmp_path: Path) -> None:
    toml = (RULES_DIR / "LS001.toml").read_text(encoding="utf-8")
    (tmp_path / "LS001.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "LS001.sql").write_text("SELECT $los_multiple, $nothing_declared",
                                        encoding="utf-8")
    with pytest.raises(RegistryError, match="undeclared parameter"):
        load_registry.__wrapped__(tmp_path)
    (tmp_path / "LS001.sql").write_text("SELECT 1", encoding="utf-8")
    with pytest.raises(RegistryError, match="never used"):
        load_registry.__wrapped__(tmp_path)
    (tmp_path / "LS001.toml").write_text(toml.replace('name = "length-of-stay-extreme"',
                                                      'name = "Length_Of_Stay"'),
                                         encoding="utf-8")
    with pytest.raises(RegistryError, match="kebab-case"):
        load_registry.__wrapped__(tmp_path)


def test_parameters_file_overrides_and_validates(tmp_path: Path) -> None:
    registry = load_registry()
    path = tmp_path / "params.toml"
    path.write_text('[global]\nfund_share = 0.6\n\n[hanging-bed-empty-days]\n'
                    'min_empty_run = 4\n\n[tables]\ncategory_map = "local.csv"\n',
                    encoding="utf-8")
    params = resolve_params(registry, path)
    assert params.global_values["fund_share"] == 0.6
    assert params.for_rule("HB001")["min_empty_run"] == 4
    assert params.for_rule("HB001")["strong_min_los"] == 5  # untouched default
    assert params.tables["category_map"] == tmp_path / "local.csv"
    assert resolve_params(registry).for_rule("HB001")["min_empty_run"] == 3
    for text, message in (
        ("[HB001]\nmin_empty_run = 'three'\n", "expected int"),
        ("[global]\nfund_shar = 0.6\n", "unknown global parameter 'fund_shar'"),
        ("[ZZ999]\nx = 1\n", "no audit rule 'ZZ999'"),
        ("[HB001]\nenabled = 'no'\n", "enabled: true or false"),
        ("[HB001\n", "cannot be parsed"),
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises((AuditParamsError, RegistryError), match=re.escape(message)):
            resolve_params(registry, path)
    json_path = tmp_path / "params.json"
    json_path.write_text('{"DH001": {"window_days": 7, "enabled": false}}', encoding="utf-8")
    params = resolve_params(registry, json_path)
    assert params.for_rule("DH001")["window_days"] == 7 and "DH001" in params.disabled
