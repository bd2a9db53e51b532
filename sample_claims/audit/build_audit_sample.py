"""Build the audit sample: charge lines, visits and a hospital master for the sample claims,
with planted anomalies and look-alikes (documented in README.md next to this file).

    python sample_claims/audit/build_audit_sample.py

Reads ``sample_claims/claims.parquet`` and writes, next to this script:

* ``claims.parquet``     the sample claims after cleaning and planting (what ``drg audit`` reads);
* ``charges.parquet``    fee detail lines of every readable stay;
* ``visits.parquet``     outpatient, emergency, pharmacy and other-inpatient settlements;
* ``hospitals.parquet``  the hospital master;
* ``truth.csv``          every planted anomaly (rule, subject) and every look-alike.

The seed is fixed: running it again writes byte-identical files (a test checks the build is
deterministic in memory; this script only writes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from drg_engine.audit.sample_data import build_audit_sample

SEED = 20240601
PLANTS_PER_RULE = 20
LOOKALIKES_PER_KIND = 10
HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "claims.parquet"


def main() -> int:
    if not SOURCE.is_file():
        print(f"{SOURCE} not found: build the sample claims first "
              "(python sample_claims/build_sample.py)", file=sys.stderr)
        return 1
    sample = build_audit_sample(pq.read_table(SOURCE), seed=SEED,
                                plants_per_rule=PLANTS_PER_RULE,
                                lookalikes_per_kind=LOOKALIKES_PER_KIND)
    for name in ("claims", "charges", "visits", "hospitals"):
        pq.write_table(getattr(sample, name), HERE / f"{name}.parquet", compression="zstd")
    pacsv.write_csv(sample.truth, HERE / "truth.csv")
    planted = sum(1 for row in sample.truth.to_pylist() if row["role"] == "planted")
    print(f"{sample.claims.num_rows:,} claims, {sample.charges.num_rows:,} charge lines, "
          f"{sample.visits.num_rows:,} visits, {sample.hospitals.num_rows} hospitals; "
          f"{planted} planted anomalies, {sample.truth.num_rows - planted} look-alikes")
    for key, value in sample.notes.items():
        print(f"  {key}: {value:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
