"""Hostile input in every console form, as a signed-in admin: never a 500, an answer with a
message, and nothing changed when the request is refused.

Every POST route of the console is found in ``app.url_map`` (a new one is fuzzed without
editing this file, as long as its URL arguments are among ``ROUTE_ARGUMENTS``). Its fields are
read from the form the route's GET renders (or a generic set for POST-only buttons), then
posted: every field at once with each hostile value, and each field alone with the sharpest
values while the others hold sensible ones. The list pages' filters get the same treatment
through their query strings. One test keeps CSRF on: a POST without a token is refused (400).
"""
from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from flask import g
from werkzeug.security import generate_password_hash

from dashboard import api_tokens
from dashboard.billing import audit, intake
from dashboard.extensions import db
from dashboard.models import (
    AdminUser,
    ApiToken,
    CreditEntry,
    Customer,
    Payment,
    Plan,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
)
from tests.conftest import on_postgres
from tests.reliability.world import add_plan, build_world

EMAIL = "admin@example.com"
PASSWORD = "correct horse battery"
REFUSED = {400, 401, 403, 404, 405, 409, 413, 422, 429}
FINE = {200, 201, 204, 302, 303}
SKIPPED_PREFIXES = ("/api/", "/webhooks/", "/static/", "/_")
# POST-only routes (buttons) carry at most these fields.
BUTTON_FIELDS = ("next", "confirmed", "reason", "days", "language")

HOSTILE = [
    "", " ", "\t\n", "0", "-1", "1.5", "1e999", "NaN", "99999999999999999999",
    "-99999999999999999999", "２０００", "٣٠٠٠", "²", "x" * 5000,
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "' OR '1'='1",
    "1; DROP TABLE payment;--", "{{7*7}}", "${7*7}", "%00", "../../etc/passwd",
    "//evil.example/", "javascript:alert(1)", "https://evil.example/", "결제 취소 요청 🙂",
    "9999-12-31T23:59", "0001-01-01T00:00", "2026-02-30T10:00", "yes", "now", "period_end",
    # Characters no database column or encoder should meet unprepared.
    "\U0010ffff", "a\U0010ffffb", "\x00", "\u202e",
    # Out-of-range dates and months.
    "9999-12-31", "0001-01-01", "0000-00-00", "2026-13", "2026-00", "10000-01", "-2026-01",
    "2026-02-30",
    # Crafted keyset cursors: wrong shapes, wrong types, huge numbers, broken encodings.
    "abc", "1", "1,2", "2026-11-01T00:00:00+00:00,99999999999999999999", "x,y,z", "@@@@",
    "eyJpZCI6IDF9", "MjAyNi0xMS0wMQ==", "%ff%fe", "null", "[]", "{}", "-1,-1",
]
SHARP = ["", "x" * 5000, "<script>alert(1)</script>", "-1", "99999999999999999999", "1e999",
         "２０００", "0001-01-01T00:00", "//evil.example/"]
RAW_BODIES = [b"reason=%ff%fe&amount=%00", b"\xff\xfe\xfd", b"a=" + b"b" * 200_000,
              b"reason=a&reason=b&amount=1&amount=2"]

# Found by these tests (each once answered 500); each is now refused or ignored.
FOUND_FAILING = [
    ("customers.credits", "delta", "99999999999999999999"),
    ("customers.credits", "delta", "-99999999999999999999"),
]


