"""The README's first command, end to end over real HTTP: the demo seeds, serves, keeps
running schedules that arrive as webhooks, and finds its data again after a restart."""
from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.ConnectionError, sqlite3.OperationalError):
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def start_demo(data_dir, port, sandbox_port):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "dashboard", "demo", "--port", str(port),
         "--sandbox-port", str(sandbox_port), "--data-dir", str(data_dir),
         "--customers", "12", "--days", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )


def stop(process) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def count(database, sql: str) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchone()[0]


@pytest.mark.timeout(480)  # its own bounded waits add up to 420 s
def test_demo_runs_offline_and_keeps_billing(tmp_path):
    port, sandbox_port = free_port(), free_port()
    dashboard, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    database = tmp_path / "dashboard.sqlite"
    process = start_demo(tmp_path, port, sandbox_port)
    try:
        wait_until(lambda: requests.get(f"{dashboard}/healthz", timeout=2).ok, 240, "the dashboard")
        assert requests.get(f"{sandbox}/_sandbox/clock", timeout=2).ok
        seeded_payments = count(database, "SELECT count(*) FROM payment")
        assert seeded_payments > 12
        assert count(database, "SELECT count(*) FROM customer") >= 12
        assert count(database, "SELECT count(*) FROM admin_user") == 3
        processed = count(database, "SELECT count(*) FROM webhook_event WHERE state='processed'")

        # Move the sandbox a month on: its runner executes the due schedules and each
        # result reaches the dashboard as a webhook over HTTP.
        requests.post(f"{sandbox}/_sandbox/clock", json={"advance": 31 * 86400}, timeout=5)
        wait_until(
            lambda: count(database, "SELECT count(*) FROM webhook_event WHERE state='processed'")
            >= processed + 10,
            120, "webhooks from the schedule runner",
        )
        deliveries = requests.get(f"{sandbox}/_sandbox/webhooks", timeout=5).json()
        assert deliveries and all(d["url"] == f"{dashboard}/webhooks/iamport" for d in deliveries)
    finally:
        first_output = stop(process)
    assert "admin@example.com" in first_output and "Seeding" in first_output

    total = count(database, "SELECT count(*) FROM payment")
    process = start_demo(tmp_path, port, sandbox_port)
    try:
        wait_until(lambda: requests.get(f"{dashboard}/healthz", timeout=2).ok, 60, "a restart")
        # Webhooks stored but not yet processed when the first run stopped are processed
        # first by the restarted web process (its queue thread starts with the first request).
        wait_until(lambda: count(database, "SELECT count(*) FROM webhook_event "
                                           "WHERE state='received'") == 0,
                   60, "the webhooks left waiting at the stop")
        held = requests.get(f"{sandbox}/_sandbox/state", timeout=5).json()
        # The restarted sandbox holds every billing key and payment the database refers to.
        assert held["customers"] == count(database, "SELECT count(*) FROM customer")
        assert sum(held["payments"].values()) == count(database, "SELECT count(*) FROM payment")
        assert held["schedules"].get("scheduled", 0) == count(
            database, "SELECT count(*) FROM schedule WHERE schedule_status='scheduled'")
        assert count(database, "SELECT count(*) FROM payment") >= total
    finally:
        second_output = stop(process)
    assert "Seeding" not in second_output
