"""The webhook load run: the sandbox, gunicorn and two queue workers as real processes on
loopback, 8 senders.

``run_webhook_load(database_url, webhooks, workdir)`` starts the sandbox
(``flask --app dashboard sandbox``) and creates the schema (``flask --app dashboard init-db``),
makes ``webhooks`` paid payments at the sandbox for subscriptions our database knows, starts
``gunicorn -w 4`` on 127.0.0.1 and two ``flask --app dashboard worker`` processes, posts one
webhook per payment from 8 threads, then one of those webhooks 20 times more from the 8 senders
at once, waits until the workers have processed every event, and returns what it measured.
Every process it starts is stopped by its pid when it returns.
"""
from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from dashboard import create_app
from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.iamport import IamportClient
from dashboard.iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET
from dashboard.models import CreditEntry, Payment, Plan, Subscription, WebhookEvent
from tests.conftest import empty_all_tables

SENDERS = 8
WORKERS = 4
QUEUE_WORKERS = 2
SUBSCRIPTIONS = 50
# After the run, one webhook is posted this many times more, by the same 8 senders at once.
REPLAYS = 20
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LoadResult:
    """What one load run sent, measured and found in the database afterwards."""

    webhooks: int
    seconds: float
    statuses: Counter
    latencies_ms: list[float] = field(repr=False)
    replay_statuses: Counter = field(default_factory=Counter)
    events: int = 0
    events_processed: int = 0
    payments: int = 0
    distinct_imp_uids: int = 0
    credit_grants: int = 0
    credited_payments: int = 0
    periods_ok: bool = False
    # From the first post until the workers had processed every event.
    processing_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.webhooks / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def report(self) -> str:
        return "\n".join([
            (f"webhooks posted: {self.webhooks} from {SENDERS} senders into gunicorn "
             f"-w {WORKERS} on PostgreSQL (loopback)"),
            f"elapsed: {self.seconds:.1f} s; rate: {self.rate:.0f} webhooks/s",
            (f"latency: median {statistics.median(self.latencies_ms):.0f} ms, "
             f"p95 {self.percentile(0.95):.0f} ms, max {max(self.latencies_ms):.0f} ms"),
            f"answers: {dict(sorted(self.statuses.items()))}",
            (f"then one webhook {REPLAYS} times more from {SENDERS} senders: "
             f"{dict(sorted(self.replay_statuses.items()))}"),
            f"stored events: {self.events}, processed: {self.events_processed}",
            (f"processed by {QUEUE_WORKERS} workers {self.processing_seconds:.1f} s after the "
             f"first post: {self.events_processed / max(self.processing_seconds, 1e-9):.0f} "
             f"events/s"),
            f"payment rows: {self.payments}, distinct imp_uids: {self.distinct_imp_uids}",
            f"credit grants: {self.credit_grants} for {self.credited_payments} payments",
            f"every subscription at its last period: {self.periods_ok}",
            f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        ])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {seconds} s")


@contextmanager
def process(args: list[str], env: dict, log: Path):
    """Run a command in its own process group; stop that group (by pid) on exit."""
    with log.open("wb") as output:
        child = subprocess.Popen(args, env=env, cwd=PROJECT_ROOT, stdout=output,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield child
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()


@contextmanager
def queue_workers(env: dict, workdir: Path, count: int = QUEUE_WORKERS):
    """Run ``count`` queue workers (``flask --app dashboard worker``) as processes."""
    command = [sys.executable, "-m", "flask", "--app", "dashboard", "worker"]
    with ExitStack() as stack:
        for n in range(count):
            stack.enter_context(process([*command, "--name", f"worker-{n + 1}"], env,
                                        workdir / f"worker-{n + 1}.log"))
        yield


def dashboard_env(database_url: str, sandbox_url: str, workdir: Path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("IAMPORT_", "DATABASE_URL", "BILLING_MODE"))}
    env.update({
        "SECRET_KEY": "load-test-secret-key-" + "x" * 32,  # 32+ characters outside tests
        "DATABASE_URL": database_url,
        "IAMPORT_API_URL": sandbox_url,
        "IAMPORT_IMP_KEY": DEFAULT_IMP_KEY,
        "IAMPORT_IMP_SECRET": DEFAULT_IMP_SECRET,
        "BILLING_MODE": "again",  # periods are charged by the run itself, not by schedules
        "DASHBOARD_INSTANCE_PATH": str(workdir / "instance"),
    })
    return env


