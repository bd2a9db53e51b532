"""DIP (按病种分值付费) rule sets and single-disease (按单病种付费) lists.

* ``manifest`` / ``tables`` / ``compiled`` / ``cache`` - DIP rule sets in
  ``grouper_rules/dip/<id>/``: validated manifest and CSV tables, compiled to integer lookups,
  cached by content hash;
* ``specs`` / ``codes`` / ``code_facts`` - the code-spec grammar, per-distinct-code prefix
  lookups, and the facts a compiled rule set keeps per code it has met (ids across batches);
* ``bundle_list`` - single-disease lists in ``grouper_rules/bundles/<id>/``;
* ``catalogue`` / ``scores`` - building a local catalogue and its scores from history (the
  scores computed by ``drg_engine.payment.group_averages``, as calibration computes them);
* ``pipeline`` / ``explain`` - the grouping job and the trace of one claim;
* ``convert`` - the converter of the national DIP 3.0 tables.

The assignment kernels are ``drg_engine.grouping.dip`` and ``drg_engine.grouping.bundles``.
"""

from drg_engine.dip.bundle_list import BundleList, available_bundle_lists, load_bundle_list
from drg_engine.dip.cache import load_dip_rules
from drg_engine.dip.compiled import CompiledDip
from drg_engine.dip.manifest import available_dip_rule_sets

__all__ = [
    "BundleList",
    "CompiledDip",
    "available_bundle_lists",
    "available_dip_rule_sets",
    "load_bundle_list",
    "load_dip_rules",
]
