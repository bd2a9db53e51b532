"""A thin DuckDB runner: Arrow tables in as views, named SQL files run with bound parameters.

Each file in ``sql/`` is one SELECT named after what it computes. Tables are registered from
Arrow without copying; parameters are bound by DuckDB (``$name``), never formatted into the
text. Several files can run as one statement, each earlier file becoming a CTE of the last
(``WITH priced AS (<case_pricing.sql>), split AS (<benefit_split.sql>) <claim_payments.sql>``),
so DuckDB streams them without materialising the intermediate tables.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

SQL_DIR = Path(__file__).with_name("sql")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


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
    ) -> pa.Table:
        """Run ``sql/<name>.sql`` (after the given ``(relation, file)`` CTEs) into Arrow."""
        text = _compose(name, ctes)
        started = time.perf_counter()
        result = self.connection.sql(text, params=_bound(text, params)).to_arrow_table()
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
