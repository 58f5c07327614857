"""Revision 0002 gives existing subscriptions a billing anchor from their current period."""
from datetime import UTC, datetime

from flask_migrate import upgrade
from sqlalchemy import text

from dashboard.extensions import db
from dashboard.models import Subscription


def test_existing_subscriptions_are_anchored_on_their_local_period_start(app):
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(revision="0001")
        created = datetime(2026, 10, 2, 3, 0, tzinfo=UTC)
        db.session.execute(text(
            "INSERT INTO plan (id, code, name, amount, interval_unit, interval_count, active, "
            "created_at, updated_at) VALUES (1, 'basic', 'B', 9900, 'month', 1, :t, :c, :c)"
        ), {"c": created, "t": True})
        db.session.execute(text(
            "INSERT INTO customer (id, customer_uid, name, email, phone, billing_key_status, "
            "created_at, updated_at) VALUES (1, 'c1', '', '', '', 'active', :c, :c)"
        ), {"c": created})
        for row_id, period_start in ((1, datetime(2026, 10, 31, 15, 30, tzinfo=UTC)), (2, None)):
            db.session.execute(text(
                "INSERT INTO subscription (id, customer_id, plan_id, status, current_period, "
                "current_period_start, failed_attempts, cancel_at_period_end, created_at, "
                "updated_at) VALUES (:id, 1, 1, 'active', 1, :start, 0, :f, :c, :c)"
            ), {"id": row_id, "start": period_start, "c": created, "f": False})
        db.session.commit()
        upgrade()
        db.session.expire_all()
        # 2026-10-31 15:30 UTC is 1 November 00:30 in Seoul; the creation is 12:00 KST.
        assert db.session.get(Subscription, 1).billing_anchor == datetime(2026, 11, 1, 0, 30)
        assert db.session.get(Subscription, 2).billing_anchor == datetime(2026, 10, 2, 12, 0)
