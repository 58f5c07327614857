"""The floor for webhook intake: a bare Flask route that stores the body as one row.

No sender check, no parsing, no ORM, no queue: one ``INSERT`` and a commit on a psycopg
connection kept per process. The dashboard's intake is compared with it in the same run.

    gunicorn -w 4 'bench.webhook_floor:create_floor_app()'    # FLOOR_DATABASE_URL=postgresql://...
"""
from __future__ import annotations

import os

import psycopg
from flask import Flask, request

TABLE = "bench_webhook_floor"


def create_floor_app(database_url: str | None = None) -> Flask:
    """Return the bare app; it opens its connection at the first request of each process."""
    url = database_url or os.environ["FLOOR_DATABASE_URL"]
    app = Flask(__name__)
    state = {}

    def connection() -> psycopg.Connection:
        if "connection" not in state or state["connection"].closed:
            state["connection"] = psycopg.connect(url)
        return state["connection"]

    @app.post("/webhooks/iamport")
    def store():
        conn = connection()
        conn.execute(f"INSERT INTO {TABLE} (body) VALUES (%s)", (request.get_data(),))
        conn.commit()
        return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app


def create_floor_table(database_url: str) -> None:
    """Create (or empty) the floor's one table."""
    with psycopg.connect(database_url) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, "
                     "received_at timestamptz NOT NULL DEFAULT now(), body bytea NOT NULL)")
        conn.execute(f"TRUNCATE {TABLE}")
