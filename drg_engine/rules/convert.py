"""Convert a reference CHS-DRG table folder into drg-engine's own rule-set format.

The reference folders (``shared/reference/<edition>/``) describe a grouper as CSV tables with
some descriptive columns (counts, source positions). Our format keeps only what the engine
evaluates or displays, drops the duplicate rows the reference keeps for traceability (they never
change a result), and adds a ``manifest.toml``. Re-running the converter on the same input
produces byte-identical files, so a new edition is a data drop, reviewed as a diff.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

# The reference README says: a column absent from a table is empty, a missing `alt` is 1.
_DEFAULTS = {"alt": "1"}


def _read(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _get(row: dict[str, str], column: str) -> str:
    value = row.get(column)
    if value is None or value == "":
        return _DEFAULTS.get(column, "")
    return value


def _write(path: Path, header: list[str], rows: Iterable[list[str]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _unique(rows: Iterable[list[str]], key_width: int) -> Iterator[list[str]]:
    """Keep the first row of each key (the first ``key_width`` columns), in source order."""
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        key = tuple(row[:key_width])
        if key not in seen:
            seen.add(key)
            yield row


def convert(reference_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write the rule-set tables of one reference edition into ``out_dir``; return row counts.

    The manifest (identity, effective dates, options) is written by hand next to the tables.
    """
    ref = reference_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}

    mdc_rows = sorted(_read(ref / "mdc.csv"), key=lambda r: int(r["eval_order"]))
    counts["mdc.csv"] = _write(
        out_dir / "mdc.csv",
        ["mdc", "eval_order", "entry_kind", "entry_sex", "entry_age_years",
         "qy_after_n_adrgs", "qy_drg", "name_zh", "name_en"],
        ([_get(r, "mdc"), _get(r, "eval_order"), _get(r, "entry_kind"), _get(r, "entry_sex"),
          _get(r, "entry_age_years"), _get(r, "qy_after_n_adrgs"), _get(r, "qy_drg_code"),
          _get(r, "name_zh"), _get(r, "name_en")] for r in mdc_rows),
    )
    counts["mdc_codes.csv"] = _write(
        out_dir / "mdc_codes.csv",
        ["mdc", "code", "trauma_region"],
        _unique(([_get(r, "mdc"), r["code"], _get(r, "trauma_region")]
                 for r in _read(ref / "mdc_codes.csv")), key_width=2),
    )
    counts["trauma_regions.csv"] = _write(
        out_dir / "trauma_regions.csv",
        ["trauma_region", "name_zh"],
        ([_get(r, "trauma_region"), _get(r, "header_zh")]
         for r in _read(ref / "mdcz_regions.csv")),
    )
    counts["adrg.csv"] = _write(
        out_dir / "adrg.csv",
        ["adrg", "alt", "mdc", "order_in_mdc", "cond_kind", "px_label_combo", "max_age_days",
         "birth_weight_min_g", "birth_weight_max_g", "name_zh"],
        ([_get(r, "adrg"), _get(r, "alt"), _get(r, "mdc"), _get(r, "order_in_mdc"),
          _get(r, "cond_kind"), _get(r, "px_label_combo"), _get(r, "max_age_days"),
          _get(r, "birth_weight_min_g"), _get(r, "birth_weight_max_g"),
          _get(r, "name_zh_derived")]
         for r in _read(ref / "adrg.csv")),
    )
    # A code repeated in one list keeps the label of its first occurrence (reference §5.2).
    counts["adrg_codes.csv"] = _write(
        out_dir / "adrg_codes.csv",
        ["adrg", "alt", "role", "code", "px_label"],
        _unique(([_get(r, "adrg"), _get(r, "alt"), _get(r, "role"), r["code"],
                  _get(r, "px_label")]
                 for r in _read(ref / "adrg_codes.csv")), key_width=4),
    )
    counts["drg.csv"] = _write(
        out_dir / "drg.csv",
        ["drg", "adrg", "order_in_adrg", "split_kind", "max_age_years", "min_los_days",
         "max_los_days", "name_zh"],
        ([_get(r, "drg"), _get(r, "adrg"), _get(r, "order_in_adrg"), _get(r, "split_kind"),
          _get(r, "max_age_years"), _get(r, "min_los_days"), _get(r, "max_los_days"),
          _get(r, "name_zh")] for r in _read(ref / "drg.csv")),
    )
    counts["cc_mcc.csv"] = _write(
        out_dir / "cc_mcc.csv",
        ["code", "level", "exclusion_table"],
        _unique(([r["code"], _get(r, "level"), _get(r, "exclusion_table")]
                 for r in _read(ref / "cc_mcc.csv")), key_width=1),
    )
    counts["cc_exclusion.csv"] = _write(
        out_dir / "cc_exclusion.csv",
        ["pdx_code", "exclusion_table"],
        _unique(([r["pdx_code"], _get(r, "exclusion_table")]
                 for r in _read(ref / "cc_exclusion.csv")), key_width=1),
    )
    counts["valid_or_procedures.csv"] = _write(
        out_dir / "valid_or_procedures.csv",
        ["code"],
        _unique(([r["code"]] for r in _read(ref / "valid_or_procedures.csv")), key_width=1),
    )
    for name in ("dx_names.csv", "px_names.csv"):
        counts[name] = _write(
            out_dir / name,
            ["code", "name_zh"],
            _unique(([r["code"], _get(r, "name_zh")] for r in _read(ref / name)), key_width=1),
        )
    for name in ("dx_map.csv", "px_map.csv"):
        counts[name] = _write(
            out_dir / name,
            ["source_code", "target_code"],
            _unique(([r["source_code"], r["target_code"]] for r in _read(ref / name)),
                    key_width=1),
        )
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    counts = convert(args.reference_dir, args.out_dir)
    for name, rows in counts.items():
        print(f"{name:28} {rows:>7} rows")


if __name__ == "__main__":
    main()
