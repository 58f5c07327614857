"""The provider-facing endpoint iamport posts notifications to. No login, no CSRF.

The sender's address is ``request.remote_addr``. Behind a reverse proxy set
``PROXY_FIX_X_FOR`` to the number of proxies in front of the app, so that address is taken
from ``X-Forwarded-For`` as the proxy recorded it, never from what a client claims.
"""
from flask import Blueprint, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..billing import webhooks
from ..extensions import csrf

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)


def answer(status: int):
    """Tell the sender only whether the request was taken, never why not."""
    text = webhooks.OK if status == 200 else webhooks.REFUSED
    return text, status, {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/webhooks/iamport")
def iamport():
    """Check the sender, store the notification and queue it; answer at once."""
    refusal = webhooks.sender_refusal(request.args.get("token"), request.remote_addr)
    if refusal:
        webhooks.record_refusal(refusal, request.remote_addr)
        return answer(403)
    # Refused from the Content-Length alone, before the body is read.
    request.max_content_length = webhooks.MAX_BODY
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        webhooks.record_refusal("too_large", request.remote_addr)
        return answer(413)
    stored = webhooks.receive_webhook(
        body=body, content_type=request.content_type, remote_addr=request.remote_addr,
    )
    return answer(stored.status)
