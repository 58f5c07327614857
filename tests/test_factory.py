"""The application factory, configuration precedence and the health check."""
import os

import pytest

from dashboard import create_app
from dashboard.config import DEFAULT_SECRET_KEY, InsecureConfiguration


def test_create_app_builds_a_fresh_app_each_call(app_config):
    first, second = create_app(app_config), create_app(app_config)
    assert first is not second
    assert first.config["TESTING"] is True


def test_defaults(app_config):
    app = create_app(app_config)
    assert app.config["IAMPORT_API_URL"] == "https://api.iamport.kr"
    assert app.config["IAMPORT_PG"] == "kcp"
    assert app.config["BILLING_MODE"] == "schedule"
    assert app.config["DISPLAY_TIMEZONE"] == "Asia/Seoul"
    assert app.config["IAMPORT_WEBHOOK_ALLOWED_IPS"] == ()


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        f"sqlite:///{tmp_path / 'instance' / 'dashboard.sqlite'}"
    )
    assert (tmp_path / "instance").is_dir()


def test_configuration_precedence(tmp_path, monkeypatch):
    """Defaults < instance/config.py < environment < the factory's argument."""
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        "IAMPORT_PG = 'kcp'\n"
        "BILLING_MODE = 'again'\n"
        "DISPLAY_TIMEZONE = 'UTC'\n"
        "SECRET_KEY = 'from-instance-file-0123456789abcdef'\n"
    )
    monkeypatch.setenv("BILLING_MODE", "schedule")
    monkeypatch.setenv("DISPLAY_TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("IAMPORT_WEBHOOK_ALLOWED_IPS", "52.78.100.19, 52.78.48.223,")
    app = create_app({"INSTANCE_PATH": instance, "DISPLAY_TIMEZONE": "Asia/Seoul"})

    assert app.config["IAMPORT_API_URL"] == "https://api.iamport.kr"  # default
    assert app.config["IAMPORT_PG"] == "kcp"  # instance file
    assert app.config["SECRET_KEY"] == "from-instance-file-0123456789abcdef"  # instance file
    assert app.config["BILLING_MODE"] == "schedule"  # environment beats instance file
    assert app.config["IAMPORT_WEBHOOK_ALLOWED_IPS"] == ("52.78.100.19", "52.78.48.223")
    assert app.config["DISPLAY_TIMEZONE"] == "Asia/Seoul"  # argument beats environment


@pytest.mark.parametrize("secret", [None, "", DEFAULT_SECRET_KEY])
def test_refuses_to_start_without_a_real_secret_key(tmp_path, monkeypatch, secret):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    config = {"INSTANCE_PATH": tmp_path}
    if secret is not None:
        config["SECRET_KEY"] = secret
    with pytest.raises(InsecureConfiguration, match="SECRET_KEY is not set"):
        create_app(config)


def test_placeholder_secret_is_allowed_in_tests(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app({"INSTANCE_PATH": tmp_path, "TESTING": True})
    assert app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY


@pytest.mark.parametrize("mode", [{"DEMO": True}, {"DEBUG": True}])
def test_debug_and_demo_generate_a_private_key_into_the_instance_folder(
    tmp_path, monkeypatch, mode
):
    """``flask run --debug`` never signs sessions with a key published in the source."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app({"INSTANCE_PATH": tmp_path, **mode})
    key_file = tmp_path / "secret_key"
    assert app.config["SECRET_KEY"] == key_file.read_text() != DEFAULT_SECRET_KEY
    assert len(app.config["SECRET_KEY"]) >= 32
    assert key_file.stat().st_mode & 0o777 == 0o600
    # The next start reuses it, so sessions survive a reload.
    assert create_app({"INSTANCE_PATH": tmp_path, **mode}).config["SECRET_KEY"] == (
        app.config["SECRET_KEY"])


def test_environment_secret_key_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-value-0123456789")
    app = create_app({"INSTANCE_PATH": tmp_path})
    assert app.config["SECRET_KEY"] == "a-long-random-production-value-0123456789"


def test_refuses_a_short_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "short-but-not-the-placeholder")
    with pytest.raises(InsecureConfiguration, match="at least 32"):
        create_app({"INSTANCE_PATH": tmp_path})


def test_the_default_sqlite_file_is_private(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    previous = os.umask(0o022)  # a common umask: new files readable by everyone
    try:
        create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance"})
    finally:
        os.umask(previous)
    assert (tmp_path / "instance").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "instance" / "dashboard.sqlite").stat().st_mode & 0o777 == 0o600


def test_postgres_urls_use_psycopg_3(tmp_path):
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": "postgres://u@db/x"}
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/x"


def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok", "db": "ok", "queue": {"waiting": 0, "oldest_s": 0}
    }


def test_healthz_reports_503_when_the_database_does_not_answer(tmp_path):
    # A SQLite file inside a folder that does not exist cannot be opened.
    missing = tmp_path / "missing" / "db.sqlite"
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{missing}"}
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "db": "unavailable"}
