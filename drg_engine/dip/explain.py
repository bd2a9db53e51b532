"""Render why one claim got its DIP group (and bundle), from the evidence columns of a batch run.

Like the DRG trace (``drg_engine.explain``), nothing is re-decided here: the claim is assigned
through ``dip_group_table`` with evidence on - the same code path as a batch run - and the
evidence columns are put into words, with the group rows and procedure names of the rule set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.dip.bundle_list import BundleList
from drg_engine.dip.compiled import STAGES, TREATMENT_ZH, TREATMENTS, CompiledDip, GroupSpec
from drg_engine.dip.pipeline import DEFAULT_DIP_RULES, dip_group_table
from drg_engine.errors import DrgEngineError
from drg_engine.grouping.bundles import BUNDLE_REASONS
from drg_engine.grouping.dip import REASONS
from drg_engine.io import read_claims

DECIDED_WORDS: dict[str, str] = {
    "stage": "it is in an earlier stage of the national matching order",
    "longest_code": "longest code first: its diagnosis code is more specific",
    "conservative_fallback": "the other candidate was only a conservative fallback",
    "related_count": "partial-match rule: it matches more related procedures",
    "treatment_rank": "regional tie-break: higher treatment type "
    "(surgery > therapeutic > diagnostic > conservative)",
    "principal_px": "regional tie-break: its procedure list holds the principal procedure",
    "required_count": "regional tie-break: more required (+) procedures",
    "matched_count": "regional tie-break: more matched procedure codes",
    "exact_set": "regional tie-break: its procedures equal the claim's procedures",
    "closest_cost": "regional tie-break: its average cost is closest to the claim's total cost",
    "highest_score": "regional tie-break: the higher score",
    "catalogue_order": "every key tied; the earlier catalogue row wins",
    "only_candidate": "it was the only group whose conditions held",
    "comprehensive_fallback": "no pre-group, core or basic-level group held, so the claim goes "
    "to the comprehensive group of its diagnosis category and treatment type",
}
STAGE_WORDS = {
    "pregroup": "pre-group (先期分组)",
    "merge": "merge-rule core group (并项)",
    "assisted": "diagnosis-assisted core group (诊断辅助细分)",
    "base": "base-rule core group (基础规则)",
    "basic": "basic-level group (基层病种)",
    "comprehensive": "comprehensive group (综合病种)",
}
DISCHARGE_WORDS = {"1": "医嘱离院", "2": "医嘱转院", "3": "转社区/乡镇卫生院", "4": "非医嘱离院",
                   "5": "死亡", "9": "其他"}


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "missing"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value}{unit}"


def _px(rules: CompiledDip, code: str) -> str:
    name = rules.px_names.get(code.strip().lower())
    return f"{code} {name}" if name else code


def _spec(rules: CompiledDip, code: str) -> GroupSpec | None:
    try:
        return rules.group_specs[rules.group_codes.index(code)]
    except ValueError:
        return None


def _group_words(spec: GroupSpec) -> list[str]:
    dx = "any diagnosis" if spec.principal_dx.strip() in ("*", "所有诊断") else (
        f"a diagnosis in any position matching {spec.principal_dx}" if spec.dx_position == "any"
        else f"principal diagnosis matching {spec.principal_dx}")
    words = [f"  needs {dx}"]
    if spec.secondary_dx:
        words.append(f"  and a secondary diagnosis matching {spec.secondary_dx}")
    if spec.px_expression:
        where = "anywhere on the claim" if spec.px_position == "any" else \
            "the principal procedure; other + codes anywhere"
        words.append(f"  and procedures {spec.px_expression} ({where}; | = any of, + = all of)")
    elif spec.stage not in ("pregroup", "comprehensive"):
        words.append("  and no procedure other than conservative ones (a medical group)")
    if spec.related_px:
        words.append(f"  related procedures {spec.related_px} (counted: partial-match rule)")
    if spec.max_age_days is not None:
        band = ""
        if spec.birth_weight_min_g is not None or spec.birth_weight_max_g is not None:
            band = (f", birth weight in [{_fmt(spec.birth_weight_min_g)} g, "
                    f"{_fmt(spec.birth_weight_max_g)} g)")
        words.append(f"  and age in days <= {spec.max_age_days}{band}")
    if spec.stage == "comprehensive":
        words.append(f"  and treatment type {spec.treatment}")
    return words


def render_dip(claim: dict[str, Any], result: dict[str, Any], rules: CompiledDip) -> str:
    """A readable trace of one claim's DIP assignment from its clean row and evidence row."""
    lines = [f"Claim {claim['claim_id']}  (DIP rule set {rules.rule_set_id}: {rules.title})"]
    if rules.partial:
        lines.append(f"  note: this rule set is PARTIAL - {rules.partial_note}")
    status, group = result["dip_status"], result["dip_group"]
    if status == "GROUPED":
        basic = ", basic-level group: no hospital coefficient" if result["dip_basic_level"] else ""
        lines.append(f"Result: GROUPED -> {group} {result['dip_group_name']}  "
                     f"({result['dip_stage']}, treatment {result['dip_treatment']}{basic})")
    else:
        blank = f" -> blank group {group}" if group else ""
        lines.append(f"Result: {status}{blank}  reason {result['dip_reason']}: "
                     f"{REASONS.get(result['dip_reason'] or '', '')}")

    diagnoses, procedures = claim["diagnoses"], claim["procedures"]
    way = claim.get("discharge_way")
    lines += [
        "",
        "Claim facts",
        f"  age {_fmt(claim['age_years'], ' years')}, age in days {_fmt(claim['age_days'])}, "
        f"birth weight {_fmt(claim['birth_weight_g'], ' g')}, length of stay "
        f"{_fmt(claim['los_days'], ' days')}, discharge {way or 'missing'}"
        f"{' ' + DISCHARGE_WORDS[way] if way in DISCHARGE_WORDS else ''}, total cost "
        f"{_fmt(claim['total_cost'])}",
        f"  principal diagnosis: {diagnoses[0] if diagnoses else 'none'}",
    ]
    severity_codes = set(result["dip_severity_codes"])
    for code in diagnoses[1:]:
        note = f" [{result['dip_severity']} list]" if code in severity_codes else ""
        lines.append(f"  secondary diagnosis: {code}{note}")
    dropped = list(result["dip_excluded_px"])
    for code in procedures:
        role = "principal procedure" if code == result["dip_principal_px"] else "procedure"
        if code in dropped:
            role = "dropped procedure (excluded list: grouped as conservative)"
            dropped.remove(code)
        lines.append(f"  {role}: {_px(rules, code)}")
    if not procedures:
        lines.append("  procedures: none")

    lines += ["", "1. Pre-processing"]
    if result["dip_reason"] in ("NO_DIAGNOSIS", "PDX_INVALID", "PDX_EXCLUDED"):
        lines.append(f"  failed: {REASONS[result['dip_reason']]}; not grouped.")
        return "\n".join(lines)
    principal = result["dip_principal_px"]
    treatment = result["dip_treatment"] if result["dip_stage"] == "comprehensive" else None
    lines.append("  principal diagnosis accepted; "
                 + (f"principal procedure {_px(rules, principal)}" if principal
                    else "no procedure left: conservative (内科) treatment")
                 + (f", treatment type {treatment}" if treatment else "") + ".")

    lines += ["", "2. Matching order (" + " > ".join(STAGES) + "; first stage with a match "
              "wins, then longest code, related procedures, tie-break "
              + ", ".join(rules.options.tie_break) + ")"]
    candidates = list(result["dip_candidates"])
    if candidates:
        lines.append("  candidates whose conditions held, best first: " + ", ".join(
            f"{code} ({_spec(rules, code).stage})" for code in candidates  # type: ignore[union-attr]
        ))
    else:
        lines.append("  no pre-group, core or basic-level group's conditions held.")
    decided = result["dip_decided_by"]
    spec = _spec(rules, group) if group else None
    if status == "GROUPED" and spec is not None:
        lines.append(f"  chosen: {spec.code} {spec.name} - {STAGE_WORDS[spec.stage]}")
        lines += _group_words(spec)
        lines.append(f"  matched diagnosis code: {result['dip_matched_dx']}")
        for code in result["dip_matched_px"]:
            lines.append(f"  matched procedure: {_px(rules, code)}")
        lines.append(f"  why this one: {DECIDED_WORDS.get(decided, decided)}"
                     + (f" (runner-up {candidates[1]})" if len(candidates) > 1 else ""))
        if spec.score is not None:
            lines.append(f"  score {spec.score}, average cost {spec.average_cost}, "
                         f"{spec.cases} historical cases")
    elif status == "GROUPED":
        t = TREATMENTS.index(result["dip_treatment"])
        lines.append(f"  chosen: {group} {result['dip_group_name']} - "
                     f"{DECIDED_WORDS['comprehensive_fallback']}: category "
                     f"{result['dip_matched_dx']} x {TREATMENT_ZH[t]} ({result['dip_treatment']}"
                     ", the attribute of the principal procedure).")
    else:
        lines.append(f"  {REASONS['NO_GROUP']}.")

    lines += ["", "3. Auxiliary typing (辅助分型)"]
    components = ", ".join(result["dip_cci_components"]) or "none"
    lines.append(f"  CCI {result['dip_cci']} ({components}) -> {result['dip_cci_level']}")
    lines.append(f"  severity {result['dip_severity']}"
                 + (f" from {', '.join(result['dip_severity_codes'])}"
                    if result["dip_severity_codes"] else ""))
    lines.append(f"  age band {result['dip_age_band'] or 'none'}, "
                 f"discharge {result['dip_discharge'] or 'normal'}")
    if result["dip_aux_type"]:
        lines.append(f"  applied: {result['dip_aux_type']} with coefficient "
                     f"{result['dip_aux_coefficient']:.4f} (the highest the group defines for "
                     "this claim's types)")
    else:
        lines.append("  applied: none (the rule set defines no coefficient for this group and "
                     "these types)")

    if "bundle_status" in result:
        lines += ["", "4. Single-disease bundle (按单病种付费)"]
        if result["bundle_status"] == "BUNDLED":
            others = [c for c in result["bundle_eligible"] if c != result["bundle_code"]]
            lines.append(f"  {result['bundle_code']} {result['bundle_name']}: quota "
                         f"{result['bundle_quota']} yuan ({result['bundle_quota_status']}), fund "
                         f"share {result['bundle_fund_share']}"
                         + (f"; also eligible for {', '.join(others)} (lower priority)"
                            if others else ""))
        elif result["bundle_status"] == "NOT_ELIGIBLE":
            lines.append(f"  principal diagnosis fits {', '.join(result['bundle_candidates'])} "
                         f"but {result['bundle_reason']}: "
                         f"{BUNDLE_REASONS[result['bundle_reason']]}")
        else:
            lines.append("  the principal diagnosis is on no bundle of the list")
    return "\n".join(lines)


