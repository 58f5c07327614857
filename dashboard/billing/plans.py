"""The plan catalogue."""
from __future__ import annotations

from ..extensions import db
from ..models import Plan
from . import audit


class PlanError(Exception):
    """A plan could not be created or changed."""


class DuplicatePlan(PlanError):
    """A plan with this code already exists."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(f"A plan with the code {code!r} already exists.")


class InvalidPlan(PlanError):
    """The plan's values break a rule (amount, interval, credits, name length)."""


def add_plan(
    code: str,
    *,
    name: str,
    amount: int,
    interval_unit: str = "month",
    interval_count: int = 1,
    credits_per_period: int | None = None,
    actor: audit.Actor = audit.CLI,
) -> Plan:
    """Create a plan and commit it."""
    code = code.strip()
    if not code or len(code) > 40:
        raise InvalidPlan("The plan code must be 1 to 40 characters.")
    if not name.strip() or len(name) > 40:
        # iamport limits a payment's name to 40 characters, and the plan name becomes it.
        raise InvalidPlan("The plan name must be 1 to 40 characters.")
    if amount <= 0:
        raise InvalidPlan("The amount must be a positive number of won.")
    if interval_unit not in ("month", "day") or interval_count <= 0:
        raise InvalidPlan("The interval must be monthly or a positive number of days.")
    if credits_per_period is not None and credits_per_period < 0:
        raise InvalidPlan("Credits per period cannot be negative.")
    if db.session.scalar(db.select(Plan.id).where(Plan.code == code)) is not None:
        raise DuplicatePlan(code)
    plan = Plan(
        code=code,
        name=name.strip(),
        amount=amount,
        interval_unit=interval_unit,
        interval_count=interval_count,
        credits_per_period=credits_per_period,
    )
    db.session.add(plan)
    db.session.flush()
    audit.record(
        "plan.create",
        "plan",
        plan.id,
        actor=actor,
        details={"code": code, "amount": amount, "interval": f"{interval_count} {interval_unit}"},
    )
    db.session.commit()
    return plan
