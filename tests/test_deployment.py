"""The shipped gunicorn settings: threads, a timeout for full exports, no query in the log."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def load_config() -> Config:
    config = Config()
    namespace: dict = {}
    exec(compile(CONF.read_text(), str(CONF), "exec"), namespace)  # noqa: S102 - our own file
    for name, value in namespace.items():
        if name in config.settings:
            config.set(name, value)
    return config


def test_gunicorn_runs_threads_with_a_timeout_for_full_exports():
    config = load_config()
    assert config.worker_class_str == "gthread" and config.threads >= 4
    assert config.timeout >= 300


def test_the_access_log_leaves_the_webhook_token_out():
    config = load_config()
    logger = Logger(config)
    request = SimpleNamespace(
        method="POST", path="/webhooks/iamport", query="token=s3cret-webhook-token",
        uri="/webhooks/iamport?token=s3cret-webhook-token", version=(1, 1),
        headers=[("USER-AGENT", "iamport"), ("REFERER", "https://x.example/?token=s3cret")],
    )
    response = SimpleNamespace(status="200 OK", sent=12, headers=[], response_length=12)
    environ = {"REMOTE_ADDR": "52.78.100.19", "RAW_URI": request.uri, "PATH_INFO": request.path,
               "QUERY_STRING": request.query, "SERVER_PROTOCOL": "HTTP/1.1",
               "REQUEST_METHOD": "POST"}
    atoms = logger.atoms(response, request, environ, timedelta(seconds=1))
    line = config.access_log_format % atoms
    assert "/webhooks/iamport" in line and "52.78.100.19" in line
    assert "s3cret" not in line
    # The same request with gunicorn's default format would have logged it.
    assert "s3cret" in Config().access_log_format % atoms
