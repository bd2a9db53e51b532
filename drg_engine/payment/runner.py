"""A thin DuckDB runner: Arrow tables in as views, named SQL files run with bound parameters.

Each file in ``sql/`` is one SELECT named after what it computes. Tables are registered from
Arrow without copying; parameters are bound by DuckDB (``$name``), never formatted into the
text. Several files can run as one statement, each earlier file becoming a CTE of the last
(``WITH priced AS (<case_pricing.sql>) <claim_payments.sql>``), so DuckDB streams them without
materialising the intermediate tables.

Per-claim results come back in input order by their ``row_position`` (`restore_input_order`):
a join does not keep the row order (DuckDB keeps it only through scans, filters and
projections), and sorting a wide result in SQL costs several times more than putting back the
runs of rows a streamed join returns.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

SQL_DIR = Path(__file__).with_name("sql")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Fewest rows per run, on average, for restore_input_order to move runs instead of rows.
MIN_RUN = 1024


@cache
def sql_text(name: str) -> str:
    """The text of ``sql/<name>.sql`` without a trailing semicolon."""
    if not _NAME.match(name):
        raise ValueError(f"not a SQL file name: {name!r}")
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8").strip().rstrip(";")


class SqlSession:
    """One DuckDB connection with the exact-decimal macros loaded."""

    def __init__(self, threads: int | None = None) -> None:
        config = {"threads": threads} if threads else {}
        self.connection = duckdb.connect(config=config)
        self.connection.execute(sql_text("macros"))
        # Seconds spent per SQL file, for summaries and the benchmark.
        self.timings: dict[str, float] = {}

    def __enter__(self) -> SqlSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def register(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table to SQL as a view called ``name`` (no copy)."""
        if not _NAME.match(name):
            raise ValueError(f"not a relation name: {name!r}")
        self.connection.register(name, table)

    def register_all(self, tables: Mapping[str, pa.Table]) -> None:
        for name, table in tables.items():
            self.register(name, table)

    def query(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        ctes: Sequence[tuple[str, str]] = (),
        in_input_order: bool = False,
    ) -> pa.Table:
        """Run ``sql/<name>.sql`` (after the given ``(relation, file)`` CTEs) into Arrow;
        with ``in_input_order``, one row per claim put back in input order (by row_position)."""
        text = _compose(name, ctes)
        started = time.perf_counter()
        result = self.connection.sql(text, params=_bound(text, params)).to_arrow_table()
        if in_input_order:
            result = restore_input_order(result)
        self._timed(name, started)
        return result

    def materialize(
        self,
        relation: str,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        ctes: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Run ``sql/<name>.sql`` into a temporary table called ``relation``."""
        if not _NAME.match(relation):
            raise ValueError(f"not a relation name: {relation!r}")
        text = _compose(name, ctes)
        started = time.perf_counter()
        self.connection.sql(
            f"CREATE OR REPLACE TEMP TABLE {relation} AS {text}", params=_bound(text, params)
        )
        self._timed(name, started)

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started


def restore_input_order(table: pa.Table) -> pa.Table:
    """The rows in the order of their ``row_position``, which must number them 0..n-1.

    A streamed join returns its input in runs of consecutive rows, only the runs out of order:
    those are moved as slices (no copy). Anything more shuffled is gathered row by row, which
    costs more than DuckDB sorting a narrow result: a window's output is better sorted in SQL.
    """
    n = table.num_rows
    if n == 0:
        return table
    position = table.column("row_position").to_numpy()
    if position.min() < 0 or position.max() >= n:
        raise AssertionError(f"row_position outside 0..{n - 1}")
    starts = np.concatenate([[0], np.flatnonzero(np.diff(position) != 1) + 1])
    if len(starts) <= max(1, n // MIN_RUN):
        ends = np.append(starts[1:], n)
        order = np.argsort(position[starts])
        first = position[starts][order]
        last = position[ends - 1][order]
        if first[0] == 0 and last[-1] == n - 1 and np.all(first[1:] == last[:-1] + 1):
            if len(starts) == 1:
                return table
            return pa.concat_tables(
                table.slice(starts[run], ends[run] - starts[run]) for run in order)
    gather = np.full(n, -1, dtype=np.int64)
    gather[position] = np.arange(n, dtype=np.int64)
    if bool(np.any(gather < 0)):
        raise AssertionError("row_position repeats a position")
    return table.take(gather)


def _compose(name: str, ctes: Sequence[tuple[str, str]]) -> str:
    if not ctes:
        return sql_text(name)
    for relation, _ in ctes:
        if not _NAME.match(relation):
            raise ValueError(f"not a relation name: {relation!r}")
    parts = ",\n".join(f"{relation} AS (\n{sql_text(file)}\n)" for relation, file in ctes)
    final = _without_comments(sql_text(name)).strip()
    if re.match(r"(?i)WITH\s", final):
        # The last file has CTEs of its own: continue the same WITH list.
        return f"WITH {parts},\n{final[4:].lstrip()}"
    return f"WITH {parts}\n{final}"


def _bound(text: str, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parameters the statement uses (DuckDB rejects unused ones); all must be given."""
    used = set(_PARAMETER.findall(_without_comments(text)))
    given = dict(params or {})
    missing = sorted(used - set(given))
    if missing:
        raise ValueError(f"SQL parameters not given: {missing}")
    return {key: given[key] for key in sorted(used)} or None


def _without_comments(text: str) -> str:
    return re.sub(r"--[^\n]*", "", text)
