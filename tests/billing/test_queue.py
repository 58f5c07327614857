"""The webhook queue: answered at once, processed once by a worker (PostgreSQL, procrastinate)
or by the web process's thread (SQLite), nothing lost between commit and queue, and the
periodic jobs deferred once per tick however many workers run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from dashboard import create_app
from dashboard.billing import intake, tasks
from dashboard.extensions import db
from dashboard.iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, create_sandbox_app
from dashboard.iamport.sandbox.server import start_in_thread
from dashboard.models import Payment, Subscription, WebhookEvent
from tests.billing.harness import event_states, fresh, state_of

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 150  # worker processes start slowly on a busy machine


def wait_for(check, what: str, timeout: float = WAIT_SECONDS):
    """Poll until ``check()`` is true (waiting on another thread or process, not timing it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def paid_webhook(app, sandbox, plan):
    """A subscription whose first charge ran at iamport while no webhook was delivered."""
    sandbox.webhook_session.adapters.pop("https://dashboard.test", None)
    sandbox.control("PUT", "/webhook", url="")
    sandbox.issue_key("cust_1", customer_name="이서연")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    sandbox.advance(120)
    [merchant_uid] = sandbox.run_due()
    payment = sandbox.client.find_payment(merchant_uid)
    return sub_id, {"imp_uid": payment.imp_uid, "merchant_uid": merchant_uid, "status": "paid"}


def jobs(*columns: str, queue: str = "webhooks") -> list[tuple]:
    """Return the queue's jobs (a worker also defers the periodic jobs into ``periodic``)."""
    db.session.commit()
    return [tuple(row) for row in db.session.execute(text(
        f"SELECT {', '.join(columns)} FROM procrastinate_jobs WHERE queue_name = :queue "
        "ORDER BY id"), {"queue": queue})]


def run_worker_until_idle(app, **options) -> None:
    """Run a procrastinate worker on the webhook queue until no job is due.

    A worker told not to wait stops when its next fetch finds nothing, which includes a job
    held back by another of the same customer running (the ``lock``): start it again then.
    """
    due = text("SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'webhooks' "
               "AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())")
    while True:
        tasks.run_worker(app, wait=False, install_signal_handlers=False, listen_notify=False,
                         queues=["webhooks"], delete_jobs="never", **options)
        db.session.commit()
        if not db.session.scalar(due):
            return


# --- PostgreSQL: procrastinate -------------------------------------------------------------


@pytest.mark.postgres
def test_a_webhook_is_queued_and_processed_once_when_a_worker_starts(app, sandbox, paid_webhook):
    sub_id, body = paid_webhook
    customer_id = fresh(Subscription, sub_id).customer_id
    asked = len(sandbox.control("GET", "/requests"))
    response = app.test_client().post("/webhooks/iamport", json=body)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok")
    # Answered without asking iamport; stored with its job, and nothing processed yet.
    assert len(sandbox.control("GET", "/requests")) == asked
    assert event_states() == ["received"]
    assert jobs("task_name", "status", "lock", "queueing_lock", "queue_name") == [
        ("process_webhook", "todo", f"customer-{customer_id}", "webhook-1", "webhooks")]
    assert fresh(Subscription, sub_id).current_period == 0
    # No worker was running; one starts and processes it.
    run_worker_until_idle(app)
    assert event_states() == ["processed"]
    assert jobs("status", "attempts") == [("succeeded", 1)]
    subscription = fresh(Subscription, sub_id)
    assert subscription.current_period == 1
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 1


@pytest.mark.postgres
def test_duplicates_queued_while_processing_is_asynchronous_apply_once(app, paid_webhook):
    sub_id, body = paid_webhook
    client = app.test_client()
    for _ in range(4):
        assert client.post("/webhooks/iamport", json=body).status_code == 200
    assert len(jobs("id")) == 4
    before = state_of(sub_id)
    run_worker_until_idle(app, concurrency=2)
    assert event_states() == ["processed"] * 4
    after = state_of(sub_id)
    assert after != before
    status, period, _end, failed, payments, schedules, credits = after
    assert (status, period, failed) == ("active", 1, 0)
    assert [p[1] for p in payments] == ["paid"] and len(schedules) == 1
    assert credits == [("period_paid", 100)]


@pytest.mark.postgres
def test_a_failed_look_up_is_retried_by_the_queue(app, sandbox, paid_webhook):
    sub_id, body = paid_webhook
    sandbox.fault(path=r"^/payments/imp_", status=503, count=2)
    assert app.test_client().post("/webhooks/iamport", json=body).status_code == 200
    run_worker_until_idle(app)
    assert event_states() == ["failed"]
    [(status, attempts, scheduled_at)] = jobs("status", "attempts", "scheduled_at")
    assert (status, attempts) == ("todo", 1) and scheduled_at is not None  # retried later
    db.session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
    db.session.commit()
    run_worker_until_idle(app)
    assert event_states() == ["processed"]
    assert fresh(Subscription, sub_id).current_period == 1


class FailingQueue:
    """A queue whose database call fails, as when the connection drops after the insert."""

    def store(self, values: dict) -> int:
        raise ConnectionError("the queue's database call failed")

    def notify(self) -> None:
        raise AssertionError("nothing was queued")


@pytest.mark.postgres
def test_the_sweep_queues_an_event_committed_but_never_queued(app, sandbox, paid_webhook):
    sub_id, body = paid_webhook
    real_queue = app.extensions["webhook_queue"]
    app.extensions["webhook_queue"] = FailingQueue()
    response = app.test_client().post("/webhooks/iamport", json=body)
    app.extensions["webhook_queue"] = real_queue
    # The sender is told ok: the event is stored, only its job is missing.
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok")
    assert event_states() == ["received"] and jobs("id") == []
    assert tasks.queue_lost_events() == 0  # too fresh: its job may still be on the way
    sandbox.advance(61)
    assert tasks.queue_lost_events() == 1
    assert tasks.queue_lost_events() == 0  # its job is waiting: not queued twice
    [event_id] = db.session.scalars(db.select(WebhookEvent.id)).all()
    assert jobs("task_name", "queueing_lock") == [("process_webhook", f"webhook-{event_id}")]
    run_worker_until_idle(app)
    assert event_states() == ["processed"]
    assert fresh(Subscription, sub_id).current_period == 1


def start_worker(database_url: str, sandbox_url: str, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "worker-test-secret-key-of-32-characters-or-more",
        "IAMPORT_API_URL": sandbox_url,
        "IAMPORT_IMP_KEY": DEFAULT_IMP_KEY,
        "IAMPORT_IMP_SECRET": DEFAULT_IMP_SECRET,
        "IAMPORT_WEBHOOK_TOKEN": "worker-test-token",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "dashboard", "worker", "--name", name,
         "--delete-jobs", "never"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def stop_worker(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@pytest.mark.postgres
@pytest.mark.timeout(600)  # two worker processes, each waited for up to WAIT_SECONDS
def test_two_workers_defer_each_periodic_job_once_per_tick(app, database_url):
    sandbox_app = create_sandbox_app(start_runner=False)
    sandbox_url, stop_sandbox = start_in_thread(sandbox_app)
    workers = [start_worker(database_url, sandbox_url, f"w{n}") for n in (1, 2)]
    periodic = {"sync", "charge_due", "resume_due", "sweep_webhooks"}
    try:
        wait_for(lambda: db.session.scalar(text(
            "SELECT count(*) FROM procrastinate_workers")) == 2 or db.session.rollback(),
            "both workers to register")

        def all_ran():
            db.session.rollback()
            done = {row[0] for row in db.session.execute(text(
                "SELECT task_name FROM procrastinate_jobs WHERE status = 'succeeded'"))}
            return periodic <= done

        wait_for(all_ran, "every periodic job to run")
    finally:
        outputs = [stop_worker(worker) for worker in workers]
        stop_sandbox()
    rows = jobs("task_name", "args->>'timestamp'", "status", "worker_id", queue="periodic")
    per_tick = Counter((task, tick) for task, tick, _status, _worker in rows)
    assert {task for task, _tick in per_tick} == periodic, outputs
    assert set(per_tick.values()) == {1}, (per_tick, outputs)
    assert {status for _task, _tick, status, _worker in rows} == {"succeeded"}, outputs
    # Both workers were up when the ticks were deferred: each registered itself.
    assert all("Worker started" in output for output in outputs), outputs


# --- SQLite: the web process's thread --------------------------------------------------------


@pytest.fixture
def sqlite_app_factory(tmp_path, sandbox):
    """Dashboards on their own SQLite file (whatever the run's database), sharing a sandbox."""
    url = f"sqlite:///{tmp_path / 'thread.sqlite'}"
    made = []

    def make(*, thread: bool):
        app = create_app({
            "TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": url,
            "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock(),
            "WEBHOOK_THREAD": thread,
        })
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["webhook_queue"].stop()
        with app.app_context():
            db.engine.dispose()


def walk_in_payment(sandbox, merchant_uid: str) -> dict:
    sandbox.issue_key("walk_in", customer_name="박지호")
    payment = sandbox.client.pay_again(
        customer_uid="walk_in", merchant_uid=merchant_uid, amount=5000, name="단건"
    )
    return {"imp_uid": payment.imp_uid, "merchant_uid": merchant_uid, "status": "paid"}


def stored_states(app) -> list[str]:
    with app.app_context():
        states = db.session.scalars(db.select(WebhookEvent.state).order_by(WebhookEvent.id)).all()
        db.session.remove()
        return states


def test_sqlite_events_wait_for_the_thread_and_are_processed_once_in_order(
    sqlite_app_factory, sandbox
):
    idle = sqlite_app_factory(thread=False)
    bodies = [walk_in_payment(sandbox, f"order-{n}") for n in (1, 2)]
    asked = len(sandbox.control("GET", "/requests"))
    client = idle.test_client()
    for body in (bodies[0], bodies[1], bodies[0]):
        response = client.post("/webhooks/iamport", json=body)
        assert (response.status_code, response.get_data(as_text=True)) == (200, "ok")
    assert stored_states(idle) == ["received"] * 3
    assert len(sandbox.control("GET", "/requests")) == asked  # no call to iamport
    # A web process with its thread starts: what waited is processed, each payment once.
    serving = sqlite_app_factory(thread=True)
    serving.test_client().get("/healthz")  # the first request starts the thread
    wait_for(lambda: stored_states(serving) == ["processed"] * 3, "the thread")
    with serving.app_context():
        paid = db.session.execute(
            db.select(Payment.merchant_uid, Payment.status, Payment.amount).order_by(Payment.id)
        ).all()
        db.session.remove()
    assert [tuple(row) for row in paid] == [("order-1", "paid", 5000), ("order-2", "paid", 5000)]
    # A webhook arriving while the thread runs is processed without anyone draining.
    third = walk_in_payment(sandbox, "order-3")
    assert serving.test_client().post("/webhooks/iamport", json=third).status_code == 200
    wait_for(lambda: stored_states(serving) == ["processed"] * 4, "the thread")
