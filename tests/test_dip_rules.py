"""DIP rule sets: the spec grammar, loading with file/line/field errors, the shipped set, and
the converter's repeatability."""

from __future__ import annotations

import csv
import filecmp
from collections import Counter
from pathlib import Path

import pytest

from drg_engine.dip.cache import load_dip_rules
from drg_engine.dip.convert import convert
from drg_engine.dip.manifest import available_dip_rule_sets
from drg_engine.dip.specs import (
    SpecError,
    normalise_dx,
    parse_dx_spec,
    parse_px_expression,
    parse_px_set,
)
from drg_engine.errors import RuleSetError
from drg_engine.rules.manifest import available_rule_sets
from tests.conftest import REPO
from tests.test_dip_support import compile_set, group_row, write_rule_set

NATIONAL_DIR = REPO / "grouper_rules" / "dip" / "dip3_national_partial"
REFERENCE = REPO.parent / "shared" / "reference" / "dip_and_payment" / "data"


def test_dx_specs_prefixes_ranges_and_wildcards():
    assert parse_dx_spec("K35|K35.8") == ("K35", "K35.8")
    assert parse_dx_spec("C00-C02") == ("C00", "C01", "C02")
    assert parse_dx_spec("C98-D01") == ("C98", "C99", "D00", "D01")
    assert parse_dx_spec("T31.3-T31.5") == ("T31.3", "T31.4", "T31.5")
    assert parse_dx_spec("所有诊断") is None and parse_dx_spec("*") is None
    assert parse_dx_spec("M47.0+") == ("M47.0",)
    assert normalise_dx(" a01.000x005+J17.0* ") == "A01.000X005"
    for bad in ("C75-C00", "12.3", "K35||K36", "T31.3-T32.5"):
        with pytest.raises(SpecError):
            parse_dx_spec(bad)


def test_px_expressions():
    assert parse_px_expression("99.2503+99.2800x005|99.2503") == (
        ("99.2503", "99.2800x005"), ("99.2503",))
    assert parse_px_set("39.2700X001+39.9600x003") == ("39.2700x001", "39.9600x003")
    with pytest.raises(SpecError):
        parse_px_expression("K35")


def test_shipped_national_rule_set_is_labelled_partial_and_complete_where_the_source_is():
    assert "dip3_national_partial" in available_dip_rule_sets()
    # The DRG tools list only DRG rule sets: the DIP folder is not one of them.
    assert "dip" not in available_rule_sets()
    rules = load_dip_rules("dip3_national_partial")
    assert rules.partial and "sampled" in (rules.partial_note or "")
    stages = Counter(spec.stage for spec in rules.group_specs)
    assert stages["pregroup"] == 19 and stages["merge"] == 39 and stages["assisted"] == 46
    assert stages["base"] == 75
    flagged = sum(spec.basic_level for spec in rules.group_specs if spec.stage != "basic")
    assert stages["basic"] + flagged == 127  # every primary-care row, once


def test_converter_reproduces_the_shipped_tables(tmp_path: Path):
    if not REFERENCE.is_dir():
        pytest.skip("shared/reference is not beside the repository")
    convert(REFERENCE, tmp_path, REPO / "grouper_rules" / "chs_drg_1_1")
    for name in ("groups.csv", "procedure_attributes.csv", "cci_components.csv",
                 "severity_codes.csv"):
        assert filecmp.cmp(tmp_path / name, NATIONAL_DIR / name, shallow=False), name


@pytest.mark.parametrize(("row", "message"), [
    (group_row("G1", "base", "K35.x|", "47.0100"), "field 'principal_dx'"),
    (group_row("G1", "base", "*", "47.0100"), "only pre-groups may take any diagnosis"),
    (group_row("G1", "base", "K35", "47-0100"), "field 'px_expression'"),
    (group_row("G1", "base", "K35", treatment="surgical"), "a core group without procedures"),
    (group_row("G1", "middle", "K35"), "field 'stage'"),
    (group_row("G1", "basic", "K35"), "field 'basic_level'"),
    (group_row("G1", "comprehensive", "K35", "47.0100"), "diagnosis x treatment type only"),
])
def test_group_table_errors_name_file_line_and_field(tmp_path: Path, row, message):
    folder = write_rule_set(tmp_path / "bad", [group_row("G0", "base", "K35"), row])
    with pytest.raises(RuleSetError, match=message) as error:
        compile_set(folder)
    assert "groups.csv" in str(error.value)
    assert "line 3" in str(error.value)


def test_duplicate_codes_unknown_tables_and_references(tmp_path: Path):
    folder = write_rule_set(tmp_path / "dup", [group_row("G0", "base", "K35"),
                                               group_row("G0", "base", "K36")])
    with pytest.raises(RuleSetError, match="line 3, field 'group_code': duplicate"):
        compile_set(folder)
    aux = "group_code,aux_type,coefficient,cases,note\nNOPE,SEV:severe,1.2000,,\n"
    folder = write_rule_set(tmp_path / "ref", [group_row("G0", "base", "K35")],
                            extra_tables={"auxiliary_coefficients": aux})
    with pytest.raises(RuleSetError, match=r"auxiliary_coefficients\.csv, line 2, field "
                                           r"'group_code': unknown group"):
        compile_set(folder)
    aux = "group_code,aux_type,coefficient,cases,note\nG0,SEVERE,1.2000,,\n"
    folder = write_rule_set(tmp_path / "typ", [group_row("G0", "base", "K35")],
                            extra_tables={"auxiliary_coefficients": aux})
    with pytest.raises(RuleSetError, match="field 'aux_type'"):
        compile_set(folder)
    folder = write_rule_set(tmp_path / "tab", [group_row("G0", "base", "K35")],
                            extra_tables={"mystery": "a\n1\n"})
    with pytest.raises(RuleSetError, match="unknown tables"):
        compile_set(folder)


def test_manifest_errors(tmp_path: Path):
    folder = write_rule_set(tmp_path / "opt", [group_row("G0", "base", "K35")],
                            options='tie_break = ["cheapest"]')
    with pytest.raises(RuleSetError, match=r"options\.tie_break"):
        compile_set(folder)
    folder = write_rule_set(tmp_path / "part", [group_row("G0", "base", "K35")])
    text = (folder / "manifest.toml").read_text(encoding="utf-8")
    (folder / "manifest.toml").write_text(text.replace('source = "tests"',
                                                       'source = "tests"\npartial = true'))
    with pytest.raises(RuleSetError, match="partial_note"):
        compile_set(folder)


def test_shipped_tables_have_real_codes_only():
    with (NATIONAL_DIR / "groups.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sources = {row["source"].split(" row ")[0] for row in rows}
    assert any("先期分组" in s for s in sources) and any("基层病种" in s for s in sources)
    assert all(row["source"] for row in rows)
