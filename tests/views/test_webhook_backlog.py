"""What operators see of the webhook intake: the backlog, refused senders, an open intake."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import WebhookEvent

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "BABEL_DEFAULT_LOCALE": "en", "CLOCK": lambda: NOW}


def store_waiting_event(app, age: timedelta) -> None:
    with app.app_context():
        db.session.add(WebhookEvent(imp_uid="imp_waiting", state="received",
                                    received_at=NOW - age, raw_body=b"imp_uid=imp_waiting"))
        db.session.commit()


def test_the_backlog_shows_on_the_overview_the_webhook_page_and_healthz(app, admin_client):
    store_waiting_event(app, timedelta(minutes=2))
    store_waiting_event(app, timedelta(seconds=30))
    overview = admin_client.get("/").get_data(as_text=True)
    assert "Webhooks waiting to be processed" in overview
    assert "Oldest waiting for 2 min." in overview
    assert "is a worker running?" not in overview
    page = admin_client.get("/webhook-events").get_data(as_text=True)
    assert "Waiting to be processed: 2." in page and "Oldest waiting for 2 min." in page
    health = app.test_client().get("/healthz").get_json()
    assert health["queue"] == {"waiting": 2, "oldest_s": 120}


def test_a_backlog_older_than_five_minutes_asks_whether_a_worker_runs(app, admin_client):
    store_waiting_event(app, timedelta(minutes=6))
    assert "is a worker running?" in admin_client.get("/").get_data(as_text=True)
    assert "is a worker running?" in admin_client.get("/webhook-events").get_data(as_text=True)
    assert app.test_client().get("/healthz").get_json()["queue"] == {
        "waiting": 1, "oldest_s": 360}


def test_an_empty_queue_reports_zero(app):
    assert app.test_client().get("/healthz").get_json()["queue"] == {"waiting": 0, "oldest_s": 0}


def test_refused_senders_are_counted_on_the_webhook_page_without_their_bodies(app, admin_client):
    app.config["IAMPORT_WEBHOOK_ALLOWED_IPS"] = ("52.78.100.19",)
    sender = app.test_client()
    for _ in range(3):
        response = sender.post("/webhooks/iamport", json={"imp_uid": "imp_secret_1"},
                               environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert (response.status_code, response.get_data(as_text=True)) == (403, "refused")
    page = admin_client.get("/webhook-events").get_data(as_text=True)
    assert "sender address not allowed 3" in page
    assert "imp_secret_1" not in page
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WebhookEvent.id))) == 0


def test_the_overview_warns_while_anyone_may_post_webhooks(app, admin_client):
    warning = "Webhooks are accepted from any sender"
    assert warning in admin_client.get("/").get_data(as_text=True)
    app.config["IAMPORT_WEBHOOK_TOKEN"] = "s3cret"
    assert warning not in admin_client.get("/").get_data(as_text=True)
    app.config["IAMPORT_WEBHOOK_TOKEN"] = ""
    app.config["IAMPORT_WEBHOOK_ALLOWED_IPS"] = ("52.78.100.19",)
    assert warning not in admin_client.get("/").get_data(as_text=True)


def test_a_production_start_with_an_open_intake_logs_a_warning(schema_ready, caplog):
    production = {"SECRET_KEY": "x" * 32, "DATABASE_URL": schema_ready}
    with caplog.at_level(logging.WARNING):
        create_app(production)
    assert any("Webhooks are accepted from any sender" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        create_app({**production, "IAMPORT_WEBHOOK_TOKEN": "s3cret"})
    assert not any("Webhooks are accepted" in r.getMessage() for r in caplog.records)
