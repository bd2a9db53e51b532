"""Rule-set loading: manifests, errors naming file/line/field, extends, cache, converter."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import numpy as np
import pytest

from drg_engine.errors import RuleSetError
from drg_engine.rules import cache, load_rules
from drg_engine.rules.cache import cache_dir, compile_rule_set, content_hash
from drg_engine.rules.convert import convert
from drg_engine.rules.manifest import default_rules_root, resolve_rule_set

RULES_ROOT = default_rules_root()
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "chs_drg_1_1"


@pytest.fixture()
def broken_copy(tmp_path: Path) -> Path:
    """A writable copy of chs_drg_1_1 to break in one place."""
    target = tmp_path / "chs_drg_1_1"
    shutil.copytree(RULES_ROOT / "chs_drg_1_1", target)
    return target


def _replace_line(path: Path, line_number: int, new_line: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line_number - 1] = new_line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_shipped_rule_sets_load_with_expected_shape() -> None:
    rules = load_rules("chs_drg_1_1")
    assert len(rules.drg_codes) == 628
    assert len(rules.mdc_codes) == 26
    assert len(rules.candidate_codes) == 376
    assert not rules.qy_enabled
    qy = load_rules("chs_drg_1_1_qy")
    assert qy.qy_enabled
    assert qy.candidate_codes.count("QY") == 26
    assert qy.drg_codes == rules.drg_codes


def test_mdc_evaluation_order_follows_eval_order_column() -> None:
    rules = load_rules("chs_drg_1_1")
    assert "".join(code[-1] for code in rules.mdc_codes) == "APYZMNBCDEFGHIJKLOQRSTUVWX"
    # FF2 is evaluated before FF1 inside MDCF (order_in_mdc, not the code).
    assert rules.candidate_codes.index("FF2") < rules.candidate_codes.index("FF1")


def test_bad_value_names_file_line_and_field(broken_copy: Path) -> None:
    _replace_line(broken_copy / "drg.csv", 5, "AD19,AD1,first,none,,,,胰腺移植")
    with pytest.raises(RuleSetError) as info:
        compile_rule_set(resolve_rule_set(broken_copy))
    message = str(info.value)
    assert "drg.csv" in message and "line 5" in message and "'order_in_adrg'" in message


def test_unknown_condition_kind_is_rejected(broken_copy: Path) -> None:
    path = broken_copy / "adrg.csv"
    line = path.read_text(encoding="utf-8").splitlines()[1]
    _replace_line(path, 2, line.replace("main_px", "main_px_somewhere"))
    with pytest.raises(RuleSetError, match=r"adrg\.csv, line 2, field 'cond_kind'"):
        compile_rule_set(resolve_rule_set(broken_copy))


def test_dangling_reference_is_rejected(broken_copy: Path) -> None:
    _replace_line(broken_copy / "drg.csv", 3, "AB19,ZZ9,1,none,,,,肝移植")
    with pytest.raises(RuleSetError, match=r"drg\.csv, line 3, field 'adrg': unknown ADRG 'ZZ9'"):
        compile_rule_set(resolve_rule_set(broken_copy))


def test_split_sequence_must_end_unconditionally(broken_copy: Path) -> None:
    _replace_line(broken_copy / "drg.csv", 2, "AA19,AA1,1,mcc,,,,心脏移植")
    with pytest.raises(RuleSetError, match="last split of ADRG AA1"):
        compile_rule_set(resolve_rule_set(broken_copy))


def test_manifest_errors_name_the_field(broken_copy: Path) -> None:
    manifest = broken_copy / "manifest.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace("qy_enabled = false", 'qy_enabled = "no"'),
        encoding="utf-8",
    )
    with pytest.raises(RuleSetError, match=r"manifest\.toml: field 'options\.qy_enabled'"):
        resolve_rule_set(broken_copy)


def test_missing_table_file_is_named(broken_copy: Path) -> None:
    (broken_copy / "cc_mcc.csv").unlink()
    with pytest.raises(RuleSetError, match="table 'cc_mcc'"):
        resolve_rule_set(broken_copy)


def test_unknown_rule_set_lists_known_ones() -> None:
    with pytest.raises(RuleSetError, match=r"unknown rule set 'chs_drg_9_9'.*chs_drg_1_1"):
        load_rules("chs_drg_9_9")


def test_extends_inherits_tables_and_overrides_options() -> None:
    resolved = resolve_rule_set("chs_drg_1_1_qy")
    base = resolve_rule_set("chs_drg_1_1")
    assert resolved.table_paths == base.table_paths
    assert resolved.manifest.options.qy_enabled
    assert content_hash(resolved) != content_hash(base)


def test_cache_is_keyed_by_content(
    broken_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRG_ENGINE_CACHE", str(tmp_path / "cache"))
    first = load_rules(broken_copy)
    assert list(cache_dir().glob("chs_drg_1_1-*.pickle"))
    # Editing a table changes the hash: the edited rule set is compiled anew, not served stale.
    path = broken_copy / "drg.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("心脏移植", "心脏移植术"), "utf-8")
    second = load_rules(broken_copy)
    assert second.content_hash != first.content_hash
    assert second.drg_names[second.drg_codes.index("AA19")] == "心脏移植术"
    assert len(list(cache_dir().glob("chs_drg_1_1-*.pickle"))) == 2


def test_corrupt_cache_entry_is_rebuilt(
    broken_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRG_ENGINE_CACHE", str(tmp_path / "cache"))
    load_rules(broken_copy)
    (entry,) = cache_dir().glob("chs_drg_1_1-*.pickle")
    entry.write_bytes(b"not a pickle")
    cache._load_cached.cache_clear()
    rules = load_rules(broken_copy)
    assert len(rules.drg_codes) == 628
    assert entry.read_bytes() != b"not a pickle"


def test_compiled_lookup_arrays_agree_with_tables() -> None:
    rules = load_rules("chs_drg_1_1")
    dx_id = {code: i + 1 for i, code in enumerate(rules.dx_universe)}
    # A01.100 is an MCC with exclusion table 1 (cc_mcc.csv line 2).
    assert rules.dx_cc_level[dx_id["A01.100"]] == 2
    assert rules.dx_cc_table[dx_id["A01.100"]] == 1
    # I21.001 opens MDCF only.
    mask = int(rules.dx_mdc_mask[dx_id["I21.001"]])
    assert [rules.mdc_codes[m] for m in range(26) if mask >> m & 1] == ["MDCF"]
    # 1.1 split sequences have at most 3 positions, each ADRG at least one, no bounds.
    assert rules.split_drg.shape == (376, 3)
    assert np.all(rules.split_drg[:, 0] >= 0)
    assert not rules.candidate_needs_los.any()


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference is not beside the repo")
def test_converter_reproduces_committed_tables(tmp_path: Path) -> None:
    counts = convert(REFERENCE, tmp_path)
    committed = RULES_ROOT / "chs_drg_1_1"
    for name in counts:
        assert filecmp.cmp(tmp_path / name, committed / name, shallow=False), name
    assert counts["drg.csv"] == 628
