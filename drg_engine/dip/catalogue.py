"""Build a local DIP catalogue (病种目录库) from historical claims (``drg dip build-catalogue``).

Steps (reference §2.1, §2.3, §2.4, §3.1, §2.7):

1. Normalise the history; for every claim take its key: the principal diagnosis sub-category
   (4-character ``K80.1``, or the 3-character category for codes without one, ``I10``) and its
   treatment: no procedure left after the exclusion list (or only conservative ones) -> the
   conservative (内科) key, else the principal procedure (full code).
2. Keys with at least ``min_cases`` claims become core groups. A related procedure (another
   procedure of the claim) becomes its own group when at least ``min_cases`` claims of a core
   group carry it and their average cost is at least ``related_uplift`` (10%) above the core
   group's.
3. The history is assigned with the catalogue itself (the same ``dip_batch`` as production);
   core groups that end with fewer than ``min_cases`` claims are dropped and the assignment
   repeated until stable, so every core group recovers its cases.
4. Claims left over are re-aggregated into comprehensive groups: 3-character category x
   treatment type of the principal procedure, then (for what is still below the threshold)
   chapter letter x treatment type; the rest stay ungrouped.
5. Scores: trimmed, 1:2:7 year-weighted averages on the final assignment, computed by payment
   calibration's code (``drg_engine.dip.scores`` calls ``drg_engine.payment.group_averages``);
   auxiliary coefficients m_j / M per group and sub-type where the typing lowers the group's
   coefficient of variation by at least ``aux_cv_drop``.

The output folder is a complete DIP rule set (manifest, tables, README) whose dictionaries
(procedure attributes, exclusions, CCI, severity lists) and options come from ``base``, plus
``payment/dip_scores.csv`` and ``payment/dip_auxiliary.csv`` in the payment layer's format.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from drg_engine.dip.cache import compile_dip_rule_set, load_dip_rules
from drg_engine.dip.codes import code_list, normalised_dx, normalised_px
from drg_engine.dip.compiled import TREATMENT_CODES, TREATMENT_ZH, TREATMENTS, CompiledDip
from drg_engine.dip.manifest import DipOptions, resolve_dip_rule_set
from drg_engine.dip.scores import ScoreTable, group_scores
from drg_engine.errors import DrgEngineError
from drg_engine.grouping.dip import diagnosis_status, dip_batch, procedure_treatment
from drg_engine.validate import normalize_claims

GROUP_COLUMNS = (
    "group_code", "stage", "name_zh", "principal_dx", "dx_position", "secondary_dx",
    "px_expression", "px_position", "related_px", "treatment", "basic_level", "max_age_days",
    "birth_weight_min_g", "birth_weight_max_g", "score", "average_cost", "cases", "source",
    "note",
)
DICTIONARY_TABLES = ("procedure_attributes", "excluded_principal_dx", "excluded_procedures",
                     "cci_components", "severity_codes")
AUX_DIMENSIONS = ("dip_cci_level", "dip_severity", "dip_age_band", "dip_discharge")
MAX_ROUNDS = 8


class CatalogueError(DrgEngineError):
    """The history cannot produce a catalogue (no usable claims, bad parameters)."""


@dataclass(frozen=True)
class CatalogueReport:
    output: Path
    rule_set_id: str
    history_claims: int
    rejected_claims: int
    core_groups: int
    related_groups: int
    comprehensive_groups: int
    core_claims: int
    comprehensive_claims: int
    ungrouped_claims: int
    auxiliary_rows: int
    rounds: int
    years: tuple[int, ...]
    overall_average: Decimal


@dataclass(frozen=True)
class _Group:
    code: str
    stage: str
    name: str
    principal_dx: str
    px_expression: str = ""
    related_px: str = ""
    treatment: str = "conservative"
    note: str = ""


def _claim_facts(clean: pa.Table, base: CompiledDip) -> pl.DataFrame:
    """One row per claim: key parts, treatment, cost and year (the facts grouping also uses)."""
    n = clean.num_rows
    dx = code_list(clean.column("diagnoses"))
    px = code_list(clean.column("procedures"))
    valid, excluded = diagnosis_status(base, dx.distinct)
    norm = normalised_dx(dx.distinct).to_numpy(zero_copy_only=False)
    pdx = dx.first()
    usable = (pdx >= 0) & valid[np.maximum(pdx, 0)] & ~excluded[np.maximum(pdx, 0)]
    principal = np.where(usable, norm[np.maximum(pdx, 0)], None)

    px_excluded, px_rank = procedure_treatment(base, px.distinct)
    px_norm = normalised_px(px.distinct).to_numpy(zero_copy_only=False)
    cells = pl.DataFrame({
        "claim": px.owner(),
        "position": np.arange(len(px.cell)),
        "code": px_norm[np.maximum(px.cell, 0)] if len(px.cell) else np.array([], dtype=object),
        "keep": (px.cell >= 0) & ~px_excluded[np.maximum(px.cell, 0)],
        "rank": px_rank[np.maximum(px.cell, 0)],
    }, schema={"claim": pl.Int32, "position": pl.Int64, "code": pl.String, "keep": pl.Boolean,
               "rank": pl.Int8}).filter(pl.col("keep"))
    per_claim = cells.group_by("claim").agg(
        pl.col("code").sort_by("position").first().alias("principal_px"),
        pl.col("rank").sort_by("position").first().alias("treatment"),
        pl.col("rank").max().alias("max_rank"),
        pl.col("code").sort_by("position").slice(1).unique().alias("other_px"),
    )
    cost = clean.column("total_cost")
    cents = pl.from_arrow(cost).cast(pl.Decimal(38, 2)) * 100
    discharge = pl.from_arrow(clean.column("discharge_date"))
    facts = pl.DataFrame({
        "claim": np.arange(n, dtype=np.int32),
        "pdx": principal,
        "cost_cents": cents.cast(pl.Int64),
        "year": discharge.dt.year(),
    }, schema_overrides={"pdx": pl.String})
    last_year = facts.get_column("year").max()
    facts = facts.with_columns(pl.col("year").fill_null(last_year or date.today().year))
    facts = facts.join(per_claim, on="claim", how="left").with_columns(
        pl.col("treatment").fill_null(0),
        (pl.col("max_rank").fill_null(0) == 0).alias("conservative"),
        pl.col("other_px").fill_null([]),
    )
    sub = pl.col("pdx").str.slice(0, 5)
    return facts.with_columns(
        pl.when(sub.str.contains(r"^[A-Z][0-9]{2}\.[0-9]$")).then(sub)
        .otherwise(pl.col("pdx").str.slice(0, 3)).alias("dx_key"),
        pl.col("pdx").str.slice(0, 3).alias("category"),
        pl.col("pdx").str.slice(0, 1).alias("chapter"),
    ).with_columns(
        pl.when(pl.col("conservative")).then(pl.lit(None, pl.String))
        .otherwise(pl.col("principal_px")).alias("px_key"),
    ).sort("claim")


def _px_name(base: CompiledDip, code: str) -> str:
    return base.px_names.get(code, code)


def _core_groups(facts: pl.DataFrame, base: CompiledDip, min_cases: int,
                 related_uplift: float) -> list[_Group]:
    usable = facts.filter(pl.col("dx_key").is_not_null())
    keys = (usable.group_by("dx_key", "px_key")
            .agg(pl.len().alias("n"), pl.col("treatment").first(),
                 pl.col("cost_cents").mean().alias("mean"))
            .filter(pl.col("n") >= min_cases).sort("dx_key", "px_key", nulls_last=False))
    groups: list[_Group] = []
    for row in keys.iter_rows(named=True):
        dx_key, px_key = row["dx_key"], row["px_key"]
        if px_key is None:
            groups.append(_Group(f"{dx_key}:BS", "base", f"{dx_key}：保守治疗", dx_key))
        else:
            groups.append(_Group(f"{dx_key}:{px_key}", "base",
                                 f"{dx_key}：{_px_name(base, px_key)}", dx_key, px_key,
                                 treatment=TREATMENTS[row["treatment"]]))
    if related_uplift < 0:
        return groups
    with_px = keys.filter(pl.col("px_key").is_not_null())
    related = (usable.join(with_px.select("dx_key", "px_key", pl.col("mean").alias("core_mean")),
                           on=["dx_key", "px_key"])
               .explode("other_px").filter(pl.col("other_px").is_not_null())
               .group_by("dx_key", "px_key", "other_px")
               .agg(pl.len().alias("n"), pl.col("cost_cents").mean().alias("mean"),
                    pl.col("core_mean").first(), pl.col("treatment").first())
               .filter((pl.col("n") >= min_cases)
                       & (pl.col("mean") >= pl.col("core_mean") * (1 + related_uplift)))
               .sort("dx_key", "px_key", "other_px"))
    for row in related.iter_rows(named=True):
        dx_key, px_key, other = row["dx_key"], row["px_key"], row["other_px"]
        uplift = row["mean"] / row["core_mean"] - 1 if row["core_mean"] else 0.0
        groups.append(_Group(
            f"{dx_key}:{px_key}:{other}", "base",
            f"{dx_key}：{_px_name(base, px_key)}+{_px_name(base, other)}", dx_key, px_key,
            related_px=other, treatment=TREATMENTS[row["treatment"]],
            note=f"related procedure raises the average cost by {uplift:.1%}",
        ))
    return groups


def _comprehensive_groups(left: pl.DataFrame, min_cases: int) -> list[_Group]:
    """Category x treatment, then chapter letter x treatment for what is still too small."""
    left = left.filter(pl.col("category").is_not_null())
    groups: list[_Group] = []
    by_category = (left.group_by("category", "treatment").agg(pl.len().alias("n"))
                   .sort("category", "treatment"))
    kept = by_category.filter(pl.col("n") >= min_cases)
    for row in kept.iter_rows(named=True):
        t = row["treatment"]
        groups.append(_Group(f"ZH-{row['category']}-{TREATMENT_CODES[t]}", "comprehensive",
                             f"{row['category']} 综合病种（{TREATMENT_ZH[t]}）", row["category"],
                             treatment=TREATMENTS[t]))
    rest = left.join(kept.select("category", "treatment"), on=["category", "treatment"],
                     how="anti")
    by_chapter = (rest.group_by("chapter", "treatment").agg(pl.len().alias("n"))
                  .filter(pl.col("n") >= min_cases).sort("chapter", "treatment"))
    for row in by_chapter.iter_rows(named=True):
        t = row["treatment"]
        groups.append(_Group(f"ZH-{row['chapter']}-{TREATMENT_CODES[t]}", "comprehensive",
                             f"{row['chapter']} 章综合病种（{TREATMENT_ZH[t]}）", row["chapter"],
                             treatment=TREATMENTS[t], note="chapter safety-net group"))
    return groups


def _write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _group_rows(groups: list[_Group], scores: ScoreTable | None, source: str
                ) -> list[dict[str, object]]:
    rows = []
    for group in groups:
        score = scores.groups.get(group.code) if scores else None
        rows.append({
            "group_code": group.code, "stage": group.stage, "name_zh": group.name,
            "principal_dx": group.principal_dx, "dx_position": "principal",
            "px_expression": group.px_expression, "px_position": "principal",
            "related_px": group.related_px, "treatment": group.treatment,
            "basic_level": "false",
            "score": score.score if score else None,
            "average_cost": score.average_cost if score else None,
            "cases": score.cases if score else None,
            "source": source, "note": group.note,
        })
    return rows


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()
                                if v is not None) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _manifest_text(rule_set_id: str, options: DipOptions, tables: dict[str, str], region: str,
                   title: str, effective_from: date, source: str) -> str:
    values = options.model_dump()
    values["comprehensive"] = "listed"
    option_lines = "\n".join(f"{key} = {_toml_value(value)}" for key, value in values.items()
                             if value is not None)
    table_lines = "\n".join(f'{name} = "{file}"' for name, file in tables.items())
    return (
        "# Built by `drg dip build-catalogue` from historical claims; see README.md.\n"
        f"id = {_toml_value(rule_set_id)}\nscheme = \"DIP\"\n"
        f"version = \"local-{effective_from.year}\"\nregion = {_toml_value(region)}\n"
        f"title = {_toml_value(title)}\neffective_from = {effective_from}\n"
        f"source = {_toml_value(source)}\npartial = false\n\n"
        f"[options]\n{option_lines}\n\n[tables]\n{table_lines}\n"
    )


def _write_rule_set(output: Path, base_dir: Path, tables_from_base: dict[str, str],
                    groups: list[_Group], scores: ScoreTable | None,
                    aux_rows: list[dict[str, object]], manifest: dict[str, object]) -> None:
    output.mkdir(parents=True, exist_ok=True)
    tables = {"groups": "groups.csv", **tables_from_base}
    for file in tables_from_base.values():
        shutil.copyfile(base_dir / file, output / file)
    _write_csv(output / "groups.csv", GROUP_COLUMNS,
               _group_rows(groups, scores, str(manifest["source_short"])))
    if aux_rows:
        tables["auxiliary_coefficients"] = "auxiliary_coefficients.csv"
        _write_csv(output / "auxiliary_coefficients.csv",
                   ("group_code", "aux_type", "coefficient", "cases", "note"), aux_rows)
    elif (output / "auxiliary_coefficients.csv").exists():
        (output / "auxiliary_coefficients.csv").unlink()
    options = manifest["options"]
    assert isinstance(options, DipOptions)
    effective = manifest["effective_from"]
    assert isinstance(effective, date)
    (output / "manifest.toml").write_text(_manifest_text(
        str(manifest["id"]), options, tables, str(manifest["region"]), str(manifest["title"]),
        effective, str(manifest["source"])), encoding="utf-8")


def _assign(clean: pa.Table, output: Path) -> pl.DataFrame:
    # Compiled without the on-disk cache: intermediate rounds are not worth keeping.
    rules = compile_dip_rule_set(resolve_dip_rule_set(output))
    result = dip_batch(clean, rules)
    columns = result.select(["dip_status", "dip_group", "dip_stage", *AUX_DIMENSIONS])
    plain = pa.table({name: columns.column(name).cast(pa.string())
                      for name in columns.column_names})
    return pl.from_arrow(plain)  # type: ignore[return-value]


def _aux_coefficients(assigned: pl.DataFrame, min_cases: int, cv_drop: float
                      ) -> list[dict[str, object]]:
    """m_j / M per group and sub-type, for the dimensions whose typing lowers the CV enough."""
    costed = assigned.filter(pl.col("cost_cents").is_not_null()
                             & (pl.col("dip_status") == "GROUPED"))
    group_stats = costed.group_by("dip_group").agg(
        pl.len().alias("n"), pl.col("cost_cents").mean().alias("mean"),
        pl.col("cost_cents").std(ddof=0).alias("std"))
    rows: list[dict[str, object]] = []
    for dimension in AUX_DIMENSIONS:
        sub = (costed.filter(pl.col(dimension).is_not_null())
               .group_by("dip_group", dimension)
               .agg(pl.len().alias("n_j"), pl.col("cost_cents").mean().alias("mean_j")))
        typed = sub.filter(pl.col("n_j") >= min_cases)
        # Residual spread when each typed case is measured against its sub-type's mean.
        residual = (costed.join(typed, on=["dip_group", dimension], how="left")
                    .join(group_stats.select("dip_group", "mean"), on="dip_group")
                    .with_columns(pl.coalesce("mean_j", "mean").alias("centre"))
                    .group_by("dip_group")
                    .agg(((pl.col("cost_cents") - pl.col("centre")) ** 2).mean().sqrt()
                         .alias("residual")))
        triggered = (group_stats.join(residual, on="dip_group")
                     .filter((pl.col("n") >= 2 * min_cases) & (pl.col("std") > 0)
                             & (1 - pl.col("residual") / pl.col("std") >= cv_drop))
                     .select("dip_group", "mean"))
        chosen = typed.join(triggered, on="dip_group").sort("dip_group", dimension)
        for row in chosen.iter_rows(named=True):
            coefficient = Decimal(row["mean_j"] / row["mean"]).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP)
            rows.append({"group_code": row["dip_group"], "aux_type": row[dimension],
                         "coefficient": coefficient, "cases": row["n_j"],
                         "note": "m_j / M from the history (last-year weighting not applied)"})
    return sorted(rows, key=lambda r: (str(r["group_code"]), str(r["aux_type"])))


def build_catalogue(
    history: pa.Table,
    output: str | Path,
    *,
    min_cases: int = 15,
    base: str | Path = "dip3_national_partial",
    rule_set_id: str | None = None,
    region: str = "local",
    title: str | None = None,
    related_uplift: float = 0.10,
    aux_cv_drop: float = 0.20,
    history_name: str = "history",
) -> CatalogueReport:
    """Build a DIP rule set in ``output`` from raw historical claims (any accepted columns)."""
    if min_cases < 1:
        raise CatalogueError("--min-cases must be at least 1")
    output = Path(output)
    rule_set_id = rule_set_id or re.sub(r"[^a-z0-9_]", "_", output.name.lower()) or "dip_local"
    normalized = normalize_claims(history)
    clean = normalized.clean
    if clean.num_rows == 0:
        raise CatalogueError("the history has no usable claims (every row was rejected)")
    base_set = resolve_dip_rule_set(base)
    base_rules = load_dip_rules(base)
    facts = _claim_facts(clean, base_rules)
    years = facts.get_column("year")
    effective = date(int(years.max()) + 1, 1, 1)
    manifest = {
        "id": rule_set_id, "region": region,
        "title": title or f"DIP catalogue built from {clean.num_rows:,} historical claims "
        f"(min {min_cases} cases)",
        "effective_from": effective,
        "source": f"drg dip build-catalogue {history_name} --min-cases {min_cases} "
        f"(base {base_set.manifest.id}; years {years.min()}-{years.max()})",
        "source_short": f"history {years.min()}-{years.max()}",
        "options": base_set.manifest.options,
    }
    from_base = {name: file for name, file in base_set.manifest.tables.items()
                 if name in DICTIONARY_TABLES}

    core = _core_groups(facts, base_rules, min_cases, related_uplift)
    rounds = 0
    while True:
        rounds += 1
        _write_rule_set(output, base_set.directory, from_base, core, None, [], manifest)
        assigned = _assign(clean, output)
        counts = dict(assigned.filter(pl.col("dip_status") == "GROUPED")
                      .group_by("dip_group").len().iter_rows())
        kept = [g for g in core if counts.get(g.code, 0) >= min_cases]
        if len(kept) == len(core) or rounds >= MAX_ROUNDS:
            core = kept
            break
        core = kept

    in_core = assigned.with_row_index("claim").filter(pl.col("dip_status") == "GROUPED")
    left = facts.join(in_core.select(pl.col("claim").cast(pl.Int32)), on="claim", how="anti")
    comprehensive = _comprehensive_groups(left, min_cases)
    groups = core + comprehensive
    _write_rule_set(output, base_set.directory, from_base, groups, None, [], manifest)
    assigned = _assign(clean, output).with_columns(
        facts.get_column("cost_cents"), facts.get_column("year"))
    grouped = assigned.filter(pl.col("dip_status") == "GROUPED")
    # Every claim, so that the weighted years are the history's (as calibration takes them);
    # only grouped claims belong to a group.
    scores = group_scores(assigned.select(
        pl.when(pl.col("dip_status") == "GROUPED").then(pl.col("dip_group")).alias("group"),
        "cost_cents", "year"), scale=base_set.manifest.options.score_scale)
    aux_rows = _aux_coefficients(assigned, min_cases, aux_cv_drop)
    _write_rule_set(output, base_set.directory, from_base, groups, scores, aux_rows, manifest)
    _write_payment_tables(output, groups, scores, aux_rows)
    stage_counts = dict(grouped.group_by("dip_stage").len().iter_rows())
    report = CatalogueReport(
        output=output,
        rule_set_id=rule_set_id,
        history_claims=history.num_rows,
        rejected_claims=normalized.rejects.num_rows,
        core_groups=sum(1 for g in core if not g.related_px),
        related_groups=sum(1 for g in core if g.related_px),
        comprehensive_groups=len(comprehensive),
        core_claims=int(stage_counts.get("base", 0)),
        comprehensive_claims=int(stage_counts.get("comprehensive", 0)),
        ungrouped_claims=assigned.height - grouped.height,
        auxiliary_rows=len(aux_rows),
        rounds=rounds,
        years=scores.years,
        overall_average=scores.overall_average,
    )
    _write_readme(output, report, min_cases, related_uplift, aux_cv_drop, manifest)
    return report


def _write_payment_tables(output: Path, groups: list[_Group], scores: ScoreTable,
                          aux_rows: list[dict[str, object]]) -> None:
    """The same scores in the payment layer's ``dip_scores`` / ``dip_auxiliary`` formats."""
    folder = output / "payment"
    folder.mkdir(exist_ok=True)
    rows = []
    for group in groups:
        score = scores.groups.get(group.code)
        rows.append({
            "dip_group": group.code,
            "score": score.score if score else None,
            "payment": "group" if score and score.score > 0 else "per_item",
            "apply_hospital_coefficient": "true",
            "average_cost": score.average_cost if score else None,
            "cases": score.cases if score else None,
            "group_kind": "comprehensive" if group.stage == "comprehensive" else "core",
            "score_source": "history (trimmed, 1:2:7 year-weighted averages)",
            "name": group.name,
            "note": group.note,
        })
    _write_csv(folder / "dip_scores.csv",
               ("dip_group", "score", "payment", "apply_hospital_coefficient", "average_cost",
                "cases", "group_kind", "score_source", "name", "note"), rows)
    _write_csv(folder / "dip_auxiliary.csv", ("dip_group", "aux_type", "aux_coefficient", "name",
                                             "note"),
               [{"dip_group": r["group_code"], "aux_type": r["aux_type"],
                 "aux_coefficient": r["coefficient"], "name": "", "note": r["note"]}
                for r in aux_rows])


