"""Visits (the persons' other settlements) and the hospital master for the audit sample, with
the activity-elsewhere, inpatient-overlap, after-death, census and master-data plants."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from drg_engine.audit.sample_data import _Builder

def visits_for(builder: _Builder, n: int, k: int) -> pl.DataFrame:
    rng, truth = builder.rng, builder.truth
    stays = builder.valid().filter(pl.col("admit_date").is_not_null()
                                   & pl.col("discharge_date").is_not_null()).sort("_row")
    hospitals = sorted(set(stays.get_column("hospital_id").drop_nulls().to_list()))
    pharmacies = [f"PH{i:04d}" for i in range(1, 21)]
    rows: list[dict[str, Any]] = []

    def visit(patient: str, hospital: str, med_type: str, day: date, amount: float,
              items: str, end: date | None = None) -> None:
        rows.append({"visit_id": f"V{len(rows) + 1:08d}", "patient_id": patient,
                     "hospital_id": hospital, "med_type": med_type, "visit_date": day,
                     "end_date": end, "amount": round(amount, 2), "items": items})

    # Ordinary traffic around stays: pre-admission workup, pharmacy purchases after discharge,
    # emergency visits on the admission day (vectorised: the benchmark has a million stays).
    picks = rng.random(stays.height)
    m = stays.height
    before = rng.integers(2, 20, size=m)
    after = rng.integers(2, 25, size=m)
    amounts = rng.uniform(30, 800, size=m).round(2)
    pharmacy = np.array(pharmacies)[rng.integers(0, len(pharmacies), size=m)]
    emergency_at = np.array(hospitals)[rng.integers(0, len(hospitals), size=m)]
    base = stays.select("patient_id", "hospital_id", "admit_date", "discharge_date")
    ordinary = pl.concat([
        base.filter(pl.Series(picks < 0.35)).with_columns(
            pl.lit("11").alias("med_type"),
            (pl.col("admit_date") - pl.duration(days=pl.Series(before[picks < 0.35])))
            .alias("visit_date"),
            pl.Series("amount", amounts[picks < 0.35]), pl.lit("门诊检查").alias("items")),
        base.filter(pl.Series(picks < 0.25)).with_columns(
            pl.Series("hospital_id", pharmacy[picks < 0.25]), pl.lit("41").alias("med_type"),
            (pl.col("discharge_date") + pl.duration(days=pl.Series(after[picks < 0.25])))
            .alias("visit_date"),
            pl.Series("amount", amounts[picks < 0.25] / 3), pl.lit("药店购药").alias("items")),
        base.filter(pl.Series(picks > 0.9)).with_columns(
            pl.Series("hospital_id", emergency_at[picks > 0.9]), pl.lit("13").alias("med_type"),
            pl.col("admit_date").alias("visit_date"),
            pl.Series("amount", amounts[picks > 0.9]), pl.lit("急诊 (入院当日)").alias("items")),
    ]).select(
        pl.format("W{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(9))
        .alias("visit_id"),
        "patient_id", "hospital_id", "med_type", "visit_date",
        pl.lit(None, dtype=pl.Date).alias("end_date"), pl.col("amount").round(2), "items",
    )
    # HB004 plants: settlements on an interior day, mostly at another institution.
    pool = builder.candidates(pl.col("los_days") >= 4, single_stay=True)
    picked = builder.pick(pool, n + k)
    for i, row in enumerate(picked.iter_rows(named=True)):
        day = row["admit_date"] + timedelta(days=int(rng.integers(1, row["los_days"])))
        other = [h for h in hospitals if h != row["hospital_id"]]
        if i < n:
            elsewhere = i % 5 != 4
            place = (pharmacies[i % len(pharmacies)] if i % 3 == 0 else
                     other[int(rng.integers(len(other)))]) if elsewhere else row["hospital_id"]
            med_type = "41" if elsewhere and i % 3 == 0 else "11"
            visit(row["patient_id"], place, med_type, day, float(rng.uniform(50, 400)),
                  "住院期间门诊/购药")
            truth.add("HB004", row["claim_id"], "planted", "activity elsewhere",
                      f"{'pharmacy' if med_type == '41' else 'outpatient'} settlement at {place} "
                      f"on {day}")
        else:
            visit(row["patient_id"], other[int(rng.integers(len(other)))], "13",
                  row["admit_date"], 300.0, "急诊后收入院")
            visit(row["patient_id"], pharmacies[0], "41", row["discharge_date"], 120.0,
                  "出院当日购药")
            truth.add("HB004", row["claim_id"], "lookalike", "visits on admission and "
                      "discharge day", "emergency visit on day 0, pharmacy on discharge day")
    for plan in builder.plans.get("inpatient_visit", []):
        other = [h for h in hospitals if h != plan["hospital_id"]]
        visit(plan["patient_id"], other[int(rng.integers(len(other)))], "21", plan["start"],
              float(rng.uniform(3000, 9000)), "住院", end=plan["end"])
    for plan in builder.plans.get("visit_after_death", []):
        visit(plan["patient_id"], pharmacies[1], "41", plan["day"], 260.0, "药店购药")
    planted = pl.DataFrame(rows, schema={
        "visit_id": pl.String, "patient_id": pl.String, "hospital_id": pl.String,
        "med_type": pl.String, "visit_date": pl.Date, "end_date": pl.Date, "amount": pl.Float64,
        "items": pl.String})
    # Ordinary traffic never falls inside a stay or after a death (planted rows are kept).
    inside = (ordinary.join(stays.select("patient_id", pl.col("admit_date").alias("_a"),
                                         pl.col("discharge_date").alias("_d")), on="patient_id")
              .filter((pl.col("visit_date") > pl.col("_a")) & (pl.col("visit_date") < pl.col("_d")))
              .select("visit_id"))
    deaths = stays.filter(pl.col("discharge_way") == "5").group_by("patient_id").agg(
        pl.col("discharge_date").min().alias("_death"))
    after_death = (ordinary.join(deaths, on="patient_id")
                   .filter(pl.col("visit_date") > pl.col("_death")).select("visit_id"))
    drop = pl.concat([inside, after_death]).unique()
    builder.notes["visits_dropped_inside_stays_or_after_death"] = drop.height
    ordinary = ordinary.join(drop, on="visit_id", how="anti", maintain_order="left")
    return pl.concat([ordinary, planted]).sort("visit_id")


def hospital_master(builder: _Builder, k: int) -> pl.DataFrame:
    rng, truth = builder.rng, builder.truth
    stays = builder.valid().filter((pl.col("discharge_date") > pl.col("admit_date"))
                                   & pl.col("hospital_id").is_not_null())
    nights = (stays.select("hospital_id", pl.date_ranges("admit_date", "discharge_date",
                                                         closed="left").alias("night"))
              .explode("night").group_by("hospital_id", "night").len())
    census = nights.group_by("hospital_id").agg(pl.col("len").max().alias("peak"),
                                                pl.col("len").mean().alias("mean"))
    levels = builder._levels()
    master = (levels.join(census, on="hospital_id", how="left", maintain_order="left")
              .sort("hospital_id"))
    ids = master.get_column("hospital_id").to_list()
    busy = {row["subject_id"] for row in truth.rows if row["rule_code"] == "UC001"}
    order = [i for i in rng.permutation(len(ids)) if ids[i] not in busy]
    over = {ids[i] for i in order[:2]}
    near = {ids[order[2]]} if len(ids) > 2 else set()
    no_beds = ids[order[3]] if len(ids) > 3 else None
    missing = ids[order[4]] if len(ids) > 4 else None
    beds = []
    for row in master.iter_rows(named=True):
        peak, mean = row["peak"] or 10, row["mean"] or 5
        if row["hospital_id"] in over:
            beds.append(float(max(5, int(mean * 0.7))))
            truth.add("HB007", row["hospital_id"], "planted", "census above approved beds",
                      f"approved beds {max(5, int(mean * 0.7))} against a mean census of "
                      f"{mean:.0f}", "hospital")
        elif row["hospital_id"] in near:
            beds.append(float(peak))
            truth.add("HB007", row["hospital_id"], "lookalike", "full hospital",
                      "census reaches but never exceeds the approved beds", "hospital")
        elif row["hospital_id"] == no_beds:
            beds.append(None)
            truth.add("DQ010", row["hospital_id"], "planted", "approved beds missing", "",
                      "hospital")
        else:
            beds.append(float(np.ceil(peak * rng.uniform(1.25, 1.6))))
    master = master.with_columns(
        pl.Series("approved_beds", beds, dtype=pl.Float64),
        pl.format("样本医院{}", pl.col("hospital_id").str.slice(-3)).alias("hospital_name"),
        pl.lit("330100").alias("region"),
    )
    if missing is not None:
        master = master.filter(pl.col("hospital_id") != missing)
        truth.add("DQ010", missing, "planted", "hospital missing from the master", "", "hospital")
    return master.select("hospital_id", "hospital_name", "level", "approved_beds", "region")
