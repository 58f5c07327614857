"""htmx glue: recognise htmx requests, answer with a page or its fragment, redirect the htmx way.

The pinned htmx release lives here too, so the page, the Content-Security-Policy and the tests
agree on one address and one Subresource Integrity hash.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Response, make_response, redirect, render_template, request

HTMX_VERSION = "2.0.11"
HTMX_URL = f"https://cdn.jsdelivr.net/npm/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"
# sha384 of dist/htmx.min.js in the npm package htmx.org@2.0.11 (checked by a test).
HTMX_INTEGRITY = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"

# htmx 2 swaps only 2xx/3xx by default. Invalid forms answer 422 and must be swapped; other
# 4xx answers carry a message that ``HX-Retarget`` sends to the page's message area.
# No history snapshots in localStorage: pages hold customer data, and a miss reloads the page.
HTMX_CONFIG = {
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "historyCacheSize": 0,
    "refreshOnHistoryMiss": True,
    "historyRestoreAsHxRequest": False,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "422", "swap": True},
        {"code": "4..", "swap": True, "error": True},
        {"code": "5..", "swap": False, "error": True},
        {"code": "...", "swap": False},
    ],
}


def htmx_config_json() -> str:
    """Return the htmx configuration for the ``htmx-config`` meta tag."""
    return json.dumps(HTMX_CONFIG, separators=(",", ":"))


def is_htmx() -> bool:
    """Return whether htmx sent this request and wants a fragment, not a whole page.

    History restores and boosted links want full pages even though htmx sends them.
    """
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-History-Restore-Request") != "true"
        and headers.get("HX-Boosted") != "true"
    )


# The element every page's content sits in; htmx swaps it to update a page in place.
MAIN_TARGET = "main"


def render_page_or_fragment(
    page: str, fragment: str | None = None, /, status: int = 200, **context
) -> Response:
    """Render ``page``, its ``<main>`` content, or ``fragment``, marked ``Vary: HX-Request``.

    A plain request gets the whole page. An htmx request aimed at ``#main`` (an in-place
    reload after an action) gets the page's main content; any other htmx request gets
    ``fragment`` (a list's table, a form) when the page has one.
    """
    if not is_htmx():
        html = render_template(page, **context)
    elif fragment is None or request.headers.get("HX-Target") == MAIN_TARGET:
        html = render_template(page, main_only=True, **context)
    else:
        html = render_template(fragment, **context)
    response = make_response(html, status)
    response.vary.add("HX-Request")
    return response


MESSAGES_TARGET = "#messages"


def hx_redirect(url: str) -> Response:
    """Send the browser to ``url`` with a full navigation, for htmx and plain requests alike."""
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
    else:
        response = redirect(url, 303)
    response.vary.add("HX-Request")
    return response


def redirect_after_action(url: str, target: str = "#" + MAIN_TARGET) -> Response:
    """Show ``url`` after a successful form post: 303 for browsers, in-place reload for htmx.

    htmx fetches ``url`` as a fragment and swaps it into ``target`` (``HX-Location``), so the
    page updates without a full navigation and the address bar shows ``url``.
    """
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Location"] = json.dumps(
            {"path": url, "target": target, "swap": "innerHTML"}
        )
    else:
        response = redirect(url, 303)
    response.vary.add("HX-Request")
    return response


def safe_next(url: str | None, default: str) -> str:
    """Return ``url`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not url:
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return default
    if "\\" in url:
        return default
    return url
