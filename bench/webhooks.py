"""Measure webhook intake and processing on PostgreSQL, against a bare floor, in one run.

    python -m bench.webhooks --database-url postgresql://postgres@127.0.0.1:5432/bench

The database is emptied first. Everything runs as real processes on loopback, as deployed: the
sandbox (``flask --app dashboard sandbox``) as iamport, ``gunicorn -w 4`` and two
``flask --app dashboard worker`` processes. Eight sender threads post the webhooks.

1. **Floor**: ``gunicorn -w 4`` serving a bare Flask route that inserts the body as one row
   (``bench/webhook_floor.py``): the least an acknowledged webhook can cost here.
2. **Intake**: the same webhooks into the dashboard, no worker running: answers per second and
   answer times; the ratio to the floor.
3. **Processing**: two workers start and process the waiting events against the sandbox:
   events per second.
4. **Slow iamport**: the sandbox holds every payment look-up 6 s; more webhooks arrive while
   the workers run: every answer time. Then the delay is lifted and the run waits for the rest.
5. **Nothing lost**: every event processed, one payment row per payment, one credit grant per
   payment, every subscription at its last period.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import requests

if __package__ in (None, ""):  # run as ``python bench/webhooks.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from dashboard import create_app
from dashboard.extensions import db
from dashboard.iamport import IamportClient
from dashboard.iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET
from tests.reliability.load import (
    PROJECT_ROOT,
    SENDERS,
    WORKERS,
    LoadResult,
    dashboard_env,
    free_port,
    inspect,
    process,
    queue_workers,
    seed,
    send,
    wait_until_processed,
    wait_until_up,
)

from .webhook_floor import create_floor_table

RESULTS = Path(__file__).resolve().parent / "results" / "webhooks.md"
SLOW_SECONDS = 6.0


@dataclass
class Answers:
    """Answer statuses and times of one sending phase."""

    count: int
    seconds: float
    statuses: dict
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def row(self, name: str) -> str:
        return (f"| {name} | {self.count} | {self.rate:.0f}/s | "
                f"{statistics.median(self.latencies_ms):.1f} ms | {self.percentile(0.95):.1f} ms | "
                f"{max(self.latencies_ms):.1f} ms | {self.statuses} |")


def post_all(url: str, bodies: list[dict]) -> Answers:
    statuses, latencies, seconds = send(url, bodies, time.monotonic() + 900)
    return Answers(len(bodies), seconds, dict(statuses), latencies)


def gunicorn(app_spec: str, port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
            "--timeout", "60", app_spec]


def run(database_url: str, webhooks: int, slow_webhooks: int, workdir: Path) -> str:
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = dashboard_env(database_url, sandbox_url, workdir)
    flask = [sys.executable, "-m", "flask", "--app", "dashboard"]
    subprocess.run([*flask, "init-db"], env=env, cwd=PROJECT_ROOT, check=True,
                   capture_output=True)
    create_floor_table(database_url)
    with process([*flask, "sandbox", "--port", str(sandbox_port), "--no-run-schedules"], env,
                 workdir / "sandbox.log") as sandbox:
        wait_until_up(f"{sandbox_url}/_sandbox/state", sandbox)
        client = IamportClient(sandbox_url, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET)
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE_URL": database_url,
                          "IAMPORT_API_URL": sandbox_url, "IAMPORT_IMP_KEY": DEFAULT_IMP_KEY,
                          "IAMPORT_IMP_SECRET": DEFAULT_IMP_SECRET, "BILLING_MODE": "again"})
        print(f"seeding {webhooks + slow_webhooks} paid payments at the sandbox…", flush=True)
        bodies = seed(app, client, webhooks + slow_webhooks)
        main, late = bodies[:webhooks], bodies[webhooks:]

        print("floor…", flush=True)
        port = free_port()
        with process(gunicorn("bench.webhook_floor:create_floor_app()", port),
                     {**env, "FLOOR_DATABASE_URL": database_url}, workdir / "floor.log") as server:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
            floor = post_all(f"http://127.0.0.1:{port}/webhooks/iamport", main)

        print("intake…", flush=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhooks/iamport"
        with process(gunicorn("dashboard:create_app()", port), env,
                     workdir / "gunicorn.log") as server:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
            intake = post_all(url, main)

            print("processing…", flush=True)
            with queue_workers(env, workdir):
                started = time.monotonic()
                wait_until_processed(app, webhooks, started + 1800)
                processing_seconds = time.monotonic() - started

                print("slow iamport…", flush=True)
                requests.put(f"{sandbox_url}/_sandbox/faults", timeout=5, json={
                    "path": r"^/payments/imp_", "delay": SLOW_SECONDS, "count": 1_000_000})
                slow = post_all(url, late)
                slow_started = time.monotonic()
                time.sleep(3 * SLOW_SECONDS)  # let the workers meet the slow look-ups
                requests.delete(f"{sandbox_url}/_sandbox/faults", timeout=5)
                wait_until_processed(app, webhooks + slow_webhooks, slow_started + 1800)

        result = LoadResult(len(bodies), 0.0, intake.statuses, intake.latencies_ms)
        inspect(app, result, bodies)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

    return "\n".join([
        "# Webhook intake and processing (PostgreSQL)",
        "",
        (f"{SENDERS} sender threads, `gunicorn -w {WORKERS}`, 2 `flask --app dashboard worker` "
         f"processes, the sandbox as iamport, all on loopback; {os.cpu_count()} CPUs, "
         f"Python {sys.version.split()[0]}."),
        "",
        "| phase | webhooks | answered | median | p95 | max | answers |",
        "|---|---|---|---|---|---|---|",
        floor.row("floor: bare Flask route, one INSERT"),
        intake.row("dashboard intake (no worker running)"),
        slow.row(f"dashboard intake, iamport look-up held {SLOW_SECONDS:.0f} s, 2 workers busy"),
        "",
        (f"- intake / floor answer rate: {intake.rate / floor.rate:.2f} "
         f"(floor {floor.rate:.0f}/s, intake {intake.rate:.0f}/s)"),
        (f"- processing: {webhooks} waiting events processed by 2 workers in "
         f"{processing_seconds:.1f} s = {webhooks / processing_seconds:.0f} events/s"),
        f"- slowest answer while iamport was slow: {max(slow.latencies_ms):.0f} ms",
        (f"- nothing lost: {result.events} events stored, {result.events_processed} processed; "
         f"{result.payments} payment rows for {result.distinct_imp_uids} distinct imp_uids; "
         f"{result.credit_grants} credit grants for {result.credited_payments} payments; "
         f"every subscription at its last period: {result.periods_ok}"),
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True,
                        help="PostgreSQL database to use (emptied first)")
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--slow-webhooks", type=int, default=200)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with TemporaryDirectory() as folder:
        report = run(args.database_url, args.webhooks, args.slow_webhooks, Path(folder))
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
