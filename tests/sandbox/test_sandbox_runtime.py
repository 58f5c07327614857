"""The sandbox as a running service: persistence, threads, real HTTP, the runner, control API."""

import json
import threading
import time

import requests

from dashboard.iamport.sandbox import create_sandbox_app
from dashboard.iamport.sandbox.server import start_in_thread
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter

from .conftest import API, WEBHOOK_URL, Api


def in_process(app) -> Api:
    session = requests.Session()
    session.mount(API, WSGIAdapter(app))
    return Api(session)


def test_state_file_survives_a_restart(tmp_path, webhook_session):
    path = tmp_path / "sandbox.json"
    first = create_sandbox_app(state_path=path, webhook_session=webhook_session)
    api = in_process(first)
    api.issue_key("cust_1")
    paid = api.again("cust_1", "order_1").json()["response"]
    state = first.extensions["iamport_sandbox"]
    state.advance(86400)
    api.schedule("cust_1", ("sub_1", state.now() + 3600))
    api.session.put(f"{API}/_sandbox/webhook", json={"url": WEBHOOK_URL})
    token = api._token

    assert json.loads(path.read_text())["version"] == 1
    assert not list(tmp_path.glob(".sandbox-*"))  # no temporary file left behind

    second = create_sandbox_app(state_path=path, webhook_session=webhook_session)
    reloaded = in_process(second)
    reloaded._token = token  # a token issued before the restart is still valid

    assert abs(second.extensions["iamport_sandbox"].now() - state.now()) <= 1
    assert reloaded.get("/subscribe/customers/cust_1").json()["response"]["card_name"] == \
        "KB국민카드"
    assert reloaded.get(f"/payments/{paid['imp_uid']}").json()["response"] == paid
    assert reloaded.get("/subscribe/payments/schedule/sub_1").json()["response"][
        "schedule_status"] == "scheduled"
    assert reloaded.session.get(f"{API}/_sandbox/webhook").json()["url"] == WEBHOOK_URL
    assert reloaded.again("cust_1", "order_1").json()["code"] == 1  # still known as paid



def test_deferred_saving_writes_the_file_once_at_the_end(tmp_path, webhook_session):
    path = tmp_path / "sandbox.json"
    app = create_sandbox_app(state_path=path, webhook_session=webhook_session)
    state = app.extensions["iamport_sandbox"]
    api = in_process(app)
    with state.saving_deferred():
        api.issue_key("cust_1")
        api.again("cust_1", "order_1")
        assert not path.exists()  # nothing written mid-batch
    saved = json.loads(path.read_text())
    assert [c["customer_uid"] for c in saved["customers"]] == ["cust_1"]
    assert [p["merchant_uid"] for p in saved["payments"]] == ["order_1"]


