"""Write the oracle's result for every sample claim under each rule set (snapshot golden files).

Run from the repository root: ``python sample_claims/build_expected.py`` writes
``sample_claims/expected/<rule_set>.csv`` for every rule set in ``RULE_SETS``;
``python sample_claims/build_expected.py --check`` only compares the committed files with a fresh
oracle run and exits with status 1 when any differs.

Each file has one row per row of ``claims.parquet``, in the same order (claim ids are not unique
there: the sample holds injected rows with a missing or duplicated id), with the columns
``claim_id, status, mdc, adrg, drg, severity``. The claims come from the seeded sample build
(``build_sample.py``, ``SEED = 20240601``); this script adds no randomness of its own, so its
output is byte-identical on every run. The results come from the reference oracle
``drg_engine.grouping.oracle`` (not the fast grouper), fed through ``claim_from_record``, so the
parquet's ``los_days`` reaches the Beijing length-of-stay splits.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drg_engine.grouping.oracle import claim_from_record, load_oracle  # noqa: E402

SAMPLE_DIR = Path(__file__).resolve().parent
CLAIMS = SAMPLE_DIR / "claims.parquet"
OUT_DIR = SAMPLE_DIR / "expected"
RULES_DIR = ROOT / "grouper_rules"
RULE_SETS = ("chs_drg_1_1", "chs_drg_1_0", "beijing_2022")
COLUMNS = ("claim_id", "status", "mdc", "adrg", "drg", "severity")


def expected_rows(rule_set: str, claims: Path = CLAIMS) -> list[dict[str, str]]:
    """The oracle's result for every claim of ``claims``, in file order."""
    oracle = load_oracle(RULES_DIR / rule_set)
    rows = []
    for record in pq.read_table(claims).to_pylist():
        result = oracle.group(claim_from_record(record))
        rows.append({
            "claim_id": record["claim_id"] or "",
            "status": result.status,
            "mdc": result.mdc,
            "adrg": result.adrg,
            "drg": result.drg,
            "severity": result.severity,
        })
    return rows


def render(rows: list[dict[str, str]]) -> str:
    """The CSV text of a snapshot (LF line ends, header first)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for rule_set in RULE_SETS:
        rows = expected_rows(rule_set)
        text = render(rows)
        path = OUT_DIR / f"{rule_set}.csv"
        statuses = dict(Counter(row["status"] for row in rows).most_common())
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
            continue
        OUT_DIR.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        print(f"{path.relative_to(ROOT)}: {len(rows)} rows, {statuses}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    if check:
        print("expected snapshots are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
