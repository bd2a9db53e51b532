"""Throughput of DIP assignment and bundle assignment against the DRG grouper, in one run.

    python benchmarks/dip_throughput.py --claims 1000000 [--history 200000] [--repeat 3]

Generates N claims with the sample generator (CHS-DRG 1.1 codes, seeded), writes them as
Parquet and reads them back with dictionary-encoded code lists (as ``throughput.py`` does),
normalises them (not timed), then times on the same clean batch, ``--repeat`` rounds in which
every step runs once (round-robin, so load from other work falls on all steps alike), best and
median reported:

* ``drg``      - ``group_batch`` with ``chs_drg_1_1`` (the reference the issue compares to);
* ``dip``      - ``dip_batch`` with the shipped ``dip3_national_partial`` rule set;
* ``dip_built``- ``dip_batch`` with a catalogue built by ``build_catalogue`` from a separate
  generated history of ``--history`` claims (thousands of core groups, many candidates);
* ``dip_cold`` - ``dip`` on a copy of the rule set that has met no code yet (the facts of every
  distinct code are worked out in the run: the first batch of a job);
* ``bundles``  - ``bundle_batch`` with the shipped single-disease list.

It prints claims/s per step and the ratio to DRG (the issue asks for at least 0.5; the
targets set for this work: 0.6 for ``dip``, 0.5 for ``dip_built``).
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from drg_engine.dip.bundle_list import load_bundle_list
from drg_engine.dip.cache import load_dip_rules
from drg_engine.dip.catalogue import build_catalogue
from drg_engine.grouping.bundles import bundle_batch
from drg_engine.grouping.dip import dip_batch
from drg_engine.grouping.drg import group_batch
from drg_engine.rules import load_rules
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.synth import generate_claims
from drg_engine.validate import normalize_claims


def _timed(step: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()

    rule_dir = locate_rule_set("chs_drg_1_1")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "claims.parquet"
        pq.write_table(generate_claims(rule_dir, args.claims, args.seed, cover_all_drgs=False),
                       source, row_group_size=262_144)
        raw = pq.read_table(source, read_dictionary=["diagnoses.list.element",
                                                      "procedures.list.element"])
        clean = normalize_claims(raw).clean
        history = generate_claims(rule_dir, args.history, args.seed + 1, cover_all_drgs=False)
        built_dir = work / "dip_built"
        started = time.perf_counter()
        report = build_catalogue(history, built_dir, min_cases=15)
        build_s = time.perf_counter() - started

        drg_rules = load_rules("chs_drg_1_1")
        national = load_dip_rules("dip3_national_partial")
        built = load_dip_rules(built_dir)
        bundles = load_bundle_list("major_disease_pilot")
        steps: dict[str, Callable[[], Any]] = {
            "drg": lambda: group_batch(clean, drg_rules),
            "dip": lambda: dip_batch(clean, national),
            "dip_built": lambda: dip_batch(clean, built),
            # Known codes belong to the rule-set object: a copy starts without any.
            "dip_cold": lambda: dip_batch(clean, copy.copy(national)),
            "bundles": lambda: bundle_batch(clean, bundles),
        }
        for step in steps.values():
            step()  # warm: kernel tables, label arrays and the rule sets' known codes
        # Round-robin, so that every step sees the same share of a shared machine's load.
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.repeat):
            for name, step in steps.items():
                times[name] += _timed(step, 1)
        rates = {name: (args.claims / min(t), args.claims / statistics.median(t))
                 for name, t in times.items()}

    print(f"{args.claims:,} claims (seed {args.seed}); catalogue built from "
          f"{args.history:,} history claims in {build_s:.1f} s: {report.core_groups:,} core, "
          f"{report.comprehensive_groups:,} comprehensive groups")
    print(f"{'step':10} {'best claims/s':>15} {'median claims/s':>17} {'vs DRG (median)':>16}")
    drg_median = rates["drg"][1]
    for name, (best, median) in rates.items():
        print(f"{name:10} {best:15,.0f} {median:17,.0f} {median / drg_median:16.2f}")


if __name__ == "__main__":
    main()
