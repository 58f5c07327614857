"""The subscription operations dashboard for iamport / PortOne V1 recurring billing.

``create_app`` is the only place an application is built.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter

from . import attention, rollups
from . import config as settings
from .extensions import babel, csrf, db, login_manager, migrate
from .formatting import select_locale


def create_app(config: dict | None = None) -> Flask:
    """Build the dashboard: defaults, then ``instance/config.py``, environment, ``config``."""
    instance_path = Path((config or {}).get("INSTANCE_PATH", settings.INSTANCE_PATH))
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        instance_relative_config=True,
        template_folder=str(settings.TEMPLATE_FOLDER),
        static_folder=str(settings.STATIC_FOLDER),
    )
    app.config.from_object(settings.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(settings.read_environment())
    app.config.from_mapping(config or {})
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    database_url = app.config["DATABASE_URL"] or f"sqlite:///{instance_path / 'dashboard.sqlite'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(database_url)
    create_private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    use_generated_secret_in_debug(app, instance_path)
    refuse_insecure_configuration(app)
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = not (app.debug or app.config.get("DEMO"))
    if app.testing and "PASSWORD_HASH_METHOD" not in (config or {}) and (
        "PASSWORD_HASH_METHOD" not in os.environ
    ):
        app.config["PASSWORD_HASH_METHOD"] = settings.TEST_PASSWORD_HASH_METHOD
    # The session cookie lives no longer than a session may (the server ends it sooner). Its
    # expiry is set at sign-in and never needs moving: the idle limit is kept on the server, so
    # re-signing the cookie on every answer would only cost time.
    app.config["PERMANENT_SESSION_LIFETIME"] = int(app.config["SESSION_MAX_HOURS"]) * 3600
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False

    db.init_app(app)
    rollups.install()
    attention.install()
    migrate.init_app(app, db, directory=str(settings.PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from .iamport import IamportClient

    # Tests and the demo pass a client wired to the sandbox, and may pass a clock.
    app.extensions["iamport"] = app.config.get("IAMPORT_CLIENT") or IamportClient.from_config(
        app.config
    )
    app.extensions["clock"] = app.config.get("CLOCK")

    from .billing import tasks

    tasks.init_app(app)
    warn_when_webhooks_are_open(app)

    if app.config.get("PROXY_FIX_X_FOR"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The same proxies say whether the browser used HTTPS (X-Forwarded-Proto).
        proxies = int(app.config["PROXY_FIX_X_FOR"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    # Ids in URLs never exceed the integer columns: a larger one is a plain 404, not a
    # database error.
    app.url_map.converters["int"] = RowIdConverter

    from . import cli
    from .views import api, health, register_console, webhooks

    app.register_blueprint(health.bp)
    register_console(app)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(api.bp)
    cli.register(app)
    return app


class RowIdConverter(IntegerConverter):
    """``<int:...>`` limited to what a 32-bit integer primary key can hold."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgres://`` and ``postgresql://`` URLs."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def create_private_sqlite_file(uri: str) -> None:
    """Create a new SQLite database file readable by its owner only (it holds personal data).

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri == prefix or ":memory:" in uri:
        return
    path = Path(uri[len(prefix):].split("?")[0])
    if path.parent.is_dir() and not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def write_private_file(path: Path, content: str) -> None:
    """Write ``content`` to a new file only its owner can read (0600 whatever the umask)."""
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(content)


def use_generated_secret_in_debug(app: Flask, instance_path: Path) -> None:
    """In debug and demo runs without a key, use one generated once into ``instance/``.

    A public placeholder would let anyone who read the source forge a session.
    """
    if not (app.debug or app.config.get("DEMO")) or app.testing:
        return
    if app.config.get("SECRET_KEY") not in (None, "", settings.DEFAULT_SECRET_KEY):
        return
    key_file = instance_path / settings.DEBUG_SECRET_KEY_FILE
    if not key_file.exists():
        with contextlib.suppress(FileExistsError):  # another process wrote it first
            write_private_file(key_file, secrets.token_hex(32))
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def refuse_insecure_configuration(app: Flask) -> None:
    """Stop outside debug, demo and tests unless the session key is long and not the placeholder."""
    if app.debug or app.testing or app.config.get("DEMO"):
        return
    secret = app.config.get("SECRET_KEY")
    if not secret or secret == settings.DEFAULT_SECRET_KEY:
        raise settings.InsecureConfiguration(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable (or SECRET_KEY in "
            "instance/config.py) to a long random value, for example the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
    if len(secret) < settings.MIN_SECRET_KEY_LENGTH:
        raise settings.InsecureConfiguration(
            f"SECRET_KEY is too short: use at least {settings.MIN_SECRET_KEY_LENGTH} random "
            "characters, for example the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )


def warn_when_webhooks_are_open(app: Flask) -> None:
    """Log at start-up when anyone may post webhooks (no token and no address allow-list)."""
    if app.debug or app.testing or app.config.get("DEMO"):
        return
    if settings.webhook_intake_open(app.config):
        app.logger.warning(
            "Webhooks are accepted from any sender: set IAMPORT_WEBHOOK_TOKEN (and add "
            "?token=... to the notification URL in iamport's console) or "
            "IAMPORT_WEBHOOK_ALLOWED_IPS."
        )