class FormFields(HTMLParser):
    """Collect the names and values of the inputs of the POST forms on a page."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_post_form = False
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._in_post_form = (attributes.get("method") or "").lower() == "post"
        elif self._in_post_form and tag in ("input", "textarea", "select"):
            name = attributes.get("name")
            if name and name != "csrf_token":
                if attributes.get("type") == "radio" and name in self.fields:
                    return
                self.fields[name] = attributes.get("value") or ""
            self._select = name if tag == "select" else None
        elif tag == "option" and self._select and not self.fields.get(self._select):
            self.fields[self._select] = attributes.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_post_form = False


def form_fields(html: str) -> dict[str, str]:
    parser = FormFields()
    parser.feed(html)
    return parser.fields


@pytest.fixture
def console(schema_ready):
    """A world with a paid subscription, a declined one, a failed event and a signed-in admin."""
    with build_world(schema_ready) as world:
        add_plan()
        premium = add_plan("premium", amount=19900, name="프리미엄 월간")
        world.issue_key("cust_1", customer_name="김민수", customer_tel="01012345678")
        paying = intake.start_subscription("cust_1", plan_code="basic").id
        world.issue_key("cust_2", card_number="5570-4200-0007-0002")
        declining = intake.start_subscription("cust_2", plan_code="basic").id
        world.advance(120)
        world.run_due()
        payment = db.session.scalar(db.select(Payment).where(Payment.status == "paid"))
        db.session.add(WebhookEvent(state="failed", imp_uid=payment.imp_uid, raw_body=b"{}",
                                    merchant_uid=payment.merchant_uid, error="test"))
        admin = AdminUser(email=EMAIL, name="Admin", role="admin")
        admin.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        db.session.add(admin)
        db.session.commit()
        live = db.session.scalar(db.select(Schedule.id).where(
            Schedule.subscription_id == paying, Schedule.schedule_status == "scheduled"))
        failed = db.session.scalar(db.select(Schedule.id).where(
            Schedule.subscription_id == declining, Schedule.payment_status == "failed"))
        world.arguments = {
            "customer_id": [db.session.get(Subscription, paying).customer_id],
            "subscription_id": [paying, declining],
            "schedule_id": [live, failed],
            "payment_id": [payment.id],
            "event_id": [db.session.scalar(db.select(WebhookEvent.id))],
        }
        world.arguments.update(admin_arguments())
        world.premium_id = premium.id
        world.staff = signed_in(world.app)
        yield world


def admin_arguments() -> dict:
    """Ids for the admin pages' routes: another account (never the fuzzing admin), a token."""
    other = AdminUser(email="other@example.com", name="Other", role="support")
    other.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    db.session.add(other)
    db.session.commit()
    api_tokens.create_token("fuzzed", actor=audit.CLI)
    return {
        "user_id": [other.id],
        "action": ["deactivate", "activate", "sign-out-everywhere"],
        "token_id": [db.session.scalar(db.select(ApiToken.id))],
        "key": ["pg_setting"],
    }


def signed_in(app):
    client = app.test_client()
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code in (302, 303), response.status_code
    return client


def fingerprint(world) -> tuple:
    """Everything money-related here and at iamport (audit entries and logins excluded)."""
    db.session.expire_all()
    rows = tuple(
        tuple(tuple(row) for row in db.session.execute(
            db.select(*model.__table__.columns).order_by(model.id)))
        for model in (Customer, Subscription, Schedule, Payment, Refund, CreditEntry, Plan)
    )
    db.session.rollback()
    return rows, repr(world.state.summary()["payments"]), repr(world.state.summary()["schedules"])


def post_routes(app) -> list:
    rules = [rule for rule in app.url_map.iter_rules()
             if "POST" in rule.methods and not rule.rule.startswith(SKIPPED_PREFIXES)]
    return sorted(rules, key=lambda rule: rule.rule)


def urls_for(world, rule) -> list[str]:
    missing = set(rule.arguments) - set(world.arguments)
    assert not missing, f"{rule.rule}: add a seeded id for {missing} to the console fixture"
    urls = [rule.rule]
    for name in rule.arguments:
        urls = [re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
                for url in urls for value in world.arguments[name]]
    return urls


