"""Bearer tokens for the merchant's own application (the intake API).

A token is shown once when created; only its SHA-256 hash and a short prefix for recognising
it are kept.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from .billing import audit, now
from .extensions import db
from .models import API_SCOPES, ApiToken

TOKEN_PREFIX = "dsk_"
# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """An API token could not be created."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, *, actor: audit.Actor, scopes=API_SCOPES) -> str:
    """Create a token with ``scopes``, commit its hash, and return the token (shown once)."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise TokenError("The token name must be 1 to 100 printable characters.")
    chosen = set(scopes)
    if not chosen or not chosen <= set(API_SCOPES):
        raise TokenError("Choose one or more scopes of: " + ", ".join(API_SCOPES) + ".")
    scopes = [scope for scope in API_SCOPES if scope in chosen]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, prefix=token[:12], token_hash=hash_token(token),
                   created_by_id=actor.user_id, scopes=" ".join(scopes))
    db.session.add(row)
    db.session.flush()
    audit.record("api_token.create", "api_token", row.id, actor=actor,
                 details={"name": name, "scopes": scopes})
    db.session.commit()
    return token


def authenticate(token: str | None) -> ApiToken | None:
    """Return the live token matching ``token``, or None."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    row = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.last_used_at is None or row.last_used_at < now() - LAST_USED_RESOLUTION:
        row.last_used_at = now()
        db.session.commit()
    return row


def revoke_token(token_id: int, *, actor: audit.Actor) -> ApiToken | None:
    """Stop one token from working and commit; return it, or None if there is no such token."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = now()
        audit.record("api_token.revoke", "api_token", row.id, actor=actor,
                     details={"name": row.name})
        db.session.commit()
    return row


def revoke_tokens(name: str, *, actor: audit.Actor) -> int:
    """Stop every live token with this name from working; return how many were revoked."""
    rows = db.session.scalars(
        db.select(ApiToken).where(ApiToken.name == name.strip(), ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now()
        audit.record("api_token.revoke", "api_token", row.id, actor=actor,
                     details={"name": row.name})
    db.session.commit()
    return len(rows)
