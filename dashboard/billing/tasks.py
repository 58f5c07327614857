"""The job queue: webhook processing and the periodic jobs, off the web processes.

PostgreSQL: procrastinate on the dashboard's own database, no other server. The web process
writes an event's job in the transaction that stores the event, so both are committed together;
``flask --app dashboard worker`` runs the jobs, on any number of hosts. Jobs for one customer
run one at a time (procrastinate ``lock``), an event has at most one pending job
(``queueing_lock``), failed jobs are retried with growing waits, and the periodic jobs (sync,
charge-due, resume, the sweep) are deferred once per tick however many workers run.

SQLite (the demo, a laptop): no queue server. One thread in the web process processes stored
events in the order they arrived.
"""
from __future__ import annotations

import functools
import logging
import threading
from datetime import timedelta

import procrastinate
from flask import Flask
from procrastinate.psycopg_connector import PsycopgConnector
from sqlalchemy import Text, bindparam, cast, func, literal, null, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.types import UserDefinedType

from ..config import billing_mode
from ..extensions import db
from ..models import WebhookEvent
from . import audit, charges, now, sync, webhooks
from .lifecycle import resume_due_subscriptions

logger = logging.getLogger(__name__)

# Events still ``received`` this long after arriving have lost their job (the queue's
# database call failed, or the process died between commit and queue): the sweep queues them.
SWEEP_AFTER = timedelta(minutes=1)
# How often the SQLite thread looks for work when nobody wakes it (retries, old events).
THREAD_POLL_SECONDS = 5.0

# Two queues: ``webhooks`` and ``periodic``; a worker runs both unless told otherwise.
# The tasks live on one procrastinate app; its connector is set when a worker starts
# (``run_worker``). The web process never opens it: it defers on the request's own connection.
queue = procrastinate.App(
    connector=PsycopgConnector(),
    worker_defaults={"delete_jobs": "successful"},
)


class EventNotProcessed(Exception):
    """iamport could not be asked or the result could not be applied; the job is retried."""


# Waits of 5, 25, 125, 625 s: a short iamport outage is over before the last try.
WEBHOOK_RETRY = procrastinate.RetryStrategy(
    max_attempts=webhooks.MAX_ATTEMPTS - 2, exponential_wait=5,
    retry_exceptions={EventNotProcessed},
)


def flask_app_of(context: procrastinate.JobContext) -> Flask:
    return context.additional_context["flask_app"]


@queue.task(name="process_webhook", queue="webhooks", pass_context=True, retry=WEBHOOK_RETRY)
def process_webhook(context: procrastinate.JobContext, event_id: int) -> str:
    """Verify one stored event against iamport and apply it."""
    with flask_app_of(context).app_context():
        try:
            answer = webhooks.process_event(event_id)
        finally:
            db.session.remove()
    if answer.status >= 500:
        raise EventNotProcessed(answer.message)
    return answer.message


@queue.periodic(cron="* * * * *")
@queue.task(
    name="sweep_webhooks", queue="periodic", queueing_lock="sweep_webhooks", pass_context=True
)
def sweep_webhooks(context: procrastinate.JobContext, timestamp: int) -> int:
    """Queue events committed but never queued; return how many were queued."""
    with flask_app_of(context).app_context():
        try:
            return queue_lost_events()
        finally:
            db.session.remove()


@queue.periodic(cron="*/5 * * * *")
@queue.task(name="sync", queue="periodic", queueing_lock="sync", pass_context=True)
def sync_periodically(context: procrastinate.JobContext, timestamp: int) -> str:
    """Reconcile the last three days with iamport (what ``flask sync`` does)."""
    with flask_app_of(context).app_context():
        try:
            summary = sync.run_sync(3, actor=audit.SYSTEM)
        finally:
            db.session.remove()
    return f"fetched {summary.fetched}, changed {summary.changed}, errors {len(summary.errors)}"


@queue.periodic(cron="* * * * *")
@queue.task(name="charge_due", queue="periodic", queueing_lock="charge_due", pass_context=True)
def charge_due_periodically(context: procrastinate.JobContext, timestamp: int) -> str:
    """Charge due subscriptions in again mode (what ``flask charge-due`` does)."""
    with flask_app_of(context).app_context():
        try:
            if billing_mode() != "again":
                return "schedule mode: iamport runs the schedules"
            summary = charges.charge_due()
        finally:
            db.session.remove()
    return f"charged {len(summary.charged)}, declined {len(summary.declined)}"


@queue.periodic(cron="*/10 * * * *")
@queue.task(name="resume_due", queue="periodic", queueing_lock="resume_due", pass_context=True)
def resume_due_periodically(context: procrastinate.JobContext, timestamp: int) -> int:
    """Resume paused subscriptions whose resume date has come."""
    with flask_app_of(context).app_context():
        try:
            return resume_due_subscriptions()
        finally:
            db.session.remove()


def queue_lost_events() -> int:
    """Give a job to every event still ``received`` after ``SWEEP_AFTER``; return how many.

    An event whose job is still waiting keeps it (the queueing lock refuses a second).
    """
    queued = 0
    for event_id in webhooks.waiting_event_ids(received_before=now() - SWEEP_AFTER,
                                               include_failed=False):
        event = db.session.get(WebhookEvent, event_id)
        try:
            defer_processing(event_id, lock=webhooks.serialisation_key(event.imp_uid,
                                                                      event.merchant_uid))
            db.session.commit()
        except procrastinate.exceptions.AlreadyEnqueued:
            db.session.rollback()
            continue
        queued += 1
    if queued:
        logger.warning("sweep queued %d webhook event(s) that had no job", queued)
    return queued


