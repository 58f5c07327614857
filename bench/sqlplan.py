"""Record the SQL a request runs and ask the database how it plans each statement."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .timing import Statement


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[Statement]]:
    """Collect every statement ``engine`` runs inside the block, with its duration."""
    statements: list[Statement] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        statements.append(Statement(statement, parameters, (time.perf_counter() - started) * 1000))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def is_select(statement: Statement) -> bool:
    return statement.sql.lstrip().upper().startswith(("SELECT", "WITH"))


def time_alone(engine: Engine, statement: Statement) -> float:
    """Run a recorded SELECT again by itself, fetching every row; return milliseconds.

    The time recorded during the request covers ``execute`` only: on SQLite a scan goes on
    while rows are fetched, so that figure would hide most of a slow query.
    """
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        started = time.perf_counter()
        cursor.execute(statement.sql, statement.parameters)
        cursor.fetchall()
        return (time.perf_counter() - started) * 1000
    finally:
        connection.close()


def explain(engine: Engine, statement: Statement) -> list[str]:
    """Return the plan of a recorded statement: SQLite's ``EXPLAIN QUERY PLAN`` as indented
    lines, or PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)``."""
    if not is_select(statement):
        return []
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.parameters
            ).all()
        return [row[0] for row in rows]
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement.sql, statement.parameters
        ).all()
    depth = {0: -1}
    lines = []
    for node_id, parent, _unused, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + detail)
    return lines


def short_sql(sql: str, limit: int = 600) -> str:
    """Return the statement on one line, cut to ``limit`` characters."""
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
