"""Throughput of the grouping job, stage by stage, on N generated claims, with the I/O floor.

    python benchmarks/throughput.py --claims 1000000 --claims 10000000 [--repeat 3]
    python benchmarks/throughput.py --claims 50000000 --only end-to-end   # peak RSS at 50M

For each N: generate realistic claims with the sample generator (``drg_engine.synth``, in
chunks of one million so the generator stays bounded) into a Parquet file of 262,144-row row
groups (setup, not timed), then measure

* **stages**, one thread, batch by batch (row group by row group):
  read (code lists dictionary-encoded) / normalise (``stream.normalise_batch``) / group
  (``group_batch`` on the normalised batch, labels dictionary-encoded as the streaming job
  writes them; ``group (strings)`` is the default string output) / write (results to
  Parquet with the streaming job's writer options);
* **end to end**: ``stream.group_file_stream`` (Parquet in, results Parquet out, two workers,
  both passes) in a fresh process, with that process's peak RSS;
* **I/O floors**, in fresh processes, two threads on separate row groups, each writing files
  of its own, without column statistics (as the job writes): ``rewrite`` reads every row
  group and writes it back unchanged (read + write with no work: the issue's floor, 2.1M
  claims/s in its measurement); ``results`` reads every row group and writes a results table
  of the same size (the least I/O this job can do).

Each process-level measurement runs ``--repeat`` times, interleaved, so a busy machine slows
the job and its floor alike, each warm (after a run on a 2,000-claim sample); the table shows
the median and the range.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from drg_engine.grouping.drg import group_batch
from drg_engine.rules import load_rules
from drg_engine.rules.manifest import locate_rule_set
from drg_engine.stream import (
    DEFAULT_WORKERS,
    _ordered,
    _ParquetSource,
    group_file_stream,
    normalise_batch,
    parquet_options,
)
from drg_engine.synth import generate_claims

ROW_GROUP = 262_144
CHUNK = 1_000_000
DISTINCT_CHUNKS = 10  # generator seeds; beyond that, contents repeat under fresh claim ids


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ``ru_maxrss``: a child started from a
    big parent would report the parent's size, which ``ru_maxrss`` keeps across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the input file ------------------------------------------------------------------------------


def _chunks(n: int, rule_set: str, seed: int) -> Iterator[pa.Table]:
    for index, start in enumerate(range(0, n, CHUNK)):
        rows = min(CHUNK, n - start)
        chunk = generate_claims(locate_rule_set(rule_set), rows,
                                seed + index % DISTINCT_CHUNKS, cover_all_drgs=False)
        numbers = pc.cast(pa.array(np.arange(start + 1, start + rows + 1)), pa.string())
        ids = pc.binary_join_element_wise("C", pc.utf8_lpad(numbers, 12, "0"), "")
        yield chunk.set_column(0, "claim_id", ids)


def write_claims(path: Path, n: int, rule_set: str, seed: int) -> None:
    """N claims as Parquet, generated and written a million at a time."""
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in _chunks(n, rule_set, seed):
            if writer is None:
                writer = pq.ParquetWriter(path, chunk.schema)
            writer.write_table(chunk, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


# --- single-thread stages ------------------------------------------------------------------------


def stages(path: Path, rule_set: str) -> dict[str, float]:
    """Seconds per stage over the whole file, one batch at a time on one thread."""
    rules = load_rules(rule_set)
    source = _ParquetSource(path, ROW_GROUP)
    totals = dict.fromkeys(("read", "normalise", "group", "group_strings", "write"), 0.0)
    rows = 0
    sink = pa.BufferOutputStream()
    writer: pq.ParquetWriter | None = None
    for load in source.loaders():
        started = time.perf_counter()
        raw = load()
        read = time.perf_counter()
        clean = normalise_batch(raw, carry_input=False).clean
        normalised = time.perf_counter()
        results = group_batch(clean, rules, dictionary=True)
        grouped = time.perf_counter()
        group_batch(clean, rules)
        grouped_strings = time.perf_counter()
        if writer is None:
            writer = pq.ParquetWriter(sink, results.schema, **parquet_options(results.schema))
        writer.write_table(results, row_group_size=results.num_rows)
        written = time.perf_counter()
        totals["read"] += read - started
        totals["normalise"] += normalised - read
        totals["group"] += grouped - normalised
        totals["group_strings"] += grouped_strings - grouped
        totals["write"] += written - grouped_strings
        rows += raw.num_rows
    if writer is not None:
        writer.close()
    return {name: rows / seconds for name, seconds in totals.items()} | {"rows": rows}


# --- process-level measurements (run in a fresh interpreter each) --------------------------------


def _end_to_end(path: Path, out: Path, rule_set: str) -> int:
    return group_file_stream(path, out, rule_set).input_rows


def _floor(path: Path, out: Path, template: pa.Table | None) -> int:
    """The I/O floor: two threads, each reading whole row groups and writing them to a file
    of its own (no ordering, no work in between), as the issue measured it. Without a
    ``template`` every row group is written back as it was read (``rewrite``); with one, a
    results table of the same size is written with the streaming job's writer options
    (``results``)."""
    source = _ParquetSource(path, ROW_GROUP)
    out.mkdir(exist_ok=True)

    def rewrite(item: tuple[int, Callable[[], pa.Table]]) -> int:
        index, load = item
        table = load()
        rows = table.num_rows
        # Like the job's writer, no min/max statistics: they would make the floor slower.
        options: dict[str, Any] = {"write_statistics": False}
        if template is not None:
            copies = rows // template.num_rows + 1
            table = pa.concat_tables([template] * copies).slice(0, rows)
            options = parquet_options(table.schema)
        pq.write_table(table, out / f"part-{index:05d}.parquet", row_group_size=rows,
                       **options)
        return rows

    tasks = (lambda item=item: rewrite(item) for item in enumerate(source.loaders()))
    return sum(_ordered(tasks, DEFAULT_WORKERS))


def _results_template(path: Path, rule_set: str) -> pa.Table:
    """The results of the file's first row group (what the results floor writes)."""
    first = next(iter(_ParquetSource(path, ROW_GROUP).loaders()))()
    return group_batch(normalise_batch(first, carry_input=False).clean, load_rules(rule_set),
                       dictionary=True)


