"""PG channels: which ``pg`` values the emulated account has settings for, and what they mean.

A ``pg`` parameter is ``{PG}`` or ``{PG}.{site code}`` (``kcp``, ``kcp.BA001``). The account's
channels are a list of such names, where ``{PG}.*`` stands for every site code of that PG; the
default list is ``kcp``, ``kcp_billing`` and ``kcp.*``. A bare ``{PG}`` uses the account's
default site code (``pg_id``), or the first site code listed for it when only site-coded
settings of that PG exist. Omitting ``pg`` uses the
default channel. A ``pg`` that names no channel of the account is refused: HTTP 200, code -1
(see ``UnknownChannel``).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CHANNELS = ("kcp", "kcp_billing", "kcp.*")
ANY_SITE_CODE = "*"


class UnknownChannel(Exception):
    """The ``pg`` parameter names a channel the account does not have."""

    def __init__(self, pg: str):
        super().__init__(pg)
        self.pg = pg

    def message(self) -> str:
        """Return the refusal's message."""
        return f"요청하신 PG({self.pg})의 설정정보를 찾을 수 없습니다."


@dataclass(frozen=True)
class Channel:
    """The PG and site code a key or payment is made on."""

    pg_provider: str
    pg_id: str


def check_names(names: list[str]) -> list[str]:
    """Return channel names if each is ``PG``, ``PG.code`` or ``PG.*``; raise ValueError."""
    if not isinstance(names, list) or not names:
        raise ValueError("channels must be a non-empty list of names such as kcp or kcp.*")
    for name in names:
        provider, _, code = str(name).partition(".")
        if not provider or (_ and not code):
            raise ValueError(f"not a channel name: {name!r}")
    return [str(name) for name in names]


def resolve(pg: str | None, names: list[str], default: Channel) -> Channel:
    """Return the channel a ``pg`` parameter selects; raise UnknownChannel."""
    if not pg:
        return default
    provider, dot, code = pg.partition(".")
    if not dot:
        if provider in names or f"{provider}.{ANY_SITE_CODE}" in names:
            return Channel(provider, default.pg_id)
        # Only site-coded settings of this PG: the first one, as the console lists them.
        codes = [name.partition(".")[2] for name in names if name.startswith(provider + ".")]
        codes = [code for code in codes if code != ANY_SITE_CODE]
        if codes:
            return Channel(provider, codes[0])
        raise UnknownChannel(pg)
    if code and (pg in names or f"{provider}.{ANY_SITE_CODE}" in names):
        return Channel(provider, code)
    raise UnknownChannel(pg)