def explain_dip_table(raw: pa.Table, claim_id: str,
                      rules: str | Path | CompiledDip = DEFAULT_DIP_RULES,
                      bundles: str | Path | BundleList | None = None) -> str:
    """Why claim ``claim_id`` of ``raw`` got its DIP group (and bundle)."""
    run = dip_group_table(raw, rules, bundles=bundles, evidence=True)
    rows = pc.equal(run.clean.column("claim_id"), claim_id)
    if pc.any(rows).as_py():
        claim = run.clean.filter(rows).slice(0, 1).to_pylist()[0]
        result = run.results.filter(pc.equal(run.results.column("claim_id"), claim_id))
        return render_dip(claim, result.slice(0, 1).to_pylist()[0], run.rules)
    rejected = run.rejects.filter(pc.equal(run.rejects.column("claim_id"), claim_id)).to_pylist()
    if rejected:
        row = rejected[0]
        return (
            f"Claim {claim_id} was rejected before grouping (input row {row['row_number']}):\n"
            f"  {row['reason_code']} in field {row['field']}: {row['message']}"
        )
    raise DrgEngineError(f"claim '{claim_id}' is not in the input")


def explain_dip_file(path: str | Path, claim_id: str,
                     rules: str | Path | CompiledDip = DEFAULT_DIP_RULES,
                     bundles: str | Path | BundleList | None = None) -> str:
    return explain_dip_table(read_claims(Path(path)), claim_id, rules, bundles)
