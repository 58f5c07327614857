"""Fixtures for the reliability matrix: a fresh world (dashboard, sandbox, relay) per test,
and the hypothesis profiles the property-based tests run under.

Profiles: ``reliability-ci`` (default: 25 examples, derandomized so CI is repeatable) and
``reliability-deep`` (300 random examples, for a local hunt). Choose with the environment
variable ``RELIABILITY_HYPOTHESIS_PROFILE``. They are applied per test (see
``properties_settings``), so other test packages keep hypothesis's own defaults.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import pytest
from hypothesis import HealthCheck, settings

from tests.reliability.world import add_plan, build_world

settings.register_profile(
    "reliability-ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "reliability-deep",
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE = os.environ.get("RELIABILITY_HYPOTHESIS_PROFILE", "reliability-ci")

# When a property fails, hypothesis's pytest plugin imports its patch writer (libcst), whose
# import raises a DeprecationWarning that ``filterwarnings = error`` turns into an internal
# error hiding the falsifying example. Import it once here, quietly, so the report is shown.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import hypothesis.extra._patching  # noqa: F401


def properties_settings(**overrides) -> settings:
    """The selected profile, with per-test overrides (e.g. fewer examples for slow ones)."""
    return settings(settings.get_profile(PROFILE), **overrides)


def properties_timeout() -> int:
    """Seconds a property test may take under the selected profile (0: no limit, for the
    long local hunt)."""
    return 300 if PROFILE == "reliability-ci" else 0


@pytest.fixture
def world(schema_ready):
    """A fresh dashboard + sandbox + relay in schedule mode, with the ``basic`` plan."""
    with build_world(schema_ready) as fresh:
        add_plan()
        yield fresh


@pytest.fixture
def again_world(schema_ready):
    """The same in again mode (our own ``charge-due`` runner charges)."""
    with build_world(schema_ready, billing_mode="again") as fresh:
        add_plan()
        yield fresh
