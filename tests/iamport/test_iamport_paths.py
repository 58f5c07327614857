"""Ids in API paths, as they arrive on the wire (a plain HTTP server records the raw path)."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime

import pytest
import requests

from dashboard.iamport import IamportClient, NotFound

pytestmark = pytest.mark.e2e


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answer every call with the API's "not found" refusal and remember the raw path."""

    seen: list[str]

    def answer(self):
        self.seen.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path == "/users/getToken":
            body = {"code": 0, "message": None, "response": {
                "access_token": "t", "now": 1_000, "expired_at": 2_800}}
        else:
            body = {"code": 1, "message": "찾을 수 없습니다", "response": None}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


@pytest.fixture
def wire():
    """Serve the recorder on a free port; yield (client, the list of raw paths)."""
    seen: list[str] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with requests.Session() as session:
        client = IamportClient(f"http://127.0.0.1:{server.server_port}", "k", "s",
                               session=session, read_retries=0)
        yield client, seen
    server.shutdown()
    server.server_close()


def every_path_call(client: IamportClient, value: str):
    """Each client method that puts ``value`` into a path, as a thunk."""
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    return {
        "get_billing_key": lambda: client.get_billing_key(value),
        "delete_billing_key": lambda: client.delete_billing_key(value),
        "issue_billing_key": lambda: client.issue_billing_key(
            value, card_number="1", expiry="2030-12", birth="900101"),
        "list_customer_payments": lambda: client.list_customer_payments(value),
        "list_customer_schedules": lambda: client.list_customer_schedules(
            value, schedule_from=moment, schedule_to=moment),
        "get_schedule": lambda: client.get_schedule(value),
        "update_schedule_time": lambda: client.update_schedule_time(value, moment),
        "reschedule": lambda: client.reschedule(value, moment),
        "retry_schedule": lambda: client.retry_schedule(value),
        "get_payment": lambda: client.get_payment(value),
        "find_payment": lambda: client.find_payment(value),
        "find_payment_status": lambda: client.find_payment("m", status=value),
        "list_payments": lambda: client.list_payments(value),
    }


@pytest.mark.parametrize("value, quoted", [
    ("a/b", "a%2Fb"), ("x?y=1", "x%3Fy%3D1"), ("x#y", "x%23y"), ("..a", "..a"),
    ("고객", "%EA%B3%A0%EA%B0%9D"),
])
def test_every_path_id_arrives_as_one_segment(wire, value, quoted):
    client, seen = wire
    for name, call in every_path_call(client, value).items():
        seen.clear()
        with pytest.raises(NotFound):
            call()
        sent = [path for path in seen if path != "/users/getToken"]
        assert len(sent) == 1, name
        assert f"/{quoted}" in sent[0].split("?")[0], (name, sent)
        assert value not in sent[0] or value == quoted, (name, sent)


@pytest.mark.parametrize("value", [".", "..", ""])
def test_a_dot_segment_is_never_sent(wire, value):
    """requests turns %2E back into "." and servers resolve "..": such an id is refused here."""
    client, seen = wire
    for name, call in every_path_call(client, value).items():
        seen.clear()
        with pytest.raises(NotFound):
            call()
        assert [path for path in seen if path != "/users/getToken"] == [], name
