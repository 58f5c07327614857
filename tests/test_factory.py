"""The application factory, configuration precedence and the health check."""
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
        "SECRET_KEY = 'from-instance-file'\n"
    )
    monkeypatch.setenv("BILLING_MODE", "schedule")
    monkeypatch.setenv("DISPLAY_TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("IAMPORT_WEBHOOK_ALLOWED_IPS", "52.78.100.19, 52.78.48.223,")
    app = create_app({"INSTANCE_PATH": instance, "DISPLAY_TIMEZONE": "Asia/Seoul"})

    assert app.config["IAMPORT_API_URL"] == "https://api.iamport.kr"  # default
    assert app.config["IAMPORT_PG"] == "kcp"  # instance file
    assert app.config["SECRET_KEY"] == "from-instance-file"  # instance file
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


@pytest.mark.parametrize("mode", [{"DEMO": True}, {"TESTING": True}, {"DEBUG": True}])
def test_placeholder_secret_is_allowed_in_demo_debug_and_tests(tmp_path, monkeypatch, mode):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app({"INSTANCE_PATH": tmp_path, **mode})
    assert app.config["SECRET_KEY"] == DEFAULT_SECRET_KEY


def test_environment_secret_key_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-value")
    app = create_app({"INSTANCE_PATH": tmp_path})
    assert app.config["SECRET_KEY"] == "a-long-random-production-value"


def test_postgres_urls_use_psycopg_3(tmp_path):
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": "postgres://u@db/x"}
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/x"


def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "db": "ok"}


def test_healthz_reports_503_when_the_database_does_not_answer(tmp_path):
    # A SQLite file inside a folder that does not exist cannot be opened.
    missing = tmp_path / "missing" / "db.sqlite"
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{missing}"}
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "db": "unavailable"}
