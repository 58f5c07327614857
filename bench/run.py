"""Measure the console's pages against Flask-Admin and a bare floor on one large database.

    python -m bench.run                                   # 300k payments, 20k customers
    python -m bench.run --payments 5000000 --customers 100000

See ``bench/README.md`` for what is measured and how to read the ratios.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

if __package__ in (None, ""):  # run as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from .bare import BareBaseline
from .data import ensure_database
from .pages import (
    CUSTOMER_ROW,
    PageClient,
    Targets,
    choose_targets,
    console_client,
    next_page_link,
    peer_client,
)
from .report import markdown, print_table
from .timing import Budget, Measurement, interleave

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
DEEP_PAGE = 10


@dataclass
class Case:
    """One thing to time: a page of one side, or the floor."""

    key: str
    label: str
    side: str
    call: Callable[[], object]
    pages: PageClient | None = None
    note: str = ""
    # Rows a streamed export delivers per call (reported as rows per second); 0 for pages.
    rows: int = 0


def search_url(path: str, **query) -> str:
    return f"{path}?{urlencode(query)}"


def console_cases(pages: PageClient, targets: Targets, csv_rows: int) -> list[Case]:
    """Return the console's pages: lists, every kind of search, a customer, the overview, CSV."""
    first = pages.get("/payments", expect="after=")
    deep_url = "/payments"
    page_html = first
    for _ in range(DEEP_PAGE - 1):
        deep_url = next_page_link(page_html)
        page_html = pages.get(deep_url, expect="after=")
    searches = [
        ("search_merchant_uid", "Customer search: merchant_uid (exact)", targets.merchant_uid,
         targets.customer_uid),
        ("search_imp_uid", "Customer search: imp_uid (exact)", targets.imp_uid,
         targets.customer_uid),
        ("search_customer_uid", "Customer search: customer_uid (exact)", targets.customer_uid,
         targets.customer_uid),
        ("search_name", f"Customer search: name prefix {targets.name_prefix!r}",
         targets.name_prefix, CUSTOMER_ROW),
        ("search_surname", f"Customer search: surname only {targets.name[0]!r}",
         targets.name[0], CUSTOMER_ROW),
        ("search_email", "Customer search: email", targets.email, targets.customer_uid),
        ("search_phone", f"Customer search: phone {targets.phone_typed!r}", targets.phone_typed,
         targets.customer_uid),
    ]
    timeline_url = f"/customers/{targets.customer_id}/timeline"
    older_timeline_url = next_page_link(pages.get(timeline_url, expect="after="), timeline_url)
    csv_url = search_url("/payments.csv", **{"from": targets.csv_from.isoformat(),
                                             "to": targets.csv_to.isoformat()})
    wanted_rows = min(csv_rows, targets.csv_month_rows)

    def page(url, expect):
        return lambda: pages.get(url, expect=expect)

    def csv_export():
        got = pages.stream_rows(csv_url, wanted_rows)
        if got != wanted_rows:
            raise AssertionError(f"{csv_url} gave {got} rows, expected {wanted_rows}")

    cases = [
        Case("payments_first", "Payments list, first page", "ours",
             page("/payments", "after="), pages, "50 rows"),
        Case("payments_deep", f"Payments list, page {DEEP_PAGE} (after cursor)", "ours",
             page(deep_url, "after="), pages, "50 rows"),
        Case("customers_first", "Customers list, first page", "ours",
             page("/customers", CUSTOMER_ROW), pages, "50 rows"),
    ]
    for key, label, q, expect in searches:
        cases.append(Case(key, label, "ours", page(search_url("/customers", q=q), expect), pages))
    cases += [
        Case("customer_detail", "Customer detail page", "ours",
             page(f"/customers/{targets.customer_id}", targets.customer_uid), pages,
             f"{targets.customer_payments} payments"),
        Case("customer_timeline", "Customer timeline page", "ours",
             page(timeline_url, "timeline?after="), pages, "50 events"),
        Case("customer_timeline_older", "Customer timeline, second page (after cursor)",
             "ours", page(older_timeline_url, targets.customer_uid), pages, "50 events"),
        Case("payment_detail", "Payment detail page", "ours",
             page(f"/payments/{targets.payment_id}", targets.merchant_uid), pages),
        Case("subscription_detail", "Subscription detail page", "ours",
             page(f"/subscriptions/{targets.subscription_id}", targets.customer_uid), pages),
        # What the pages above cannot go below: sign-in, the session, the layout.
        Case("signed_in_least", "Signed-in page with no records (search, nothing typed)",
             "ours", page("/search", "imp_uid, merchant_uid"), pages),
        Case("subscriptions_first", "Subscriptions list, first page", "ours",
             page("/subscriptions", "after="), pages, "50 rows"),
        Case("schedules_first", "Schedules list, first page", "ours",
             page("/schedules", "after="), pages, "50 rows"),
        Case("events_first", "Webhook events list, first page", "ours",
             page("/webhook-events", "after="), pages, "50 rows"),
        # Lists filtered by a rare value: a page read from the value's index, not the list.
        Case("payments_partly_refunded", "Payments list, partly refunded", "ours",
             page("/payments?status=partially_refunded", "after="), pages, "50 rows"),
        Case("subscriptions_paused", "Subscriptions list, paused", "ours",
             page("/subscriptions?status=paused", "after="), pages, "50 rows"),
        Case("customers_past_due", "Customers list, past due", "ours",
             page("/customers?status=past_due", "after="), pages, "50 rows"),
        Case("payments_by_amount", "Payments list, 50,000 won or more", "ours",
             page("/payments?min_amount=50000", "after="), pages, "50 rows"),
        Case("audit_first", "Audit log, first page", "ours",
             page("/admin/audit", "after="), pages, "50 rows"),
        Case("audit_staff", "Audit log, staff actions", "ours",
             page("/admin/audit?action=staff", "staff.sign_in"), pages),
        Case("setup", "Setup page", "ours", page("/admin/setup", 'id="webhook-received"'),
             pages),
        Case("overview", "Overview page", "ours", page("/", None), pages),
        Case("csv_month", f"Payments CSV {targets.csv_from:%Y-%m}: first {wanted_rows:,} rows",
             "ours", csv_export, pages,
             f"{targets.csv_month_rows:,} rows in the month; streamed", rows=wanted_rows),
    ]
    return cases


