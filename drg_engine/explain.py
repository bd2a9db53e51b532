"""Render why one claim got its group, from the evidence columns of the batch run.

Explain never re-decides anything: it groups the claim through ``group_table`` with evidence on
(the same code path as a batch run) and puts into words what the evidence columns record, with
code names from the rule set's dictionaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.errors import DrgEngineError
from drg_engine.grouping.drg import REASONS
from drg_engine.io import read_claims
from drg_engine.pipeline import group_table
from drg_engine.rules import CompiledRules
from drg_engine.selection import NO_RULE_SET, SELECTION_REASONS

CONDITION_WORDS: dict[str, str] = {
    "pdx": "the principal diagnosis is on the ADRG's diagnosis list",
    "main_px": "the main procedure is on the ADRG's procedure list",
    "pdx_and_main_px": "the principal diagnosis is on the ADRG's diagnosis list and the main "
    "procedure on its procedure list",
    "any_px_and_any_px2": "some procedure is on the ADRG's first procedure list and some "
    "procedure on its second list",
    "pdx_and_any_px_and_any_px2": "the principal diagnosis is on the ADRG's diagnosis list, some "
    "procedure on its first procedure list and some procedure on its second list",
    "pdx_and_px_label_combo": "the principal diagnosis is on the ADRG's diagnosis list and the "
    "labels of the listed procedures form one of the combinations {combo}",
    "main_px_and_newborn": "the main procedure is on the ADRG's procedure list and the patient "
    "is a newborn (age in days <= {max_age_days})",
    "pdx_and_newborn": "the principal diagnosis is on the ADRG's diagnosis list and the patient "
    "is a newborn (age in days <= {max_age_days})",
    "any_dx_and_birth_weight_newborn": "some diagnosis is on the ADRG's diagnosis list, the "
    "newborn (age in days <= {max_age_days}) has a birth weight in {band}",
    "always": "every claim that enters this MDC and reaches this ADRG matches it",
    "main_px_in_valid_or": "the main procedure is a valid operating-room procedure",
    "any_dx_and_main_px_in_valid_or": "some diagnosis is on the ADRG's diagnosis list and the "
    "main procedure is a valid operating-room procedure",
    "no_px_in_valid_or": "no procedure is a valid operating-room procedure",
    "qy": "the claim reached the MDC's QY step with a valid operating-room procedure",
}
SPLIT_WORDS = {
    "mcc": "with a non-excluded MCC",
    "mcc_or_cc": "with a non-excluded MCC or CC",
    "none": "unconditional",
}
SEX_WORDS = {1: "1 (male)", 2: "2 (female)", 0: "unrecognised"}


def _dx(rules: CompiledRules, code: str) -> str:
    name = rules.dx_names.get(code)
    return f"{code} {name}" if name else f"{code} (not in the rule set's diagnosis dictionary)"


def _px(rules: CompiledRules, code: str) -> str:
    name = rules.px_names.get(code)
    return f"{code} {name}" if name else f"{code} (not in the rule set's procedure dictionary)"


def _band(low: float | None, high: float | None) -> str:
    if low is None:
        return f"< {high:g} g"
    if high is None:
        return f">= {low:g} g"
    return f"[{low:g} g, {high:g} g)"


def _condition_words(rules: CompiledRules, adrg: str) -> str:
    if adrg == "QY":
        return CONDITION_WORDS["qy"]
    index = rules.candidate_codes.index(adrg)
    kind = rules.candidate_kind[index]
    words = CONDITION_WORDS[kind]
    band = next(
        (_band(b.low, b.high) for b in rules.weight_bands
         if int(b.mask[index // 64]) >> (index % 64) & 1),
        "",
    )
    combo = next(
        (";".join("+".join(str(bit) for bit in range(32) if alt >> bit & 1)
                  for alt in c.alternatives)
         for c in rules.label_combos if c.candidate == index),
        "",
    )
    limit = next(
        (f"{b.high:g}" for b in rules.newborn_bands
         if int(b.mask[index // 64]) >> (index % 64) & 1),
        "28",
    )
    return words.format(combo=combo, band=band, max_age_days=limit)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "missing"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value}{unit}"


def render(claim: dict[str, Any], result: dict[str, Any], rules: CompiledRules) -> str:
    """A readable trace of one claim's grouping from its clean row and evidence row."""
    lines: list[str] = []
    status = result["status"]
    lines.append(f"Claim {claim['claim_id']}  (rule set {rules.rule_set_id}: {rules.title})")
    if status == "SUCCESS":
        lines.append(
            f"Result: SUCCESS -> {result['mdc']} / {result['adrg']} / {result['drg']} "
            f"{result['drg_name']}  (severity {result['severity']})"
        )
    else:
        lines.append(
            f"Result: {status} -> mdc {result['mdc']}, adrg {result['adrg']}, drg {result['drg']}"
            f"  reason {result['reason']}: {REASONS.get(result['reason'] or '', '')}"
        )
    diagnoses, procedures = claim["diagnoses"], claim["procedures"]
    lines += [
        "",
        "Claim facts",
        f"  sex {SEX_WORDS.get(claim['sex'], 'missing') if claim['sex'] is not None else 'missing'}"
        f", age {_fmt(claim['age_years'], ' years')}, age in days {_fmt(claim['age_days'])}"
        f", birth weight {_fmt(claim['birth_weight_g'], ' g')}",
        f"  principal diagnosis: {_dx(rules, diagnoses[0]) if diagnoses else 'none'}",
    ]
    mcc, cc = set(result["mcc_codes"]), set(result["cc_codes"])
    excluded = set(result["excluded_cc_mcc"])
    for code in diagnoses[1:]:
        note = " [MCC]" if code in mcc else " [CC]" if code in cc else ""
        note = " [CC/MCC excluded]" if code in excluded else note
        lines.append(f"  secondary diagnosis: {_dx(rules, code)}{note}")
    for position, code in enumerate(procedures):
        role = "main procedure" if position == 0 else "other procedure"
        lines.append(f"  {role}: {_px(rules, code)}")
    if not procedures:
        lines.append("  procedures: none")
    if result["unknown_codes"]:
        lines.append(
            "  codes unknown to this rule set (they match no list): "
            + ", ".join(result["unknown_codes"])
        )

    lines += ["", "1. Validation"]
    if result["reason"] == "LOS_MISSING":
        entered = ", ".join(result["mdcs_entered"]) or "none"
        lines.append(
            f"  passed; MDCs entered: {entered}. The ADRG that matched splits its DRGs by "
            "length of stay, and the claim has none (LOS_MISSING); not grouped."
        )
        return "\n".join(lines)
    if status == "CHECK_FAILED" or status.endswith("NOT_MAPPING"):
        lines.append(f"  failed: {REASONS[result['reason']]} ({result['reason']}); not grouped.")
        return "\n".join(lines)
    lines.append("  passed.")

    lines += ["", "2. MDC entry (MDCs tried in order " + ", ".join(rules.mdc_codes) + ")"]
    entered = result["mdcs_entered"]
    if not entered:
        lines.append(f"  no MDC entered: {REASONS['NO_MDC']}.")
    for mdc in entered:
        name = rules.mdc_names[rules.mdc_codes.index(mdc)]
        if status in ("SUCCESS", "QY") and mdc == result["mdc"]:
            lines.append(f"  {mdc} {name}: entered, and an ADRG matched (below).")
            break
        lines.append(f"  {mdc} {name}: entered, but none of its ADRGs matched; fell through.")

    lines += ["", "3. ADRG"]
    if status not in ("SUCCESS", "QY"):
        lines.append(f"  none: {REASONS[result['reason']]}.")
        return "\n".join(lines)
    adrg = result["adrg"]
    adrg_name = rules.adrg_names.get(adrg, "QY step")
    lines.append(f"  {adrg} {adrg_name}: {_condition_words(rules, adrg)}.")
    for code in result["matched_dx"]:
        lines.append(f"  matched diagnosis: {_dx(rules, code)}")
    for code in result["matched_px"]:
        lines.append(f"  matched procedure: {_px(rules, code)}")
    if status == "QY":
        return "\n".join(lines)

    lines += ["", "4. Severity (CC/MCC among secondary diagnoses)"]
    table = result["exclusion_table"]
    lines.append(
        f"  principal's exclusion table: {table}" if table is not None
        else "  the principal diagnosis has no exclusion table, so nothing is excluded"
    )
    for code in result["mcc_codes"]:
        lines.append(f"  counts as MCC: {_dx(rules, code)}")
    for code in result["cc_codes"]:
        lines.append(f"  counts as CC: {_dx(rules, code)}")
    for code in result["excluded_cc_mcc"]:
        lines.append(
            f"  excluded: {_dx(rules, code)} (its exclusion table is {table}, "
            "the same as the principal's)"
        )
    lines.append(f"  severity: {result['severity']}")

    lines += ["", f"5. DRG (splits of {adrg}, tried in order)"]
    for split in rules.drg_splits[adrg]:
        marker = "  <- chosen" if split.drg == result["drg"] else ""
        conditions = [] if split.split_kind == "none" else [SPLIT_WORDS[split.split_kind]]
        if split.max_age_years is not None:
            conditions.append(f"age <= {split.max_age_years:g} years")
        if split.min_los_days is not None:
            conditions.append(f"length of stay >= {split.min_los_days} days")
        if split.max_los_days is not None:
            conditions.append(f"length of stay < {split.max_los_days} days")
        lines.append(f"  {split.drg} ({', '.join(conditions) or SPLIT_WORDS['none']}){marker}")
        if marker:
            break
    if result["drg"] == adrg:
        lines.append(f"  no split held, so the DRG is the ADRG code {adrg}")
    return "\n".join(lines)


