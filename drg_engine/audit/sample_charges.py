"""Vectorised synthetic charge lines for a table of stays (the audit sample and the benchmark).

Every stay gets daily hotel lines (bed, nursing, consultation), an admission work-up (labs and
imaging), substantive lines on every day (treatment, drugs for the principal diagnosis, generic
drugs), a drug for every secondary diagnosis the support table knows (so upcoding checks find
treatment where there is some), surgery, anaesthesia and materials on the operation day of
surgical stays, ventilator hours, discharge medication and post-mortem care. Amounts are scaled
so that a stay's lines add up exactly to its total cost. Profiles give look-alike patterns:
``exam_heavy`` (short diagnostic stays), ``rehab`` (identical therapy days, therapy under a
local '14' code), ``psych_bulk`` (weekly drug dispensing) and ``chemo`` (one chemotherapy day).
``lean`` (the benchmark) bills bed and nursing days as one line each and one line a day.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from drg_engine.audit import catalogue as cat

LINE_SCHEMA = {
    "stay": pl.Int64, "day": pl.Int32, "item": pl.Int32, "quantity": pl.Float64,
    "weight": pl.Float64, "fixed": pl.Boolean, "discharge_med": pl.Boolean, "kind": pl.String,
}
SUBSTANTIVE_KINDS = ("workup", "daily", "support", "surgery", "ventilator", "therapy")
# Departments whose stays are exempted from day-level rules; plants avoid them.
SPECIAL_DEPTS = ("康复医学科", "精神科", "安宁疗护科")


def _block(stay: np.ndarray, day: np.ndarray, item: np.ndarray, quantity: np.ndarray,
           weight: np.ndarray, *, fixed: bool, kind: str,
           discharge_med: bool = False) -> pl.DataFrame:
    n = len(stay)
    return pl.DataFrame({
        "stay": stay.astype(np.int64), "day": day.astype(np.int32), "item": item.astype(np.int32),
        "quantity": quantity.astype(np.float64), "weight": weight.astype(np.float64),
        "fixed": np.full(n, fixed), "discharge_med": np.full(n, discharge_med),
        "kind": np.full(n, kind, dtype=object).astype(str),
    }, schema=LINE_SCHEMA)


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.arange(int(counts.sum()), dtype=np.int64) - starts


def _choice(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.integers(0, len(pool), size=n)]


def _support_items(codes: list[str]) -> dict[str, int]:
    items: dict[str, int] = {}
    for code in codes:
        for prefix in cat.support_of(code):
            index = cat.first_item_with_prefix(prefix)
            if index >= 0:
                items[code] = index
                break
    return items


def generate_lines(stays: pl.DataFrame, rng: np.random.Generator, *,
                   lean: bool = False) -> pl.DataFrame:
    """Lines (stay index, day, item, quantity, weight, fixed, ...) before pricing.

    ``stays`` needs: span, diagnoses, or_procedures, ventilation_hours, discharge_way and the
    optional profile columns profile, no_surgery, unsupported_dx, vent_billed, preop_day.
    """
    n = stays.height
    span = stays.get_column("span").to_numpy().astype(np.int64)
    profile = stays.get_column("profile").fill_null("normal").to_numpy().astype(str)
    normal = profile == "normal"
    hotel_days = np.maximum(span, 1)
    blocks: list[pl.DataFrame] = []
    bed, nursing, consult = cat.pool("bed")[0], cat.pool("nursing")[0], cat.pool("consult")[0]

    # Hotel lines.
    if lean:
        ids = np.arange(n)
        for item in (bed, nursing):
            blocks.append(_block(ids, np.zeros(n), np.full(n, item), hotel_days.astype(float),
                                 np.zeros(n), fixed=True, kind="hotel"))
    else:
        owner, day = _ragged(hotel_days)
        for item in (bed, nursing, consult):
            blocks.append(_block(owner, np.minimum(day, span[owner]), np.full(len(owner), item),
                                 np.ones(len(owner)), np.zeros(len(owner)), fixed=True,
                                 kind="hotel"))

    # Admission work-up: labs on day 0, imaging on day 0 and day 1.
    labs, exams = cat.pool("lab"), cat.pool("exam")
    n_labs = np.where(profile == "exam_heavy", 6, 1 if lean else 3)
    owner, _ = _ragged(n_labs)
    lab_items = _choice(rng, labs, len(owner))
    blocks.append(_block(owner, np.zeros(len(owner)), lab_items, np.ones(len(owner)),
                         cat.ITEM_PRICE[lab_items] * 0.5, fixed=False, kind="workup"))
    n_exams = np.where(profile == "exam_heavy", 3, 0 if lean else 2)
    owner, position = _ragged(n_exams)
    exam_items = _choice(rng, exams, len(owner))
    blocks.append(_block(owner, np.minimum(position % 2, span[owner]), exam_items,
                         np.ones(len(owner)), cat.ITEM_PRICE[exam_items] * 0.5, fixed=False,
                         kind="workup"))

    # Daily substantive lines for normal stays.
    principals = stays.get_column("diagnoses").list.first().to_list()
    principal_item = _support_items(sorted({c for c in principals if c}))
    generic = cat.pool("generic_drug")
    per_stay_drug = np.array([principal_item.get(code or "", -1) for code in principals])
    days = np.where(normal, span + 1, 0)
    owner, day = _ragged(days)
    if lean:
        # One line every third day (and on the discharge day): about ten lines a stay.
        keep = (day % 3 == 0) | (day == span[owner])
        owner, day = owner[keep], day[keep]
    else:
        extra = rng.poisson(0.7, size=len(owner))
        owner = np.repeat(owner, 1 + extra)
        day = np.repeat(day, 1 + extra)
    draw = rng.random(len(owner))
    treat = _choice(rng, cat.pool("treat"), len(owner))
    own_drug = per_stay_drug[owner]
    item = np.where(draw < 0.4, treat, _choice(rng, generic, len(owner)))
    item = np.where((draw >= 0.4) & (draw < 0.75) & (own_drug >= 0), own_drug, item)
    quantity = rng.integers(1, 5, size=len(owner)).astype(float)
    weight = cat.ITEM_PRICE[item] * quantity * rng.lognormal(0.0, 0.35, size=len(owner)) * 6
    blocks.append(_block(owner, day, item, quantity, weight, fixed=False, kind="daily"))
    # A lab every third interior day.
    interior_lab = (day % 3 == 0) & (day > 0) & (day < span[owner]) & (not lean)
    lab_owner = owner[interior_lab]
    lab_items = _choice(rng, labs, len(lab_owner))
    blocks.append(_block(lab_owner, day[interior_lab], lab_items, np.ones(len(lab_owner)),
                         cat.ITEM_PRICE[lab_items], fixed=False, kind="daily"))

    blocks.extend(_profile_lines(stays, span, profile, rng))
    blocks.append(_support_lines(stays, span, rng))
    blocks.append(_surgery_lines(stays, span, rng))
    blocks.append(_ventilator_lines(stays, span))

    # Discharge medication and post-mortem care.
    has_discharge = (span >= 1) & (not lean)
    ids = np.flatnonzero(has_discharge)
    drug = np.where(per_stay_drug[ids] >= 0, per_stay_drug[ids], _choice(rng, generic, len(ids)))
    blocks.append(_block(ids, span[ids], drug, np.full(len(ids), 7.0),
                         cat.ITEM_PRICE[drug] * 7, fixed=False, kind="discharge",
                         discharge_med=True))
    dead = np.flatnonzero(stays.get_column("discharge_way").fill_null("").to_numpy() == "5")
    blocks.append(_block(dead, span[dead], np.full(len(dead), cat.pool("postmortem")[0]),
                         np.ones(len(dead)), np.zeros(len(dead)), fixed=True, kind="hotel"))
    return pl.concat(blocks)


def _profile_lines(stays: pl.DataFrame, span: np.ndarray, profile: np.ndarray,
                   rng: np.random.Generator) -> list[pl.DataFrame]:
    blocks = []
    # Exam-heavy stays: one small generic drug a day besides the work-up.
    ids = np.flatnonzero(profile == "exam_heavy")
    owner, day = _ragged(span[ids] + 1)
    items = _choice(rng, cat.pool("generic_drug"), len(owner))
    blocks.append(_block(ids[owner], day, items, np.ones(len(owner)), cat.ITEM_PRICE[items],
                         fixed=False, kind="daily"))
    # Rehabilitation: identical therapy days 1-8 (treatment + the same oral drug), then therapy
    # billed under the local '14' code only.
    ids = np.flatnonzero(profile == "rehab")
    owner, day = _ragged(np.maximum(span[ids] - 1, 0))
    day = day + 1
    early = day <= 8
    rehab, local, drug = cat.pool("rehab")[0], cat.pool("rehab_local")[0], cat.pool(
        "generic_drug")[1]
    for item, mask in ((rehab, early), (drug, early), (local, ~early)):
        blocks.append(_block(ids[owner[mask]], day[mask], np.full(int(mask.sum()), item),
                             np.ones(int(mask.sum())), np.full(int(mask.sum()), 60.0),
                             fixed=False, kind="therapy"))
    # Psychiatry: a week of oral antipsychotic dispensed every seventh day.
    ids = np.flatnonzero(profile == "psych_bulk")
    owner, day = _ragged(span[ids] // 7 + 1)
    day = day * 7
    psych = cat.pool("XN05")[0]
    blocks.append(_block(ids[owner], day, np.full(len(owner), psych), np.full(len(owner), 7.0),
                         np.full(len(owner), 400.0), fixed=False, kind="therapy"))
    # Chemotherapy: the cycle's drugs and infusion on day 1.
    ids = np.flatnonzero(profile == "chemo")
    for pool_name, weight in (("XL01", 5000.0), ("XH02", 20.0), ("treat", 40.0)):
        item = cat.pool(pool_name)[0]
        blocks.append(_block(ids, np.minimum(span[ids], 1), np.full(len(ids), item),
                             np.ones(len(ids)), np.full(len(ids), weight), fixed=False,
                             kind="therapy"))
    del rng
    return blocks


def _support_lines(stays: pl.DataFrame, span: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    unsupported = (stays.get_column("unsupported_dx").fill_null("").to_list()
                   if "unsupported_dx" in stays.columns else [""] * stays.height)
    exploded = stays.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("stay"),
        pl.col("diagnoses").list.slice(1).alias("code"),
    ).explode("code").drop_nulls("code")
    codes = exploded.get_column("code").to_list()
    items = _support_items(sorted(set(codes)))
    stay = exploded.get_column("stay").to_numpy()
    item = np.array([items.get(code, -1) for code in codes], dtype=np.int64)
    keep = (item >= 0) & np.array([code != unsupported[s] for code, s in zip(codes, stay,
                                                                           strict=True)],
                                  dtype=bool)
    stay, item = stay[keep], item[keep]
    day = np.minimum(1 + rng.integers(0, 3, size=len(stay)), np.maximum(span[stay] - 1, 0))
    return _block(stay, day, item, np.full(len(stay), 2.0), cat.ITEM_PRICE[item] * 2 * 4,
                  fixed=False, kind="support")


def _surgery_lines(stays: pl.DataFrame, span: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    has_or = stays.get_column("or_procedures").list.len().fill_null(0).to_numpy() > 0
    no_surgery = (stays.get_column("no_surgery").fill_null(False).to_numpy()
                  if "no_surgery" in stays.columns else np.zeros(stays.height, bool))
    preop = (stays.get_column("preop_day").fill_null(-1).to_numpy()
             if "preop_day" in stays.columns else np.full(stays.height, -1))
    ids = np.flatnonzero(has_or & ~no_surgery)
    op_day = np.where(preop[ids] >= 0, preop[ids],
                      np.minimum(1 + rng.integers(0, 2, size=len(ids)), span[ids]))
    surgery = cat.pool("surgery")
    parts = []
    chosen = surgery[rng.integers(0, len(surgery), size=len(ids))]
    for item, weight in ((chosen, cat.ITEM_PRICE[chosen] * 6),
                         (np.full(len(ids), cat.pool("anaesthesia")[0]), np.full(len(ids), 3000.0)),
                         (np.full(len(ids), cat.pool("material")[0]), np.full(len(ids), 6000.0)),
                         (np.full(len(ids), cat.pool("material_small")[0]),
                          np.full(len(ids), 40.0))):
        parts.append(_block(ids, op_day, item, np.ones(len(ids)), weight, fixed=False,
                            kind="surgery"))
    return pl.concat(parts)


def _ventilator_lines(stays: pl.DataFrame, span: np.ndarray) -> pl.DataFrame:
    hours = stays.get_column("ventilation_hours").fill_null(0).to_numpy()
    if "vent_billed" in stays.columns:
        billed = stays.get_column("vent_billed").fill_null(-1).to_numpy()
        hours = np.where(billed >= 0, billed, hours)
    hours = np.round(hours)
    chunks = np.ceil(hours / 24).astype(np.int64)
    owner, position = _ragged(chunks)
    quantity = np.minimum(24.0, hours[owner] - 24.0 * position)
    item = np.full(len(owner), cat.pool("ventilator")[0])
    return _block(owner, np.minimum(position, span[owner]), item, quantity,
                  cat.ITEM_PRICE[item] * quantity * 3, fixed=False, kind="ventilator")


def price_lines(lines: pl.DataFrame, totals: np.ndarray, exam_share: np.ndarray) -> pl.DataFrame:
    """Amounts that add up to each stay's total (to the cent); hotel lines at catalogue price
    unless the stay is too cheap; ``exam_share`` (NaN = free) fixes the exam and lab share."""
    price = cat.ITEM_PRICE[lines.get_column("item").to_numpy()]
    quantity = lines.get_column("quantity").to_numpy()
    fixed = lines.get_column("fixed").to_numpy()
    weight = lines.get_column("weight").to_numpy()
    stay = lines.get_column("stay").to_numpy()
    pool = cat.ITEM_POOL[lines.get_column("item").to_numpy()]
    is_exam = np.isin(pool, ("lab", "exam"))
    n = len(totals)
    exam_w0 = np.bincount(stay, weights=np.where(~fixed & is_exam, weight, 0.0), minlength=n)
    all_w0 = np.bincount(stay, weights=np.where(~fixed, weight, 0.0), minlength=n)
    natural = exam_w0 / np.maximum(all_w0, 1e-9)
    # Untargeted stays never become exam-dominated: their exam share is capped at 40%.
    share = np.where(np.isnan(exam_share) & (natural > 0.4), 0.4, exam_share)
    targeted = ~np.isnan(share)
    base_fixed = np.where(fixed, price * quantity, 0.0)
    hotel_sum = np.bincount(stay, weights=base_fixed, minlength=n)
    exam_w = np.bincount(stay, weights=np.where(~fixed & is_exam, weight, 0.0), minlength=n)
    other_w = np.bincount(stay, weights=np.where(~fixed & ~is_exam, weight, 0.0), minlength=n)
    exam_budget = np.where(targeted, totals * np.nan_to_num(share), np.nan)
    non_exam = np.where(targeted, totals - np.nan_to_num(exam_budget), totals)
    hotel_cap = np.where(targeted, 0.6, 0.75) * non_exam
    hotel_factor = np.where(hotel_sum > hotel_cap, hotel_cap / np.maximum(hotel_sum, 1e-9), 1.0)
    hotel_total = hotel_sum * hotel_factor
    variable_budget = totals - hotel_total
    amount = np.where(fixed, base_fixed * hotel_factor[stay], 0.0)
    free_w = exam_w + other_w
    untargeted_amount = weight / np.maximum(free_w[stay], 1e-9) * variable_budget[stay]
    exam_amount = weight / np.maximum(exam_w[stay], 1e-9) * exam_budget[stay]
    other_amount = weight / np.maximum(other_w[stay], 1e-9) * (non_exam - hotel_total)[stay]
    amount = np.where(fixed, amount, np.where(
        targeted[stay], np.where(is_exam, exam_amount, other_amount), untargeted_amount))
    amount = np.round(amount, 2)
    residual = np.round(totals - np.bincount(stay, weights=amount, minlength=n), 2)
    order = np.lexsort((-amount, stay))
    first = order[np.r_[True, stay[order][1:] != stay[order][:-1]]]
    amount[first] = np.round(amount[first] + residual[stay[first]], 2)
    return lines.with_columns(pl.Series("amount", amount))
