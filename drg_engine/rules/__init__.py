"""Rule sets as data: manifests, validated tables, compiled lookup arrays, a hash-keyed cache."""

from drg_engine.rules.cache import load_rules
from drg_engine.rules.compiled import CompiledRules
from drg_engine.rules.manifest import available_rule_sets

__all__ = ["CompiledRules", "available_rule_sets", "load_rules"]