def _write_readme(output: Path, report: CatalogueReport, min_cases: int, uplift: float,
                  cv_drop: float, manifest: dict[str, object]) -> None:
    text = f"""# {report.rule_set_id}: DIP catalogue built from historical claims

{manifest['source']}

| what | value |
|---|---:|
| history rows | {report.history_claims:,} |
| rejected rows | {report.rejected_claims:,} |
| core groups (incl. related-procedure groups) | {report.core_groups + report.related_groups:,} |
| related-procedure groups | {report.related_groups:,} |
| comprehensive groups | {report.comprehensive_groups:,} |
| claims in core groups | {report.core_claims:,} |
| claims in comprehensive groups | {report.comprehensive_claims:,} |
| claims left ungrouped | {report.ungrouped_claims:,} |
| auxiliary coefficient rows | {report.auxiliary_rows:,} |
| assignment rounds | {report.rounds} |
| years weighted (1:2:7, oldest first) | {', '.join(map(str, report.years))} |
| average cost of all cases (M) | {report.overall_average} |

Parameters: minimum {min_cases} cases per core, related-procedure and comprehensive group;
related procedures kept when they raise the average cost by at least {uplift:.0%}; auxiliary
typing kept when it lowers the group's coefficient of variation by at least {cv_drop:.0%}.
Scores are m_i / M x {1000} on 1:2:7 year-weighted averages of costs trimmed at the 2.5% /
97.5% quantiles of each group's cases over the weighted years, computed as payment calibration
computes them (`drg_engine.payment.group_averages`). `payment/` holds the same scores as
`dip_scores.csv` / `dip_auxiliary.csv` for a payment parameter set.
"""
    (output / "README.md").write_text(text, encoding="utf-8")

