"""The pinned htmx release: one version in pyproject, the page, the policy and the tests."""
from __future__ import annotations

import base64
import hashlib
import tomllib
from pathlib import Path

import pytest

from dashboard import htmx

ROOT = Path(__file__).resolve().parents[2]
HTMX_FILE = ROOT / "tests" / "e2e" / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"


def test_version_matches_pyproject():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = settings["tool"]["dashboard"]["htmx-version"]
    assert pinned == htmx.HTMX_VERSION
    assert f"https://cdn.jsdelivr.net/npm/htmx.org@{pinned}/dist/htmx.min.js" == htmx.HTMX_URL
    package = (ROOT / "tests" / "e2e" / "package.json").read_text()
    assert f'"htmx.org": "{pinned}"' in package


def test_integrity_matches_the_npm_file():
    if not HTMX_FILE.exists():
        pytest.skip("needs the pinned htmx copy: npm install --prefix tests/e2e htmx.org@2.0.11")
    digest = base64.b64encode(hashlib.sha384(HTMX_FILE.read_bytes()).digest()).decode()
    assert f"sha384-{digest}" == htmx.HTMX_INTEGRITY


@pytest.mark.parametrize("path, expected", [
    ("/customers?q=a", "/customers?q=a"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("", "/"),
    ("javascript:alert(1)", "/"),
])
def test_safe_next(path, expected):
    assert htmx.safe_next(path, "/") == expected


def test_htmx_config_swaps_422_and_keeps_no_history_snapshots():
    config = htmx.HTMX_CONFIG
    assert {"code": "422", "swap": True} in config["responseHandling"]
    assert config["includeIndicatorStyles"] is False  # its inline style would break the CSP
    assert config["historyCacheSize"] == 0
