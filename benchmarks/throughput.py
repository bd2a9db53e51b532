"""Throughput of the grouping job, stage by stage, on N generated claims.

    python benchmarks/throughput.py --claims 1000000 [--claims 10000000] [--rules chs_drg_1_1]

For each N: generate realistic claims with the sample generator, write them as Parquet (setup,
not timed), then time separately

* read      - Parquet -> Arrow (code lists dictionary-encoded, as a bureau's files are read);
* normalise - aliases, parsing, rejects (``drg_engine.validate``);
* group     - ``group_batch`` on the clean batch (the grouping step the issue targets);
* write     - results (claim_id + group columns) -> Parquet;
* I/O floor - read + write of the same file with no work in between, measured in the same run
  so the ratio end-to-end / floor is meaningful on a noisy machine;

and report claims/s per stage, end to end, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from drg_engine.grouping.drg import group_batch
from drg_engine.rules import load_rules
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.synth import generate_claims
from drg_engine.validate import normalize_claims


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(step: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    gc.collect()
    started = time.perf_counter()
    value = step(*args)
    return value, time.perf_counter() - started


def _read(path: Path) -> pa.Table:
    dictionary_columns = ["diagnoses.list.element", "procedures.list.element"]
    return pq.read_table(path, read_dictionary=dictionary_columns)


def run(n: int, rule_set: str, workdir: Path, seed: int) -> dict[str, float]:
    rules = load_rules(rule_set)
    claims = generate_claims(locate_rule_set(rule_set), n, seed, cover_all_drgs=False)
    source = workdir / f"claims_{n}.parquet"
    pq.write_table(claims, source, row_group_size=262_144)
    del claims

    raw, read_s = _timed(_read, source)
    normalized, normalise_s = _timed(normalize_claims, raw)
    results, group_s = _timed(group_batch, normalized.clean, rules)
    _, write_s = _timed(pq.write_table, results, workdir / f"results_{n}.parquet")
    statuses = results.column("status").value_counts().to_pylist()
    del raw, normalized, results

    def io_floor() -> None:
        table = _read(source)
        pq.write_table(table.select(["claim_id"]), workdir / "floor.parquet")

    _, floor_s = _timed(io_floor)
    end_to_end = read_s + normalise_s + group_s + write_s
    return {
        "claims": n,
        "read": n / read_s,
        "normalise": n / normalise_s,
        "group": n / group_s,
        "write": n / write_s,
        "end_to_end": n / end_to_end,
        "io_floor": n / floor_s,
        "group_seconds": group_s,
        "end_to_end_seconds": end_to_end,
        "peak_rss_mb": _peak_rss_mb(),
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, action="append",
                        help="number of claims (repeatable); default 1,000,000")
    parser.add_argument("--rules", default="chs_drg_1_1")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    sizes = args.claims or [1_000_000]
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")
    header = ("claims", "read", "normalise", "group", "write", "end_to_end", "io_floor")
    print(" | ".join(f"{h:>12}" for h in header) + " | peak RSS MB")
    with tempfile.TemporaryDirectory(prefix="drg-bench-") as tmp:
        for n in sizes:
            figures = run(n, args.rules, Path(tmp), args.seed)
            cells = [f"{figures['claims']:>12,}"] + [f"{figures[h]:>12,.0f}" for h in header[1:]]
            print(" | ".join(cells) + f" | {figures['peak_rss_mb']:,.0f}")
            print(f"    group step {figures['group_seconds']:.2f} s, end to end "
                  f"{figures['end_to_end_seconds']:.2f} s; statuses {figures['statuses']}")


if __name__ == "__main__":
    main()
