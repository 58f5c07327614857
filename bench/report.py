"""Print the results as a table and write them as Markdown (``bench/results/latest.md``)."""
from __future__ import annotations

import os
import platform
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata

from .data import BenchData
from .sqlplan import short_sql
from .timing import Measurement


@dataclass(frozen=True)
class Pair:
    """Two measurements of the same job; the ratio is ``numerator / denominator``."""

    label: str
    numerator: str
    denominator: str


# Comparable pages: Flask-Admin over the console (above 1 means the console is faster).
PEER_PAIRS = [
    Pair("Payments list, first page (peer: 20 rows)", "peer_payments", "payments_first"),
    Pair("Payments list, first page (both 50 rows)", "peer_payments_50", "payments_first"),
    Pair("Customers list, first page (peer: 20 rows)", "peer_customers", "customers_first"),
    Pair("Customers list, first page (both 50 rows)", "peer_customers_50", "customers_first"),
    Pair("Search by merchant_uid (peer: uids only)", "peer_search_merchant_uid_lean",
         "search_merchant_uid"),
    Pair("Search by merchant_uid (peer: uids and customer fields)", "peer_search_merchant_uid",
         "search_merchant_uid"),
    Pair("Search by name prefix (two letters)", "peer_search_name", "search_name"),
    Pair("Search by surname (one letter)", "peer_search_surname", "search_surname"),
]
# The console over the floor (how much the full stack adds to the minimum).
BARE_PAIRS = [
    Pair("Payments list, first page", "payments_first", "bare_first"),
    Pair("Payments list, page 10", "payments_deep", "bare_deep"),
    Pair("Customers list, first page", "customers_first", "bare_first"),
    Pair("Subscriptions list, first page", "subscriptions_first", "bare_first"),
    Pair("Schedules list, first page", "schedules_first", "bare_first"),
    Pair("Webhook events list, first page", "events_first", "bare_first"),
    Pair("Payments list, partly refunded", "payments_partly_refunded", "bare_first"),
    Pair("Subscriptions list, paused", "subscriptions_paused", "bare_first"),
    Pair("Customers list, past due", "customers_past_due", "bare_first"),
    Pair("Payments list, 50,000 won or more", "payments_by_amount", "bare_first"),
    Pair("Audit log, first page", "audit_first", "bare_first"),
    Pair("Audit log, staff actions", "audit_staff", "bare_first"),
    Pair("Customer search: merchant_uid", "search_merchant_uid", "bare_first"),
    Pair("Customer search: name prefix", "search_name", "bare_first"),
    Pair("Customer detail", "customer_detail", "bare_first"),
    Pair("Customer timeline", "customer_timeline", "bare_first"),
    Pair("Customer timeline, second page", "customer_timeline_older", "bare_deep"),
    Pair("Payment detail", "payment_detail", "bare_first"),
    Pair("Subscription detail", "subscription_detail", "bare_first"),
    Pair("Setup page", "setup", "bare_first"),
    Pair("Signed-in page, no records", "signed_in_least", "bare_first"),
]


