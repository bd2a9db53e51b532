"""Seeded audit sample: charge lines, visits and a hospital master for a claims table, with
planted anomalies of every audited kind and look-alikes that must not be flagged.

``build_audit_sample(claims, seed=...)`` takes canonical claims (e.g. the committed sample
claims) and returns an :class:`AuditSample`:

* ``claims``: the input claims, cleaned of incidental anomalies so that the planted list is the
  complete truth (see ``notes``), plus planted and look-alike changes and a few added stays
  (readmissions, chemotherapy cycles, transfers, stays after death);
* ``charges``: fee detail lines for every readable stay, summing to the stay's total cost;
* ``visits``: outpatient, emergency, pharmacy and other-inpatient settlements of the persons;
* ``hospitals``: the hospital master (level, approved beds);
* ``truth``: one row per planted anomaly (rule code, subject) and per look-alike (the rules it
  resembles), for precision and recall.

Everything is vectorised over stays and lines with numpy and polars (the benchmark builds 10M
lines with it); only the few planted cases are chosen one by one, and those planted upcoding
cases are verified with the literal per-claim oracle, independently of the audit's regrouping.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from drg_engine.audit.catalogue import support_of
from drg_engine.audit.regroup import or_procedures
from drg_engine.audit.sample_charge_plants import charge_table, charges_for
from drg_engine.audit.sample_charges import SPECIAL_DEPTS
from drg_engine.audit.sample_context import hospital_master, visits_for
from drg_engine.grouping.oracle import Oracle, load_oracle
from drg_engine.pipeline import group_table
from drg_engine.rules.manifest import locate_rule_set

CONFLICT_WINDOW_DAYS = 31
REHAB_DEPT = "康复医学科"
PSYCH_DEPTS = ("精神科",)
PADDING_CODES = (
    "D64.100", "D50.100", "E87.100", "E87.000", "E03.000", "I48.000", "J06.800", "G40.100",
    "E78.900", "K29.000", "E11.000", "I50.000", "N17.000", "K72.000",
)
OUTPATIENT_PRINCIPALS = ("I10.x00x002", "K29.700", "E11.900")
CHEMO_PRINCIPAL = "Z51.101"
LONG_VENT = "96.7201"
TRUTH_SCHEMA = pa.schema([
    pa.field("rule_code", pa.string()),
    pa.field("subject_id", pa.string()),
    pa.field("subject_kind", pa.string()),
    pa.field("role", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("note", pa.string()),
])


@dataclass
class AuditSample:
    claims: pa.Table
    charges: pa.Table
    visits: pa.Table
    hospitals: pa.Table
    truth: pa.Table
    notes: dict[str, int] = field(default_factory=dict)


class _Truth:
    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def add(self, rule: str, subject: str, role: str, kind: str, note: str,
            subject_kind: str = "claim") -> None:
        self.rows.append({"rule_code": rule, "subject_id": subject, "subject_kind": subject_kind,
                          "role": role, "kind": kind, "note": note})

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=TRUTH_SCHEMA)


class _Builder:
    """State of one build: the claims frame, chosen plans and the truth list."""

    def __init__(self, claims: pa.Table, seed: int, rules: str, profile: str) -> None:
        self.rng = np.random.default_rng(seed)
        self.rules = rules
        self.profile = profile
        self.oracle: Oracle | None = None
        self.truth = _Truth()
        self.notes: dict[str, int] = {}
        frame = pl.from_arrow(claims)
        assert isinstance(frame, pl.DataFrame)
        self.input_columns = frame.columns
        self.df = frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"))
        self.used: set[int] = set()
        self.new_patient = 0
        # charge-level plans: tables of (claim_id, ...) applied after the base lines exist
        self.plans: dict[str, list[dict[str, Any]]] = {}
        self.batched_hospital: str | None = None
        self.unmapped_hospital: str | None = None

    # --- grouping and the valid rows ------------------------------------------------------

    def group(self) -> None:
        table = self.df.select(self.input_columns).to_arrow()
        run = group_table(table, self.rules)
        results = pl.from_arrow(run.results.select(["status", "mdc", "drg", "adrg", "severity"]))
        assert isinstance(results, pl.DataFrame)
        rows = pl.Series("_row", np.asarray(run.clean.column("row_number")) - 1)
        compiled = next(iter(run.rule_sets.values()))
        or_codes = pl.Series("_or", or_procedures(run.clean.column("procedures"), compiled))
        grouped = results.with_columns(rows, or_codes)
        self.df = self.df.drop(
            [c for c in ("status", "mdc", "drg", "adrg", "severity", "valid", "_or")
             if c in self.df.columns]
        ).join(grouped.with_columns(pl.lit(True).alias("valid")), on="_row", how="left",
               maintain_order="left")
        self.df = self.df.with_columns(pl.col("valid").fill_null(False))

    def valid(self) -> pl.DataFrame:
        return self.df.filter(pl.col("valid"))

    def fresh_patient(self) -> str:
        self.new_patient += 1
        return f"PA{self.new_patient:08d}"

    # --- cleaning incidental anomalies ----------------------------------------------------

    def clean_patients(self) -> None:
        valid = self.valid().sort(["patient_id", "admit_date", "discharge_date", "claim_id"])
        marked = valid.with_columns(
            pl.col("discharge_date").cum_max().shift(1).over("patient_id").alias("_prev_end"),
            (pl.col("discharge_way") == "5").cast(pl.Int32).cum_sum().shift(1)
            .over("patient_id").fill_null(0).alias("_prior_deaths"),
        ).with_columns(
            (
                (pl.col("admit_date") <= pl.col("_prev_end")
                 + pl.duration(days=CONFLICT_WINDOW_DAYS)).fill_null(False)
                | (pl.col("_prior_deaths") > 0)
            ).alias("_conflict")
        )
        conflicting = marked.filter(pl.col("_conflict")).get_column("_row").to_list()
        mapping = {row: self.fresh_patient() for row in conflicting}
        self._set("patient_id", mapping)
        self.notes["patients_reassigned"] = len(mapping)

    def clean_ventilation(self) -> None:
        hours = pl.col("ventilation_hours")
        window = (hours >= 94) & (hours < 112)
        self.notes["ventilation_hours_moved"] = self.df.filter(window).height
        self.df = self.df.with_columns(
            pl.when(window).then(hours - 25).otherwise(hours).alias("ventilation_hours")
        )

    def _levels(self) -> pl.DataFrame:
        counts = (self.valid().group_by("hospital_id").len()
                  .sort(["len", "hospital_id"], descending=[True, False]))
        n = counts.height
        level = np.where(np.arange(n) < n // 3, "3", np.where(np.arange(n) < 2 * n // 3, "2", "1"))
        return counts.with_columns(pl.Series("level", level)).select("hospital_id", "level")

    def _norms(self) -> pl.DataFrame:
        """Per claim: min mean LOS, max median per-diem and max mean cost over its groups."""
        base = (self.valid().filter(pl.col("status") == "SUCCESS")
                .join(self._levels(), on="hospital_id", how="left", maintain_order="left")
                .with_columns(
                    pl.col("total_cost").cast(pl.Float64).alias("_cost"),
                    (pl.col("total_cost").cast(pl.Float64)
                     / pl.max_horizontal(pl.col("los_days"), 1)).alias("_pd"),
        ))
        parts = []
        for keys in (["drg", "level"], ["drg"], ["adrg"]):
            stats = base.group_by(keys).agg(
                pl.len().alias("n"), pl.col("los_days").mean().alias("mean_los"),
                pl.col("_pd").median().alias("med_pd"), pl.col("_cost").mean().alias("mean_cost"),
            ).filter(pl.col("n") >= 5)
            parts.append(base.select("_row", *keys)
                         .join(stats, on=keys, how="inner", maintain_order="left")
                         .select("_row", "n", "mean_los", "med_pd", "mean_cost"))
        return pl.concat(parts).group_by("_row").agg(
            pl.col("mean_los").min().alias("min_mean_los"),
            pl.col("mean_los").max().alias("max_mean_los"),
            pl.col("med_pd").max().alias("max_med_pd"),
            pl.col("med_pd").min().alias("min_med_pd"),
            pl.col("mean_cost").max().alias("max_mean_cost"),
            pl.col("n").min().alias("min_n"),
        )

    def clean_costs(self) -> None:
        shortened = raised = 0
        for _ in range(2):
            norms = self._norms()
            joined = self.df.join(norms, on="_row", how="left", maintain_order="left")
            cap = (2.2 * pl.col("min_mean_los")).floor().cast(pl.Int32)
            too_long = (pl.col("los_days") > cap).fill_null(False) & pl.col("valid")
            shortened += joined.filter(too_long).height
            joined = joined.with_columns(
                pl.when(too_long).then(pl.col("total_cost").cast(pl.Float64) * cap
                                       / pl.col("los_days"))
                .otherwise(pl.col("total_cost").cast(pl.Float64)).alias("_cost"),
                pl.when(too_long).then(cap).otherwise(pl.col("los_days")).alias("los_days"),
            )
            los = pl.max_horizontal(pl.col("los_days"), 1)
            floor_pd = 0.6 * pl.col("max_med_pd") * los
            floor_total = pl.when(pl.col("los_days") >= 0.8 * pl.col("min_mean_los")).then(
                0.65 * pl.col("max_mean_cost")).otherwise(0.0)
            target = pl.max_horizontal(pl.col("_cost"), floor_pd.fill_null(0),
                                       floor_total.fill_null(0))
            raised += joined.filter(pl.col("valid") & (target > pl.col("_cost") + 0.005)).height
            self.df = joined.with_columns(
                pl.when(pl.col("valid")).then(target).otherwise(pl.col("_cost")).round(2)
                .cast(pl.Decimal(18, 2)).alias("total_cost"),
                pl.when(pl.col("valid") & pl.col("admit_date").is_not_null())
                .then(pl.col("admit_date") + pl.duration(days=pl.col("los_days")))
                .otherwise(pl.col("discharge_date")).alias("discharge_date"),
            ).drop(["_cost", *norms.columns[1:]])
            self.group()
        self.notes["stays_shortened"] = shortened
        self.notes["costs_raised"] = raised

    # --- helpers to choose and change claims ------------------------------------------------

    def _set(self, column: str, mapping: dict[int, Any]) -> None:
        if not mapping:
            return
        keys = pl.Series("_row", list(mapping), dtype=pl.Int64)
        values = pl.Series("_value", list(mapping.values()))
        update = pl.DataFrame([keys, values])
        self.df = (self.df.join(update, on="_row", how="left", maintain_order="left")
                   .with_columns(pl.coalesce(pl.col("_value").cast(self.df.schema[column]),
                                             pl.col(column)).alias(column))
                   .drop("_value"))

    def candidates(self, condition: pl.Expr, *, single_stay: bool = False) -> pl.DataFrame:
        frame = self.valid().filter(
            (pl.col("status") == "SUCCESS") & ~pl.col("dept").is_in(SPECIAL_DEPTS)
            & ~pl.col("_row").is_in(list(self.used)) & condition
        )
        if single_stay:
            counts = self.valid().group_by("patient_id").len()
            singles = counts.filter(pl.col("len") == 1).get_column("patient_id")
            frame = frame.filter(pl.col("patient_id").is_in(singles.implode()))
        return frame.sort("_row")

    def pick(self, frame: pl.DataFrame, n: int) -> pl.DataFrame:
        if frame.height == 0:
            return frame
        chosen = np.sort(self.rng.choice(frame.height, size=min(n, frame.height), replace=False))
        picked = frame[chosen.tolist()]
        self.used.update(picked.get_column("_row").to_list())
        return picked

    def add_claims(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        start = int(self.df.get_column("_row").max()) + 1  # type: ignore[arg-type]
        frame = pl.DataFrame(
            [{**row, "_row": start + i} for i, row in enumerate(rows)],
            schema={**{c: self.df.schema[c] for c in self.input_columns}, "_row": pl.Int64},
        )
        extra = [c for c in self.df.columns if c not in frame.columns]
        frame = frame.with_columns(
            *(pl.lit(None, dtype=self.df.schema[c]).alias(c) for c in extra)
        ).select(self.df.columns)
        self.df = pl.concat([self.df, frame])
        self.used.update(range(start, start + len(rows)))

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        return {c: row[c] for c in self.input_columns}

    def oracle_group(self, row: dict[str, Any], diagnoses: list[str]) -> tuple[str, str]:
        if self.oracle is None:
            self.oracle = load_oracle(locate_rule_set(self.rules))
        result = self.oracle.group({
            "sex": row["sex"], "age_years": row["age_years"], "age_days": row["age_days"],
            "birth_weight_g": row["birth_weight_g"], "los_days": row["los_days"],
            "diagnoses": diagnoses, "procedures": row["procedures"],
        })
        return result.status, result.drg

    # --- claim-level plants -------------------------------------------------------------

    def plant_claims(self, n: int, k: int) -> None:
        self._plant_overlaps(n)
        self._plant_readmissions(n)
        self._plant_low_standard(n, k)
        self._plant_cc_hospitals()
        self._plant_padding(n, k)
        self._plant_unsupported_procedures(n)
        self._plant_ventilation(n, k)
        self._plant_long_stays(n)
        self._plant_low_intensity(n)
        self._plant_deaths(n)
        self._lookalike_rehab(k)
        self._lookalike_psychiatry(k)
        self._lookalike_preop(k)
        self._lookalike_chemo(k)
        self._lookalike_transfers(k)

    def _plant_overlaps(self, n: int) -> None:
        firsts = self.pick(self.candidates((pl.col("los_days") >= 5)
                                           & (pl.col("discharge_way") == "1"),
                                           single_stay=True), n)
        seconds = self.pick(self.candidates((pl.col("los_days").is_between(2, 8))
                                            & (pl.col("discharge_way") == "1"),
                                            single_stay=True), firsts.height)
        patient: dict[int, str] = {}
        admit: dict[int, date] = {}
        discharge: dict[int, date] = {}
        for i, (a, b) in enumerate(zip(firsts.iter_rows(named=True),
                                       seconds.iter_rows(named=True), strict=False)):
            if i % 4 == 3:
                hospital_note = "same hospital (duplicate registration)"
                self._set("hospital_id", {b["_row"]: a["hospital_id"]})
            else:
                hospital_note = "another hospital"
                if b["hospital_id"] == a["hospital_id"]:
                    continue
            offset = int(self.rng.integers(1, a["los_days"] - 1))
            patient[b["_row"]] = a["patient_id"]
            admit[b["_row"]] = a["admit_date"] + timedelta(days=offset)
            discharge[b["_row"]] = admit[b["_row"]] + timedelta(days=b["los_days"])
            self.truth.add("OV001", b["claim_id"], "planted", "overlapping stay",
                           f"admitted on day {offset} of stay {a['claim_id']}, {hospital_note}")
        self._set("patient_id", patient)
        self._set("admit_date", admit)
        self._set("discharge_date", discharge)
        # Overlap with another institution's inpatient settlement in the visits file.
        hosts = self.pick(self.candidates((pl.col("los_days") >= 6), single_stay=True), n // 4)
        for row in hosts.iter_rows(named=True):
            start = row["admit_date"] + timedelta(days=2)
            self.plan("inpatient_visit", claim_id=row["claim_id"], patient_id=row["patient_id"],
                      hospital_id=row["hospital_id"], start=start,
                      end=start + timedelta(days=3))
            self.truth.add("OV001", row["claim_id"], "planted", "overlapping stay",
                           "inpatient settlement at another institution in the visits file")

    def _readmission(self, row: dict[str, Any], *, gap: int, los: int, principal: str,
                     suffix: str, hospital: str | None = None,
                     dept: str | None = None) -> dict[str, Any]:
        new = self.record(row)
        new["claim_id"] = f"{row['claim_id']}{suffix}"
        new["admit_date"] = row["discharge_date"] + timedelta(days=gap)
        new["discharge_date"] = new["admit_date"] + timedelta(days=los)
        new["los_days"] = los
        new["diagnoses"] = [principal, *[d for d in row["diagnoses"][1:] if d != principal]]
        new["discharge_way"] = "1"
        if hospital is not None:
            new["hospital_id"] = hospital
        if dept is not None:
            new["dept"] = dept
        return new

    def _plant_readmissions(self, n: int) -> None:
        pool = self.candidates((pl.col("discharge_way") == "1") & (pl.col("los_days") >= 2)
                               & (pl.col("diagnoses").list.len() >= 2)
                               & ~pl.col("diagnoses").list.first().str.starts_with("Z51"),
                               single_stay=True)
        chosen = self.pick(pool, n)
        new_rows = []
        tiers = ("same principal code", "same ICD-10 category",
                 "previous secondary diagnosis became principal")
        universe = self._dx_universe()
        for i, row in enumerate(chosen.iter_rows(named=True)):
            tier = i % 3
            principal = row["diagnoses"][0]
            if tier == 1:
                siblings = [c for c in universe.get(principal[:3], []) if c != principal]
                if not siblings:
                    tier = 0
                else:
                    principal = siblings[int(self.rng.integers(len(siblings)))]
            if tier == 2:
                principal = row["diagnoses"][1]
            gap = int(self.rng.integers(1, 11))
            new = self._readmission(row, gap=gap, los=int(self.rng.integers(2, 7)),
                                    principal=principal, suffix="-R")
            new_rows.append(new)
            self.truth.add("DH001", new["claim_id"], "planted", "decomposed hospitalisation",
                           f"readmitted {gap} d after {row['claim_id']}: {tiers[tier]}")
        self.add_claims(new_rows)
        self._needs_price(row["claim_id"] for row in new_rows)

    def _dx_universe(self) -> dict[str, list[str]]:
        rule_dir = locate_rule_set(self.rules)
        by_category: dict[str, list[str]] = {}
        with (rule_dir / "mdc_codes.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                code = row["code"]
                by_category.setdefault(code[:3], []).append(code)
        return {key: sorted(set(codes)) for key, codes in by_category.items()}

    def _needs_price(self, claim_ids: Iterable[str]) -> None:
        ids = list(claim_ids)
        current = self.df.get_column("_price").to_list() if "_price" in self.df.columns else None
        flag = pl.col("claim_id").is_in(ids)
        if current is None:
            self.df = self.df.with_columns(flag.alias("_price"))
        else:
            self.df = self.df.with_columns((pl.col("_price").fill_null(False) | flag)
                                           .alias("_price"))

    def _profile(self, column: str, mapping: dict[str, Any], dtype: pl.DataType) -> None:
        if column not in self.df.columns:
            self.df = self.df.with_columns(pl.lit(None, dtype=dtype).alias(column))
        update = pl.DataFrame({"claim_id": list(mapping), "_p": list(mapping.values())},
                              schema={"claim_id": pl.String, "_p": dtype})
        self.df = (self.df.join(update, on="claim_id", how="left", maintain_order="left")
                   .with_columns(pl.coalesce("_p", column).alias(column)).drop("_p"))

    def plan(self, name: str, **values: Any) -> None:
        self.plans.setdefault(name, []).append(values)

    def _plant_low_standard(self, n: int, k: int) -> None:
        pool = self.candidates((pl.col("procedures").list.len() == 0)
                               & (pl.col("los_days") >= 2) & (pl.col("discharge_way") == "1"),
                               single_stay=True)
        chosen = self.pick(pool, n + k)
        los: dict[int, int] = {}
        discharge: dict[int, date] = {}
        principal: dict[int, list[str]] = {}
        ways: dict[int, str] = {}
        exam: dict[str, float] = {}
        for i, row in enumerate(chosen.iter_rows(named=True)):
            days = 1 + i % 3
            los[row["_row"]] = days
            discharge[row["_row"]] = row["admit_date"] + timedelta(days=days)
            share = 0.85 if i % 2 == 0 else 0.68
            exam[row["claim_id"]] = share
            if i % 3 == 0:
                principal[row["_row"]] = [OUTPATIENT_PRINCIPALS[i % len(OUTPATIENT_PRINCIPALS)],
                                          *row["diagnoses"][1:]]
            if i < n:
                self.truth.add("LA001", row["claim_id"], "planted", "low-standard admission",
                               f"{days}-day non-surgical stay, exams and labs {share:.0%}")
            else:
                ways[row["_row"]] = ("5", "2", "4")[i % 3]
                self.truth.add("LA001", row["claim_id"], "lookalike", "short stay that ended "
                               "in death, transfer or self-discharge",
                               f"exams {share:.0%} but discharge way {ways[row['_row']]}")
        self._set("los_days", los)
        self._set("discharge_date", discharge)
        self._set("diagnoses", principal)
        self._set("discharge_way", ways)
        self._profile("exam_share", exam, pl.Float64)
        self._needs_price(chosen.get_column("claim_id").to_list())

    def _split_claims(self) -> pl.DataFrame:
        return self.candidates(pl.col("drg").str.slice(3, 1).is_in(["1", "3", "5"])
                               & (pl.col("severity") == "none"))

    def _plant_cc_hospitals(self) -> None:
        counts = (self.valid().group_by("hospital_id").len()
                  .filter(pl.col("len").is_between(150, 700)).sort("hospital_id"))
        hospitals = counts.get_column("hospital_id").to_list()
        picked = [hospitals[i] for i in sorted(self.rng.choice(len(hospitals), size=min(3, len(
            hospitals)), replace=False))]
        padded = 0
        for hospital in picked:
            frame = self._split_claims().filter(pl.col("hospital_id") == hospital)
            chosen = self.pick(frame, int(frame.height * 0.9))
            changes: dict[int, list[str]] = {}
            for row in chosen.iter_rows(named=True):
                for code in PADDING_CODES:
                    if code in row["diagnoses"]:
                        continue
                    diagnoses = [*row["diagnoses"], code]
                    status, drg = self.oracle_group(row, diagnoses)
                    if status == "SUCCESS" and drg != row["drg"]:
                        changes[row["_row"]] = diagnoses
                        break
            self._set("diagnoses", changes)
            padded += len(changes)
            self.truth.add("UC001", hospital, "planted", "CC/MCC padding hospital",
                           f"CC/MCC codes added to {len(changes)} stays", "hospital")
        self.notes["cc_hospital_stays_padded"] = padded

    def _plant_padding(self, n: int, k: int) -> None:
        chosen_rows: dict[int, list[str]] = {}
        unsupported: dict[str, str] = {}
        # Padded stays raise their hospital's CC/MCC rate: keep them in the largest hospitals,
        # where a few stays do not move the rate that UC001 judges.
        large = (self.valid().group_by("hospital_id").len().filter(pl.col("len") >= 500)
                 .get_column("hospital_id"))
        pool = self._split_claims().filter(pl.col("hospital_id").is_in(large.implode()))
        order = self.rng.permutation(pool.height)
        wanted = n + k
        for index in order:
            if len(chosen_rows) >= wanted:
                break
            row = pool.row(int(index), named=True)
            own = {p for code in row["diagnoses"] for p in support_of(code)}
            for code in PADDING_CODES:
                prefixes = support_of(code)
                if code in row["diagnoses"] or not prefixes or own & set(prefixes):
                    continue
                diagnoses = [*row["diagnoses"], code]
                status, drg = self.oracle_group(row, diagnoses)
                if status == "SUCCESS" and drg != row["drg"]:
                    chosen_rows[row["_row"]] = diagnoses
                    self.used.add(row["_row"])
                    if len(chosen_rows) <= n:
                        unsupported[row["claim_id"]] = code
                        self.truth.add("UC002", row["claim_id"], "planted",
                                       "secondary diagnosis without treatment",
                                       f"{code} alone lifts {drg}; no {'/'.join(prefixes)} line")
                    else:
                        self.truth.add("UC002", row["claim_id"], "lookalike",
                                       "lifting secondary diagnosis with treatment",
                                       f"{code} alone lifts {drg}, treated with "
                                       f"{'/'.join(prefixes)}")
                    break
        self._set("diagnoses", chosen_rows)
        self._profile("unsupported_dx", unsupported, pl.String)

    def _plant_unsupported_procedures(self, n: int) -> None:
        pool = self.candidates(pl.col("_or").list.len() > 0)
        chosen = self.pick(pool, n)
        self._profile("no_surgery", dict.fromkeys(chosen.get_column("claim_id").to_list(), True),
                      pl.Boolean)
        for row in chosen.iter_rows(named=True):
            self.truth.add("UC003", row["claim_id"], "planted", "procedure without charges",
                           f"{', '.join(row['_or'])} coded, no surgery or anaesthesia line")

    def _plant_ventilation(self, n: int, k: int) -> None:
        pool = self.candidates(pl.col("procedures").list.contains(LONG_VENT)
                               | pl.col("ventilation_hours").is_not_null())
        if pool.height < n + k:
            extra = self.candidates(pl.col("mdc").is_in(["MDCE", "MDCA"])
                                    if "mdc" in self.df.columns else pl.col("adrg")
                                    .str.starts_with("E"))
            pool = pl.concat([pool, extra]).unique("_row", maintain_order=True)
        chosen = self.pick(pool, n + k)
        hours: dict[int, float] = {}
        billed: dict[str, float] = {}
        for i, row in enumerate(chosen.iter_rows(named=True)):
            if i < n:
                value = round(96.0 + float(self.rng.uniform(0.5, 7.5)), 1)
                hours[row["_row"]] = value
                suspect = i % 2 == 0
                billed[row["claim_id"]] = 80.0 if suspect else value
                self.truth.add("UC004", row["claim_id"], "planted", "ventilation bunching",
                               f"{value} h recorded" + ("; 80 h billed" if suspect else ""))
            else:
                value = (95.0, 130.0, 88.0)[i % 3]
                hours[row["_row"]] = value
                self.truth.add("UC004", row["claim_id"], "lookalike",
                               "ventilation outside the window", f"{value} h")
        self._set("ventilation_hours", hours)
        self._profile("vent_billed", billed, pl.Float64)

    def _plant_long_stays(self, n: int) -> None:
        norms = self._norms()
        pool = self.candidates(pl.col("discharge_way") == "1", single_stay=True).join(
            norms.filter(pl.col("min_n") >= 15), on="_row", how="inner").sort("_row")
        chosen = self.pick(pool, n)
        los: dict[int, int] = {}
        discharge: dict[int, date] = {}
        cost: dict[int, Any] = {}
        for row in chosen.iter_rows(named=True):
            days = int(np.ceil(4.5 * max(row["max_mean_los"], 3)))
            factor = days / max(row["los_days"], 1)
            los[row["_row"]] = days
            discharge[row["_row"]] = row["admit_date"] + timedelta(days=days)
            cost[row["_row"]] = round(float(row["total_cost"]) * factor, 2)
            self.truth.add("LS001", row["claim_id"], "planted", "extreme length of stay",
                           f"{days} days against a group mean of {row['max_mean_los']:.1f}")
        self._set("los_days", los)
        self._set("discharge_date", discharge)
        self._set("total_cost", {r: _decimal(v) for r, v in cost.items()})

    def _plant_low_intensity(self, n: int) -> None:
        norms = self._norms()
        pool = self.candidates((pl.col("los_days") >= 4) & (pl.col("discharge_way") == "1")
                               & (pl.col("_or").list.len() == 0)).join(
            norms.filter(pl.col("min_n") >= 15), on="_row", how="inner").sort("_row")
        chosen = self.pick(pool, n)
        cost: dict[int, Any] = {}
        for row in chosen.iter_rows(named=True):
            per_diem = 0.25 * row["min_med_pd"]
            cost[row["_row"]] = _decimal(per_diem * row["los_days"])
            self.truth.add("HB003", row["claim_id"], "planted", "low intensity",
                           f"{per_diem:.0f} a day against a group median of "
                           f"{row['min_med_pd']:.0f}")
        self._set("total_cost", cost)

    def _plant_deaths(self, n: int) -> None:
        deaths = self.valid().filter((pl.col("discharge_way") == "5")
                                     & ~pl.col("_row").is_in(list(self.used))
                                     & (pl.col("status") == "SUCCESS")).sort("_row")
        chosen = self.pick(deaths, n + n // 2)
        later_rows = []
        donors = self.pick(self.candidates(pl.col("los_days").is_between(2, 8),
                                           single_stay=True), n // 4)
        for i, row in enumerate(chosen.iter_rows(named=True)):
            kind = i % 3
            if i >= n:
                self.plan("postmortem_only", claim_id=row["claim_id"])
                self.truth.add("CD002", row["claim_id"], "lookalike",
                               "post-mortem care billed on the day of death",
                               "lines on the day of death only")
            elif kind == 0:
                self.plan("after_death", claim_id=row["claim_id"],
                          days=int(self.rng.integers(1, 4)))
                self.truth.add("CD002", row["claim_id"], "planted", "charges after death",
                               "drug and lab lines dated after the day of death")
            elif kind == 1:
                self.plan("visit_after_death", claim_id=row["claim_id"],
                          patient_id=row["patient_id"],
                          day=row["discharge_date"] + timedelta(days=int(self.rng.integers(3, 40))))
                self.truth.add("CD002", row["claim_id"], "planted", "settlement after death",
                               "pharmacy purchase with the person's card after death")
            elif i // 3 < donors.height:
                donor = donors.row(i // 3, named=True)
                new = self.record(donor)
                new["claim_id"] = f"{donor['claim_id']}-D"
                new["patient_id"] = row["patient_id"]
                new["admit_date"] = row["discharge_date"] + timedelta(
                    days=int(self.rng.integers(20, 90)))
                new["discharge_date"] = new["admit_date"] + timedelta(days=donor["los_days"])
                later_rows.append(new)
                self.truth.add("CD002", new["claim_id"], "planted", "stay after death",
                               f"admitted after the patient died in {row['claim_id']}")
            else:
                self.plan("after_death", claim_id=row["claim_id"], days=2)
                self.truth.add("CD002", row["claim_id"], "planted", "charges after death",
                               "lines dated after the day of death")
        self.add_claims(later_rows)

    # --- claim-level look-alikes ---------------------------------------------------------

    def _lookalike_rehab(self, k: int) -> None:
        pool = self.valid().filter((pl.col("dept") == REHAB_DEPT) & (pl.col("status") == "SUCCESS")
                                   & ~pl.col("_row").is_in(list(self.used)))
        singles = self.valid().group_by("patient_id").len().filter(pl.col("len") == 1)
        pool = pool.filter(pl.col("patient_id").is_in(singles.get_column("patient_id").implode()))
        chosen = self.pick(pool.sort("_row"), k)
        los = {row["_row"]: int(self.rng.integers(24, 32)) for row in chosen.iter_rows(named=True)}
        self._set("los_days", los)
        self._set("discharge_date", {
            row["_row"]: row["admit_date"] + timedelta(days=los[row["_row"]])
            for row in chosen.iter_rows(named=True)})
        self._profile("profile", dict.fromkeys(chosen.get_column("claim_id").to_list(), "rehab"),
                      pl.String)
        self._needs_price(chosen.get_column("claim_id").to_list())
        for row in chosen.iter_rows(named=True):
            self.truth.add("HB001,HB003,HB005,LS001", row["claim_id"], "lookalike",
                           "rehabilitation stay",
                           "long, low-cost, therapy under local code 1499, identical days")

    def _lookalike_psychiatry(self, k: int) -> None:
        pool = self.valid().filter(pl.col("dept").is_in(PSYCH_DEPTS)
                                   & (pl.col("status") == "SUCCESS") & (pl.col("los_days") >= 12)
                                   & ~pl.col("_row").is_in(list(self.used))).sort("_row")
        chosen = self.pick(pool, k)
        self._profile("profile", dict.fromkeys(chosen.get_column("claim_id").to_list(),
                                               "psych_bulk"), pl.String)
        for row in chosen.iter_rows(named=True):
            self.truth.add("HB001", row["claim_id"], "lookalike", "psychiatric stay",
                           "oral drugs dispensed weekly, drug-free days in between")

    def _lookalike_preop(self, k: int) -> None:
        pool = self.candidates((pl.col("_or").list.len() > 0) & (pl.col("los_days") >= 8))
        chosen = self.pick(pool, k)
        waits = {row["claim_id"]: 2 + i % 3 for i, row in enumerate(chosen.iter_rows(named=True))}
        self._profile("preop_day", waits, pl.Int32)
        for row in chosen.iter_rows(named=True):
            self.truth.add("HB001,HB002", row["claim_id"], "lookalike", "pre-operative wait",
                           f"no substantive care before the operation on day "
                           f"{waits[row['claim_id']]}")

    def _lookalike_chemo(self, k: int) -> None:
        pool = self.candidates(pl.col("diagnoses").list.first().str.starts_with("C")
                               & (pl.col("discharge_way") == "1"), single_stay=True)
        chosen = self.pick(pool, max(1, k // 2))
        rows = []
        for row in chosen.iter_rows(named=True):
            previous = row
            for cycle in range(3):
                new = self._readmission(previous, gap=int(self.rng.integers(10, 15)), los=3,
                                        principal=CHEMO_PRINCIPAL, suffix=f"-C{cycle + 1}",
                                        dept="肿瘤科")
                new["diagnoses"] = [CHEMO_PRINCIPAL, row["diagnoses"][0]]
                new["procedures"] = []
                rows.append(new)
                if cycle > 0:
                    self.truth.add("DH001", new["claim_id"], "lookalike",
                                   "planned chemotherapy cycle",
                                   f"cycle {cycle + 1} after {previous['claim_id']}")
                previous = {**new, "los_days": 3}
        self.add_claims(rows)
        self._needs_price(row["claim_id"] for row in rows)
        self._profile("profile", {row["claim_id"]: "chemo" for row in rows}, pl.String)

    def _lookalike_transfers(self, k: int) -> None:
        pool = self.candidates((pl.col("los_days") >= 3), single_stay=True)
        chosen = self.pick(pool, k)
        hospitals = sorted(set(self.valid().get_column("hospital_id").drop_nulls().to_list()))
        rows, ways = [], {}
        for row in chosen.iter_rows(named=True):
            other = [h for h in hospitals if h != row["hospital_id"]]
            target = other[int(self.rng.integers(len(other)))]
            ways[row["_row"]] = "2"
            new = self._readmission(row, gap=0, los=int(self.rng.integers(3, 7)),
                                    principal=row["diagnoses"][0], suffix="-T", hospital=target)
            rows.append(new)
            self.truth.add("DH001,OV001", new["claim_id"], "lookalike", "ordered transfer",
                           f"discharged from {row['hospital_id']} by transfer, admitted the same "
                           f"day at {target}")
        self._set("discharge_way", ways)
        self.add_claims(rows)
        self._needs_price(row["claim_id"] for row in rows)

    # --- pricing after regrouping ---------------------------------------------------------

    def price(self) -> None:
        """Costs of added or re-coded stays from their new group's per-day norm."""
        if "_price" not in self.df.columns:
            return
        base = self.valid().filter((pl.col("status") == "SUCCESS")
                                   & ~pl.col("_price").fill_null(False))
        per_diem = (pl.col("total_cost").cast(pl.Float64)
                    / pl.max_horizontal(pl.col("los_days"), 1))
        by_drg = base.group_by("drg").agg(per_diem.median().alias("_drg_pd"), pl.len().alias("_n"))
        by_adrg = base.group_by("adrg").agg(per_diem.median().alias("_adrg_pd"))
        overall = float(base.select(per_diem.median()).item())
        joined = (self.df.join(by_drg, on="drg", how="left", maintain_order="left")
                  .join(by_adrg, on="adrg", how="left", maintain_order="left"))
        factor = pl.when(pl.col("profile") == "rehab").then(0.3).otherwise(1.0)
        norm = pl.coalesce(pl.when(pl.col("_n") >= 3).then(pl.col("_drg_pd")),
                           pl.col("_adrg_pd"), pl.lit(overall))
        self.df = joined.with_columns(
            pl.when(pl.col("_price").fill_null(False) & pl.col("valid"))
            .then((norm * factor * pl.max_horizontal(pl.col("los_days"), 1)).round(2)
                  .cast(pl.Decimal(18, 2)))
            .otherwise(pl.col("total_cost")).alias("total_cost")
        ).drop(["_drg_pd", "_adrg_pd", "_n"])