def explain_table(raw: pa.Table, claim_id: str, rules: str | Path | CompiledRules) -> str:
    run = group_table(raw, rules, evidence=True)
    clean_rows = pc.equal(run.clean.column("claim_id"), claim_id)
    if pc.any(clean_rows).as_py():
        claim = run.clean.filter(clean_rows).slice(0, 1).to_pylist()[0]
        result = run.results.filter(pc.equal(run.results.column("claim_id"), claim_id))
        row = result.to_pylist()[0]
        if row["status"] == NO_RULE_SET:
            return (
                f"Claim {claim_id} was not grouped: no rule set was selected for it.\n"
                f"  {row['reason']}: {SELECTION_REASONS[row['reason']]}"
            )
        return render(claim, row, run.rule_sets[row["rule_set"]])
    rejected = run.rejects.filter(pc.equal(run.rejects.column("claim_id"), claim_id)).to_pylist()
    if rejected:
        row = rejected[0]
        return (
            f"Claim {claim_id} was rejected before grouping (input row {row['row_number']}):\n"
            f"  {row['reason_code']} in field {row['field']}: {row['message']}"
        )
    raise DrgEngineError(f"claim '{claim_id}' is not in the input")


def explain_file(path: str | Path, claim_id: str, rules: str | Path | CompiledRules) -> str:
    return explain_table(read_claims(Path(path)), claim_id, rules)
