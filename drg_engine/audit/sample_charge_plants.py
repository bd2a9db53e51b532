"""Charge lines for the audit sample: generation per stay, the charge-level plants (empty
days, idle starts, templated days, extra bed-days, lines after discharge or death, batched
posting) and the data-quality plants of the charge file (unmapped category, unlinked refunds,
orphan lines). Used by :func:`drg_engine.audit.sample_data.build_audit_sample`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from drg_engine.audit import catalogue as cat
from drg_engine.audit.sample_charges import (
    SPECIAL_DEPTS,
    SUBSTANTIVE_KINDS,
    generate_lines,
    price_lines,
)

if TYPE_CHECKING:
    from drg_engine.audit.sample_data import _Builder

def _stays(builder: _Builder) -> pl.DataFrame:
    """The stays that get charge lines: readable rows with dates, in claim order."""
    frame = builder.valid().filter(pl.col("admit_date").is_not_null()
                                   & pl.col("discharge_date").is_not_null()
                                   & (pl.col("discharge_date") >= pl.col("admit_date")))
    for column, dtype in (("profile", pl.String), ("exam_share", pl.Float64),
                          ("no_surgery", pl.Boolean), ("unsupported_dx", pl.String),
                          ("vent_billed", pl.Float64), ("preop_day", pl.Int32)):
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(column))
    return frame.sort("_row").with_columns(
        (pl.col("discharge_date") - pl.col("admit_date")).dt.total_days().alias("span"),
        pl.col("_or").alias("or_procedures"),
        pl.coalesce(pl.col("profile"), pl.when(pl.col("exam_share").is_not_null())
                    .then(pl.lit("exam_heavy"))).alias("profile"),
    )


def _move(lines: pl.DataFrame, stays: list[int], condition: pl.Expr,
          to_day: pl.Expr) -> pl.DataFrame:
    target = pl.col("stay").is_in(stays) & condition
    return lines.with_columns(pl.when(target).then(to_day).otherwise(pl.col("day"))
                              .cast(pl.Int32).alias("day"))


def _substantive() -> pl.Expr:
    return pl.col("kind").is_in(SUBSTANTIVE_KINDS)


def _charge_pool(builder: _Builder, stays: pl.DataFrame, condition: pl.Expr) -> pl.DataFrame:
    return stays.filter(
        (pl.col("status") == "SUCCESS") & pl.col("profile").is_null()
        & ~pl.col("dept").is_in(SPECIAL_DEPTS)
        & ~pl.col("_row").is_in(list(builder.used))
        & (pl.col("hospital_id") != builder.batched_hospital) & condition
    ).with_columns(pl.int_range(pl.len()).alias("_pool_index"))


def _stay_index(stays: pl.DataFrame, picked: pl.DataFrame) -> list[int]:
    index = dict(zip(stays.get_column("claim_id").to_list(), range(stays.height), strict=True))
    return [index[claim] for claim in picked.get_column("claim_id").to_list()]


def _plant_charges(builder: _Builder, stays: pl.DataFrame, lines: pl.DataFrame, n: int,
                   k: int) -> pl.DataFrame:
    rng, truth = builder.rng, builder.truth
    span = stays.get_column("span").to_numpy()
    no_or = pl.col("_or").list.len() == 0

    # Pre-operative waits (look-alikes chosen earlier): nothing substantive before the operation.
    waits = stays.with_row_index("_i").filter(pl.col("preop_day").is_not_null())
    for row in waits.iter_rows(named=True):
        lines = _move(lines, [row["_i"]], _substantive() & (pl.col("day") < row["preop_day"]),
                      pl.lit(row["preop_day"]))

    # Batched posting at one hospital: every substantive line on the discharge day.
    batched = stays.with_row_index("_i").filter(pl.col("hospital_id") == builder.batched_hospital)
    ids = batched.get_column("_i").to_list()
    lines = lines.join(pl.DataFrame({"stay": np.arange(len(span)), "_span": span},
                                    schema={"stay": pl.Int64, "_span": pl.Int64}), on="stay",
                       maintain_order="left")
    lines = _move(lines, ids, _substantive() & (pl.col("kind") != "surgery"), pl.col("_span"))

    # HB001 empty runs: substantive lines of 3-5 interior days moved to the day after the run.
    picked = builder.pick(_charge_pool(builder, stays, no_or & (pl.col("span") >= 9)), n)
    for stay, row in zip(_stay_index(stays, picked), picked.iter_rows(named=True), strict=True):
        length = int(rng.integers(3, 6))
        start = int(rng.integers(2, row["span"] - length))
        lines = _move(lines, [stay], _substantive() & pl.col("day").is_between(
            start, start + length - 1), pl.lit(start + length))
        truth.add("HB001", row["claim_id"], "planted", "empty interior days",
                  f"days {start}-{start + length - 1} carry hotel charges only")

    # HB002 idle start: nothing substantive on days 0 and 1, no operation follows.
    picked = builder.pick(_charge_pool(builder, stays, no_or & (pl.col("span") >= 5)), n)
    lines = _move(lines, _stay_index(stays, picked), _substantive() & (pl.col("day") < 2),
                  pl.lit(2))
    for row in picked.iter_rows(named=True):
        truth.add("HB002", row["claim_id"], "planted", "idle first 48 hours",
                  "first substantive charge on day 2")

    # HB005 templated days: the busiest early interior day copied over the next 3-5 days.
    picked = builder.pick(_charge_pool(builder, stays, no_or & (pl.col("span") >= 10)), n)
    copies = []
    for stay, row in zip(_stay_index(stays, picked), picked.iter_rows(named=True), strict=True):
        length = int(rng.integers(4, 7))
        start = 1
        end = start + length - 1
        template = lines.filter((pl.col("stay") == stay) & (pl.col("day") == start)
                                & (pl.col("kind") == "daily"))
        if template.height == 0:
            template = pl.DataFrame(
                [{"stay": stay, "day": start, "item": int(cat.pool("generic_drug")[1]),
                  "quantity": 1.0, "weight": 0.0, "fixed": False, "discharge_med": False,
                  "kind": "daily", "amount": 60.0, "_span": row["span"]}],
                schema=lines.schema)
        if template.get_column("item").n_unique() < 2:
            first = template.head(1)
            other = int(cat.pool("treat")[0])
            if first.get_column("item")[0] == other:
                other = int(cat.pool("generic_drug")[0])
            template = pl.concat([first, first.with_columns(
                pl.lit(other).cast(pl.Int32).alias("item"), pl.lit(2.0).alias("quantity"),
                pl.lit(96.0).alias("amount"))])
        in_run = (pl.col("stay") == stay) & pl.col("day").is_between(start, end)
        # Only the template's own lines stay in the run; other care moves to the next day.
        lines = lines.filter(~(in_run & (pl.col("kind") == "daily")))
        lines = _move(lines, [stay], in_run & _substantive(), pl.lit(end + 1))
        copies.extend(template.with_columns(pl.lit(start + offset).cast(pl.Int32).alias("day"))
                      for offset in range(0, length))
        truth.add("HB005", row["claim_id"], "planted", "templated days",
                  f"days {start}-{start + length - 1} identical")
    if copies:
        lines = pl.concat([lines, *copies])

    # HB006 bed units above LOS (and look-alikes billing LOS + 1, the allowance).
    picked = builder.pick(_charge_pool(builder, stays, pl.col("span") >= 3), n + k)
    extra = []
    for i, (stay, row) in enumerate(zip(_stay_index(stays, picked), picked.iter_rows(named=True),
                                        strict=True)):
        units = float(rng.integers(2, 5)) if i < n else 1.0
        extra.append({"stay": stay, "day": row["span"], "item": int(cat.pool("bed")[0]),
                      "quantity": units, "weight": 0.0, "fixed": True, "discharge_med": False,
                      "kind": "hotel", "amount": round(45.0 * units, 2), "_span": row["span"]})
        if i < n:
            truth.add("HB006", row["claim_id"], "planted", "bed units above LOS",
                      f"{units:.0f} bed-days billed beyond the stay")
        else:
            truth.add("HB006", row["claim_id"], "lookalike", "bed billed on admission and "
                      "discharge day", "bed units = LOS + 1 (within the allowance)")

    # CD001 lines after discharge (look-alikes: posted the day after, within the grace).
    picked = builder.pick(_charge_pool(builder, stays, pl.col("discharge_way") == "1"), n + k)
    for i, (stay, row) in enumerate(zip(_stay_index(stays, picked), picked.iter_rows(named=True),
                                        strict=True)):
        offset = int(rng.integers(2, 7)) if i < n else 1
        for item in (cat.pool("generic_drug")[0], cat.pool("lab")[2]):
            extra.append({"stay": stay, "day": row["span"] + offset, "item": int(item),
                          "quantity": 2.0, "weight": 0.0, "fixed": False, "discharge_med": False,
                          "kind": "daily", "amount": round(2 * cat.ITEM_PRICE[item] * 3, 2),
                          "_span": row["span"]})
        if i < n:
            truth.add("CD001", row["claim_id"], "planted", "charges after discharge",
                      f"drug and lab lines {offset} days after discharge")
        else:
            truth.add("CD001", row["claim_id"], "lookalike", "posting lag",
                      "lines dated the day after discharge")

    # CD002 lines after death.
    index = dict(zip(stays.get_column("claim_id").to_list(), range(stays.height), strict=True))
    for plan in builder.plans.get("after_death", []):
        stay = index[plan["claim_id"]]
        for item in (cat.pool("generic_drug")[2], cat.pool("lab")[0]):
            extra.append({"stay": stay, "day": int(span[stay]) + plan["days"], "item": int(item),
                          "quantity": 1.0, "weight": 0.0, "fixed": False, "discharge_med": False,
                          "kind": "daily", "amount": round(cat.ITEM_PRICE[item] * 4, 2),
                          "_span": int(span[stay])})
    if extra:
        lines = pl.concat([lines, pl.DataFrame(extra, schema=lines.schema)])
    return lines.drop("_span")


def _refunds(lines: pl.DataFrame, rng: np.random.Generator, n_stays: int) -> pl.DataFrame:
    """Refund lines for 3% of stays, dated a day after the line they refund."""
    chosen = np.flatnonzero(rng.random(n_stays) < 0.03)
    candidates = (lines.filter(pl.col("stay").is_in(chosen.tolist()) & (pl.col("kind") == "daily"))
                  .group_by("stay", maintain_order=True).first())
    refunds = candidates.with_columns(
        (pl.col("day") + 1).alias("day"), (-pl.col("quantity")).alias("quantity"),
        (-pl.col("amount")).alias("amount"), pl.col("line_id").alias("refund_of"),
        pl.lit("refund").alias("kind"),
        (pl.col("line_id") + "R").alias("line_id"),
    )
    return pl.concat([lines, refunds.select(lines.columns)])


def charges_for(builder: _Builder, n: int, k: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    stays = _stays(builder)
    counts = stays.group_by("hospital_id").len().sort(["len", "hospital_id"])
    small = counts.filter(pl.col("len").is_between(60, 140))
    hospitals = sorted((small if small.height else counts.head(1)).get_column("hospital_id")
                       .to_list())
    if hospitals:
        builder.batched_hospital = hospitals[int(builder.rng.integers(len(hospitals)))]
        builder.truth.add("DQ009", builder.batched_hospital, "planted", "batched posting",
                          "all substantive charges posted on the discharge day", "hospital")
        for row in stays.filter(pl.col("hospital_id") == builder.batched_hospital).iter_rows(
                named=True):
            builder.truth.add("HB001,HB002", row["claim_id"], "lookalike", "batched posting",
                              "days look empty because the hospital posts at discharge")
    totals = stays.get_column("total_cost").cast(pl.Float64).to_numpy()
    exam_share = stays.get_column("exam_share").fill_null(np.nan).to_numpy()
    lines = generate_lines(stays, builder.rng, lean=builder.profile == "lean")
    lines = price_lines(lines, totals, exam_share)
    lines = _plant_charges(builder, stays, lines, n, k)
    lines = lines.sort(["stay", "day", "kind", "item", "amount", "quantity"],
                       maintain_order=True).with_columns(
        pl.format("L{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(9))
        .alias("line_id"),
        pl.lit(None, dtype=pl.String).alias("refund_of"),
    )
    if builder.profile != "lean":
        lines = _refunds(lines, builder.rng, stays.height)
    return stays, lines


def charge_table(builder: _Builder, stays: pl.DataFrame, lines: pl.DataFrame,
                  n: int) -> pl.DataFrame:
    """Final charge columns; data-quality plants (orphans, unmapped, unlinked refunds)."""
    rng, truth = builder.rng, builder.truth
    frame = lines.join(
        stays.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("stay"), "claim_id",
                     "admit_date", "dept", "hospital_id"), on="stay", maintain_order="left")
    items = pl.DataFrame({"item": np.arange(len(cat.ITEMS), dtype=np.int32),
                          "item_code": cat.ITEM_CODE, "item_name": cat.ITEM_NAME,
                          "category": cat.ITEM_CATEGORY})
    frame = frame.join(items, on="item", maintain_order="left").with_columns(
        (pl.col("admit_date") + pl.duration(days=pl.col("day"))).alias("service_date"),
        (pl.col("amount") / pl.col("quantity")).round(4).alias("unit_price"),
        pl.col("dept").alias("ordering_dept"),
        pl.col("discharge_med").alias("is_discharge_med"),
    )
    # DQ006: one hospital reports some lab lines under an unknown local category.
    hospitals = sorted(set(frame.get_column("hospital_id").drop_nulls().to_list())
                       - {builder.batched_hospital})
    builder.unmapped_hospital = hospitals[int(rng.integers(len(hospitals)))]
    unmapped = ((pl.col("hospital_id") == builder.unmapped_hospital)
                & (pl.col("item_code") == cat.ITEM_CODE[cat.pool("lab")[1]]))
    frame = frame.with_columns(pl.when(unmapped).then(pl.lit("99")).otherwise(pl.col("category"))
                               .alias("category"))
    truth.add("DQ006", builder.unmapped_hospital, "planted", "unmapped fee category",
              "urine analysis billed under local category 99", "hospital")
    # DQ008: refunds with no original line.
    pool = frame.filter(pl.col("kind") == "daily").group_by("claim_id", maintain_order=True).first()
    pool = pool.filter(~pl.col("claim_id").is_in(
        [builder.df.get_column("claim_id")[r] for r in builder.used]))
    chosen = pool[np.sort(rng.choice(pool.height, size=min(n // 4, pool.height),
                                     replace=False)).tolist()]
    unlinked = chosen.with_columns((-pl.col("quantity")).alias("quantity"),
                                   (-pl.col("amount") / 2).round(2).alias("amount"),
                                   (pl.col("line_id") + "U").alias("line_id"))
    frame = pl.concat([frame, unlinked.select(frame.columns)])
    for claim in chosen.get_column("claim_id").to_list():
        truth.add("DQ008", claim, "planted", "refund without original",
                  "negative line with no original line id")
    # DQ005: lines of stays that are not among the claims.
    template = frame.head(3)
    orphans = [template.with_columns(pl.lit(f"ZZ{i:06d}").alias("claim_id"),
                                     (pl.col("line_id") + f"O{i}").alias("line_id"))
               for i in range(max(1, n // 4))]
    for i in range(len(orphans)):
        truth.add("DQ005", f"ZZ{i:06d}", "planted", "orphan charge lines",
                  "lines of a stay id that is not in the claims")
    frame = pl.concat([frame, *orphans])
    return frame.sort("line_id").select(
        "claim_id", "line_id", "refund_of", "service_date", "item_code", "item_name",
        "category", "quantity", "unit_price", "amount", "ordering_dept", "is_discharge_med",
    )