def peer_cases(peer: PageClient, targets: Targets) -> list[Case]:
    """Return Flask-Admin's list pages and searches."""

    def page(url, expect):
        return lambda: peer.get(url, expect=expect)

    return [
        Case("peer_payments", "Flask-Admin: payments list", "peer",
             page("/admin/payment/", "col-merchant_uid"), peer, "20 rows + COUNT(*)"),
        Case("peer_payments_50", "Flask-Admin: payments list, 50 rows", "peer",
             page("/admin/payment/?page_size=50", "col-merchant_uid"), peer,
             "50 rows + COUNT(*)"),
        Case("peer_customers", "Flask-Admin: customers list", "peer",
             page("/admin/customer/", "col-customer_uid"), peer, "20 rows + COUNT(*)"),
        Case("peer_customers_50", "Flask-Admin: customers list, 50 rows", "peer",
             page("/admin/customer/?page_size=50", "col-customer_uid"), peer,
             "50 rows + COUNT(*)"),
        Case("peer_search_merchant_uid_lean", "Flask-Admin: payments search merchant_uid "
             "(uids only)", "peer",
             page(search_url("/admin/payment_uids/", search=targets.merchant_uid),
                  targets.merchant_uid), peer),
        Case("peer_search_merchant_uid", "Flask-Admin: payments search merchant_uid "
             "(uids + customer fields)", "peer",
             page(search_url("/admin/payment/", search=targets.merchant_uid),
                  targets.merchant_uid), peer),
        Case("peer_search_name", f"Flask-Admin: customers search {targets.name_prefix!r}",
             "peer",
             page(search_url("/admin/customer/", search=targets.name_prefix),
                  "col-customer_uid"), peer),
        Case("peer_search_surname", f"Flask-Admin: customers search {targets.name[0]!r}",
             "peer",
             page(search_url("/admin/customer/", search=targets.name[0]), "col-customer_uid"),
             peer),
    ]


def bare_cases(bare: BareBaseline) -> list[Case]:
    """Return the floor: the raw keyset query plus a 50-row table, first page and page 10."""
    deep = bare.cursor_of_page(DEEP_PAGE)
    note = f"{'sqlite3' if bare.placeholder == '?' else 'psycopg'} + jinja2 only"
    return [
        Case("bare_first", "Bare keyset query + 50-row Jinja table", "bare",
             lambda: bare.page(None), note=note),
        Case("bare_deep", f"Bare keyset query + table, page {DEEP_PAGE}", "bare",
             lambda: bare.page(deep), note=note),
    ]


