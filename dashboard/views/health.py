"""Liveness for load balancers and monitors: no login, no session."""
from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import queries
from ..extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether the application and its database answer, and the webhook backlog."""
    try:
        db.session.execute(text("SELECT 1"))
        backlog = queries.webhook_backlog()
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", db="unavailable"), 503
    return jsonify(
        status="ok", db="ok",
        queue={"waiting": backlog.waiting, "oldest_s": backlog.oldest_seconds or 0},
    )
