"""The provider-facing endpoint iamport posts notifications to. No login, no CSRF.

The sender's address is ``request.remote_addr``. Behind a reverse proxy set
``PROXY_FIX_X_FOR`` to the number of proxies in front of the app, so that address is taken
from ``X-Forwarded-For`` as the proxy recorded it, never from what a client claims.
"""
from flask import Blueprint, jsonify, request

from ..billing.webhooks import receive_webhook
from ..extensions import csrf

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)


@bp.post("/webhooks/iamport")
def iamport():
    """Store an iamport notification, verify it against the API and apply it."""
    answer = receive_webhook(
        body=request.get_data(cache=False),
        content_type=request.content_type,
        remote_addr=request.remote_addr,
        token=request.args.get("token"),
    )
    return jsonify(event=answer.event_id, message=answer.message), answer.status
