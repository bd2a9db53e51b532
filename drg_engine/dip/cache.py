"""Load a DIP rule set by id or folder, compiled once and cached on disk by content hash.

The same scheme as the CHS-DRG rule sets (``drg_engine.rules.cache``): the key hashes the DIP
compiler version, the manifest and every table file; entries live in the same cache folder
(``$DRG_ENGINE_CACHE`` or ``~/.cache/drg-engine``) under a ``dip-`` prefix, and an unreadable or
stale entry is rebuilt, never trusted.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from drg_engine.dip.compiled import COMPILER_VERSION, CompiledDip, compile_dip
from drg_engine.dip.manifest import ResolvedDipRuleSet, resolve_dip_rule_set
from drg_engine.rules.cache import cache_dir, hash_files, read_cached, write_cached


def dip_content_hash(rule_set: ResolvedDipRuleSet) -> str:
    return hash_files(f"dip compiler {COMPILER_VERSION}", [rule_set.manifest_path],
                      rule_set.table_paths)


def compile_dip_rule_set(rule_set: ResolvedDipRuleSet, digest: str | None = None) -> CompiledDip:
    """Validate and compile without touching the cache."""
    from drg_engine.dip.tables import load_dip_tables  # row models: only on a miss

    return compile_dip(load_dip_tables(rule_set), digest or dip_content_hash(rule_set))


@lru_cache(maxsize=8)
def _load_cached(directory: str, digest: str) -> CompiledDip:
    rule_set = resolve_dip_rule_set(directory)
    path = cache_dir() / f"dip-{rule_set.manifest.id}-{digest[:20]}.pickle"
    rules = read_cached(path, digest, CompiledDip)
    if rules is None:
        rules = compile_dip_rule_set(rule_set, digest)
        write_cached(path, rules)
    return rules


def load_dip_rules(id_or_path: str | Path = "dip3_national_partial") -> CompiledDip:
    """The compiled DIP rule set for an id (under grouper_rules/dip/) or a rule-set folder."""
    rule_set = resolve_dip_rule_set(id_or_path)
    return _load_cached(str(rule_set.directory), dip_content_hash(rule_set))
