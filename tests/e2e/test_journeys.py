"""A support agent's everyday tasks in Chromium, from sign-in to the outcome.

Each journey checks the result where it lands: the console's database and what the sandbox
(iamport) recorded. The ``console`` fixture runs axe-core on every page a journey shows and
fails it on any serious or critical violation, or on any script error.
"""
from __future__ import annotations

import csv
import io

import pytest

from dashboard.extensions import db
from dashboard.models import (
    CustomerNote,
    Payment,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
)

from .conftest import sync_api

pytestmark = pytest.mark.e2e
expect = sync_api.expect


def rows(app, model, *conditions):
    with app.app_context():
        found = db.session.scalars(db.select(model).where(*conditions).order_by(model.id)).all()
        db.session.expunge_all()
        return found


def refund_in_panel(tab, amount: str, reason: str) -> None:
    """Fill the refund form that opened in the action panel, then confirm it."""
    panel = tab.page.locator("#action-panel")
    panel.locator("input[name=amount]").fill(amount)
    panel.locator("input[name=reason]").fill(reason)
    panel.locator("button[type=submit]").click()
    expect(panel.locator("input[name=confirmed]")).to_have_count(1)
    tab.check_accessibility()
    panel.locator("button.danger").click()


def test_refund_in_part_found_by_phone_search(app, sandbox, customers, staff, console):
    tab = console()
    tab.sign_in(staff["support"])
    tab.search("+82 10-1234-5678")
    expect(tab.page.locator("h1")).to_contain_text("김민수")
    tab.page.evaluate("window.stillTheSamePage = true")
    tab.page.locator("tr[data-payment] a:has-text('환불')").first.click()
    expect(tab.page.locator("#action-panel input[name=amount]")).to_be_focused()
    tab.check_accessibility()
    refund_in_panel(tab, "3000", "중복 결제")
    expect(tab.page.locator("tr[data-payment] td.refunded").first).to_have_text("₩3,000")
    assert tab.page.evaluate("window.stillTheSamePage") is True
    expect(tab.page.locator("#announcer")).to_contain_text("₩3,000")
    tab.check_accessibility()

    payment_id, imp_uid, _ = customers["cust_minsu"]
    assert [(r.amount, r.status) for r in rows(app, Refund)] == [(3000, "succeeded")]
    remote = sandbox.client.get_payment(imp_uid)
    assert remote.cancel_amount == 3000 and len(remote.cancel_history) == 1


def test_find_a_payment_by_a_pasted_imp_uid(app, customers, staff, console):
    payment_id, imp_uid, _ = customers["cust_jihoon"]
    tab = console()
    tab.sign_in(staff["viewer"])
    tab.goto("/subscriptions")
    tab.search(f"  {imp_uid} ")
    assert tab.page.url.endswith(f"/payments/{payment_id}")
    expect(tab.page.locator("main")).to_contain_text(imp_uid)
    # The page offers its own address to paste into a ticket.
    expect(tab.page.locator("#page-link")).to_have_value(tab.url(f"/payments/{payment_id}"))


def test_the_accessibility_check_can_fail(app, console):
    """Guard the guard: a page with an unlabelled field and a nameless button is reported."""
    tab = console()
    tab.page.goto(tab.url("/login"))
    tab.page.evaluate("""() => {
        const form = document.querySelector('form');
        form.insertAdjacentHTML('beforeend', '<input type=text><button></button>');
    }""")
    tab.check_accessibility()
    found, tab.problems[:] = list(tab.problems), []
    assert any("button-name" in problem for problem in found), found
    assert any("label" in problem for problem in found), found
