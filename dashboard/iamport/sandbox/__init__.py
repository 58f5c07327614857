"""An emulator of the iamport / PortOne V1 REST API for recurring billing with NHN KCP.

It stands alone: nothing here imports the rest of the dashboard, which meets it only over the
V1 API. Use it in process through ``WSGIAdapter``, or over HTTP with ``server.serve`` /
``server.start_in_thread``. The ``/_sandbox`` control API (see ``control``) moves its clock,
runs due schedules, scripts card outcomes, configures webhooks and injects faults.
"""

from .app import create_sandbox_app
from .core import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET
from .state import SandboxState

__all__ = ["DEFAULT_IMP_KEY", "DEFAULT_IMP_SECRET", "SandboxState", "create_sandbox_app"]
