"""Group a Parquet claims file with PySpark: ``DataFrame.mapInArrow`` over its row groups.

::

    from pyspark.sql import SparkSession
    from drg_engine.engines.spark import group_parquet, to_arrow
    spark = SparkSession.builder.master("local[*]").getOrCreate()
    run = group_parquet(spark, "claims.parquet", "chs_drg_1_1")
    run.results.write.parquet("grouped/")        # a Spark DataFrame, one partition per row group
    to_arrow(run.rejects)                        # or collect to the driver as Arrow

The work items are a DataFrame with one row group per partition; ``mapInArrow`` runs the
local batch function on each (``drg_engine.engines.piece_batch``), so partition i of the
results holds row group i's results in input order. The compiled rule set travels to the
executors once, as a broadcast variable. Executors must read the file at the same path and
have ``drg-engine`` installed. Results equal the local engine's.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drg_engine.engines import (
    HASH_BUCKETS,
    Piece,
    compiled_rules,
    merge_first_rows,
    piece_batch,
    piece_first_rows,
    piece_hash_buckets,
    row_group_pieces,
)
from drg_engine.rules import CompiledRules
from drg_engine.schema import REJECT_SCHEMA
from drg_engine.stream import FinishedBatch, StreamSummary, _empty_results, write_batches

_KIND = "_kind"
_PIECE = "_piece"
_REJECT_PREFIX = "_reject_"
_PIECE_FIELDS = [("path", pa.string()), ("index", pa.int64()), ("row_group", pa.int64()),
                 ("row_offset", pa.int64()), ("rows", pa.int64())]


@dataclass(frozen=True)
class SparkGroupRun:
    """Lazy results and rejects DataFrames; partition i holds row group i, in input order."""

    results: Any  # pyspark.sql.DataFrame
    rejects: Any  # pyspark.sql.DataFrame
    results_schema: pa.Schema  # the local engine's Arrow schema of the results
    combined: Any  # both kinds of rows with their row group, cached
    pieces: list[Piece]
    rule_set_id: str

    def iter_batches(self, window: int = 8) -> Iterator[FinishedBatch]:
        """The results and rejects per row group, in input order, ``window`` row groups per
        Spark job (so the driver holds a few row groups at a time)."""
        from pyspark.sql import functions as F

        for start in range(0, len(self.pieces), window):
            part = self.combined.where((F.col(_PIECE) >= start)
                                       & (F.col(_PIECE) < start + window)).toArrow()
            piece_column = np.asarray(part.column(_PIECE).combine_chunks())
            kind_column = part.column(_KIND).combine_chunks()
            for piece in self.pieces[start:start + window]:
                mine = piece_column == piece.index
                results = part.filter(pa.array(mine & np.asarray(
                    pc.equal(kind_column, "R"))))
                rejects = part.filter(pa.array(mine & np.asarray(
                    pc.equal(kind_column, "X"))))
                yield FinishedBatch(
                    piece.rows,
                    _cast(results, self.results_schema),
                    _cast(rejects.select([_REJECT_PREFIX + n for n in REJECT_SCHEMA.names])
                          .rename_columns(REJECT_SCHEMA.names), REJECT_SCHEMA),
                    None,
                    (self.rule_set_id,) if self.rule_set_id else (),
                )

    def results_arrow(self) -> pa.Table:
        """The results collected to the driver, as the local engine returns them."""
        return to_arrow(self.results, self.results_schema)

    def rejects_arrow(self) -> pa.Table:
        return to_arrow(self.rejects, REJECT_SCHEMA)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _pieces_frame(spark: Any, pieces: list[Piece]) -> Any:
    """One piece per partition, partition i = row group i."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType([StructField(name, StringType() if kind == pa.string() else LongType(),
                                     False) for name, kind in _PIECE_FIELDS])
    rows = [(p.path, p.index, p.row_group, p.row_offset, p.rows) for p in pieces]
    rdd = spark.sparkContext.parallelize(rows, max(len(rows), 1))
    return spark.createDataFrame(rdd, schema)


def _pieces_of(batches: Iterator[pa.RecordBatch]) -> Iterator[Piece]:
    for batch in batches:
        for row in batch.to_pylist():
            yield Piece(**row)


_RULES: dict[str, CompiledRules | str] = {}


def _rules_from(broadcast: Any) -> CompiledRules | str:
    """The broadcast rule set, unpickled once per Python worker."""
    key, payload = broadcast.value
    if key not in _RULES:
        _RULES[key] = pickle.loads(payload)
    return _RULES[key]