def seed(app, client: IamportClient, webhooks: int) -> list[dict]:
    """Create subscriptions here and their paid periods at the sandbox; return the bodies."""
    with app.app_context():
        empty_all_tables()
        db.session.add(Plan(code="load", name="부하 시험", amount=9900, credits_per_period=10))
        db.session.commit()
        owners = {}
        for n in range(SUBSCRIPTIONS):
            client.issue_billing_key(f"load_{n}", card_number="5570-4200-0007-7221",
                                     expiry="2030-12", birth="900101", pwd_2digit="12")
            owners[intake.start_subscription(f"load_{n}", plan_code="load").id] = f"load_{n}"
    ids = sorted(owners)
    charges = [(ids[i % SUBSCRIPTIONS], i // SUBSCRIPTIONS + 1) for i in range(webhooks)]

    def charge(item):
        sub_id, period = item
        paid = client.pay_again(customer_uid=owners[sub_id],
                                merchant_uid=f"sub{sub_id}-p{period}-a1", amount=9900,
                                name="부하 시험")
        assert paid.status == "paid"
        return {"imp_uid": paid.imp_uid, "merchant_uid": paid.merchant_uid, "status": "paid"}

    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(charge, charges))
    random.Random(2026).shuffle(bodies)  # arrival order is not charge order
    return bodies


def send(url: str, bodies: list[dict], deadline: float) -> tuple[Counter, list[float], float]:
    """Post every body once from SENDERS threads; return statuses, latencies and seconds."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    statuses: Counter = Counter()
    latencies: list[float] = []

    def sender():
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            started = time.perf_counter()
            try:
                status = session.post(url, json=body, timeout=30).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                statuses[status] += 1
                latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, latencies, time.perf_counter() - started


def wait_until_processed(app, expected: int, deadline: float) -> None:
    """Wait until ``expected`` events are no longer waiting (processed, ignored or failed)."""
    with app.app_context():
        while time.monotonic() < deadline:
            settled = db.session.scalar(db.select(db.func.count(WebhookEvent.id)).where(
                WebhookEvent.state != "received"))
            db.session.rollback()
            if settled >= expected:
                return
            time.sleep(0.2)


def inspect(app, result: LoadResult, bodies: list[dict]) -> None:
    """Count what the database holds after the run."""
    periods = Counter(body["merchant_uid"].split("-")[0] for body in bodies)
    with app.app_context():
        count = db.func.count
        result.events = db.session.scalar(db.select(count(WebhookEvent.id)))
        result.events_processed = db.session.scalar(
            db.select(count(WebhookEvent.id)).where(WebhookEvent.state == "processed"))
        result.payments = db.session.scalar(db.select(count(Payment.id)))
        result.distinct_imp_uids = db.session.scalar(
            db.select(count(db.distinct(Payment.imp_uid))).where(Payment.status == "paid"))
        grants = db.select(CreditEntry).where(CreditEntry.reason == "period_paid").subquery()
        result.credit_grants = db.session.scalar(db.select(count()).select_from(grants))
        result.credited_payments = db.session.scalar(
            db.select(count(db.distinct(grants.c.payment_id))))
        result.periods_ok = all(
            sub.current_period == periods[f"sub{sub.id}"]
            for sub in db.session.scalars(db.select(Subscription)))


def run_webhook_load(database_url: str, webhooks: int, workdir: Path,
                     time_limit: float = 600) -> LoadResult:
    """Run the whole load test and return its measurements (see the module docstring)."""
    sandbox_port, dashboard_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = dashboard_env(database_url, sandbox_url, workdir)
    flask = [sys.executable, "-m", "flask", "--app", "dashboard"]
    subprocess.run([*flask, "init-db"], env=env, cwd=PROJECT_ROOT, check=True,
                   capture_output=True)
    with process([*flask, "sandbox", "--port", str(sandbox_port), "--no-run-schedules"], env,
                 workdir / "sandbox.log") as sandbox:
        wait_until_up(f"{sandbox_url}/_sandbox/state", sandbox)
        client = IamportClient(sandbox_url, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET)
        app = create_app({"TESTING": True, "SECRET_KEY": "load", "DATABASE_URL": database_url,
                          "IAMPORT_API_URL": sandbox_url, "IAMPORT_IMP_KEY": DEFAULT_IMP_KEY,
                          "IAMPORT_IMP_SECRET": DEFAULT_IMP_SECRET, "BILLING_MODE": "again"})
        bodies = seed(app, client, webhooks)
        gunicorn = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b",
                    f"127.0.0.1:{dashboard_port}", "--timeout", "60", "dashboard:create_app()"]
        with process(gunicorn, env, workdir / "gunicorn.log") as server, \
                queue_workers(env, workdir):
            wait_until_up(f"http://127.0.0.1:{dashboard_port}/healthz", server)
            url = f"http://127.0.0.1:{dashboard_port}/webhooks/iamport"
            first_post = time.monotonic()
            statuses, latencies, seconds = send(url, bodies, first_post + time_limit)
            replays, _, _ = send(url, [bodies[0]] * REPLAYS, time.monotonic() + 60)
            wait_until_processed(app, webhooks + REPLAYS, first_post + time_limit)
            processing_seconds = time.monotonic() - first_post
        result = LoadResult(webhooks, seconds, statuses, latencies, replays,
                            processing_seconds=processing_seconds)
        inspect(app, result, bodies)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result
