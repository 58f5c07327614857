"""Compare the customer search's page statement with and without the first characters' indexes.

    python -m bench.search_lookups 이 이승 010 010-1 --full
    python -m bench.search_lookups 이승 --database-url postgresql://…/bench_20m

For each search the statement is built twice on the same database: as the console builds it
(a short name, e-mail or phone prefix looked up in its field's index of first characters)
and with every prefix a range of the field's own index, as before those indexes. Each runs
5 × 40 times, each call ending with ``ROLLBACK`` as a request does, and the least mean is
printed with the plan of its lookups and whether both gave the same customers.
"""
from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from unittest.mock import patch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from .data import ensure_database

ROUNDS, CALLS = 5, 40


def statement_and_parameters(q: str, heads: bool):
    """Return the search's first-page statement and its parameters, with or without heads."""
    from dashboard.models import Customer
    from dashboard.queries import paging
    from dashboard.queries.customers import CustomerFilters, customers_statement

    # Without heads, ``customer_search`` builds what it built before those indexes existed.
    lengths = paging.PREFIX_HEADS if heads else {field: () for field in paging.PREFIX_HEADS}
    with patch.dict(paging.PREFIX_HEADS, lengths):
        shape, parameters = paging.customer_search(q)
    statement = paging.any_match_page_statement(
        customers_statement(CustomerFilters(q=q), shape), Customer.created_at, Customer.id,
        False, True, 50)
    return statement, parameters


def lookup_plan(connection, compiled, parameters: dict, postgres: bool) -> list[str]:
    """Return the plan lines that name a customer index, and PostgreSQL's times."""
    sql = str(compiled)
    if postgres:
        rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", parameters).all()
        return [line.strip() for (line,) in rows
                if ("Index" in line and "ix_customer" in line) or "Time:" in line]
    rows = connection.exec_driver_sql(
        f"EXPLAIN QUERY PLAN {sql}", tuple(parameters[key] for key in compiled.positiontup)
    ).all()
    return [row[-1] for row in rows if "ix_customer" in row[-1]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_lookups")
    parser.add_argument("searches", nargs="+", help="what is typed in the search box")
    parser.add_argument("--full", action="store_true", help="5M payments, 100k customers")
    parser.add_argument("--database-url", default="",
                        help="an already loaded PostgreSQL benchmark database")
    args = parser.parse_args(argv)
    from dashboard import create_app
    from dashboard.extensions import db

    url = args.database_url
    if not url:
        payments, customers = (5_000_000, 100_000) if args.full else (300_000, 20_000)
        url = ensure_database(payments, customers).url
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32)})
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        for q in args.searches:
            found = {}
            for heads in (False, True):
                statement, parameters = statement_and_parameters(q, heads)
                compiled = statement.compile(db.engine)
                parameters = {**compiled.params, **parameters}
                found[heads] = db.session.connection().execute(statement, parameters).all()
                db.session.rollback()
                means = []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    for _ in range(CALLS):
                        db.session.connection().execute(statement, parameters).all()
                        db.session.rollback()
                    means.append((time.perf_counter() - started) / CALLS * 1000)
                plan = lookup_plan(db.session.connection(), compiled, parameters, postgres)
                db.session.rollback()
                print(f"{q!r} {'heads' if heads else 'ranges'}: {min(means):.3f} ms, "
                      f"{len(found[heads])} rows")
                for line in plan:
                    print(f"    {line}")
            print(f"    same customers: {found[False] == found[True]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
