"""Throughput of ``drg audit`` on a million generated claims with ten million charge lines.

    python benchmarks/audit_throughput.py [--claims 1000000] [--plants 50] [--report]
                                          [--data-dir DIR]

Setup (not timed): generate claims with ``drg_engine.synth.generate_claims``, build charge lines,
visits and a hospital master with planted anomalies (``drg_engine.audit.sample_data``, lean
profile: about ten lines a stay) and write them as Parquet. Then time, stage by stage:

* read + group - the four Parquet files read, claims normalised and grouped (``load_inputs``);
* audit        - every model and rule in DuckDB, regrouping, findings (``run_audit``);
* write        - findings as Parquet;
* report       - (with ``--report``) the HTML report and the Excel workbook.

The issue's target is read + group + audit + write under 60 s for 1M claims and 10M lines.
With ``--data-dir`` the generated files are kept there and reused by the next run (the setup
takes a few minutes). CPU time and the load average are printed next to the wall-clock time,
because a busy machine stretches the wall clock.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from drg_engine.audit import AuditResult, load_inputs, run_audit
from drg_engine.audit.sample_data import build_audit_sample
from drg_engine.io import write_table
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.synth import generate_claims


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--plants", type=int, default=50, help="planted anomalies per rule")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--report", action="store_true", help="also time HTML and Excel")
    parser.add_argument("--data-dir", help="keep the generated inputs here and reuse them")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.data_dir) if args.data_dir else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / f"{name}.parquet"
                 for name in ("claims", "charges", "visits", "hospitals")}
        if not all(path.is_file() for path in paths.values()):
            started = time.perf_counter()
            claims = generate_claims(locate_rule_set("chs_drg_1_1"), args.claims, args.seed)
            sample = build_audit_sample(claims, seed=args.seed, plants_per_rule=args.plants,
                                        lookalikes_per_kind=args.plants // 2, profile="lean")
            for name, path in paths.items():
                pq.write_table(getattr(sample, name), path)
            print(f"setup: {sample.claims.num_rows:,} claims, {sample.charges.num_rows:,} "
                  f"charge lines, {sample.visits.num_rows:,} visits, "
                  f"{sample.hospitals.num_rows} hospitals "
                  f"({time.perf_counter() - started:.1f} s, not timed) in {folder}")
            del sample, claims
            gc.collect()
        else:
            print(f"setup: reusing the files in {folder}")
        timings, result, total, cpu = _timed_run(paths, Path(scratch), args.report)
    _print(timings, result, total, cpu)


def _timed_run(paths: dict[str, Path], folder: Path,
               report: bool) -> tuple[dict[str, float], AuditResult, float, float]:
    """read + group, audit and write, timed stage by stage (and the reports when asked)."""
    timings: dict[str, float] = {}
    print(f"load average before the timed run: {_load()}")
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    inputs = load_inputs(paths["claims"], charges=paths["charges"], visits=paths["visits"],
                         hospitals=paths["hospitals"])
    timings["read + group"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_audit(inputs)
    timings["audit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_table(result.findings, Path(folder) / "findings.parquet")
    timings["write"] = time.perf_counter() - t0
    total = sum(timings.values())
    cpu = _cpu_seconds() - cpu0
    if report:
        from drg_engine.audit.report import write_excel, write_html

        t0 = time.perf_counter()
        write_html(result, Path(folder) / "audit.html")
        timings["report (html)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_excel(result, Path(folder) / "findings.xlsx")
        timings["report (excel)"] = time.perf_counter() - t0
    return timings, result, total, cpu


def _print(timings: dict[str, float], result: AuditResult, total: float, cpu: float) -> None:
    lines = result.meta["charge_lines"]
    for stage, seconds in timings.items():
        print(f"  {stage:16} {seconds:7.2f} s")
    slowest = sorted(result.meta["timings"].items(), key=lambda item: -item[1])[:8]
    print("  slowest audit steps: " + ", ".join(f"{name} {secs:.2f} s" for name, secs in slowest))
    findings = result.open_findings.num_rows
    print(f"audit of {result.meta['claims']:,} claims and {lines:,} charge lines: {total:.1f} s "
          f"end to end ({result.meta['claims'] / total:,.0f} claims/s, {lines / total:,.0f} "
          f"lines/s), {cpu:.1f} s of CPU on {os.cpu_count()} cores; {findings:,} open findings; "
          f"peak RSS {_peak_rss_mb():,.0f} MB; load average after: {_load()}")
    print("target < 60 s: " + ("met" if total < 60 else "MISSED"))


if __name__ == "__main__":
    main()
