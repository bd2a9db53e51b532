"""Inpatient claim audits in DuckDB: hanging bed (挂床), overlapping stays, decomposed
hospitalisation (分解住院), low-standard admission (低标入院), upcoding (高套) and more, each a
registered rule with evidence, amounts at risk counted once, and an offline HTML report.

    from drg_engine.audit import load_inputs, run_audit
    result = run_audit(load_inputs("claims.parquet", charges="charges.parquet"))
    result.findings        # one row per finding (open or exempted), evidence as JSON
"""

from drg_engine.audit.inputs import AuditInputs, load_inputs
from drg_engine.audit.params import AuditParams, resolve_params
from drg_engine.audit.registry import Registry, Rule, load_registry
from drg_engine.audit.runner import AuditResult, RuleOutcome, run_audit

__all__ = [
    "AuditInputs",
    "AuditParams",
    "AuditResult",
    "Registry",
    "Rule",
    "RuleOutcome",
    "load_inputs",
    "load_registry",
    "resolve_params",
    "run_audit",
]
