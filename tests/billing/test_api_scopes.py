"""API token scopes: chosen at creation, enforced on every route."""
from __future__ import annotations

import pytest

from dashboard import api_tokens
from dashboard.billing import audit
from dashboard.extensions import db
from dashboard.models import ApiToken, AuditEntry


def call(app, token, method, path, **kwargs):
    return app.test_client().open(f"/api/v1{path}", method=method,
                                  headers={"Authorization": f"Bearer {token}"}, **kwargs)


def test_a_read_only_token_reads_but_cannot_write(app):
    token = api_tokens.create_token("reporting", actor=audit.CLI, scopes=["subscriptions:read"])
    assert call(app, token, "GET", "/subscriptions/1").status_code == 404
    for path in ("/subscriptions", "/subscriptions/1/cancel"):
        response = call(app, token, "POST", path, json={})
        assert response.status_code == 403, path
        assert response.get_json()["error"]["code"] == "insufficient_scope"


def test_a_write_only_token_cannot_read(app):
    token = api_tokens.create_token("intake", actor=audit.CLI, scopes=["subscriptions:write"])
    assert call(app, token, "GET", "/subscriptions/1").status_code == 403
    assert call(app, token, "POST", "/subscriptions", json={}).status_code == 400


def test_every_api_route_requires_a_scope(app):
    views = [app.view_functions[rule.endpoint] for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("api.")]
    assert views and all(getattr(view, "required_scope", None) in
                         ("subscriptions:read", "subscriptions:write") for view in views)


@pytest.mark.parametrize("scopes", [[], ["admin"], ["subscriptions:read", "everything"]])
def test_unknown_or_missing_scopes_are_refused(app, scopes):
    with pytest.raises(api_tokens.TokenError):
        api_tokens.create_token("x", actor=audit.CLI, scopes=scopes)
    assert db.session.scalar(db.select(ApiToken)) is None


def test_the_cli_chooses_scopes(app, runner):
    result = runner.invoke(args=["create-api-token", "reports", "--scope", "subscriptions:read"])
    assert result.exit_code == 0, result.output
    row = db.session.scalar(db.select(ApiToken))
    assert row.scope_list == ["subscriptions:read"]
    entry = db.session.scalar(db.select(AuditEntry))
    assert entry.details["scopes"] == ["subscriptions:read"]
