"""Run the audit: register the inputs in DuckDB (zero copy), build the layered models, run the
data-quality gate, regroup counterfactual claims, run every rule, then assemble findings.

Order of a run (every step a SQL file under ``sql/`` or a rule under ``rules/``):

1. models over the inputs: ``hospitals``, ``claims`` (-> claims_all), ``charge_lines``, ``visits``;
2. the data-quality rules (family ``data-quality``) -> ``dq_findings``; their blocking hits
   -> ``dq_blocked``; ``gate`` keeps the rules away from blocked claims and lines;
3. derived models: ``charge_days``, ``norms``, ``exemptions``, ``case_mix``;
4. counterfactual regrouping for the rules that need it (``regroup.py``);
5. each violation rule whose inputs are present and that is enabled -> ``hits``;
6. ``findings``: exemptions, escalation, stable ids, amounts counted once, calendars;
7. ``summaries`` for the report.

A rule whose inputs are absent is reported as skipped with the reason, never dropped silently.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.audit import regroup
from drg_engine.audit.inputs import (
    CHARGE_ALIASES,
    HOSPITAL_ALIASES,
    VISIT_ALIASES,
    AuditInputs,
)
from drg_engine.audit.params import AuditParams, resolve_params
from drg_engine.audit.registry import Registry, RegistryError, Rule, load_registry
from drg_engine.rules import CompiledRules

SQL_DIR = Path(__file__).with_name("sql")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
HIT_COLUMNS = (
    "claim_id", "hospital_id", "related_id", "key", "grade", "value", "threshold", "message",
    "amount", "lines", "exemption", "exemption_reason", "evidence",
)
INPUT_HINTS = {
    "charges": "charge lines (--charges)",
    "charges:item_code": "an item-code column in the charge lines",
    "charges:quantity": "a quantity column in the charge lines",
    "visits": "the persons' other transactions (--visits)",
    "hospitals": "a hospital master (--hospitals)",
    "hospitals:approved_beds": "approved beds in the hospital master",
}
_HITS_DDL = """
CREATE OR REPLACE TABLE {table} (
    hit_id BIGINT, rule_code VARCHAR, claim_id VARCHAR, hospital_id VARCHAR, related_id VARCHAR,
    key VARCHAR, grade VARCHAR, value DOUBLE, threshold DOUBLE, message VARCHAR, amount DOUBLE,
    lines STRUCT(line_id VARCHAR, amount DOUBLE)[], exemption VARCHAR, exemption_reason VARCHAR,
    evidence VARCHAR
)
"""


@dataclass
class RuleOutcome:
    """What happened to one rule in a run."""

    code: str
    name: str
    family: str
    title: str
    status: str  # "ran", "skipped" or "disabled"
    reason: str = ""
    hits: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class AuditResult:
    """Everything a report needs; tables are Arrow."""

    findings: pa.Table
    data_quality: pa.Table
    hospitals: pa.Table
    monthly: pa.Table
    outcomes: list[RuleOutcome]
    params: AuditParams
    registry: Registry
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def open_findings(self) -> pa.Table:
        return self.findings.filter(pc.equal(self.findings.column("status"), "open"))

    @property
    def skipped(self) -> list[RuleOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status != "ran"]


def _empty(aliases: dict[str, tuple[str, ...]]) -> pa.Table:
    return pa.table({name: pa.array([], type=pa.string()) for name in aliases})


class _Session:
    def __init__(self, inputs: AuditInputs, params: AuditParams, threads: int | None) -> None:
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads TO {int(threads)}")
        self.params = params
        self.timings: dict[str, float] = {}
        claims = inputs.claims
        self.con.register("input_claims", claims.table)
        self.con.register("claim_rejects", claims.rejects)
        self.con.register("input_charges", inputs.charges if inputs.charges is not None
                          else _empty(CHARGE_ALIASES))
        self.con.register("input_visits", inputs.visits if inputs.visits is not None
                          else _empty(VISIT_ALIASES))
        self.con.register("input_hospitals", inputs.hospitals if inputs.hospitals is not None
                          else _empty(HOSPITAL_ALIASES))
        self.con.register("category_map", inputs.category_map)
        self.con.register("dx_support", inputs.dx_support)

    def run_sql(self, text: str, values: dict[str, Any], label: str, *, split: bool = True) -> None:
        started = time.perf_counter()
        for statement in _statements(text) if split else [text]:
            names = set(_param_names(statement))
            try:
                self.con.execute(statement, {name: values[name] for name in names}).fetchall()
            except duckdb.Error as exc:
                raise RegistryError(f"{label}: {exc}") from None
        self.timings[label] = self.timings.get(label, 0.0) + time.perf_counter() - started

    def model(self, name: str, extra: dict[str, Any] | None = None) -> None:
        values = {**self.params.global_values, **(extra or {})}
        self.run_sql((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"), values, name)

    def rule(self, rule: Rule, table: str, first_id: int) -> int:
        values = self.params.query_values(rule.code, rule.referenced_params())
        columns = ", ".join(HIT_COLUMNS)
        query = rule.sql.rstrip().rstrip(";")
        wrapped = (
            f"INSERT INTO {table} SELECT {first_id} + row_number() OVER () AS hit_id, "
            f"'{rule.code}' AS rule_code, CAST(claim_id AS VARCHAR), "
            "CAST(hospital_id AS VARCHAR), CAST(related_id AS VARCHAR), CAST(key AS VARCHAR), "
            "CAST(grade AS VARCHAR), CAST(value AS DOUBLE), CAST(threshold AS DOUBLE), "
            "CAST(message AS VARCHAR), CAST(amount AS DOUBLE), "
            "CAST(lines AS STRUCT(line_id VARCHAR, amount DOUBLE)[]), "
            "CAST(exemption AS VARCHAR), CAST(exemption_reason AS VARCHAR), "
            f"CAST(evidence AS VARCHAR) FROM (SELECT {columns} FROM ({query}))"
        )
        before = self.count(table)
        self.run_sql(wrapped, values, f"{rule.code} {rule.spec.name}", split=False)
        return self.count(table) - before

    def notes(self, rule: Rule) -> list[str]:
        if not rule.notes_sql:
            return []
        values = self.params.query_values(rule.code, rule.referenced_note_params())
        try:
            rows = self.con.execute(rule.notes_sql, values).fetchall()
        except duckdb.Error as exc:
            raise RegistryError(f"{rule.code} notes: {exc}") from None
        return [str(row[0]) for row in rows if row[0]]

    def count(self, table: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    def arrow(self, query: str, params: dict[str, Any] | None = None) -> pa.Table:
        return self.con.sql(query, params=params).to_arrow_table()


def _statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def _param_names(statement: str) -> list[str]:
    return _PARAM.findall(statement)


def _missing_inputs(rule: Rule, available: set[str]) -> list[str]:
    return [name for name in rule.spec.inputs if name not in available]


def _rule_meta(registry: Registry, params: AuditParams) -> pa.Table:
    rules = registry.rules
    return pa.table({
        "rule_code": [rule.code for rule in rules],
        "rule_name": [rule.spec.name for rule in rules],
        "rule_version": [rule.spec.version for rule in rules],
        "family": [rule.spec.family for rule in rules],
        "title": [rule.spec.title for rule in rules],
        "exemptions": pa.array([rule.spec.exemptions for rule in rules],
                               type=pa.list_(pa.string())),
        "escalate_with": pa.array([rule.spec.escalate_with for rule in rules],
                                  type=pa.list_(pa.string())),
        "calendar": ["calendar" in rule.spec.evidence for rule in rules],
        "params_json": [json.dumps(params.for_rule(rule.code), ensure_ascii=False, sort_keys=True)
                        for rule in rules],
    })


def _regroup_stage(session: _Session, inputs: AuditInputs, runnable: set[str]) -> None:
    """Counterfactual groups for UC002/UC003/UC004 and merged stays for DH001.

    Subsets of the clean claims are taken by row position (``row_index``), not by matching
    claim ids, so a million-claim batch is sliced with array takes.
    """
    con = session.con
    clean = inputs.claims.clean
    rule_sets = inputs.claims.rule_sets
    started = time.perf_counter()

    def rows(query: str, params: dict[str, Any] | None = None) -> np.ndarray:
        column = session.arrow(query, params).column(0)
        return np.sort(np.asarray(column.combine_chunks().to_numpy(zero_copy_only=False),
                                  dtype=np.int64))

    def subset(positions: np.ndarray) -> pa.Table:
        return clean.take(pa.array(positions, type=pa.int64()))

    trail = regroup.TRAIL_SCHEMA.empty_table()
    if "UC002" in runnable:
        chosen = rows("SELECT c.row_index FROM claims AS c SEMI JOIN charge_claims AS k "
                      "ON k.claim_id = c.claim_id WHERE c.status = 'SUCCESS'")
        part = subset(chosen).append_column(
            "severity", inputs.claims.table.column("severity").take(pa.array(chosen)))
        trail = regroup.tables_by_rule_set(part, rule_sets, regroup.drop_each_secondary,
                                           regroup.TRAIL_SCHEMA)
    con.register("regroup_secondary", trail)
    session.model("secondary_flips")

    no_rows = np.zeros(0, dtype=np.int64)
    without_or, short_vent = no_rows, no_rows
    if "UC003" in runnable:
        without_or = rows(
            "SELECT c.row_index FROM claims AS c SEMI JOIN charge_claims AS k "
            "ON k.claim_id = c.claim_id WHERE c.status = 'SUCCESS' AND len(list_filter("
            "c.or_procedures, lambda p: len(list_filter($excluded, lambda x: "
            "starts_with(p, x))) = 0)) > 0",
            {"excluded": list(session.params.for_rule("UC003")["excluded_procedure_prefixes"])})
    uc004 = session.params.for_rule("UC004")
    if "UC004" in runnable:
        threshold = float(uc004["threshold_hours"])
        margin = float(uc004["margin_hours"])
        short_vent = rows(
            "SELECT row_index FROM claims WHERE status = 'SUCCESS' "
            "AND ventilation_hours >= $low AND ventilation_hours < $high "
            "AND len(list_filter(procedures, lambda p: list_contains($codes, p))) > 0",
            {"low": threshold, "high": threshold + margin,
             "codes": list(uc004["long_ventilation_codes"])},
        )
    claim_ids = clean.column("claim_id")
    or_ids = claim_ids.take(pa.array(without_or)).combine_chunks()
    vent_ids = claim_ids.take(pa.array(short_vent)).combine_chunks()

    def variants_of(part: pa.Table, compiled: CompiledRules) -> pa.Table:
        return regroup.procedure_variants(
            part, compiled, without_or=or_ids, short_ventilation=vent_ids,
            long_ventilation_codes=list(uc004["long_ventilation_codes"]),
            short_ventilation_code=str(uc004["short_ventilation_code"]),
        )

    variants = regroup.tables_by_rule_set(subset(np.union1d(without_or, short_vent)), rule_sets,
                                          variants_of, regroup.VARIANT_SCHEMA)
    con.register("regroup_procedures", variants)

    merged = regroup.MERGED_SCHEMA.empty_table()
    if "DH001" in runnable:
        session.model("readmission_pairs",
                      {"window_days": session.params.for_rule("DH001")["window_days"]})
        pairs = session.arrow("SELECT claim_id, prev_claim_id FROM readmission_pairs")
        involved = subset(rows(
            "SELECT c.row_index FROM claims AS c SEMI JOIN (SELECT claim_id FROM "
            "readmission_pairs UNION SELECT prev_claim_id FROM readmission_pairs) AS p "
            "ON p.claim_id = c.claim_id"))
        # A merged stay is grouped with the rule set of its first stay.
        merged = regroup.tables_by_rule_set(
            involved, rule_sets,
            lambda part, compiled: regroup.merged_stays(
                involved, pairs.filter(pc.is_in(pairs.column("prev_claim_id"),
                                                value_set=part.column("claim_id"))),
                compiled),
            regroup.MERGED_SCHEMA,
        )
    con.register("merged_regroup", merged)
    session.timings["regroup"] = time.perf_counter() - started


def run_audit(
    inputs: AuditInputs,
    params: AuditParams | None = None,
    *,
    registry: Registry | None = None,
    threads: int | None = None,
) -> AuditResult:
    """Audit the claims in ``inputs``; the same inputs and parameters give the same findings."""
    registry = registry or load_registry()
    params = params or resolve_params(registry)
    started = time.perf_counter()
    session = _Session(inputs, params, threads)
    con = session.con
    available = inputs.available()
    for name in ("hospitals", "claims", "charge_lines", "visits"):
        session.model(name)
    charge_lines_read = session.count("charge_lines")  # before the gate drops any

    outcomes: dict[str, RuleOutcome] = {}
    runnable: set[str] = set()
    for rule in registry.rules:
        outcome = RuleOutcome(rule.code, rule.spec.name, rule.spec.family, rule.spec.title,
                              status="ran")
        missing = _missing_inputs(rule, available)
        if rule.code in params.disabled:
            outcome.status, outcome.reason = "disabled", "switched off in the parameters"
        elif missing:
            outcome.status = "skipped"
            outcome.reason = "needs " + ", ".join(INPUT_HINTS.get(name, name) for name in missing)
        else:
            runnable.add(rule.code)
        outcomes[rule.code] = outcome

    session.run_sql(_HITS_DDL.format(table="dq_hits"), {}, "hits")
    for rule in registry.data_quality:
        if rule.code in runnable:
            rule_started = time.perf_counter()
            outcomes[rule.code].hits = session.rule(rule, "dq_hits", session.count("dq_hits"))
            outcomes[rule.code].seconds = time.perf_counter() - rule_started
    blocking = pa.table({
        "rule_code": [rule.code for rule in registry.data_quality],
        "blocks": [rule.spec.blocks for rule in registry.data_quality],
    })
    con.register("dq_blocking", blocking)
    session.run_sql("""
        CREATE OR REPLACE TABLE dq_findings AS
        SELECT h.*, b.blocks FROM dq_hits AS h JOIN dq_blocking AS b USING (rule_code);
        CREATE OR REPLACE TABLE dq_blocked AS
        SELECT DISTINCT claim_id, blocks AS scope FROM dq_findings
        WHERE blocks <> 'none' AND claim_id IS NOT NULL
    """, {}, "gate")
    for name in ("gate", "charge_days", "norms", "exemptions", "case_mix"):
        session.model(name)

    _regroup_stage(session, inputs, runnable)

    session.run_sql(_HITS_DDL.format(table="hits"), {}, "hits")
    for rule in registry.violations:
        if rule.code in runnable:
            rule_started = time.perf_counter()
            outcomes[rule.code].hits = session.rule(rule, "hits", session.count("hits"))
            outcomes[rule.code].notes = session.notes(rule)
            outcomes[rule.code].seconds = time.perf_counter() - rule_started

    con.register("rule_meta", _rule_meta(registry, params))
    session.model("findings")
    session.model("summaries")

    findings = session.arrow("SELECT * FROM findings")
    findings = findings.set_column(
        findings.schema.get_field_index("evidence"), "evidence",
        findings.column("evidence").cast(pa.string()),
    )
    data_quality = session.arrow("""
        SELECT left(sha256(h.rule_code || '|' || m.rule_version || '|'
                           || coalesce(h.claim_id, 'hospital:' || coalesce(h.hospital_id, ''))
                           || '|' || coalesce(h.key, '')), 20) AS finding_id,
               h.rule_code, m.rule_name, m.title, h.claim_id, h.hospital_id, h.key, h.value,
               h.threshold, h.message, h.blocks, h.evidence
        FROM dq_findings AS h JOIN rule_meta AS m USING (rule_code)
        ORDER BY h.rule_code, h.hospital_id, h.claim_id, h.key
    """)
    (claims_all, claims, charges, visits, hospitals, payment_source, n_hospitals, first,
     last) = con.execute("""
        SELECT (SELECT count(*) FROM claims_all), (SELECT count(*) FROM claims),
               (SELECT count(*) FROM charges), (SELECT count(*) FROM visits),
               (SELECT count(*) FROM hospitals),
               (SELECT string_agg(DISTINCT payment_source, '; ' ORDER BY payment_source)
                FROM claims_all),
               (SELECT count(DISTINCT hospital_id) FROM claims_all),
               (SELECT min(admit_date) FROM claims_all),
               (SELECT max(discharge_date) FROM claims_all)
    """).fetchall()[0]
    meta = {
        "input_rows": inputs.claims.input_rows,
        "rejected_rows": inputs.claims.rejects.num_rows,
        "claims": claims_all,
        "claims_audited": claims,
        "charge_lines": charge_lines_read,
        "charge_lines_audited": charges,
        "visits": visits,
        "hospital_master_rows": hospitals,
        "payment_source": payment_source or "none",
        "hospitals": n_hospitals,
        "period": f"{first} to {last}",
        "rule_set": inputs.claims.rule_set_label,
        "grouped_here": inputs.claims.grouped_here,
        "inputs": sorted(name for name in available if ":" not in name),
        "timings": session.timings,
        "seconds": time.perf_counter() - started,
    }
    result = AuditResult(
        findings=findings,
        data_quality=data_quality,
        hospitals=session.arrow("SELECT * FROM hospital_summary"),
        monthly=session.arrow("SELECT * FROM monthly_summary"),
        outcomes=list(outcomes.values()),
        params=params,
        registry=registry,
        meta=meta,
    )
    con.close()
    return result
