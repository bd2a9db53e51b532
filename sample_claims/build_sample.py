"""Build the committed sample claims and the golden file for the CHS-DRG 1.1 rule set.

Run from the repository root: ``python sample_claims/build_sample.py``. The output is the same
on every run (fixed seed):

* ``claims.csv``: every claim as text (lists joined by ``|``), including ~1% malformed rows;
* ``claims.parquet``: the same rows with typed canonical columns, except the rows whose age or
  date cannot be parsed, which exist only in the CSV;
* ``golden.csv``: hand-constructed claims with the expected grouping result of each, every one
  confirmed with the reference oracle (the script fails if any disagrees).
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
import time
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drg_engine.grouping.oracle import Oracle, claim_from_record, load_oracle  # noqa: E402
from drg_engine.synth import (  # noqa: E402
    CANONICAL_SCHEMA,
    generate_claims,
    inject_invalid_rows,
)

RULE_DIR = ROOT / "grouper_rules" / "chs_drg_1_1"
OUT_DIR = Path(__file__).resolve().parent
SEED = 20240601
N_CLAIMS = 9_900
INVALID_PER_KIND = 8

GOLDEN_COLUMNS = [
    "claim_id", "rule", "note", "sex", "age_years", "age_days", "birth_weight_g",
    "diagnoses", "procedures", "expected_status", "expected_mdc", "expected_adrg",
    "expected_drg", "expected_severity", "expected_reason",
]

Case = tuple[str, str, int | None, float | None, int | None, float | None, str, str, str]

# (rule, note, sex, age_years, age_days, birth_weight_g, diagnoses, procedures, expected)
# expected: "<DRG>" or "<DRG>:<severity>" for SUCCESS, "FAIL", or "CHECK:<reason>".
# A sex of 9 stands for a present but unrecognised value (canonical 0).
GOLDEN: list[Case] = [
    # --- validation (§4 with the project decisions) ---
    ("validation-sex-missing", "Sex is missing, the first check.",
     None, 45, None, None, "I63.900", "", "CHECK:SEX_MISSING"),
    ("validation-sex-invalid", "Sex 9 is present but not 1 or 2.",
     9, 45, None, None, "I63.900", "", "CHECK:SEX_INVALID"),
    ("validation-age-missing", "Age in years is missing.",
     1, None, None, None, "I63.900", "", "CHECK:AGE_MISSING"),
    ("validation-age-days-missing", "Age 0 (under one year) needs age_days, which is missing.",
     2, 0, None, 3200, "P22.000", "", "CHECK:AGE_DAYS_MISSING"),
    ("validation-age-days-missing", "A decimal age of 0.4 years counts as age 0, so age_days "
     "is required and missing.",
     1, 0.4, None, None, "J18.900", "", "CHECK:AGE_DAYS_MISSING"),
    ("validation-birth-weight-missing", "Age 0 with age_days 10 (<= 28) needs a birth weight, "
     "which is missing.",
     1, 0, 10, None, "P22.000", "", "CHECK:BIRTH_WEIGHT_MISSING"),
    ("validation-birth-weight-missing", "age_days 28 is still <= 28, so the missing weight "
     "fails the check.",
     2, 0, 28, None, "P22.000", "", "CHECK:BIRTH_WEIGHT_MISSING"),
    ("validation-no-diagnosis", "An empty diagnosis list is rejected (project deviation from "
     "quirk 7, which would give AA19 here).",
     1, 50, None, None, "", "37.5100", "CHECK:NO_DIAGNOSIS"),
    ("validation-order", "Sex and age both missing: sex is checked first.",
     None, None, None, None, "", "", "CHECK:SEX_MISSING"),
    ("validation-order", "Invalid sex is reported before the missing age.",
     9, None, None, None, "I63.900", "", "CHECK:SEX_INVALID"),
    ("validation-order", "Missing age_days is reported before the empty diagnosis list.",
     1, 0, None, None, "", "", "CHECK:AGE_DAYS_MISSING"),
    ("validation-order", "Missing newborn weight is reported before the empty diagnosis list.",
     2, 0, 3, None, "", "", "CHECK:BIRTH_WEIGHT_MISSING"),
    ("validation-weight-zero-not-missing", "Weight 0 passes validation but is not truthy, so "
     "PS1-PS4 fail; P07.300 is not in the PU1 list, so MDCP ends in PV1 (single dx).",
     1, 0, 2, 0, "P07.300", "", "PV15"),
    ("validation-infant-without-weight", "age_days 45 > 28 needs no weight; P59.901 (MDCP "
     "list) at 45 days fails PU1's newborn test, so PV1.",
     2, 0, 45, None, "P59.901", "", "PV15"),
    ("validation-age-one-no-days", "Age 1 needs no age_days; J18.900 is in the MDCE list and "
     "ES3's list.",
     1, 1, None, None, "J18.900", "", "ES35"),
    ("validation-adult-age-days-ignored", "age_days 5 without weight is fine at age 30: the "
     "newborn checks only apply under one year.",
     1, 30, 5, None, "J18.900", "", "ES35"),
    # --- MDCA: main procedure in the valid-OR list ---
    ("mdca-entry", "37.5100 heart transplant is a valid-OR main procedure and in AA1's list.",
     1, 58, None, None, "I50.900", "37.5100", "AA19"),
    ("mdca-ignores-diagnosis", "MDCA ignores diagnoses: an unknown principal still groups "
     "to AA1.",
     2, 40, None, None, "NOT.A.CODE", "37.5100", "AA19"),
    ("cond-any_px_and_any_px2", "52.8000 is in AC1's px list and 55.6100 in its px2 list.",
     1, 45, None, None, "N18.500", "52.8000|55.6100", "AC19"),
    ("cond-any_px_and_any_px2", "Order does not matter for AC1: 55.6100 (valid OR) enters "
     "MDCA and both lists are hit somewhere.",
     1, 45, None, None, "N18.500", "55.6100|52.8000", "AC19"),
    ("cond-main_px", "52.8000 alone misses AC1's px2 list and groups to AD1 by main procedure.",
     2, 39, None, None, "N18.500", "52.8000", "AD19"),
    ("cond-main_px", "55.6100 alone is not in AC1's px list; AE1 kidney transplant by main "
     "procedure.",
     1, 52, None, None, "N18.500", "55.6100", "AE19"),
    ("split-mcc", "AH1 with I50.900 (MCC, table 95) while J18.900's exclusion table is 101.",
     1, 70, None, None, "J18.900|I50.900", "96.7201", "AH11:MCC"),
    ("split-mcc", "AH1 splits only on MCC: the CC E87.600 leaves it at AH15.",
     1, 70, None, None, "J18.900|E87.600", "96.7201", "AH15:CC"),
    ("mdca-fallthrough", "37.3402 enters MDCA but matches no A-ADRG; MDCF then groups it by "
     "main procedure to FL2.",
     1, 62, None, None, "I21.001", "37.3402", "FL25"),
    ("mdca-main-px-only", "The transplant code is not the main procedure, so MDCA is not "
     "entered and I50.900 groups medically to FR2.",
     1, 66, None, None, "I50.900", "89.5200|37.5100", "FR25"),
    ("mdca-fallthrough-fail", "An unknown principal with a valid-OR procedure enters MDCA, "
     "matches nothing, and no MDC list holds the principal.",
     2, 50, None, None, "NOT.A.CODE", "51.2300", "FAIL"),
    # --- MDCP: newborns ---
    ("cond-pdx_and_newborn", "P22.000 (PR1 list) at 2 days old, no secondaries.",
     1, 0, 2, 3100, "P22.000", "", "PR15"),
    ("split-mcc", "PR1 with U82.100 (MCC, table 999, never excluded).",
     2, 0, 4, 2900, "P22.000|U82.100", "", "PR11:MCC"),
    ("split-mcc_or_cc", "PR1 precedes PS1-PS4; P07.300 is a CC of table 163, P22.000's table "
     "is 165.",
     1, 0, 1, 1400, "P22.000|P07.300", "", "PR13:CC"),
    ("newborn-weight-under-1500", "P07.200 is in the PS lists; 1200 g < 1500.",
     2, 0, 1, 1200, "P07.200", "", "PS15"),
    ("newborn-weight-1500-2000", "The lower bound is inclusive: exactly 1500 g is PS2.",
     1, 0, 3, 1500, "P07.300", "", "PS25"),
    ("newborn-weight-1500-2000", "1999 g is below PS2's exclusive upper bound 2000.",
     2, 0, 6, 1999, "P07.200", "", "PS25"),
    ("newborn-weight-2000-2500", "Exactly 2000 g starts PS3 (no split).",
     1, 0, 0, 2000, "P07.300", "", "PS39"),
    ("newborn-weight-2000-2500", "A decimal weight 2499.5 g is still below 2500.",
     2, 0, 12, 2499.5, "P07.200", "", "PS39"),
    ("newborn-weight-2500-plus", "Exactly 2500 g is PS4 (no upper bound).",
     1, 0, 20, 2500, "P07.300", "", "PS45"),
    ("newborn-weight-2500-plus", "4000 g with P39.900 (CC, table 166) against P07.200's table "
     "163: PS4 with CC.",
     2, 0, 7, 4000, "P07.200|P39.900", "", "PS43:CC"),
    ("cond-any_dx_and_birth_weight_newborn", "The PS diagnosis may be secondary: P59.901 is "
     "principal, P07.300 (CC, table 163 vs 167) secondary, 1800 g.",
     1, 0, 5, 1800, "P59.901|P07.300", "", "PS25:CC"),
    ("cond-any_dx_and_birth_weight_newborn", "P07.200 as principal, 28 days old (still a "
     "newborn) and 900 g: PS1 with the CC P39.900 (table 166 vs 163).",
     1, 0, 28, 900, "P07.200|P39.900", "", "PS13:CC"),
    ("newborn-weight-zero", "Weight 0 is not truthy, so PS fails; P21.900 is in PU1's list "
     "and P07.300 (table 163) counts against table 165.",
     2, 0, 3, 0, "P21.900|P07.300", "", "PU13:CC"),
    ("newborn-day-29", "At 29 days PS1's newborn test fails, and P07.200 is not in PU1's list, "
     "so PV1.",
     1, 0, 29, 1200, "P07.200", "", "PV15"),
    ("cond-always", "An infant of 120 days with P05.001 (MDCP list, no P-ADRG list) lands in "
     "PV1.",
     1, 0, 120, None, "P05.001", "", "PV15"),
    ("mdcp-age0-days-over-28", "P22.000 at 35 days fails PR1's newborn test, so PV1.",
     2, 0, 35, None, "P22.000", "", "PV15"),
    ("mdcp-decimal-age", "Age 0.75 years is under one, so MDCP is entered; 270 days gives PV1.",
     1, 0.75, 270, None, "P22.000", "", "PV15"),
    ("mdcp-not-entered", "Age 1 never enters MDCP whatever age_days says, and P22.000 is in no "
     "other MDC list.",
     1, 1, 10, None, "P22.000", "", "FAIL"),
    ("cond-main_px_and_newborn", "47.0100 is valid OR but in no A-ADRG; in MDCP it is in PC1's "
     "list (not PB1's) and the baby is 5 days old.",
     1, 0, 5, 3000, "P59.901", "47.0100", "PC15"),
    ("cond-main_px_and_newborn", "96.7101 (ventilation < 96 h) is in PK1's list; PK1 comes "
     "before PR1.",
     2, 0, 1, 2600, "P22.000", "96.7101", "PK15"),
    ("split-mcc", "PK1 with P36.900 (MCC, table 166) against P22.000's table 165.",
     1, 0, 2, 2700, "P22.000|P36.900", "96.7101", "PK11:MCC"),
    ("cond-main_px_and_newborn", "35.0101 is in PB1's list (MDCP's first ADRG).",
     2, 0, 9, 3300, "P29.300", "35.0101", "PB19"),
    ("cond-main_px_and_newborn", "45.9301 is in PJ1's list and not in PB1's or PC1's.",
     1, 0, 14, 3100, "P59.901", "45.9301", "PJ19"),
    ("mdcp-age0-days-over-28", "PC1's procedure at 40 days fails the newborn test; P22.000 also "
     "fails PR1, so PV1.",
     1, 0, 40, None, "P22.000", "47.0100", "PV15"),
    ("mdcp-not-entered", "A newborn whose principal is not in the MDCP list groups in its own "
     "MDC (J18.900, MDCE).",
     2, 0, 10, 3000, "J18.900", "", "ES35"),
    # --- MDCY ---
    ("cond-any_dx_and_main_px_in_valid_or", "B20.001 is in YC1's list and 51.2300 is a "
     "valid-OR main procedure.",
     1, 35, None, None, "B20.001", "51.2300", "YC15"),
    ("cond-any_dx_and_main_px_in_valid_or", "YC1's diagnosis may be secondary; B20.001 is an "
     "MCC (table 13) against Z21.x00x001's table 220.",
     2, 33, None, None, "Z21.x00x001|B20.001", "51.2300", "YC11:MCC"),
    ("cond-pdx", "The valid-OR procedure is not the main one, so YC1 fails and B20.001 groups "
     "by principal to YR1.",
     1, 41, None, None, "B20.001", "89.5200|51.2300", "YR15"),
    ("cond-pdx", "Z21.x00x001 is in YR2's list.",
     2, 29, None, None, "Z21.x00x001", "", "YR29"),
    ("mdc-overlap", "Z20.600 is in the MDCY and MDCX lists; MDCY is tried first and YR2 "
     "matches.",
     1, 30, None, None, "Z20.600", "", "YR29"),
    # --- MDCZ ---
    ("mdcz-two-regions", "S02.100x002 (head/neck) and S21.101 (chest) are two trauma regions; "
     "no procedure gives ZZ1, and the CC S21.101 (table 198 vs 196) does not reach the MCC "
     "split.",
     1, 30, None, None, "S02.100x002|S21.101", "", "ZZ15:CC"),
    ("mdcz-two-regions", "Head/neck plus abdomen; S36.100x001 is an MCC of table 199.",
     1, 44, None, None, "S02.100x002|S36.100x001", "", "ZZ11:MCC"),
    ("mdcz-one-region", "Both codes are head/neck, so MDCZ is not entered; MDCB BY1, and "
     "S01.801 (table 196) is excluded by S02.100x002's table 196.",
     2, 25, None, None, "S02.100x002|S01.801", "", "BY15"),
    ("mdcz-principal-not-trauma", "Trauma codes only as secondaries do not enter MDCZ; ES3 "
     "with the MCC S02.100x002 (table 196 vs 101).",
     1, 67, None, None, "J18.900|S02.100x002|S21.101", "", "ES31:MCC"),
    ("split-repeat-principal", "A repeat of the principal is one distinct code (one region), "
     "and as a secondary it is excluded by its own table 196.",
     1, 36, None, None, "S02.100x002|S02.100x002", "", "BY15"),
    ("split-repeat-principal", "S06.500x005 has no exclusion entry, so its repeat counts as "
     "an MCC; with S21.101 (chest) MDCZ gives ZZ1.",
     2, 52, None, None, "S06.500x005|S06.500x005|S21.101", "", "ZZ11:MCC"),
    ("cond-main_px", "Two regions and 01.0900x006 (valid OR, no A-ADRG) as main procedure: "
     "ZB1.",
     1, 28, None, None, "S02.100x002|S21.101", "01.0900x006", "ZB19:CC"),
    ("cond-main_px", "51.2300 is in ZJ1's list; ZJ1 splits on MCC only.",
     2, 47, None, None, "S02.100x002|S21.101", "51.2300", "ZJ15:CC"),
    ("cond-no_px_in_valid_or", "89.5200 is not valid OR, so ZZ1 still matches.",
     1, 31, None, None, "S02.100x002|S21.101", "89.5200", "ZZ15:CC"),
    ("mdcz-fallthrough", "37.3402 is valid OR but in no Z-ADRG list, so ZZ1 fails; MDCB takes "
     "S02.100x002 to BY1 with the CC S21.101.",
     1, 39, None, None, "S02.100x002|S21.101", "37.3402", "BY13:CC"),
    ("cond-pdx", "S72.000 alone (one region) is not MDCZ; MDCI IR2.",
     2, 81, None, None, "S72.000", "", "IR29"),
    # --- MDCM / MDCN ---
    ("sex-overlap", "D48.127 is in the MDCM and MDCN lists; sex 1 enters MDCM (MZ1).",
     1, 60, None, None, "D48.127", "", "MZ19"),
    ("sex-overlap", "The same code with sex 2 skips MDCM and enters MDCN (NZ1).",
     2, 60, None, None, "D48.127", "", "NZ19"),
    ("sex-overlap", "Q85.900x047 is in both lists but only NZ1 has it; with sex 1 MDCM matches "
     "nothing and no other list holds it.",
     1, 20, None, None, "Q85.900x047", "", "FAIL"),
    ("sex-overlap", "Q85.900x047 with sex 2 groups to NZ1.",
     2, 20, None, None, "Q85.900x047", "", "NZ19"),
    ("sex-fallthrough", "C45.100 is in MDCN and MDCG; a man skips MDCN and gets GR1.",
     1, 63, None, None, "C45.100", "", "GR15"),
    ("sex-fallthrough", "C45.100 for a woman enters MDCN first: NA1/NA2 need procedures, NR1 "
     "matches.",
     2, 63, None, None, "C45.100", "", "NR15"),
    ("sex-mismatch", "N40.x00 is only in the MDCM list, so a female claim cannot group.",
     2, 70, None, None, "N40.x00", "", "FAIL"),
    ("cond-pdx_and_main_px", "C61.x00 is in MA1's diagnosis list and 40.2400 in its "
     "procedure list.",
     1, 72, None, None, "C61.x00", "40.2400", "MA19"),
    ("split-mcc", "C61.x00 without procedure: MR1 with the MCC N18.500 (table 145 vs 29).",
     1, 72, None, None, "C61.x00|N18.500", "", "MR11:MCC"),
    ("cond-pdx_and_px_label_combo", "NA1 alternative '1': 68.6101 has label 1.",
     2, 55, None, None, "C54.900", "68.6101", "NA19"),
    ("cond-pdx_and_px_label_combo", "NA1 alternative '2+3': 68.4101 (label 2) and 40.5000 "
     "(label 3).",
     2, 55, None, None, "C54.900", "68.4101|40.5000", "NA19"),
    ("cond-pdx_and_px_label_combo", "Label 2 alone satisfies no NA1 alternative; 68.4101 is "
     "not in NA2's list but is in NC1's.",
     2, 55, None, None, "C54.900", "68.4101", "NC19"),
    ("cond-pdx_and_main_px", "N96.x00x003 with 65.9900x008 (egg retrieval) is NG1.",
     2, 34, None, None, "N96.x00x003", "65.9900x008", "NG19"),
    # --- MDCB ---
    ("cond-pdx_and_main_px", "S02.100x002 (one region) with 01.0900x006: BB1 needs both.",
     1, 40, None, None, "S02.100x002", "01.0900x006", "BB15"),
    ("cond-main_px", "A non-trauma principal (I63.900) with 01.0900x006 misses BB1 and "
     "matches BB2.",
     2, 71, None, None, "I63.900", "01.0900x006", "BB25"),
    ("split-mcc", "BR2 with I50.900 (MCC, table 95) against I63.900's table 96.",
     1, 75, None, None, "I63.900|I50.900", "", "BR21:MCC"),
    ("split-mcc_or_cc", "BR2 with the CC E87.600 (table 52).",
     2, 75, None, None, "I63.900|E87.600", "", "BR23:CC"),
    ("split-cc-excluded", "I64.x00 is a CC of table 96, excluded by I63.900's table 96.",
     1, 68, None, None, "I63.900|I64.x00", "", "BR25"),
    ("qy-off", "51.2300 is an unrelated valid-OR procedure; with QY off it falls through to "
     "the medical ADRG BR2.",
     1, 68, None, None, "I63.900", "51.2300", "BR25"),
    ("cond-pdx", "G40.000 is in BV1's list.",
     2, 19, None, None, "G40.000", "", "BV15"),
    # --- MDCF ---
    ("cond-any_px_and_any_px2", "35.0101 is in FB1's px list and 36.0601 in its px2 list.",
     1, 69, None, None, "I35.000", "35.0101|36.0601", "FB19"),
    ("cond-main_px", "35.0101 alone misses FB1 (no px2) and matches FB2.",
     2, 73, None, None, "I35.000", "35.0101", "FB25"),
    ("cond-any_px_and_any_px2-same-code", "39.7900x517 is in both of FE1's lists, so one "
     "procedure satisfies FE1.",
     1, 48, None, None, "I20.000", "39.7900x517", "FE19"),
    ("ff2-before-ff1", "38.5901 is in FF2's and FF1's px lists and 00.5500x009 in FF2's px2 "
     "list; FF2 is evaluated before FF1.",
     2, 58, None, None, "I83.000", "38.5901|00.5500x009", "FF25"),
    ("ff2-before-ff1", "Without a px2 code FF2 fails and FF1 matches the main procedure.",
     2, 58, None, None, "I83.000", "38.5901", "FF19"),
    ("ff2-before-ff1", "FF2 tests any position, so the px2 code may come first.",
     1, 61, None, None, "I83.000", "00.5500x009|38.5901", "FF25"),
    ("cond-pdx_and_main_px", "I21.001 is in FK1's diagnosis list and 00.5000x001 in its "
     "procedure list.",
     1, 66, None, None, "I21.001", "00.5000x001", "FK19"),
    ("cond-main_px", "I20.000 is not in FK1's list, so 00.5000x001 gives FK2.",
     2, 66, None, None, "I20.000", "00.5000x001", "FK29"),
    ("cond-main_px", "36.0601 is only FB1's px2 (no FB1 px here) and FM1's procedure.",
     1, 57, None, None, "I20.000", "36.0601", "FM19"),
    ("split-none-severity", "FR1 has no split, but the MCC N18.500 is still reported as the "
     "severity.",
     1, 77, None, None, "I21.001|N18.500", "", "FR19:MCC"),
    ("split-mcc-excluded", "I21.900 is an MCC of table 93, excluded by I21.001's table 93.",
     2, 77, None, None, "I21.001|I21.900", "", "FR19"),
    ("cond-pdx_and_main_px", "I48.000 is in FL1's list and 37.3402 in its procedure list.",
     1, 64, None, None, "I48.000", "37.3402", "FL19"),
    ("split-mcc_or_cc", "FL2 splits [3,5]; the MCC N18.500 satisfies mcc_or_cc.",
     2, 64, None, None, "I20.000|N18.500", "37.3402", "FL23:MCC"),
    ("cond-pdx", "I20.000 alone is FR3.",
     1, 59, None, None, "I20.000", "", "FR39"),
    # --- MDCE: splits and CC/MCC exclusions on ES3 [1,3,5] ---
    ("split-none", "J18.900 alone: ES3 without CC/MCC.",
     1, 80, None, None, "J18.900", "", "ES35"),
    ("split-mcc", "I50.900 (MCC, table 95) against J18.900's table 101.",
     2, 80, None, None, "J18.900|I50.900", "", "ES31:MCC"),
    ("split-mcc_or_cc", "E87.600 (CC, table 52) against table 101.",
     1, 80, None, None, "J18.900|E87.600", "", "ES33:CC"),
    ("split-mcc-excluded", "J09.x00 is an MCC of table 101 and is excluded; an excluded MCC "
     "does not fall back to CC.",
     2, 80, None, None, "J18.900|J09.x00", "", "ES35"),
    ("split-cc-excluded", "J09.x00 and J10.100 are both table 101 and both excluded.",
     1, 80, None, None, "J18.900|J09.x00|J10.100", "", "ES35"),
    ("split-mcc-excluded", "The excluded MCC is ignored but the CC E87.600 still counts.",
     2, 80, None, None, "J18.900|J09.x00|E87.600", "", "ES33:CC"),
    ("split-table-999", "U82.100 is an MCC of table 999, which no principal has.",
     1, 80, None, None, "J18.900|U82.100", "", "ES31:MCC"),
    ("split-table-999", "B95.300 is a CC of table 999.",
     2, 80, None, None, "J18.900|B95.300", "", "ES33:CC"),
    ("split-repeat-principal", "The repeated principal J18.900 (CC, table 101) is examined "
     "and excluded by its own table.",
     1, 80, None, None, "J18.900|J18.900", "", "ES35"),
    ("unknown-secondary", "An unknown secondary code matches nothing.",
     2, 80, None, None, "J18.900|FOO.123", "", "ES35"),
    ("unknown-procedure", "An unknown procedure matches nothing and is not valid OR.",
     1, 80, None, None, "J18.900", "99.9999zz", "ES35"),
    ("unknown-principal", "Codes are case-sensitive: j18.900 is in no list.",
     2, 80, None, None, "j18.900", "", "FAIL"),
    ("unknown-principal", "A principal that is in no MDC list and no procedure.",
     1, 50, None, None, "XYZ.000", "", "FAIL"),
    ("split-mcc-cc-only", "ER2 splits [1,5]: the CC E87.600 does not qualify for mcc.",
     1, 60, None, None, "I26.900x001|E87.600", "", "ER25:CC"),
    ("split-mcc", "ER2 with the MCC N18.500 (table 145 vs 94).",
     2, 60, None, None, "I26.900x001|N18.500", "", "ER21:MCC"),
    ("split-mcc_or_cc", "ER1 splits [3,5]: an MCC gives ER13.",
     1, 70, None, None, "C34.000|I50.900", "", "ER13:MCC"),
    ("split-none", "ER1 without secondaries.",
     2, 70, None, None, "C34.000", "", "ER15"),
    ("split-mcc_or_cc", "EX1 asthma with the CC E87.600.",
     1, 15, None, None, "J45.000|E87.600", "", "EX13:CC"),
    # --- MDCG / MDCH ---
    ("cond-pdx_and_main_px", "K35.201 is in GD1's list with 47.0100.",
     2, 22, None, None, "K35.201", "47.0100", "GD15"),
    ("cond-main_px", "K35.800x001 is not in GD1's list, so 47.0100 gives GD2.",
     1, 22, None, None, "K35.800x001", "47.0100", "GD25"),
    ("cond-pdx", "K35.800x001 without surgery: GZ1.",
     2, 22, None, None, "K35.800x001", "", "GZ15"),
    ("cond-main_px", "51.2300 is in HC2's list (not HB1's or HC1's).",
     1, 54, None, None, "K80.000x002", "51.2300", "HC29"),
    ("cond-pdx", "K80.000x002 alone is HU1.",
     2, 54, None, None, "K80.000x002", "", "HU15"),
    ("split-mcc_or_cc", "HT1 with E87.600 (table 52) against K85.002's table 118.",
     1, 47, None, None, "K85.002|E87.600", "", "HT13:CC"),
    ("cond-pdx", "C22.000 is HR1.",
     1, 62, None, None, "C22.000", "", "HR19"),
    # --- MDCI ---
    ("cond-pdx_and_any_px_and_any_px2", "IB1 needs its principal, a px-list code and a "
     "px2-list code.",
     2, 44, None, None, "A18.000x047+M49.0*", "03.0900x025|03.0900x007", "IB19"),
    ("cond-pdx_and_any_px_and_any_px2", "Without a px2 code IB1 fails; 03.0900x025 is in "
     "IB3's list.",
     2, 44, None, None, "A18.000x047+M49.0*", "03.0900x025", "IB39"),
    ("cond-pdx_and_any_px_and_any_px2", "Both procedure lists hit but M51.202 is not IB1's "
     "principal, so IB3.",
     1, 50, None, None, "M51.202", "03.0900x025|03.0900x007", "IB39"),
    ("cond-pdx", "M51.202 without surgery is IU2.",
     1, 50, None, None, "M51.202", "", "IU29"),
    # --- MDCJ label combos ---
    ("cond-pdx_and_px_label_combo", "JA1 '1+2': 85.7000x001 (label 1) and 85.4301 (label 2).",
     2, 48, None, None, "C50.900x005", "85.7000x001|85.4301", "JA19"),
    ("cond-pdx_and_px_label_combo", "JA1 '1+3+4': 85.7000x001, 85.2200 and 40.2100.",
     2, 48, None, None, "C50.900x005", "85.7000x001|85.2200|40.2100", "JA19"),
    ("cond-pdx_and_px_label_combo", "Labels 1+3 satisfy no JA1 alternative; in JA2 85.2200 is "
     "label 2 alone; JB1 takes 85.7000x001.",
     2, 48, None, None, "C50.900x005", "85.7000x001|85.2200", "JB19"),
    ("cond-pdx_and_px_label_combo", "85.4301 is JA1 label 2 (no alternative) but JA2 label 1.",
     2, 51, None, None, "C50.900x005", "85.4301", "JA29"),
    ("cond-pdx_and_px_label_combo", "JA2 '2+3': 85.2200 and 40.2100 (JA1 labels 3 and 4).",
     2, 51, None, None, "C50.900x005", "85.2200|40.2100", "JA29"),
    ("cond-pdx_and_px_label_combo", "Label order does not matter: 85.4301 then 85.7000x001 is "
     "still JA1 '1+2'.",
     2, 51, None, None, "C50.900x005", "85.4301|85.7000x001", "JA19"),
    ("cond-pdx", "C50.900x005 without procedures is JR1.",
     2, 51, None, None, "C50.900x005", "", "JR19"),
    # --- other MDCs ---
    ("mdco-fallthrough", "O80.000 (MDCO) has no O-ADRG without a procedure and no other list.",
     2, 28, None, None, "O80.000", "", "FAIL"),
    ("cond-main_px", "O80.000 with 74.0x00 (classical caesarean, OB1).",
     2, 28, None, None, "O80.000", "74.0x00", "OB19"),
    ("mdco-fallthrough", "74.1x00 is valid OR but in no ADRG list, so the delivery still "
     "fails.",
     2, 31, None, None, "O80.000", "74.1x00", "FAIL"),
    ("cond-pdx_and_main_px", "O00.000 with 54.1100 (OE1).",
     2, 26, None, None, "O00.000", "54.1100", "OE19"),
    ("cond-main_px_in_valid_or", "A41.900 (MDCS) with any valid-OR main procedure: SB1.",
     1, 66, None, None, "A41.900", "51.2300", "SB15"),
    ("split-mcc", "SB1 with the MCC N18.500 (table 145 vs 4).",
     1, 66, None, None, "A41.900|N18.500", "51.2300", "SB11:MCC"),
    ("cond-main_px_in_valid_or", "F20.000 (MDCT) with a valid-OR main procedure: TB1.",
     2, 35, None, None, "F20.000", "51.2300", "TB19"),
    ("cond-pdx", "F20.000 without procedures: TR1.",
     2, 35, None, None, "F20.000", "", "TR19"),
    ("cond-main_px_in_valid_or", "T21.300 with 51.2300 misses WB1 and WC1 and matches WJ1.",
     1, 42, None, None, "T21.300", "51.2300", "WJ19"),
    ("cond-pdx_and_main_px", "T21.300 with the skin graft 85.8200 is WB1.",
     1, 42, None, None, "T21.300", "85.8200", "WB19"),
    ("cond-main_px_in_valid_or", "R41.000 (MDCX) with a valid-OR main procedure: XJ1.",
     2, 77, None, None, "R41.000", "51.2300", "XJ15"),
    ("cond-pdx", "A non-OR procedure (89.5200) leaves R41.000 in XR1.",
     2, 77, None, None, "R41.000", "89.5200", "XR15"),
    ("cond-pdx_and_main_px", "41.9800 is only in RA4's procedure list; C91.704 is in the "
     "RA2-RA4 diagnosis lists (not RA1's), so RA2 and RA3 fail on the procedure.",
     1, 58, None, None, "C91.704", "41.9800", "RA49"),
    ("adrg-overlap", "T26.000 is in CT1's and CZ1's lists; CT1 is evaluated first.",
     1, 33, None, None, "T26.000", "", "CT19"),
    ("qy-off", "13.4100 (phacoemulsification) is valid OR but in no C-ADRG list; with QY off "
     "the cataract groups medically.",
     2, 76, None, None, "H25.900", "13.4100", "CW19"),
    ("cond-main_px", "C73.x00 with 06.4x00 (total thyroidectomy, KD1).",
     2, 45, None, None, "C73.x00", "06.4x00", "KD19"),
    ("split-mcc_or_cc", "KS1 splits [1,5]; E11.900 with the MCC N18.500.",
     1, 63, None, None, "E11.900|N18.500", "", "KS11:MCC"),
    ("cond-pdx", "D64.900 anaemia is QS4, which splits [1,3,5].",
     2, 70, None, None, "D64.900", "", "QS45"),
    ("cond-pdx", "H81.000 Meniere's disease is DS1.",
     1, 52, None, None, "H81.000", "", "DS19"),
    ("cond-pdx", "F10.000 is UR1 (MDCU); F10.000 is a CC of its own table 54.",
     1, 38, None, None, "F10.000|F10.000", "", "UR15"),
    ("cond-pdx", "T78.000 anaphylaxis is VS1.",
     2, 30, None, None, "T78.000", "", "VS19"),
    ("cond-pdx", "N18.500 is LR1; I50.900 (table 95) counts against 145.",
     1, 72, None, None, "N18.500|I50.900", "", "LR11:MCC"),
    ("cond-pdx_and_newborn", "P59.901 (PU1 list) at 3 days with no PS diagnosis.",
     2, 0, 3, 3400, "P59.901", "", "PU15"),
    ("cond-pdx_and_newborn", "PU1 splits [3,5]: the MCC P36.900 (table 166 vs 165) gives "
     "PU13.",
     1, 0, 6, 3150, "P21.900|P36.900", "", "PU13:MCC"),
    ("cond-any_dx_and_main_px_in_valid_or", "Z20.600 is in YC1's list and MDCY comes before "
     "MDCX.",
     2, 27, None, None, "Z20.600", "51.2300", "YC15"),
    ("cond-pdx_and_any_px_and_any_px2", "The px2 code (81.0101) may be the main procedure; "
     "03.0900x026 is in IB1's px list.",
     1, 36, None, None, "A18.000x048+M49.0*", "81.0101|03.0900x026", "IB19"),
]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _expected(code: str) -> dict[str, str]:
    if code == "FAIL":
        return {"expected_status": "FAIL", "expected_mdc": "0000", "expected_adrg": "00",
                "expected_drg": "0000", "expected_severity": "", "expected_reason": "NO_GROUP"}
    if code.startswith("CHECK:"):
        return {"expected_status": "CHECK_FAILED", "expected_mdc": "0000",
                "expected_adrg": "00", "expected_drg": "0000", "expected_severity": "",
                "expected_reason": code.removeprefix("CHECK:")}
    drg, _, severity = code.partition(":")
    return {"expected_status": "SUCCESS", "expected_mdc": "MDC" + drg[0],
            "expected_adrg": drg[:3], "expected_drg": drg, "expected_severity": severity,
            "expected_reason": ""}


def golden_rows() -> list[dict[str, str]]:
    rows = []
    for number, (rule, note, sex, age, days, weight, dx, px, expect) in enumerate(GOLDEN, 1):
        rows.append({
            "claim_id": f"G{number:03d}", "rule": rule, "note": note, "sex": _text(sex),
            "age_years": _text(age), "age_days": _text(days), "birth_weight_g": _text(weight),
            "diagnoses": dx, "procedures": px, **_expected(expect),
        })
    return rows


def golden_claim(row: dict[str, str]) -> dict[str, Any]:
    """Canonical oracle input for one golden row (sex other than 1/2 becomes 0)."""
    sex = int(row["sex"]) if row["sex"] else None
    return {
        "sex": sex if sex in (None, 1, 2) else 0,
        "age_years": float(row["age_years"]) if row["age_years"] else None,
        "age_days": int(row["age_days"]) if row["age_days"] else None,
        "birth_weight_g": float(row["birth_weight_g"]) if row["birth_weight_g"] else None,
        "diagnoses": row["diagnoses"].split("|") if row["diagnoses"] else [],
        "procedures": row["procedures"].split("|") if row["procedures"] else [],
    }


def check_golden(oracle: Oracle, rows: list[dict[str, str]]) -> list[str]:
    problems = []
    for row in rows:
        result = oracle.group(golden_claim(row))
        got = (result.status, result.mdc, result.adrg, result.drg, result.severity,
               result.reason)
        want = (row["expected_status"], row["expected_mdc"], row["expected_adrg"],
                row["expected_drg"], row["expected_severity"], row["expected_reason"])
        if got != want:
            problems.append(f"{row['claim_id']} {row['rule']}: expected {want}, oracle {got}")
    return problems


def _parse(row: dict[str, str | None]) -> dict[str, Any] | None:
    """Typed canonical record of one text row, or None when a value cannot be parsed."""

    def text(name: str) -> str:
        return row[name] or ""

    def opt(name: str, kind: Any) -> Any:
        return kind(text(name)) if text(name) else None

    try:
        return {
            "claim_id": row["claim_id"] or None,
            "patient_id": row["patient_id"],
            "hospital_id": row["hospital_id"],
            "sex": opt("sex", int),
            "age_years": opt("age_years", float),
            "age_days": opt("age_days", int),
            "birth_weight_g": opt("birth_weight_g", float),
            "admit_date": opt("admit_date", dt.date.fromisoformat),
            "discharge_date": opt("discharge_date", dt.date.fromisoformat),
            "los_days": opt("los_days", int),
            "discharge_way": row["discharge_way"],
            "ventilation_hours": opt("ventilation_hours", float),
            "dept": row["dept"],
            "diagnoses": text("diagnoses").split("|") if text("diagnoses") else [],
            "procedures": text("procedures").split("|") if text("procedures") else [],
            "total_cost": opt("total_cost", Decimal),
        }
    except (ValueError, InvalidOperation):
        return None


def _weight_band(weight: float | None) -> str:
    if not weight:
        return "none/0"
    if weight < 1500:
        return "<1500"
    if weight < 2000:
        return "1500-1999"
    if weight < 2500:
        return "2000-2499"
    return ">=2500"


def _excluded_secondary(oracle: Oracle, dx: list[str]) -> bool:
    table = oracle.cc_exclusion.get(dx[0]) if dx else None
    return table is not None and any(
        oracle.cc_mcc.get(code, ("", ""))[1] == table for code in dx[1:]
    )


def main() -> None:
    started = time.perf_counter()
    oracle = load_oracle(RULE_DIR)

    golden = golden_rows()
    problems = check_golden(oracle, golden)
    if problems:
        raise SystemExit("golden cases disagree with the oracle:\n" + "\n".join(problems))
    with (OUT_DIR / "golden.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, GOLDEN_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(golden)

    table = generate_claims(RULE_DIR, N_CLAIMS, SEED, cover_all_drgs=True, verify=oracle)
    text_rows = inject_invalid_rows(table, per_kind=INVALID_PER_KIND, seed=SEED).to_pylist()
    with (OUT_DIR / "claims.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(CANONICAL_SCHEMA.names), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in text_rows)

    typed = [r for r in (_parse(row) for row in text_rows) if r is not None]
    pq.write_table(
        pa.Table.from_pylist(typed, schema=CANONICAL_SCHEMA),
        OUT_DIR / "claims.parquet",
        compression="zstd",
        use_compliant_nested_type=False,
    )

    results = [oracle.group(claim_from_record(r)) for r in typed]
    success = [(r, res) for r, res in zip(typed, results, strict=True)
               if res.status == "SUCCESS"]
    drgs = {res.drg for _, res in success}
    adrgs = {res.adrg for _, res in success}
    mdcs = {res.mdc for _, res in success}
    all_drgs = {d for m in oracle.mdcs for a in m.adrgs for d, _ in a.splits}
    all_adrgs = {a.adrg for m in oracle.mdcs for a in m.adrgs}
    newborn_bands = Counter(
        _weight_band(r["birth_weight_g"]) for r, res in success if res.mdc == "MDCP"
        and r["age_days"] is not None and r["age_days"] <= 28
    )
    print(f"golden.csv: {len(golden)} cases, all confirmed by the oracle")
    print(f"claims.csv: {len(text_rows)} rows "
          f"({len(text_rows) - table.num_rows} injected invalid rows)")
    print(f"claims.parquet: {len(typed)} typed rows "
          f"({len(text_rows) - len(typed)} untypeable rows only in the CSV)")
    print("status:", dict(Counter(res.status for res in results).most_common()))
    print("CHECK_FAILED reasons:", dict(Counter(
        res.reason for res in results if res.status == "CHECK_FAILED").most_common()))
    print(f"coverage: {len(mdcs)}/26 MDCs, {len(adrgs)}/{len(all_adrgs)} ADRGs, "
          f"{len(drgs)}/{len(all_drgs)} DRGs")
    print("newborns (<= 28 days) in MDCP by birth weight:", dict(sorted(newborn_bands.items())))
    print("MDCZ claims:", sum(res.mdc == "MDCZ" for _, res in success))
    print("sex-specific: MDCM", sum(res.mdc == "MDCM" for _, res in success),
          "MDCN", sum(res.mdc == "MDCN" for _, res in success))
    print("claims with a CC/MCC excluded by the principal's table:",
          sum(_excluded_secondary(oracle, r["diagnoses"]) for r in typed))
    missing = sorted(all_drgs - drgs)
    if missing or mdcs != {m.mdc for m in oracle.mdcs}:
        raise SystemExit(f"sample does not cover every DRG/MDC: missing {missing}")
    print(f"built in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
