"""The webhook outbox: queued webhooks, their delivery (and resends), and the delivery log."""

from __future__ import annotations

from . import webhooks
from .core import _mutation, _reading
from .webhooks import PendingWebhook

MAX_DELIVERIES = 5000  # the delivery log keeps the most recent attempts
IDLE_WAIT = 45.0  # longest wait for another thread's webhook posts (30 s read timeout + margin)


class WebhookOutbox:
    """The webhook delivery of ``SandboxState``."""

    @_reading
    def webhook_config(self) -> dict:
        """Return the configured webhook URL and content type."""
        return dict(self._webhook)

    @_mutation
    def configure_webhook(self, url: str | None, content_type: str = webhooks.JSON,
                          resends: bool | None = None) -> dict:
        """Set the console webhook URL and content type, and whether failed sends are resent.

        iamport sends a webhook once unless the merchant asks PortOne for resends; leaving
        ``resends`` out keeps the current setting.
        """
        if content_type not in webhooks.CONTENT_TYPES:
            raise ValueError(f"content_type must be one of {', '.join(webhooks.CONTENT_TYPES)}")
        if resends is None:
            resends = self._webhook.get("resends", False)
        self._webhook = {"url": url or None, "content_type": content_type,
                         "resends": bool(resends)}
        return dict(self._webhook)

    @_mutation
    def _take_due_webhooks(self) -> list[PendingWebhook]:
        now = self.now()
        due = [w for w in self._outbox if w.due_at <= now]
        self._outbox = [w for w in self._outbox if w.due_at > now]
        self._in_flight += len(due)
        return sorted(due, key=lambda w: (w.due_at, w.event_id))

    @_mutation
    def _record_delivery(self, webhook: PendingWebhook, outcome: webhooks.Outcome) -> None:
        now = self.now()
        self._deliveries.append({
            "id": self._next_seq(),
            "event_id": webhook.event_id,
            "attempt": webhook.attempt,
            "url": webhook.url,
            "content_type": webhook.content_type,
            "body": outcome.body,
            "payload": dict(webhook.payload),
            "response_status": outcome.response_status,
            "error": outcome.error,
            "time": now,
        })
        del self._deliveries[:-MAX_DELIVERIES]
        if outcome.should_resend and self._webhook.get("resends"):
            following = webhook.resend(now)
            if following:
                self._outbox.append(following)

    def deliver_webhooks(self) -> int:
        """Post every webhook that is due (first sends and resends); return how many."""
        due = self._take_due_webhooks()
        try:
            for webhook in due:
                self._record_delivery(webhook, webhooks.post(self.webhook_session, webhook))
        finally:
            with self._idle:
                self._in_flight -= len(due)
                self._idle.notify_all()
        with self._idle:  # let posts another thread started finish, so callers see them
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=IDLE_WAIT)
        return len(due)

    def webhook_deliveries(self) -> list[dict]:
        """Send what is due, then return every delivery attempt made so far, oldest first."""
        self.deliver_webhooks()
        with self._lock:
            return [dict(d) for d in self._deliveries]
