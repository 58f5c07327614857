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

from .data import ANCHOR, BenchData, fill_rollups

MARKER = "bench_source"


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def psycopg_url(url: str) -> str:
    for scheme in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql://" + url[len(scheme):]
    return url


def ensure_postgres(data: BenchData, url: str, *, rebuild: bool = False, copies: int = 1,
                    echo=print) -> BenchData:
    """Return ``data`` as held by the PostgreSQL database at ``url``, loading it if needed.

    With ``copies`` above 1 the data is loaded that many times over (see ``replicate``).
    """
    import psycopg

    source = data.path.name + (f" x{copies}" if copies > 1 else "")
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
                return scaled(data, copies, database_url=url, seconds_to_build=row[1],
                              size_bytes=size)
    started = time.perf_counter()
    load(data, url, copies=copies, echo=echo)
    seconds = round(time.perf_counter() - started, 1)
    with psycopg.connect(psycopg_url(url), autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {MARKER} (source text, seconds real)")
        connection.execute(f"INSERT INTO {MARKER} VALUES (%s, %s)", (source, seconds))
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    echo(f"Loaded {database_name(url)} in {seconds:.0f} s ({size / 2**20:.0f} MiB).")
    return scaled(data, copies, database_url=url, seconds_to_build=seconds, size_bytes=size)


def scaled(data: BenchData, copies: int, **changes) -> BenchData:
    return replace(data, payments=data.payments * copies, customers=data.customers * copies,
                   subscriptions=data.subscriptions * copies, refunds=data.refunds * copies,
                   schedules=data.schedules * copies, **changes)


def load(data: BenchData, url: str, *, copies: int = 1, echo=print) -> None:
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
    if copies > 1:
        with psycopg.connect(psycopg_url(url)) as target:
            replicate(target, copies, echo=echo)

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
    if copies > 1:
        started = time.perf_counter()
        fill_rollups(url)
        echo(f"  rollups counted in {time.perf_counter() - started:.1f} s")
        with psycopg.connect(psycopg_url(url), autocommit=True) as target:
            target.execute("VACUUM (ANALYZE) day_rollup, plan_rollup")


# How each copy of a row differs from the original: ids move past the original's largest,
# and unique codes get the copy's number, so every copy is a separate merchant's worth of
# customers with the same history (the same days, so each day holds ``copies`` times the
# payments).
MERCHANT_UID = ("CASE WHEN {col} ~ '^sub[0-9]+-' THEN 'sub' || "
                "(substring({col} from '^sub([0-9]+)-')::bigint + {k} * {subscription}) || "
                "substring({col} from '^sub[0-9]+(-.*)$') ELSE {col} || 'x{k}' END")
REPLICA_COLUMNS = {
    "customer": {"id": "id + {k} * {customer}", "customer_uid": "customer_uid || 'x{k}'"},
    "subscription": {"id": "id + {k} * {subscription}",
                     "customer_id": "customer_id + {k} * {customer}"},
    "schedule": {"id": "id + {k} * {schedule}", "customer_id": "customer_id + {k} * {customer}",
                 "subscription_id": "subscription_id + {k} * {subscription}",
                 "merchant_uid": MERCHANT_UID.replace("{col}", "merchant_uid"),
                 "imp_uid": "'imp_{k}' || substr(imp_uid, 5)"},
    "payment": {"id": "id + {k} * {payment}", "customer_id": "customer_id + {k} * {customer}",
                "subscription_id": "subscription_id + {k} * {subscription}",
                "merchant_uid": MERCHANT_UID.replace("{col}", "merchant_uid"),
                "imp_uid": "'imp_{k}' || substr(imp_uid, 5)"},
    "refund": {"id": "id + {k} * {refund}", "payment_id": "payment_id + {k} * {payment}",
               "cancellation_id": "cancellation_id || 'x{k}'",
               "request_key": "request_key || 'x{k}'"},
    "audit_entry": {"id": "id + {k} * {audit_entry}",
                    "customer_id": "customer_id + {k} * {customer}",
                    "target_id": MERCHANT_UID.replace("{col}", "target_id")},
    "webhook_event": {"id": "id + {k} * {webhook_event}",
                      "merchant_uid": MERCHANT_UID.replace("{col}", "merchant_uid"),
                      "imp_uid": "'imp_{k}' || substr(imp_uid, 5)"},
}


def replicate(connection, copies: int, *, echo=print) -> None:
    """Add ``copies - 1`` copies of the loaded rows, each with its own ids and codes."""
    largest = {table: connection.execute(f'SELECT COALESCE(max(id), 0) FROM "{table}"')
               .fetchone()[0] for table in REPLICA_COLUMNS}
    for table, overrides in REPLICA_COLUMNS.items():
        columns = [row[0] for row in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position", (table,))]
        for k in range(1, copies):
            started = time.perf_counter()
            values = [overrides.get(column, f'"{column}"').replace("{k}", str(k))
                      .format(**{name: largest[name] for name in largest})
                      for column in columns]
            quoted = ", ".join(f'"{column}"' for column in columns)
            connection.execute(f'INSERT INTO "{table}" ({quoted}) '
                               f'SELECT {", ".join(values)} FROM "{table}" WHERE id <= '
                               f'{largest[table]}')
            connection.commit()
            echo(f"  {table}: copy {k} in {time.perf_counter() - started:.1f} s")
