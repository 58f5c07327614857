"""Load: webhooks from 8 concurrent senders into gunicorn with 4 workers on PostgreSQL.

The sandbox and gunicorn run as real processes on 127.0.0.1. Nothing may be lost and no side
effect may happen twice: every webhook is stored and processed, each payment has one row,
each paid period grants its credits once. Then one webhook is posted 20 times more by the 8
senders at once (across the 4 worker processes): stored 20 times, applied once. The rate is
printed and written to
``bench/results/webhook-load-<N>.txt``.

CI runs 500 webhooks; the full run is ``RELIABILITY_LOAD_WEBHOOKS=5000``.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.reliability.load import PROJECT_ROOT, REPLAYS, run_webhook_load

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WEBHOOKS = int(os.environ.get("RELIABILITY_LOAD_WEBHOOKS", "500"))
# Generous bounds: a stuck run fails instead of hanging CI.
TIME_LIMIT = max(120.0, WEBHOOKS * 0.25)
# The sending limit plus starting both servers, the replays and stopping them.
TEST_TIMEOUT = int(TIME_LIMIT) + 240


@pytest.mark.timeout(TEST_TIMEOUT)
def test_webhook_load_loses_nothing_and_applies_each_payment_once(schema_ready, tmp_path):
    result = run_webhook_load(schema_ready, WEBHOOKS, tmp_path, time_limit=TIME_LIMIT)
    report = result.report()
    print("\n" + report)
    results = PROJECT_ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"webhook-load-{WEBHOOKS}.txt").write_text(report + "\n", encoding="utf-8")

    assert result.statuses == Counter({200: WEBHOOKS}), report
    assert result.replay_statuses == Counter({200: REPLAYS}), report
    # Every post is stored and processed; the replays change nothing else.
    assert result.events == result.events_processed == WEBHOOKS + REPLAYS, report
    assert result.payments == result.distinct_imp_uids == WEBHOOKS, report
    assert result.credit_grants == result.credited_payments == WEBHOOKS, report
    assert result.periods_ok, report