def _repeated(spark: Any, pieces_df: Any) -> np.ndarray:
    """Step 1 as a Spark aggregation: hashes (as signed longs) seen more than once."""

    def hashes(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for piece in _pieces_of(batches):
            for part in piece_hash_buckets(piece, HASH_BUCKETS):
                if len(part):
                    yield pa.record_batch([pa.array(part.view(np.int64))], names=["h"])

    counted = pieces_df.mapInArrow(hashes, "h long").groupBy("h").count()
    repeated = counted.where("count > 1").select("h").toArrow().column("h")
    values = np.asarray(repeated.combine_chunks(), dtype=np.int64).view(np.uint64)
    return np.sort(values)


def _first_rows(spark: Any, pieces_df: Any, repeated: np.ndarray) -> dict[str, int]:
    """Step 2 as a Spark aggregation: the first clean row of each repeated claim id."""
    shared = spark.sparkContext.broadcast(repeated)

    def firsts(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for piece in _pieces_of(batches):
            found = piece_first_rows(piece, shared.value)
            if found:
                yield pa.record_batch([pa.array(list(found), pa.string()),
                                       pa.array(list(found.values()), pa.int64())],
                                      names=["claim_id", "row"])

    first = (pieces_df.mapInArrow(firsts, "claim_id string, row long")
             .groupBy("claim_id").min("row").toArrow())
    return merge_first_rows([dict(zip(first.column(0).to_pylist(),
                                      first.column(1).to_pylist(), strict=True))])


def _combined_schema(results: pa.Schema) -> pa.Schema:
    """The kind, the result columns and the reject columns, all nullable (a row fills one
    kind's columns)."""
    fields = [pa.field(_KIND, pa.string()), pa.field(_PIECE, pa.int64()), *results,
              *(f.with_name(_REJECT_PREFIX + f.name) for f in REJECT_SCHEMA)]
    return pa.schema([f.with_nullable(True) for f in fields])


def _combined(table: pa.Table, kind: str, piece: int, schema: pa.Schema) -> pa.RecordBatch:
    """``table`` in the combined schema, the other kind's columns null."""
    n = table.num_rows
    columns = []
    for schema_field in schema:
        if schema_field.name == _KIND:
            columns.append(pa.array([kind] * n, pa.string()))
            continue
        if schema_field.name == _PIECE:
            columns.append(pa.array([piece] * n, pa.int64()))
            continue
        name = schema_field.name
        if kind == "X":
            name = name[len(_REJECT_PREFIX):] if name.startswith(_REJECT_PREFIX) else None
        elif name.startswith(_REJECT_PREFIX):
            name = None
        if name is not None and name in table.column_names:
            columns.append(table.column(name).combine_chunks().cast(schema_field.type))
        else:
            columns.append(pa.nulls(n, schema_field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def group_parquet(spark: Any, path: str | Path,
                  rules: str | Path | CompiledRules = "chs_drg_1_1", *,
                  evidence: bool = False, keep_input: bool = False) -> SparkGroupRun:
    """Group a Parquet file on Spark; returns lazy results and rejects DataFrames.

    The duplicate plan (two small Spark aggregations) runs here; the grouping itself runs when
    the returned DataFrames are used (both read one cached computation).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    pieces = row_group_pieces(path)
    compiled = compiled_rules(rules)
    key = compiled.content_hash if isinstance(compiled, CompiledRules) else str(compiled)
    rules_broadcast = spark.sparkContext.broadcast((key, pickle.dumps(compiled)))
    pieces_df = _pieces_frame(spark, pieces)
    repeated = _repeated(spark, pieces_df)
    first_rows = _first_rows(spark, pieces_df, repeated) if len(repeated) else {}
    plan = spark.sparkContext.broadcast((repeated, first_rows))
    result_schema = _empty_results(evidence, keep_input)
    schema = _combined_schema(result_schema)

    def grouped(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rules_value = _rules_from(rules_broadcast)
        repeated_value, first_value = plan.value
        for piece in _pieces_of(batches):
            batch = piece_batch(piece, rules_value, repeated_value, first_value,
                                evidence=evidence, keep_input=keep_input)
            yield _combined(batch.output(keep_input), "R", piece.index, schema)
            if batch.rejects.num_rows:
                yield _combined(batch.rejects, "X", piece.index, schema)

    combined = pieces_df.mapInArrow(grouped, _spark_schema(schema)).persist(
        StorageLevel.MEMORY_AND_DISK)
    results = combined.where(F.col(_KIND) == "R").select(*result_schema.names)
    rejects = combined.where(F.col(_KIND) == "X").select(
        *[F.col(_REJECT_PREFIX + name).alias(name) for name in REJECT_SCHEMA.names])
    return SparkGroupRun(results, rejects, result_schema, combined, pieces,
                         compiled.rule_set_id if isinstance(compiled, CompiledRules) else "")


def to_arrow(frame: Any, schema: pa.Schema) -> pa.Table:
    """Collect a DataFrame to the driver as Arrow, in partition order, cast to ``schema``
    (Spark hands back large strings and lists and its own nullability)."""
    return _cast(frame.toArrow(), schema)


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([table.column(name).cast(field.type)
                                 for name, field in zip(schema.names, schema, strict=True)],
                                schema=schema)


def spark_session(master: str = "local[*]") -> Any:
    """A Spark session for ``drg group --engine spark`` (an existing one is reused)."""
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.master(master).appName("drg-engine")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate())


def group_file(path: str | Path, output_path: str | Path,
               rules: str | Path | CompiledRules = "chs_drg_1_1", *,
               master: str = "local[*]", rejects_path: str | Path | None = None,
               evidence: bool = False, keep_input: bool = False,
               progress: Callable[[int], None] | None = None) -> StreamSummary:
    """Group a Parquet file on Spark into results and rejects files (as the local engine)."""
    spark = spark_session(master)
    run = group_parquet(spark, path, rules, evidence=evidence, keep_input=keep_input)
    try:
        return write_batches(run.iter_batches(), output_path, rejects_path=rejects_path,
                             empty=run.results_schema, progress=progress)
    finally:
        run.combined.unpersist()