def child(what: str, path: Path, out: Path, rule_set: str) -> None:
    """One measurement in this (fresh) process, warm: the job first runs on a 2,000-claim
    sample, so interpreter start-up and one-time set-up (imports, the rule cache, the
    kernel's tables) are not counted as throughput. ``drg group`` on a small file measures
    those."""
    template = _results_template(path, rule_set) if what == "results" else None
    jobs: dict[str, Callable[[Path, Path], int]] = {
        "end-to-end": lambda source, target: _end_to_end(source, target, rule_set),
        "rewrite": lambda source, target: _floor(source, target, None),
        "results": lambda source, target: _floor(source, target, template),
    }
    with tempfile.TemporaryDirectory(prefix="drg-warm-") as tmp:
        sample = Path(tmp) / "sample.parquet"
        pq.write_table(pq.ParquetFile(path).read_row_group(0).slice(0, 2_000), sample)
        jobs[what](sample, Path(tmp) / "out.parquet")
    started = time.perf_counter()
    rows = jobs[what](path, out)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


def _in_child(what: str, path: Path, out: Path, rule_set: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", what, "--path", str(path), "--out", str(out),
         "--rules", rule_set],
        check=True, capture_output=True, text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> str:
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:>12,.0f}"
    return f"{median:>12,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def measure(n: int, rule_set: str, seed: int, repeat: int, only: str | None,
            workdir: Path) -> None:
    path = workdir / f"claims_{n}.parquet"
    started = time.perf_counter()
    write_claims(path, n, rule_set, seed)
    print(f"\n{n:,} claims: generated {path.stat().st_size / 1e6:,.0f} MB of Parquet in "
          f"{time.perf_counter() - started:.0f} s")
    if only in (None, "stages"):
        figures = stages(path, rule_set)
        print("  one thread, claims/s: " + ", ".join(
            f"{name} {figures[name]:,.0f}"
            for name in ("read", "normalise", "group", "group_strings", "write")))
    if only == "stages":
        return
    kinds = ["end-to-end"] if only == "end-to-end" else ["end-to-end", "rewrite", "results"]
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for _ in range(repeat):
        for kind in kinds:
            target = workdir / f"out_{kind}.parquet"
            runs[kind].append(_in_child(kind, path, target, rule_set))
            if target.is_dir():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
    rates = {kind: [r["rows"] / r["seconds"] for r in runs[kind]] for kind in kinds}
    for kind in kinds:
        rss = max(r["peak_rss_mb"] for r in runs[kind])
        print(f"  {kind:>10}: {_spread(rates[kind])} claims/s, peak RSS {rss:,.0f} MB")
    if "rewrite" in rates:
        paired = [e / f for e, f in zip(rates["end-to-end"], rates["rewrite"], strict=True)]
        strict = [e / f for e, f in zip(rates["end-to-end"], rates["results"], strict=True)]
        print(f"  end to end / rewrite floor: {statistics.median(paired):.2f} "
              f"({min(paired):.2f}-{max(paired):.2f}); end to end / results floor: "
              f"{statistics.median(strict):.2f} ({min(strict):.2f}-{max(strict):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, action="append",
                        help="number of claims (repeatable); default 1,000,000")
    parser.add_argument("--rules", default="chs_drg_1_1")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("stages", "end-to-end"))
    parser.add_argument("--workdir", type=Path, help="where the generated files go")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.out, args.rules)
        return
    print(f"machine: {platform.platform()}, {platform.machine()}, python "
          f"{platform.python_version()}, pyarrow {pa.__version__}")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="drg-bench-", dir=args.workdir) as tmp:
        for n in args.claims or [1_000_000]:
            measure(n, args.rules, args.seed, args.repeat, args.only, Path(tmp))


if __name__ == "__main__":
    main()
