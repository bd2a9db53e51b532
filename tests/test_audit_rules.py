"""Every audit rule on small hand-built stays: the cases it must flag, the ones it must not, and
the exemptions it must apply.

One scenario holds all cases (one audit run keeps the suite fast). Each stay is built for one
rule; the test checks the exact set of rules that flag it, so a rule that fires on another
rule's case fails here too.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import pyarrow as pa
import pytest

from drg_engine.audit import load_inputs, load_registry, resolve_params, run_audit
from drg_engine.audit.runner import AuditResult

BASE = date(2024, 3, 1)
BED, NURSE_2, NURSE_1 = ("110300001", "01"), ("120100004", "07"), ("120100003", "07")
DRUG, INFUSION, LAB, CT = ("XN02BEA001", "09"), ("120400001", "05"), ("250101015", "04"), (
    "210300001", "1409")
SURGERY, ANAESTHESIA = ("331303011", "06"), ("330100005", "1413")
IRON, VENTILATOR, POSTMORTEM = ("XB03ACS001", "09"), ("310603001", "05"), ("120900001", "14")
CLAIM_SCHEMA = pa.schema([
    ("claim_id", pa.string()), ("patient_id", pa.string()), ("hospital_id", pa.string()),
    ("sex", pa.int8()), ("age_years", pa.float64()), ("admit_date", pa.date32()),
    ("discharge_date", pa.date32()), ("los_days", pa.int32()), ("discharge_way", pa.string()),
    ("ventilation_hours", pa.float64()), ("dept", pa.string()),
    ("diagnoses", pa.list_(pa.string())), ("procedures", pa.list_(pa.string())),
    ("total_cost", pa.decimal128(18, 2)),
])


class Scenario:
    """Claims, charge lines and visits built case by case."""

    def __init__(self) -> None:
        self.claims: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self.visits: list[dict[str, Any]] = []

    def stay(self, claim_id: str, *, admit: int = 0, los: int = 6, dx: tuple[str, ...] = (
             "J18.900",), px: tuple[str, ...] = (), hospital: str = "H1", patient: str = "",
             dept: str = "呼吸内科", way: str = "1", vent: float | None = None,
             charges: bool = True, skip: tuple[int, ...] = (), same: tuple[int, ...] = (),
             daily: float = 800.0, extra: tuple[tuple[int, tuple[str, str], float, float], ...]
             = (), los_days: int | None = None, cost_delta: float = 0.0) -> dict[str, Any]:
        """A stay with bed and nursing every night and substantive lines every day except
        ``skip``; days in ``same`` get identical substantive lines. ``extra``: (day, item,
        quantity, amount). Total cost = the lines (+ ``cost_delta`` to break reconciliation)."""
        start = BASE + timedelta(days=admit)
        claim = {
            "claim_id": claim_id, "patient_id": patient or f"P-{claim_id}",
            "hospital_id": hospital, "sex": 1, "age_years": 60.0, "admit_date": start,
            "discharge_date": start + timedelta(days=los),
            "los_days": los if los_days is None else los_days, "discharge_way": way,
            "ventilation_hours": vent, "dept": dept, "diagnoses": list(dx),
            "procedures": list(px), "total_cost": None,
        }
        total = 0.0
        if charges:
            rows: list[tuple[int, tuple[str, str], float, float]] = []
            for day in range(los + 1):
                if day < los:
                    rows += [(day, BED, 1, 45.0), (day, NURSE_2, 1, 22.0)]
                if day in skip:
                    continue
                if day in same:
                    rows += [(day, DRUG, 2, 150.0), (day, INFUSION, 2, 60.0)]
                else:
                    rows += [(day, DRUG, 1 + day % 3, daily * 0.6 + 7 * day),
                             (day, INFUSION, 1 + day % 2, daily * 0.4 + 3 * day)]
                if day == 0:
                    rows.append((day, LAB, 1, 40.0))
            rows += list(extra)
            for i, (day, (code, category), quantity, amount) in enumerate(rows):
                self.lines.append({
                    "claim_id": claim_id, "line_id": f"{claim_id}-{i:03d}",
                    "service_date": start + timedelta(days=day), "item_code": code,
                    "category": category, "quantity": float(quantity), "amount": amount,
                    "is_discharge_med": False,
                })
                total += amount
        claim["total_cost"] = Decimal(f"{(total or daily * max(los, 1)) + cost_delta:.2f}")
        self.claims.append(claim)
        return claim

    def visit(self, patient: str, hospital: str, day: int, med_type: str = "11",
              amount: float = 200.0, end: int | None = None) -> None:
        self.visits.append({
            "visit_id": f"V{len(self.visits) + 1:03d}", "patient_id": patient,
            "hospital_id": hospital, "med_type": med_type,
            "visit_date": BASE + timedelta(days=day),
            "end_date": None if end is None else BASE + timedelta(days=end), "amount": amount,
        })


def build_scenario() -> Scenario:
    s = Scenario()
    for i in range(12):  # the norm group of J18.900 (ES35): 6 days, about 1,070 a day
        s.stay(f"FILL-{i:02d}", admit=3 * i)
    # HB001 hanging-bed-empty-days
    s.stay("HB001-flag", los=8, skip=(2, 3, 4))
    s.stay("HB001-two-days", los=8, skip=(2, 3))
    s.stay("HB001-preop", los=8, dx=("K80.100x001",), px=("51.2300",), dept="普通外科",
           skip=(1, 2, 3), extra=((4, SURGERY, 1, 3000.0), (4, ANAESTHESIA, 1, 900.0)))
    s.stay("HB001-rehab", los=10, dept="康复医学科", skip=(2, 3, 4, 5))
    # HB002 hanging-bed-idle-start
    s.stay("HB002-flag", los=6, skip=(0, 1))
    s.stay("HB002-preop", los=6, dx=("K80.100x001",), px=("51.2300",), dept="普通外科",
           skip=(0, 1), extra=((2, SURGERY, 1, 3000.0), (2, ANAESTHESIA, 1, 900.0)))
    # HB003 hanging-bed-low-intensity
    s.stay("HB003-flag", los=6, daily=120.0)
    # Escalation: empty days together with low intensity make both findings suspects
    s.stay("ESC-both", los=8, skip=(2, 3, 4), daily=110.0)
    # HB004 hanging-bed-activity-elsewhere
    s.stay("HB004-other", admit=10, patient="PV1")
    s.visit("PV1", "H9", 13)
    s.stay("HB004-same", admit=10, patient="PV2")
    s.visit("PV2", "H1", 12, med_type="41")
    s.stay("HB004-edges", admit=10, patient="PV3")
    s.visit("PV3", "H9", 10, med_type="13")
    s.visit("PV3", "PH01", 16, med_type="41")
    # HB005 hanging-bed-templated-days
    s.stay("HB005-flag", los=10, same=(2, 3, 4, 5))
    s.stay("HB005-three", los=10, same=(2, 3, 4))
    # HB006 bed-nursing-units-above-los
    s.stay("HB006-beds", los=5, extra=((5, BED, 3, 135.0),))
    s.stay("HB006-allowance", los=5, extra=((5, BED, 1, 45.0),))
    s.stay("HB006-two-levels", los=5, extra=((2, NURSE_1, 1, 30.0),))
    # HB007 hospital-census-above-beds: three overlapping-free patients in a 1-bed hospital
    for i in range(3):
        s.stay(f"HB007-{i}", admit=20, los=12, hospital="H7", dx=("J44.100",))
    # OV001 overlapping-inpatient-stays, and a same-day transfer that is not an overlap
    s.stay("OV001-first", admit=30, los=10, patient="PO", dx=("J44.100",))
    s.stay("OV001-second", admit=34, los=4, patient="PO", hospital="H2", dx=("J44.100",))
    s.stay("TR-first", admit=40, los=5, patient="PT", way="2", dx=("J44.100",))
    s.stay("TR-second", admit=45, los=5, patient="PT", hospital="H2", dx=("J44.100",))
    # DH001 decomposed-hospitalisation
    s.stay("DH001-first", admit=60, los=5, patient="PD", dx=("J44.100",))
    s.stay("DH001-second", admit=68, los=4, patient="PD", dx=("J44.100",))
    s.stay("DH001-late-first", admit=60, los=5, patient="PL", dx=("J44.100",))
    s.stay("DH001-late-second", admit=85, los=4, patient="PL", dx=("J44.100",))
    s.stay("CHEMO-first", admit=60, los=4, patient="PC", dx=("C34.900x001",), dept="肿瘤科")
    s.stay("CHEMO-second", admit=74, los=3, patient="PC", dx=("Z51.101", "C34.900x001"),
           dept="肿瘤科")
    s.stay("CHEMO-third", admit=88, los=3, patient="PC", dx=("Z51.101", "C34.900x001"),
           dept="肿瘤科")
    # LA001 low-standard-admission
    exams = ((0, CT, 1, 2600.0), (1, CT, 1, 2400.0))
    s.stay("LA001-flag", los=2, dx=("I10.x00x002",), dept="心血管内科", daily=100.0,
           extra=exams)
    s.stay("LA001-death", los=2, dx=("I10.x00x002",), dept="心血管内科", daily=100.0,
           extra=exams, way="5")
    s.stay("LA001-treated", los=2, dx=("I10.x00x002",), dept="心血管内科", daily=3000.0)
    # UC002 secondary-dx-alone-changes-group (D64.100 lifts ET25 to ET23)
    s.stay("UC002-flag", admit=50, dx=("J44.100", "D64.100"), patient="PU1")
    s.stay("UC002-treated", admit=50, dx=("J44.100", "D64.100"), patient="PU2",
           extra=((2, IRON, 2, 190.0),))
    # UC003 procedure-without-surgery-charges
    s.stay("UC003-flag", los=6, dx=("K80.100x001",), px=("51.2300",), dept="普通外科")
    s.stay("UC003-charged", los=6, dx=("K80.100x001",), px=("51.2300",), dept="普通外科",
           extra=((1, SURGERY, 1, 3000.0), (1, ANAESTHESIA, 1, 900.0)))
    # UC004 ventilation-hours-just-over-threshold
    vent_lines = tuple((d, VENTILATOR, 20, 400.0) for d in range(4))
    s.stay("UC004-flag", los=8, dx=("J96.000",), px=("96.7201",), vent=98.0, extra=vent_lines,
           dept="重症医学科")
    s.stay("UC004-below", los=8, dx=("J96.000",), px=("96.7101",), vent=95.0, dept="重症医学科")
    s.stay("UC004-above", los=8, dx=("J96.000",), px=("96.7201",), vent=110.0, dept="重症医学科")
    # CD001 charges-after-discharge
    s.stay("CD001-flag", los=5, extra=((8, DRUG, 2, 300.0),))
    s.stay("CD001-grace", los=5, extra=((6, DRUG, 2, 300.0),))
    # CD002 services-after-death
    s.stay("CD002-lines", los=5, way="5", extra=((5, POSTMORTEM, 1, 200.0), (7, LAB, 1, 40.0)))
    s.stay("CD002-died", admit=100, los=5, way="5", patient="PX")
    s.stay("CD002-after", admit=125, los=4, patient="PX", hospital="H2")
    s.stay("CD002-postmortem", los=5, way="5", extra=((5, POSTMORTEM, 1, 200.0),))
    # LS001 length-of-stay-extreme
    s.stay("LS001-flag", los=30)
    # Data quality: reconciliation failure holds an empty-days stay back from charge rules
    s.stay("DQ004-mismatch", los=8, skip=(2, 3, 4), cost_delta=5000.0)
    s.stay("DQ003-dates", los=6, los_days=12, skip=(2, 3, 4))
    s.lines.append({"claim_id": "ZZ-unknown", "line_id": "ZZ-1", "service_date": BASE,
                    "item_code": DRUG[0], "category": "09", "quantity": 1.0, "amount": 10.0,
                    "is_discharge_med": False})
    s.stay("DQ006-unmapped", extra=((1, ("999999", "X9"), 1, 5.0),))
    # Batched posting at HB: every substantive line on the discharge day.
    for i in range(4):
        s.stay(f"BATCH-{i}", los=6, hospital="HB", skip=(0, 1, 2, 3, 4, 5),
               extra=tuple((6, DRUG, 1, 700.0) for _ in range(6)))
    return s


HOSPITALS = pa.table({
    "hospital_id": ["H1", "H2", "H7", "H9", "HB"],
    "level": ["3", "3", "3", "3", "3"],
    "approved_beds": [200.0, None, 1.0, 50.0, 50.0],
})
OVERRIDES = {"global": {"min_group_n": 5}, "DQ009": {"min_stays": 3}}


@cache
def scenario_result() -> AuditResult:
    s = build_scenario()
    registry = load_registry()
    params = resolve_params(registry, overrides=OVERRIDES)
    inputs = load_inputs(
        pa.Table.from_pylist(s.claims, schema=CLAIM_SCHEMA),
        charges=pa.Table.from_pylist(s.lines), visits=pa.Table.from_pylist(s.visits),
        hospitals=HOSPITALS,
    )
    return run_audit(inputs, params, registry=registry)


def statuses(result: AuditResult, claim_id: str) -> dict[str, tuple[str, str | None]]:
    rows = result.findings.to_pylist()
    return {row["rule_code"]: (row["status"], row["exemption"]) for row in rows
            if row["claim_id"] == claim_id}


def open_rules(result: AuditResult, claim_id: str) -> set[str]:
    return {code for code, (status, _) in statuses(result, claim_id).items() if status == "open"}


# The exact set of rules with an open finding on each stay (stays not listed: none).
EXPECTED_OPEN: dict[str, set[str]] = {
    "HB001-flag": {"HB001"},
    "HB002-flag": {"HB002"},
    "HB003-flag": {"HB003"},
    "ESC-both": {"HB001", "HB003"},
    "HB004-other": {"HB004"},
    "HB004-same": {"HB004"},
    "HB005-flag": {"HB005"},
    "HB006-beds": {"HB006"},
    "HB006-two-levels": {"HB006"},
    "OV001-second": {"OV001"},
    "DH001-second": {"DH001"},
    "LA001-flag": {"LA001"},
    "UC002-flag": {"UC002"},
    "UC003-flag": {"UC003"},
    "UC004-flag": {"UC004"},
    "CD001-flag": {"CD001"},
    "CD002-lines": {"CD002"},
    "CD002-after": {"CD002"},
    "LS001-flag": {"LS001"},
}
EXPECTED_EXEMPT: dict[str, tuple[str, str]] = {
    "HB001-preop": ("HB001", "pre-operative-wait"),
    "HB001-rehab": ("HB001", "rehabilitation"),
    "HB002-preop": ("HB002", "pre-operative-wait"),
    "TR-second": ("DH001", "ordered-transfer"),
    "CHEMO-third": ("DH001", "planned-chemo-cycle"),
    "BATCH-0": ("HB002", "batched-posting"),
}


def test_every_stay_is_flagged_by_exactly_the_expected_rules() -> None:
    result = scenario_result()
    ids = {claim["claim_id"] for claim in build_scenario().claims}
    unexpected = {cid: open_rules(result, cid) for cid in sorted(ids)
                  if open_rules(result, cid) != EXPECTED_OPEN.get(cid, set())}
    assert unexpected == {}


@pytest.mark.parametrize(("claim_id", "rule_and_exemption"), sorted(EXPECTED_EXEMPT.items()))
def test_exemptions_are_applied_and_recorded(claim_id: str,
                                             rule_and_exemption: tuple[str, str]) -> None:
    code, exemption = rule_and_exemption
    status, recorded = statuses(scenario_result(), claim_id)[code]
    assert (status, recorded) == ("exempted", exemption)


def test_hospital_level_rules() -> None:
    result = scenario_result()
    hospital_hits = {(row["rule_code"], row["hospital_id"]) for row in
                     result.open_findings.to_pylist() if row["claim_id"] is None}
    assert ("HB007", "H7") in hospital_hits
    assert not any(code == "HB007" and hospital != "H7" for code, hospital in hospital_hits)
    dq = {(row["rule_code"], row["hospital_id"] or row["claim_id"])
          for row in result.data_quality.to_pylist()}
    assert ("DQ009", "HB") in dq and ("DQ010", "H2") in dq


def test_data_quality_gate_holds_back_broken_stays() -> None:
    result = scenario_result()
    dq = {(row["rule_code"], row["claim_id"]) for row in result.data_quality.to_pylist()}
    assert ("DQ004", "DQ004-mismatch") in dq
    assert ("DQ003", "DQ003-dates") in dq
    assert ("DQ005", "ZZ-unknown") in dq
    assert statuses(result, "DQ004-mismatch") == {}  # its empty days are not judged
    assert statuses(result, "DQ003-dates") == {}
    unmapped = [row for row in result.data_quality.to_pylist() if row["rule_code"] == "DQ006"]
    assert [row["key"] for row in unmapped] == ["category X9"]


def test_grades_and_evidence() -> None:
    result = scenario_result()
    rows = {(row["rule_code"], row["claim_id"]): row for row in result.findings.to_pylist()}
    assert rows[("HB004", "HB004-other")]["grade"] == "suspect"
    assert rows[("HB004", "HB004-same")]["grade"] == "clue"
    assert rows[("OV001", "OV001-second")]["related_id"] == "OV001-first"
    assert rows[("UC004", "UC004-flag")]["grade"] == "suspect"  # 80 h billed < 96 h
    assert rows[("LA001", "LA001-flag")]["grade"] == "suspect"  # exams >= 80%
    empty = rows[("HB001", "HB001-flag")]
    assert empty["key"] == "d2-d4" and '"calendar"' in empty["evidence"]
    assert rows[("HB001", "HB001-flag")]["grade"] == "clue"  # 3 of 7 interior days empty
    for code, other in (("HB001", "HB003"), ("HB003", "HB001")):
        escalated = rows[(code, "ESC-both")]
        assert (escalated["grade"], escalated["escalated_by"]) == ("suspect", other)
    regroup = rows[("UC002", "UC002-flag")]["evidence"]
    assert '"dropped":"D64.100"' in regroup and '"cf_drg":"ET25"' in regroup
    pair = rows[("DH001", "DH001-second")]["evidence"]
    assert '"tier":1' in pair and '"merged"' in pair


def test_amount_at_risk_is_counted_once_per_stay() -> None:
    result = scenario_result()
    by_claim: dict[str, float] = {}
    payments: dict[str, float] = {}
    for row in result.open_findings.to_pylist():
        if row["claim_id"]:
            by_claim[row["claim_id"]] = by_claim.get(row["claim_id"], 0) + float(
                row["amount_at_risk"])
            payments[row["claim_id"]] = float(row["stay_payment"])
    assert by_claim and all(by_claim[c] <= payments[c] + 0.01 for c in by_claim)
    empty = next(row for row in result.open_findings.to_pylist()
                 if row["rule_code"] == "HB001" and row["claim_id"] == "HB001-flag")
    # three empty days of bed + nursing at the default fund share
    assert float(empty["amount_at_risk"]) == pytest.approx(3 * (45 + 22) * 0.7, abs=0.01)


def test_skipped_rules_are_reported_with_the_missing_input() -> None:
    s = build_scenario()
    result = run_audit(load_inputs(pa.Table.from_pylist(s.claims, schema=CLAIM_SCHEMA)))
    skipped = {outcome.code: outcome.reason for outcome in result.skipped}
    assert "charge lines (--charges)" in skipped["HB001"]
    assert "--visits" in skipped["HB004"]
    assert "approved beds" in skipped["HB007"]
    ran = {outcome.code for outcome in result.outcomes if outcome.status == "ran"}
    assert {"OV001", "DH001", "LS001", "UC001", "UC004", "DQ002"} <= ran
    assert "HB001" not in set(result.findings.column("rule_code").to_pylist())


def test_disabled_rule_is_reported_not_run() -> None:
    s = build_scenario()
    registry = load_registry()
    params = resolve_params(registry, overrides={"overlapping-inpatient-stays":
                                                 {"enabled": False}})
    result = run_audit(load_inputs(pa.Table.from_pylist(s.claims, schema=CLAIM_SCHEMA)),
                       params, registry=registry)
    outcome = next(o for o in result.outcomes if o.code == "OV001")
    assert outcome.status == "disabled"
    assert "OV001" not in set(result.findings.column("rule_code").to_pylist())


def test_cc_rate_above_peers() -> None:
    claims = []
    for h, cc_share in (("HA", 0.9), ("HB", 0.3), ("HC", 0.3), ("HD", 0.3)):
        for i in range(40):
            dx = ["J18.900", "D64.100"] if i < cc_share * 40 else ["J18.900"]
            start = BASE + timedelta(days=i * 7)
            claims.append({"claim_id": f"{h}-{i}", "patient_id": f"{h}-{i}", "hospital_id": h,
                           "sex": 1, "age_years": 60.0, "admit_date": start,
                           "discharge_date": start + timedelta(days=6), "los_days": 6,
                           "discharge_way": "1", "ventilation_hours": None, "dept": "呼吸内科",
                           "diagnoses": dx, "procedures": [],
                           "total_cost": Decimal("6000.00")})
    result = run_audit(load_inputs(pa.Table.from_pylist(claims, schema=CLAIM_SCHEMA)))
    flagged = [row for row in result.open_findings.to_pylist() if row["rule_code"] == "UC001"]
    assert [row["hospital_id"] for row in flagged] == ["HA"]
    assert flagged[0]["value"] == pytest.approx(36 / (40 * 36 / 120), rel=1e-6)  # ratio 3
