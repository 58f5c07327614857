"""Load a built benchmark database into PostgreSQL with ``COPY``, once per data set.

The SQLite file (built and cached by ``data``) is the source, so both databases hold exactly
the same rows. The schema comes from the application (``db.create_all()`` on PostgreSQL); plain
indexes and foreign-key triggers are off during the load and the indexes are built after it,
then the tables are vacuumed and analysed (what autovacuum does on a live database soon after
a bulk load: without it PostgreSQL cannot answer from an index alone). A marker table names
the source, so a later run on the same data starts at once.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import replace

from .data import ANCHOR, BenchData

MARKER = "bench_source"


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def psycopg_url(url: str) -> str:
    for scheme in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql://" + url[len(scheme):]
    return url


def ensure_postgres(data: BenchData, url: str, *, rebuild: bool = False,
                    echo=print) -> BenchData:
    """Return ``data`` as held by the PostgreSQL database at ``url``, loading it if needed."""
    import psycopg

    source = data.path.name
    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        loaded = connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (MARKER,)).fetchone()[0]
        if loaded and not rebuild:
            row = connection.execute(f"SELECT source, seconds FROM {MARKER}").fetchone()
            if row and row[0] == source:
                size = connection.execute(
                    "SELECT pg_database_size(current_database())").fetchone()[0]
                echo(f"Using {database_name(url)}, loaded from {source} "
                     f"({size / 2**20:.0f} MiB).")
                return replace(data, database_url=url, seconds_to_build=row[1],
                               size_bytes=size)
    started = time.perf_counter()
    load(data, url, echo=echo)
    seconds = round(time.perf_counter() - started, 1)
    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {MARKER} (source text, seconds real)")
        connection.execute(f"INSERT INTO {MARKER} VALUES (%s, %s)", (source, seconds))
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    echo(f"Loaded {database_name(url)} in {seconds:.0f} s ({size / 2**20:.0f} MiB).")
    return replace(data, database_url=url, seconds_to_build=seconds, size_bytes=size)


def load(data: BenchData, url: str, *, echo=print) -> None:
    """Create the schema on PostgreSQL and copy every table of the SQLite file into it."""
    import psycopg
    from sqlalchemy.schema import CreateIndex

    from dashboard import create_app
    from dashboard.extensions import db

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 32,
                      "CLOCK": lambda: ANCHOR})
    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {MARKER}")
        db.drop_all()
        db.create_all()
        tables = list(db.metadata.sorted_tables)
        indexes = [index for table in tables for index in table.indexes]
        index_sql = [str(CreateIndex(index).compile(dialect=db.engine.dialect))
                     for index in indexes]
        with db.engine.begin() as connection:
            for index in indexes:
                connection.exec_driver_sql(f'DROP INDEX "{index.name}"')
        db.session.remove()
        db.engine.dispose()

    source = sqlite3.connect(data.path)
    with psycopg.connect(psycopg_url(url)) as target:
        target.execute("SET session_replication_role = replica")  # no FK triggers while loading
        target.execute("SET TIME ZONE 'UTC'")  # SQLite holds naive UTC times
        for table in tables:
            started = time.perf_counter()
            columns = [column.name for column in table.columns]
            quoted = ", ".join(f'"{name}"' for name in columns)
            rows = source.execute(f'SELECT {quoted} FROM "{table.name}"')
            count = 0
            with target.cursor() as cursor, cursor.copy(
                    f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            target.commit()
            if count > 10_000:
                echo(f"  {table.name}: {count:,} rows copied in "
                     f"{time.perf_counter() - started:.1f} s")
    source.close()

    with psycopg.connect(psycopg_url(url), autocommit=True) as target:
        started = time.perf_counter()
        target.execute("SET maintenance_work_mem = '512MB'")
        for sql in index_sql:
            target.execute(sql)
        echo(f"  indexes built in {time.perf_counter() - started:.1f} s")
        for table in tables:
            if "id" in table.columns and table.columns["id"].autoincrement is not False:
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                    f"COALESCE((SELECT max(id) FROM \"{table.name}\"), 0) + 1, false)")
        started = time.perf_counter()
        target.execute("VACUUM (ANALYZE)")
        echo(f"  vacuumed and analysed in {time.perf_counter() - started:.1f} s")
