"""Dependency floors above known advisories, and lock files that satisfy pyproject.toml."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The first version without the advisory each floor guards against.
ADVISORY_FLOORS = {
    "gunicorn": "23.0",
    "requests": "2.32.4",
    "jinja2": "3.1.6",
    "werkzeug": "3.0.6",
    "flask": "3.1.1",
    "urllib3": "2.5.0",
}


def requirements(extra: str | None = None) -> dict[str, Requirement]:
    listed = PROJECT["dependencies"] + (PROJECT["optional-dependencies"][extra] if extra else [])
    return {Requirement(line).name.lower(): Requirement(line) for line in listed}


def pins(lock: str) -> dict[str, Version]:
    text = (ROOT / lock).read_text()
    pinned = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, re.MULTILINE)
    return {name.lower(): Version(version) for name, version in pinned}


@pytest.mark.parametrize("name, floor", sorted(ADVISORY_FLOORS.items()))
def test_floors_exclude_versions_with_known_advisories(name, floor):
    requirement = requirements()[name]
    below = Version(floor).release
    older = Version(".".join(map(str, below[:-1] + (below[-1] - 1,)))) if below[-1] else None
    assert Version(floor) in requirement.specifier
    if older is not None:
        assert older not in requirement.specifier, f"{name} still allows {older}"


@pytest.mark.parametrize("lock, extra", [("requirements.lock", None),
                                         ("requirements-test.lock", "test")])
def test_lock_files_pin_every_dependency_within_its_range(lock, extra):
    pinned = pins(lock)
    for name, requirement in requirements(extra).items():
        assert name in pinned, f"{lock} lacks {name}"
        assert pinned[name] in requirement.specifier, f"{lock}: {name}=={pinned[name]}"
    assert "--hash=sha256:" in (ROOT / lock).read_text()