def machine() -> dict[str, str]:
    """Describe the machine and the versions that matter for the figures."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo
                          if line.startswith("model name")), "")
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
            memory = f"{kib / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "—"

    return {
        "cores": str(os.cpu_count()),
        "cpu": model or platform.processor() or "?",
        "memory": memory or "?",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "versions": ", ".join(f"{name} {version(name)}" for name in (
            "flask", "sqlalchemy", "flask-sqlalchemy", "jinja2", "wtforms", "flask-admin")),
    }


def database_label(data: BenchData) -> str:
    if not data.is_postgres:
        return "SQLite"
    import psycopg

    from .postgres import psycopg_url

    with psycopg.connect(psycopg_url(data.url)) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    return f"PostgreSQL {version.split()[0]} (loaded with COPY from the SQLite file)"


def by_key(measurements: list[Measurement]) -> dict[str, Measurement]:
    return {measurement.key: measurement for measurement in measurements}


def ratio_rows(measurements: list[Measurement], pairs: list[Pair]):
    found = by_key(measurements)
    for pair in pairs:
        top, bottom = found.get(pair.numerator), found.get(pair.denominator)
        if top and bottom:
            yield pair, top, bottom, top.median / bottom.median, top.p95 / bottom.p95


def cpu_ratio(top: Measurement, bottom: Measurement) -> float:
    return top.cpu_median / bottom.cpu_median if bottom.cpu_median else float("nan")


def padded(text: str, width: int) -> str:
    """Left-align ``text`` in ``width`` terminal columns (Hangul takes two)."""
    columns = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
    return text + " " * max(width - columns, 0)


def print_table(measurements: list[Measurement], echo=print) -> None:
    """Print every measurement and the ratios."""
    width = max(len(m.label) for m in measurements) + 4
    echo(f"\n{padded('measurement', width)}  {'side':<4}  {'median ms':>9}  {'p95 ms':>8}  "
         f"{'CPU ms':>7}  {'reps':>4}  {'SQL':>3}")
    for m in measurements:
        echo(f"{padded(m.label, width)}  {m.side:<4}  {m.median:9.1f}  {m.p95:8.1f}  "
             f"{m.cpu_median:7.2f}  {m.reps:4d}  {len(m.statements) or '':>3}")
    for title, pairs in (("Flask-Admin / console", PEER_PAIRS),
                         ("Console / bare floor", BARE_PAIRS)):
        rows = list(ratio_rows(measurements, pairs))
        if rows:
            echo(f"\n{title} (median, p95):")
        for pair, top, bottom, median, p95 in rows:
            echo(f"  {pair.label}: {median:.1f}x, {p95:.1f}x (CPU {cpu_ratio(top, bottom):.1f}x)")


def markdown(data: BenchData, measurements: list[Measurement], *, slow_ms: float,
             command: str, notes: list[str]) -> str:
    """Return the results page."""
    info = machine()
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`.",
        "",
        "| | |",
        "|---|---|",
        f"| payments | {data.payments:,} |",
        f"| customers | {data.customers:,} |",
        f"| subscriptions | {data.subscriptions:,} |",
        f"| refunds | {data.refunds:,} |",
        f"| waiting schedules | {data.schedules:,} |",
        (f"| database | {database_label(data)}, {data.size_bytes / 2**20:,.0f} MiB, "
         f"{'loaded' if data.is_postgres else 'built'} in {data.seconds_to_build:.0f} s |"),
        f"| machine | {info['cores']} cores ({info['cpu']}), {info['memory']} |",
        f"| software | Python {info['python']}, SQLite {info['sqlite']}; {info['versions']} |",
        "",
        "## Pages",
        "",
        "Milliseconds per request through Flask's test client (no network), after a warm-up.",
        "`SQL` is the number of statements one request ran; `SQL ms` is their time when each",
        "is run again alone and fetched in full (the rest of a page's time is Python: ORM,",
        "templates, Flask).",
        "",
        "`CPU ms` is this process's CPU time per request (median): on a busy machine it leaves",
        "out the time spent waiting for a core (and, on PostgreSQL, the server's own work).",
        "",
        "| measurement | side | median ms | p95 ms | CPU ms | reps | SQL | SQL ms | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in measurements:
        statements = str(len(m.statements)) if m.statements else ""
        sql_ms = f"{m.sql_ms:.1f}" if m.statements else ""
        lines.append(f"| {m.label} | {m.side} | {m.median:.1f} | {m.p95:.1f} | "
                     f"{m.cpu_median:.2f} | {m.reps} | {statements} | {sql_ms} | {m.note} |")
    lines += [
        "",
        "## Ratios",
        "",
        "Flask-Admin over the console: above 1 means the console answers faster.",
        "",
        "| page | Flask-Admin median | console median | ratio (median) | ratio (p95) |",
        "|---|---:|---:|---:|---:|",
    ]
    for pair, other, ours, median, p95 in ratio_rows(measurements, PEER_PAIRS):
        lines.append(f"| {pair.label} | {other.median:.1f} ms | {ours.median:.1f} ms | "
                     f"{median:.1f}× | {p95:.1f}× |")
    lines += [
        "",
        "The console over the bare floor (raw keyset query + a 50-row Jinja table): what the",
        "rest of the stack (routing, session, ORM, translations, the page layout) costs.",
        "",
        "| page | console median | floor median | ratio (median) | ratio (p95) | ratio (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for pair, ours, bare, median, p95 in ratio_rows(measurements, BARE_PAIRS):
        lines.append(f"| {pair.label} | {ours.median:.1f} ms | {bare.median:.2f} ms | "
                     f"{median:.1f}× | {p95:.1f}× | {cpu_ratio(ours, bare):.1f}× |")
    slow = [m for m in measurements if m.is_page and m.median > slow_ms and m.statements]
    lines += ["", f"## Pages slower than {slow_ms:g} ms", ""]
    if not slow:
        lines.append("None.")
    for m in slow:
        lines += [f"### {m.label} ({m.side}): {m.median:.0f} ms", ""]
        # The statements that make up the page's time (at most six), slowest first.
        share = max(m.sql_ms * 0.05, 1.0)
        for statement in [st for st in m.statements if st.ms >= share][:6] or m.statements[:1]:
            lines += [
                f"{statement.ms:.1f} ms:",
                "",
                "```sql",
                short_sql(statement.sql),
                "```",
                "",
                "```",
                *(statement.plan or ["(not a SELECT)"]),
                "```",
                "",
            ]
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes]]
    return "\n".join(lines).rstrip() + "\n"