def _decimal(value: float) -> Any:
    from decimal import Decimal

    return Decimal(f"{value:.2f}")


def build_audit_sample(
    claims: pa.Table,
    *,
    seed: int = 20240601,
    plants_per_rule: int = 20,
    lookalikes_per_kind: int = 10,
    rules: str = "chs_drg_1_1",
    profile: str = "full",
) -> AuditSample:
    """The audit sample for ``claims`` (canonical columns, e.g. ``sample_claims/claims.parquet``).

    ``profile="lean"`` bills bed and nursing days in one line each and one substantive line a
    day (the benchmark's 10 lines per stay); ``plants_per_rule`` anomalies are planted for every
    rule and ``lookalikes_per_kind`` look-alikes of every kind.
    """
    n, k = plants_per_rule, lookalikes_per_kind
    builder = _Builder(claims, seed, rules, profile)
    builder.group()
    builder.clean_patients()
    builder.clean_ventilation()
    builder.clean_costs()
    builder.plant_claims(n, k)
    builder.group()
    builder.price()
    builder.group()
    stays, lines = charges_for(builder, n, k)
    charges = charge_table(builder, stays, lines, n)
    totals = (charges.filter(pl.col("claim_id").is_in(stays.get_column("claim_id").implode()))
              .group_by("claim_id").agg(pl.col("amount").sum().round(2).alias("_total")))
    builder.df = builder.df.join(totals, on="claim_id", how="left",
                                 maintain_order="left").with_columns(
        pl.when(pl.col("valid") & pl.col("_total").is_not_null())
        .then(pl.col("_total").cast(pl.Decimal(18, 2))).otherwise(pl.col("total_cost"))
        .alias("total_cost")).drop("_total")
    # DQ004: a few stays whose settlement total does not match their lines.
    pool = builder.candidates(pl.lit(True))
    mismatched = builder.pick(pool, max(2, n // 4))
    builder._set("total_cost", {
        row["_row"]: _decimal(float(row["total_cost"]) * 1.1)
        for row in mismatched.iter_rows(named=True)})
    for row in mismatched.iter_rows(named=True):
        builder.truth.add("DQ004", row["claim_id"], "planted", "total does not match lines",
                          "settlement total 10% above the lines")
    visits = visits_for(builder, n, k)
    hospitals = hospital_master(builder, k)
    out = builder.df.sort("_row").select(builder.input_columns).to_arrow()
    builder.notes["claims"] = out.num_rows
    builder.notes["charge_lines"] = charges.height
    return AuditSample(
        claims=out,
        charges=charges.to_arrow(),
        visits=visits.to_arrow(),
        hospitals=hospitals.to_arrow(),
        truth=builder.truth.table(),
        notes=builder.notes,
    )