def defer_processing(event_id: int, *, lock: str) -> None:
    """Write the job for one event in the session's current transaction (PostgreSQL)."""
    connection = db.session.connection().connection.driver_connection
    queue.configure_task(
        "process_webhook", lock=lock, queueing_lock=f"webhook-{event_id}", connection=connection,
    ).defer(event_id=event_id)


class JobToDefer(UserDefinedType):
    """procrastinate's composite type for one job to defer (its versioned SQL interface)."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "procrastinate_job_to_defer_v1"


@functools.cache
def store_and_defer_statement():
    """Return the statement that stores an event and defers its job, built once per process.

    It is what ``defer_processing`` does, written into the insert, with the same ``lock``
    (``webhooks.lock_key``).
    """
    event = (
        db.insert(WebhookEvent)
        .values({name: bindparam(name) for name in EVENT_COLUMNS})
        .returning(WebhookEvent.id)
        .cte("stored_event")
    )
    job = func.row(
        process_webhook.queue, process_webhook.name, 0,
        webhooks.lock_key(bindparam("imp_uid"), bindparam("merchant_uid")),
        literal("webhook-") + cast(event.c.id, Text),
        func.jsonb_build_object("event_id", event.c.id), null(),
    )
    deferred = func.procrastinate_defer_jobs_v1(postgresql.array([cast(job, JobToDefer())]))
    return select(event.c.id, deferred)


EVENT_COLUMNS = ("raw_body", "content_type", "remote_addr", "received_at", "state", "imp_uid",
                 "merchant_uid", "status", "cancellation_id")


class ProcrastinateQueue:
    """Hand events to procrastinate; the workers process them."""

    def store(self, values: dict) -> int:
        """Store the event and write its job, in one statement of the request's transaction."""
        parameters = {name: values.get(name) for name in EVENT_COLUMNS}
        return db.session.execute(store_and_defer_statement(), parameters).scalar_one()

    def notify(self) -> None:
        """Workers learn of the job from PostgreSQL's notification at commit."""


class ThreadQueue:
    """Process events in one background thread of the web process (SQLite deployments)."""

    def __init__(self, app: Flask, *, autostart: bool):
        self.app = app
        self.autostart = autostart
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def store(self, values: dict) -> int:
        """Store the event: the committed row is the queue, nothing else to write."""
        return webhooks.store_event(values)

    def notify(self) -> None:
        if self.autostart:
            self.start()
        self._wake.set()

    def start(self) -> None:
        """Start the thread once; it first processes whatever is already waiting."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="webhook-queue", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            tried = 0
            with self.app.app_context():
                try:
                    tried = webhooks.process_waiting_events(limit=100)
                except Exception:  # keep the thread alive; the event stays waiting
                    logger.exception("processing waiting webhooks failed")
                    db.session.rollback()
                finally:
                    db.session.remove()
            if tried < 100:
                self._wake.wait(THREAD_POLL_SECONDS)


def init_app(app: Flask) -> None:
    """Choose the app's queue: procrastinate on PostgreSQL, a thread on SQLite."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.extensions["webhook_queue"] = ProcrastinateQueue()
        return
    autostart = app.config.get("WEBHOOK_THREAD")
    if autostart is None:
        autostart = not app.testing
    thread_queue = ThreadQueue(app, autostart=autostart)
    app.extensions["webhook_queue"] = thread_queue
    if autostart:
        # Started by the first request, so commands (init-db, sync ...) never start it.
        app.before_request(thread_queue.start)


def conninfo(app: Flask) -> str:
    """Return the libpq address of the app's PostgreSQL database."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def run_worker(app: Flask, **options) -> None:
    """Run a procrastinate worker for ``app`` until stopped (or, with ``wait=False``, idle)."""
    connector = PsycopgConnector(conninfo=conninfo(app), min_size=1, max_size=4)
    options.setdefault("additional_context", {})["flask_app"] = app
    with queue.replace_connector(connector):
        queue.run_worker(**options)


# Procrastinate picks a job only when no earlier job with the same ``lock`` waits or runs; its
# own indexes lead with the id, so with thousands of webhooks waiting for fifty customers each
# pick scanned the backlog (2 s a job, measured). This index makes that check a look-up.
LOCK_INDEX = (
    "CREATE INDEX IF NOT EXISTS dashboard_procrastinate_jobs_lock_waiting "
    "ON procrastinate_jobs (lock, priority, id) WHERE status IN ('todo', 'doing')"
)


def apply_queue_schema() -> bool:
    """Create procrastinate's tables on PostgreSQL if missing; return whether it did."""
    if db.engine.dialect.name != "postgresql":
        return False
    exists = db.session.scalar(db.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))
    connection = db.session.connection().connection.driver_connection
    if not exists:
        connection.execute(procrastinate.schema.SchemaManager.get_schema())
    connection.execute(LOCK_INDEX)
    db.session.commit()
    return not exists

