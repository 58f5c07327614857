"""Billing keys (``/subscribe/customers``): issue, look up, delete, and a key's payments."""

from __future__ import annotations

from . import cards
from .channels import Channel
from .core import PAGE_SIZE, _mutation, _page, _reading, _sort_payments
from .errors import NotFound, PgFailed, Refused
from .records import CUSTOMER_FIELDS, Customer


def customer_not_found(customer_uid: str) -> str:
    """Return the message for an unknown ``customer_uid``."""
    return f"요청하신 customer_uid({customer_uid})로 등록된 정보를 찾을 수 없습니다."


class BillingKeys:
    """The billing-key rules of ``SandboxState``."""

    def _customer(self, customer_uid: str) -> Customer:
        customer = self._customers.get(customer_uid)
        if customer is None:
            raise NotFound(customer_not_found(customer_uid))
        return customer

    def _known_customer(self, customer_uid: str) -> Customer:
        """Return a key for GET/DELETE, answering an unknown one as the live API did."""
        customer = self._customers.get(customer_uid)
        if customer is None:
            # The schema documents a 404; every recorded live run saw HTTP 200 with code 1.
            raise Refused(customer_not_found(customer_uid))
        return customer

    def _store_customer(self, customer_uid: str, card: cards.CardProfile, holder: dict,
                        customer_id: str | None, now: int, channel: Channel) -> Customer:
        previous = self._customers.get(customer_uid)
        kept = {name: getattr(previous, name) for name in CUSTOMER_FIELDS} if previous else {}
        kept.update({name: value for name, value in holder.items() if value is not None})
        customer = Customer(
            customer_uid=customer_uid,
            pg_provider=channel.pg_provider,
            pg_id=channel.pg_id,
            card_name=card.card_name,
            card_code=card.card_code,
            card_number=card.masked_number,
            card_type=card.card_type,
            declines=card.declines,
            inserted=previous.inserted if previous else now,
            updated=now,
            customer_id=customer_id or (previous.customer_id if previous else None),
            **kept,
        )
        self._customers[customer_uid] = customer
        return customer

    @_mutation
    def issue_billing_key(self, customer_uid: str, *, card_number: str, expiry: str,
                          birth: str | None = None, pwd_2digit: str | None = None,
                          holder: dict | None = None, customer_id: str | None = None,
                          pg: str | None = None) -> dict:
        """Issue (or replace) the billing key for ``customer_uid`` from key-in card data."""
        channel = self._channel(pg)
        now = self.now()
        try:
            card = cards.inspect_card(card_number, expiry, birth, pwd_2digit, now=now)
        except cards.CardRejected as rejected:
            raise PgFailed(rejected.issue_message()) from None
        return self._store_customer(customer_uid, card, holder or {}, customer_id, now,
                                    channel).to_api()

    @_reading
    def get_customer(self, customer_uid: str) -> dict:
        """Return one billing key."""
        return self._known_customer(customer_uid).to_api()

    @_reading
    def get_customers(self, customer_uids: list[str]) -> tuple[list[dict], list[str]]:
        """Return the billing keys found, and the uids that were not."""
        found = [self._customers[uid].to_api() for uid in customer_uids if uid in self._customers]
        missing = [uid for uid in customer_uids if uid not in self._customers]
        return found, missing

    @_mutation
    def delete_customer(self, customer_uid: str) -> dict:
        """Delete a billing key; its pending schedules stay and fail when they run."""
        customer = self._known_customer(customer_uid)
        del self._customers[customer_uid]
        return customer.to_api()

    @_reading
    def customer_payments(self, customer_uid: str, page: int) -> dict:
        """Return one page of the payments made with a billing key, newest first."""
        self._customer(customer_uid)  # 404 for a uid without a key, as the schema says
        payments = [p for p in self._payments.values() if p.customer_uid == customer_uid]
        return _page(_sort_payments(payments, "-started"), page, PAGE_SIZE)