def measure(cases: list[Case], budget: Budget, echo=print) -> list[Measurement]:
    """Time every case in interleaved rounds, then record one more run's statements each."""
    by_key = {case.key: case for case in cases}

    def report(key: str, samples: list[float]) -> None:
        done = Measurement(key, by_key[key].label, by_key[key].side, samples)
        echo(f"  {done.label}: median {done.median:.1f} ms, p95 {done.p95:.1f} ms "
             f"({done.reps} reps)")

    cpu: dict[str, list[float]] = {}
    samples = interleave({case.key: case.call for case in cases}, budget, on_done=report,
                         cpu=cpu)
    measurements = []
    for case in cases:
        measurement = Measurement(case.key, case.label, case.side, samples[case.key],
                                  note=case.note, is_page=not case.rows,
                                  cpu_samples_ms=cpu[case.key])
        if case.rows:
            rate = f"{case.rows / measurement.median * 1000:,.0f} rows/s"
            measurement.note = f"{case.note}; {rate}" if case.note else rate
        if case.pages is not None:
            measurement.statements = case.pages.statements_of(case.call)
        measurements.append(measurement)
    return measurements


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Time the console's pages against Flask-Admin and a bare floor.",
    )
    parser.add_argument("--payments", type=int, default=300_000,
                        help="payments in the database (default 300000; the full run: 5000000)")
    parser.add_argument("--customers", type=int, default=20_000,
                        help="customers in the database (default 20000; the full run: 100000)")
    parser.add_argument("--full", action="store_true",
                        help="shorthand for --payments 5000000 --customers 100000")
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the data")
    parser.add_argument("--rebuild", action="store_true",
                        help="build the database again even if a cached one exists")
    parser.add_argument("--reps", type=int, default=60, help="most repetitions per page")
    parser.add_argument("--min-reps", type=int, default=5, help="fewest repetitions per page")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="time per page after which repetitions stop (past --min-reps)")
    parser.add_argument("--csv-rows", type=int, default=10_000,
                        help="CSV rows to read from the month's export")
    parser.add_argument("--slow-ms", type=float, default=50.0,
                        help="pages slower than this get their query plans in the results")
    parser.add_argument("--database-url", default="",
                        help="measure on this PostgreSQL database (postgresql://…), loaded "
                        "once with COPY from the SQLite file of the same data")
    parser.add_argument("--copies", type=int, default=1,
                        help="with --database-url: load the data this many times over, each "
                        "copy with its own ids and codes (--full --copies 4: 20M payments)")
    parser.add_argument("--skip-peer", action="store_true", help="do not time Flask-Admin")
    parser.add_argument("--only", default="",
                        help="comma-separated measurement keys to run (e.g. payments_first)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help=f"where to write the Markdown results (default {RESULTS})")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.full:
        args.payments, args.customers = 5_000_000, 100_000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    budget = Budget(min_reps=args.min_reps, max_reps=args.reps, seconds=args.seconds)
    data = ensure_database(args.payments, args.customers, seed=args.seed, rebuild=args.rebuild)
    if args.database_url:
        from .postgres import ensure_postgres

        data = ensure_postgres(data, args.database_url, rebuild=args.rebuild,
                               copies=args.copies)
    targets = choose_targets(data.path)
    print(f"Targets: payment {targets.merchant_uid} / {targets.imp_uid}, customer "
          f"{targets.customer_uid} ({targets.name}, {targets.customer_payments} payments)")

    cases = console_cases(console_client(data), targets, args.csv_rows)
    if not args.skip_peer:
        cases += peer_cases(peer_client(data), targets)
    bare = BareBaseline(data.path, database_url=data.url if data.is_postgres else None)
    cases += bare_cases(bare)
    if args.only:
        wanted = {key.strip() for key in args.only.split(",")}
        cases = [case for case in cases if case.key in wanted]

    print(f"Timing {len(cases)} pages ({budget.min_reps}-{budget.max_reps} reps, "
          f"{budget.seconds:g} s each, in interleaved rounds):")
    load_before = os.getloadavg()[0]
    measurements = measure(cases, budget)
    load_after = os.getloadavg()[0]
    bare.close()
    print_table(measurements)

    if not args.no_write:
        command = "python -m bench.run " + " ".join(
            shlex.quote(arg) for arg in (argv if argv is not None else sys.argv[1:]))
        notes = [
            (f"Searches look for payment `{targets.merchant_uid}` / `{targets.imp_uid}` and "
             f"its customer `{targets.customer_uid}`; the name prefix `{targets.name_prefix}` "
             "is the first two letters of that customer's name."),
            ("The console pages run as a signed-in admin in Korean, with CSRF on; Flask-Admin "
             "runs without sign-in and pages 20 rows (its default) against the console's 50; "
             "its lists are also timed at 50 rows."),
            "p95 is nearest-rank: with few repetitions it is the slowest one.",
            (f"Load average (1 min) {load_before:.1f} before and {load_after:.1f} after timing "
             f"on {os.cpu_count()} cores: the machine is shared, so absolute times move "
             "between runs; each page's repetitions are spread over the whole run in rounds, "
             "so the ratios compare pages under the same load."),
            ("PostgreSQL was vacuumed and analysed after the bulk load, as autovacuum does "
             "on a live database soon after one." if data.is_postgres else
             "The database is not ANALYZEd (the application never runs ANALYZE), so SQLite "
             "plans without statistics, as it would in a deployment."),
        ]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(markdown(data, measurements, slow_ms=args.slow_ms,
                                        command=command.strip(), notes=notes))
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
