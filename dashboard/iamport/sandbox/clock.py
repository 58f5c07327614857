"""The sandbox clock: real time plus a settable offset, optionally frozen.

Left running, sandbox time flows with real time, which the demo needs (the runner executes
schedules as they fall due). Frozen, it moves only when set or advanced, which makes tests
exact: nothing changes between two readings.
"""

from __future__ import annotations

import time


class SandboxClock:
    """Sandbox time in UNIX seconds. Not thread-safe by itself: the state's lock guards it."""

    def __init__(self, offset: float = 0.0, frozen_at: float | None = None):
        self.offset = offset
        self.frozen_at = frozen_at

    @property
    def frozen(self) -> bool:
        """Tell whether time stands still."""
        return self.frozen_at is not None

    def _exact(self) -> float:
        return self.frozen_at if self.frozen else time.time() + self.offset

    def now(self) -> int:
        """Return sandbox time in whole seconds."""
        return int(self._exact())

    def advance(self, seconds: float) -> None:
        """Move time forward (or back, with a negative number)."""
        if self.frozen:
            self.frozen_at += seconds
        else:
            self.offset += seconds

    def set(self, unix: float) -> None:
        """Jump to a given time."""
        if self.frozen:
            self.frozen_at = float(unix)
        else:
            self.offset = unix - time.time()

    def freeze(self, frozen: bool = True) -> None:
        """Stop time at the current instant, or let it flow again from where it stands."""
        if frozen and not self.frozen:
            self.frozen_at = float(self.now())
        elif not frozen and self.frozen:
            self.offset = self.frozen_at - time.time()
            self.frozen_at = None

    def to_dict(self) -> dict:
        """Return the clock's settings for the state file."""
        return {"offset": self.offset, "frozen_at": self.frozen_at}

    @classmethod
    def from_dict(cls, data: dict) -> SandboxClock:
        """Rebuild a clock from the state file."""
        return cls(data.get("offset", 0.0), data.get("frozen_at"))
