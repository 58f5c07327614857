"""The subscription operations dashboard for iamport / PortOne V1 recurring billing.

``create_app`` is the only place an application is built.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter

from . import config as settings
from . import rollups
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
    instance_path.mkdir(parents=True, exist_ok=True)
    database_url = app.config["DATABASE_URL"] or f"sqlite:///{instance_path / 'dashboard.sqlite'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(database_url)
    refuse_insecure_configuration(app)

    db.init_app(app)
    rollups.install()
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

    if app.config.get("PROXY_FIX_X_FOR"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["PROXY_FIX_X_FOR"]))

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


def refuse_insecure_configuration(app: Flask) -> None:
    """Stop outside debug, demo and tests when the session key is missing or the placeholder."""
    if app.debug or app.testing or app.config.get("DEMO"):
        return
    secret = app.config.get("SECRET_KEY")
    if not secret or secret == settings.DEFAULT_SECRET_KEY:
        raise settings.InsecureConfiguration(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable (or SECRET_KEY in "
            "instance/config.py) to a long random value, for example the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
