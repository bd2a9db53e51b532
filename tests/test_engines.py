"""Dask and Spark give the local engine's results, byte for byte, on the same input.

Both engines run in local mode: Dask on its threads scheduler and on a ``dask.distributed``
cluster reached by its address, Spark as ``local[2]``. The input has duplicate claim ids
across row groups (including one whose first occurrence is rejected for another reason) and
rows validation rejects, so the distributed duplicate plan and the row numbers are exercised.

The engines are optional extras (``pip install -e '.[dask,spark]'``). Without them these tests
skip, unless ``DRG_ENGINE_TESTS=required`` (set in CI), when a missing engine fails the run.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from drg_engine.rules.manifest import locate_rule_set
from drg_engine.stream import group_file_stream
from drg_engine.synth import generate_claims

REQUIRED = os.environ.get("DRG_ENGINE_TESTS") == "required"


def _engine(module: str) -> Any:
    if REQUIRED:
        return __import__(module, fromlist=["_"])
    return pytest.importorskip(module)


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = generate_claims(locate_rule_set("chs_drg_1_1"), 2_400, 11, cover_all_drgs=False,
                            invalid_fraction=0.05)
    ids = table.column("claim_id").to_pylist()
    rng = np.random.default_rng(4)
    for i in rng.choice(len(ids), 60, replace=False):
        ids[int(i)] = ids[int(rng.integers(0, len(ids)))]  # duplicates across row groups
    ids[700] = ids[5]
    los = table.column("los_days").to_pylist()
    los[5] = -2  # the first "ids[5]" is rejected, so row 701 is the first kept occurrence
    table = table.set_column(0, "claim_id", pa.array(ids)).set_column(
        table.schema.get_field_index("los_days"), "los_days", pa.array(los, pa.int32()))
    path = tmp_path_factory.mktemp("engines") / "claims.parquet"
    pq.write_table(table, path, row_group_size=500)
    return path


@pytest.fixture(scope="module")
def local(claims: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The local engine's files: results, results with input and evidence, rejects."""
    folder = tmp_path_factory.mktemp("local")
    files = {"results": folder / "results.parquet", "full": folder / "full.parquet"}
    summary = group_file_stream(claims, files["results"])
    group_file_stream(claims, files["full"], keep_input=True, evidence=True)
    assert summary.rejects_path is not None and summary.rejected_rows > 60
    files["rejects"] = summary.rejects_path
    return files


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    _engine("dask")
    distributed = _engine("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("where", ["threads", "cluster"])
def test_dask_writes_the_local_engine_files(claims: Path, local: dict[str, Path],
                                            tmp_path: Path, where: str,
                                            request: pytest.FixtureRequest) -> None:
    dask_engine = _engine("drg_engine.engines.dask")
    scheduler = "threads" if where == "threads" else request.getfixturevalue("dask_cluster")
    out = tmp_path / "results.parquet"
    summary = dask_engine.group_file(claims, out, "chs_drg_1_1", scheduler=scheduler)
    assert out.read_bytes() == local["results"].read_bytes()
    assert summary.rejects_path is not None
    assert summary.rejects_path.read_bytes() == local["rejects"].read_bytes()


def test_dask_tables_with_input_and_evidence(claims: Path, local: dict[str, Path]) -> None:
    dask_engine = _engine("drg_engine.engines.dask")
    run = dask_engine.group_parquet(claims, "chs_drg_1_1", keep_input=True, evidence=True)
    assert run.results.equals(pq.read_table(local["full"]))
    assert run.rejects.equals(pq.read_table(local["rejects"]))
    assert run.input_rows == pq.ParquetFile(claims).metadata.num_rows


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    _engine("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if REQUIRED:
            pytest.fail("Spark needs a Java runtime (java on PATH or JAVA_HOME)")
        pytest.skip("no Java runtime for Spark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("drg-engine-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    yield session
    session.stop()


def test_spark_gives_the_local_engine_results(spark: Any, claims: Path,
                                              local: dict[str, Path], tmp_path: Path) -> None:
    spark_engine = _engine("drg_engine.engines.spark")
    run = spark_engine.group_parquet(spark, claims, "chs_drg_1_1", keep_input=True,
                                     evidence=True)
    assert run.results.rdd.getNumPartitions() == pq.ParquetFile(claims).num_row_groups
    assert run.results_arrow().equals(pq.read_table(local["full"]))
    assert run.rejects_arrow().equals(pq.read_table(local["rejects"]))
    run.combined.unpersist()

    out = tmp_path / "results.parquet"
    summary = spark_engine.group_file(claims, out, "chs_drg_1_1",
                                      master=spark.sparkContext.master)
    assert pq.read_table(out).equals(pq.read_table(local["results"]))
    assert summary.rejects_path is not None
    assert pq.read_table(summary.rejects_path).equals(pq.read_table(local["rejects"]))