def test_parallel_charges_of_one_merchant_uid_pay_once(api, state):
    api.issue_key("cust_1")
    token = api.token()
    results = []
    barrier = threading.Barrier(8)

    def charge():
        session = requests.Session()
        session.mount(API, WSGIAdapter(api.session.adapters[API].app))
        barrier.wait()
        response = session.post(f"{API}/subscribe/payments/again", headers={
            "Authorization": token}, json={"customer_uid": "cust_1", "merchant_uid": "order_1",
                                           "amount": 1000, "name": "A"})
        results.append(response.json()["code"])

    threads = [threading.Thread(target=charge) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [0] + [1] * 7
    assert api.get("/payments/findAll/order_1").json()["response"]["total"] == 1


def test_real_http_with_the_control_api(receiver, webhook_session):
    app = create_sandbox_app(webhook_url=WEBHOOK_URL, webhook_session=webhook_session)
    base, stop = start_in_thread(app)
    try:
        api = Api(requests.Session(), base)
        api.issue_key("cust_1")
        now = requests.get(f"{base}/_sandbox/clock", timeout=5).json()["now"]
        api.schedule("cust_1", ("sub_1", now + 60))
        moved = requests.post(f"{base}/_sandbox/clock", json={"advance": 60}, timeout=5).json()
        executed = requests.post(f"{base}/_sandbox/run-due", timeout=5).json()
        missing = api.get("/payments/find/nope/")
    finally:
        stop()

    assert moved["now"] >= now + 60
    assert executed == {"executed": ["sub_1"]}
    assert receiver.calls[0]["json"]["merchant_uid"] == "sub_1"
    assert missing.status_code == 404


def test_runner_executes_due_schedules_in_the_background(api, state, receiver):
    api.issue_key("cust_1")
    api.schedule("cust_1", ("sub_1", state.now() + 1))
    state.advance(5)
    state.start_runner(interval=0.02)
    try:
        deadline = time.monotonic() + 5
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        state.stop_runner()

    assert receiver.calls[0]["json"]["status"] == "paid"


def test_clock_control(session, state):
    before = session.get(f"{API}/_sandbox/clock").json()["now"]
    advanced = session.post(f"{API}/_sandbox/clock", json={"advance": 3600}).json()["now"]
    fixed = session.post(f"{API}/_sandbox/clock", data={"now": "2000000000"}).json()

    assert advanced - before == 3600  # the fixture froze the clock
    assert fixed == {"now": 2000000000}
    assert session.post(f"{API}/_sandbox/clock", json={}).status_code == 400


def test_a_frozen_clock_moves_only_when_told_and_can_flow_again(session):
    session.post(f"{API}/_sandbox/clock", json={"frozen": False, "now": 2000000000})
    flowing = session.post(f"{API}/_sandbox/clock", json={"frozen": True}).json()["now"]
    time.sleep(1.05)
    still = session.get(f"{API}/_sandbox/clock").json()["now"]
    session.post(f"{API}/_sandbox/clock", json={"frozen": False})
    time.sleep(1.05)
    resumed = session.get(f"{API}/_sandbox/clock").json()["now"]

    assert flowing in (2000000000, 2000000001)
    assert still == flowing
    assert resumed - still in (1, 2)


def test_reset_forgets_everything(api, session, state):
    api.issue_key("cust_1")
    state.advance(86400)
    session.put(f"{API}/_sandbox/faults", json={"path": "x", "status": 500})

    assert session.post(f"{API}/_sandbox/reset").status_code == 200

    summary = session.get(f"{API}/_sandbox/state").json()
    assert summary["customers"] == 0 and summary["faults"] == 0
    assert abs(summary["now"] - time.time()) < 5
    assert api.get("/subscribe/customers/cust_1").json()["code"] == 1


def test_behavior_and_webhook_control_validate_their_input(session):
    assert session.put(f"{API}/_sandbox/customers/c/behavior",
                       json={"outcome": "maybe"}).status_code == 400
    assert session.put(f"{API}/_sandbox/webhook",
                       json={"url": "http://x", "content_type": "text/plain"}).status_code == 400
    behavior = session.put(f"{API}/_sandbox/customers/c/behavior", json={"outcome": "decline"})
    assert behavior.json() == {"customer_uid": "c", "outcome": "decline",
                               "fail_reason": "[CC10] 통장 잔액부족"}


def test_request_log_names_parameters_but_never_values(api, session):
    api.issue_key("cust_1")
    api.get("/subscribe/customers", params={"customer_uid[]": ["cust_1"]})

    log = session.get(f"{API}/_sandbox/requests").json()
    dumped = json.dumps(log, ensure_ascii=False)

    issue = next(entry for entry in log if entry["path"] == "/subscribe/customers/cust_1")
    assert issue["method"] == "POST" and issue["status"] == 200
    assert "card_number" in issue["body"] and "pwd_2digit" in issue["body"]
    assert log[-1]["query"] == ["customer_uid[]"]
    for secret in ("5570", "880101", "sandbox_secret", "홍길동"):
        assert secret not in dumped
