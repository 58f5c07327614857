"""Configuration: defaults, then ``instance/config.py``, then environment variables.

Every environment variable the application reads is listed in ``ENVIRONMENT_VARIABLES`` and
documented in the README.
"""
import os
from pathlib import Path

from flask import current_app

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Where instance/config.py and the default SQLite file live; movable for tests and packaging.
INSTANCE_PATH = Path(os.environ.get("DASHBOARD_INSTANCE_PATH", PROJECT_ROOT / "instance"))
TEMPLATE_FOLDER = PROJECT_ROOT / "templates"
STATIC_FOLDER = PROJECT_ROOT / "static"

# A placeholder that is never acceptable outside debug and demo runs.
DEFAULT_SECRET_KEY = "dev-insecure-change-me"
# Outside debug, demo and tests the session key must be at least this long.
MIN_SECRET_KEY_LENGTH = 32
# Where ``flask run --debug`` keeps the key it generates (created 0600).
DEBUG_SECRET_KEY_FILE = "secret_key"
# A cheap hash for test runs, which sign in hundreds of times (production keeps scrypt).
TEST_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"

# How each environment variable is converted; unknown names are not read.
ENVIRONMENT_VARIABLES = {
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "IAMPORT_API_URL": str,
    "IAMPORT_IMP_KEY": str,
    "IAMPORT_IMP_SECRET": str,
    "IAMPORT_PG": str,
    "IAMPORT_WEBHOOK_TOKEN": str,
    "IAMPORT_WEBHOOK_ALLOWED_IPS": lambda value: tuple(
        ip.strip() for ip in value.split(",") if ip.strip()
    ),
    "BILLING_MODE": str,
    "DISPLAY_TIMEZONE": str,
    "PROXY_FIX_X_FOR": int,
    "SESSION_COOKIE_SECURE": lambda value: value.strip().lower() not in ("0", "false", "no", "off"),
    "SESSION_IDLE_MINUTES": int,
    "SESSION_MAX_HOURS": int,
    "PASSWORD_HASH_METHOD": str,
}


class Defaults:
    """Values used when neither the instance file nor the environment sets them."""

    SECRET_KEY = DEFAULT_SECRET_KEY
    # Empty means the SQLite file ``dashboard.sqlite`` in the instance folder.
    DATABASE_URL = ""
    IAMPORT_API_URL = "https://api.iamport.kr"
    IAMPORT_IMP_KEY = ""
    IAMPORT_IMP_SECRET = ""
    # The channel keys are issued and charged on: ``kcp`` (NHN KCP's REST recurring channel,
    # "NHN KCP API") or ``kcp.<site code>`` when the account has more than one KCP channel.
    IAMPORT_PG = "kcp"
    IAMPORT_WEBHOOK_TOKEN = ""
    # Tuples, not lists: the defaults are shared by every app built in the process.
    IAMPORT_WEBHOOK_ALLOWED_IPS: tuple[str, ...] = ()
    IAMPORT_CONNECT_TIMEOUT = 3.05
    IAMPORT_READ_TIMEOUT = 20.0
    BILLING_MODE = "schedule"
    DISPLAY_TIMEZONE = "Asia/Seoul"
    # Number of reverse proxies whose X-Forwarded-For is trusted for the client address.
    PROXY_FIX_X_FOR = 0
    # Prefix of derived merchant_uids: <prefix><subscription id>-p<period>-a<attempt>.
    MERCHANT_UID_PREFIX = "sub"
    # Dunning: days between retries of a failed period charge, then the final action.
    DUNNING_RETRY_DAYS = (1, 1, 1)
    DUNNING_FINAL_ACTION = "past_due"
    # SQLite only: process webhooks in a thread of the web process. None: yes, except in tests.
    WEBHOOK_THREAD = None
    # Demo runs may use the placeholder secret; nothing else may.
    DEMO = False
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # None: Secure cookies and HSTS outside debug and demo; False for a plain-HTTP setup.
    SESSION_COOKIE_SECURE = None
    # A signed-in session ends after this long without a request, and this long after sign-in.
    SESSION_IDLE_MINUTES = 30
    SESSION_MAX_HOURS = 12
    # werkzeug method string; hashes made another way are replaced at the next sign-in.
    PASSWORD_HASH_METHOD = "scrypt:131072:8:1"
    # Sign-in throttling, counted in the database so every worker and host sees the same.
    SIGN_IN_WINDOW_MINUTES = 15
    SIGN_IN_FAILURES_PER_ACCOUNT_AND_ADDRESS = 5
    SIGN_IN_FAILURES_PER_ADDRESS = 30
    # Every attempt costs a password hash: at most this many per address per minute.
    SIGN_IN_ATTEMPTS_PER_ADDRESS_PER_MINUTE = 10
    # CSV exports one staff member may run at once.
    MAX_CONCURRENT_EXPORTS = 2
    BABEL_DEFAULT_LOCALE = "ko"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("ko", "en")


def read_environment(environ=os.environ) -> dict:
    """Return the settings present in the environment, converted to their types."""
    return {
        name: convert(environ[name])
        for name, convert in ENVIRONMENT_VARIABLES.items()
        if name in environ
    }


class InsecureConfiguration(RuntimeError):
    """The configuration is not safe to run outside debug or demo mode."""


def billing_mode() -> str:
    """Return who starts period charges: ``schedule`` (iamport) or ``again`` (charge-due)."""
    return current_app.config.get("BILLING_MODE", "schedule")


def iamport_pg() -> str:
    """Return the ``pg`` sent wherever the API takes one: ``kcp`` or ``kcp.<site code>``."""
    return current_app.config.get("IAMPORT_PG") or "kcp"


def merchant_uid_prefix() -> str:
    """Return the prefix of the ``merchant_uid`` derived for automatic charges."""
    return current_app.config.get("MERCHANT_UID_PREFIX", "sub")


def webhook_intake_open(config) -> bool:
    """Whether webhooks are accepted from anyone: neither a token nor an allow-list is set."""
    return not config.get("IAMPORT_WEBHOOK_TOKEN") and not config.get("IAMPORT_WEBHOOK_ALLOWED_IPS")