def sensible(world, fields: dict[str, str]) -> dict[str, str]:
    """Values that pass the forms, so one hostile field at a time reaches the billing call."""
    later = (world.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    known = {"reason": "고객 요청", "amount": "1000", "name": "추가 이용료", "delta": "5",
             "days": "2", "schedule_at": later, "resume_at": later, "when": "now",
             "plan_id": str(world.premium_id), "confirmed": "yes", "next": "",
             "card_number": "5570420000077221", "expiry": "2030-12", "birth": "900101",
             "pwd_2digit": "12", "language": "en"}
    return {name: known.get(name, value) for name, value in fields.items()}


def check_answer(world, client, url: str, data, before, *, content_type=None) -> str | None:
    """Post; return what is wrong (a 500, an empty answer, a change despite a refusal)."""
    try:
        response = client.post(url, data=data, content_type=content_type,
                               headers={"Referer": "https://dashboard.test/"})
    except Exception as error:  # noqa: BLE001 - reported with the request that raised it
        db.session.rollback()
        return f"{url} {str(data)[:120]!r}: raised {type(error).__name__}: {str(error)[:120]}"
    status = response.status_code
    if status not in REFUSED | FINE:
        return f"{url} {str(data)[:120]!r}: answered {status}"
    if status not in (302, 303, 204) and not response.get_data(as_text=True).strip():
        return f"{url} {str(data)[:120]!r}: answered {status} with an empty body"
    if status in REFUSED and fingerprint(world) != before:
        return f"{url} {str(data)[:120]!r}: refused with {status} but changed state"
    return None


def client_for(world, rule):
    # Signing in or out must not sign the fuzzing admin out.
    return world.app.test_client() if rule.endpoint.startswith("auth.") else world.staff


@pytest.mark.timeout(300)  # long by design; a minute on a heavily shared machine
def test_every_console_form_survives_hostile_values(console):
    world = console
    rules = post_routes(world.app)
    assert len(rules) >= 10, [rule.rule for rule in rules]
    problems, posted = [], 0

    def attempt(rule, client, url, data, **options):
        nonlocal posted
        posted += 1
        problem = check_answer(world, client, url, data, fingerprint(world), **options)
        if problem:
            problems.append(problem)

    for rule in rules:
        client = client_for(world, rule)
        for url in urls_for(world, rule):
            page = client.get(url) if "GET" in rule.methods else None
            fields = form_fields(page.get_data(as_text=True)) if page is not None else {}
            fields = fields or dict.fromkeys(BUTTON_FIELDS, "")
            for value in HOSTILE:
                attempt(rule, client, url, dict.fromkeys(fields, value))
            for name in fields:
                for value in SHARP:
                    attempt(rule, client, url, {**sensible(world, fields), name: value})
            for body in RAW_BODIES:
                attempt(rule, client, url, body,
                        content_type="application/x-www-form-urlencoded")
    assert not problems, "\n".join(problems)
    assert posted > 300


@pytest.mark.parametrize("endpoint, field, value", FOUND_FAILING)
def test_hostile_values_found_failing(console, endpoint, field, value):
    world = console
    [rule] = [rule for rule in post_routes(world.app) if rule.endpoint == endpoint]
    url = urls_for(world, rule)[0]
    fields = form_fields(world.staff.get(url).get_data(as_text=True))
    problem = check_answer(world, world.staff, url, {**sensible(world, fields), field: value},
                           fingerprint(world))
    assert problem is None, problem


def test_ids_beyond_the_integer_column_are_not_found(console):
    world = console
    huge = "9" * (12 if on_postgres() else 20)
    for rule in post_routes(world.app):
        if rule.arguments:
            url = re.sub(r"<(?:\w+:)?\w+>", huge, rule.rule)
            assert world.staff.post(url, data={}).status_code == 404, url


# Found by these tests (each once answered 500); now ignored or refused.
FOUND_FAILING_FILTERS = [
    ("/customers", "plan", "99999999999999999999"),
    ("/customers", "plan", "²"),
    ("/subscriptions", "plan", "99999999999999999999"),
    ("/subscriptions", "customer", "99999999999999999999"),
    ("/subscriptions", "plan", "²"),
    ("/subscriptions", "customer", "²"),
    ("/payments", "min_amount", "99999999999999999999"),
    ("/payments", "max_amount", "99999999999999999999"),
]
LIST_PAGES = ["/customers", "/subscriptions", "/schedules", "/payments", "/webhook-events",
              "/customers.csv", "/schedules.csv", "/payments.csv", "/",
              "/admin/audit", "/admin/audit.csv", "/admin/users", "/admin/tokens", "/admin/setup"]
FILTERS = ["q", "status", "plan", "from", "to", "customer", "min_amount", "max_amount",
           "origin", "state", "after", "month", "actor", "action", "target"]


def get_list(world, list_url: str, name: str, value: str) -> str | None:
    """Load a list page with one hostile filter; return what is wrong, if anything."""
    try:
        response = world.staff.get(list_url, query_string={name: value})
        response.get_data()  # a CSV export runs its query while it streams
        response.close()
    except Exception as error:  # noqa: BLE001 - reported with the request that raised it
        db.session.rollback()
        return f"{list_url}?{name}={value[:40]!r}: raised {type(error).__name__}"
    finally:
        g.pop("_login_user", None)  # see test_list_pages_survive_broken_encodings
    if response.status_code not in {200, 400, 404, 422}:
        return f"{list_url}?{name}={value[:40]!r}: answered {response.status_code}"
    return None


@pytest.mark.parametrize("list_url", LIST_PAGES)
def test_list_filters_survive_hostile_query_strings(console, list_url):
    world = console
    assert world.staff.get(list_url).status_code == 200
    problems = [problem for value in HOSTILE for name in FILTERS
                if (problem := get_list(world, list_url, name, value))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("list_url, name, value", FOUND_FAILING_FILTERS)
def test_list_filters_found_failing(console, list_url, name, value):
    problem = get_list(console, list_url, name, value)
    assert problem is None, problem


def test_without_a_csrf_token_every_form_is_refused_with_400(schema_ready):
    with build_world(schema_ready, config={"WTF_CSRF_ENABLED": True}) as world:
        add_plan()
        world.issue_key("cust_1")
        sub_id = intake.start_subscription("cust_1", plan_code="basic").id
        world.advance(120)
        world.run_due()
        admin = AdminUser(email=EMAIL, name="Admin", role="admin")
        admin.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        db.session.add(admin)
        db.session.commit()
        client = world.app.test_client()
        login_page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page)
        assert token, "the sign-in form carries a CSRF token"
        assert client.post("/login", data={"email": EMAIL, "password": PASSWORD,
                                           "csrf_token": token[1]}).status_code in (302, 303)
        world.arguments = {
            "customer_id": [db.session.get(Subscription, sub_id).customer_id],
            "subscription_id": [sub_id],
            "schedule_id": [db.session.scalar(db.select(Schedule.id))],
            "payment_id": [db.session.scalar(db.select(Payment.id))],
            "event_id": [1],
            **admin_arguments(),
        }
        before = fingerprint(world)
        for rule in post_routes(world.app):
            for url in urls_for(world, rule):
                response = client.post(url, data={"reason": "x", "amount": "1000",
                                                  "confirmed": "yes", "days": "2"})
                assert response.status_code == 400, (url, response.status_code)
        assert fingerprint(world) == before


RAW_QUERY_STRINGS = [b"q=%ED%A0%80", b"q=%FF%FE", b"after=%C0%AF", b"from=%00", b"q=%F4%8F%BF%BF",
                     b"status=a&status=b&after=1&after=2", b"q=" + b"%41" * 3000]


@pytest.mark.parametrize("list_url", LIST_PAGES)
def test_list_pages_survive_broken_encodings(console, list_url):
    problems = []
    for raw in RAW_QUERY_STRINGS:
        response = console.staff.get(f"{list_url}?{raw.decode()}")
        response.get_data()
        response.close()  # a CSV stream finishes (and is audited) only when read and closed
        # The world keeps one app context for every request, so Flask-Login's per-request
        # cache in ``g`` outlives the request, and the export's batches expunge that user.
        g.pop("_login_user", None)
        if response.status_code not in {200, 400, 404, 422}:
            problems.append(f"{list_url}?{raw[:40]!r}: answered {response.status_code}")
    assert not problems, "\n".join(problems)
