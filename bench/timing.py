"""Repeat a call, keep each duration, and summarise them as median and 95th percentile."""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Budget:
    """How often to repeat one measurement: at least ``min_reps`` times, at most ``max_reps``,
    and stop early once ``seconds`` have been spent (slow pages get fewer repetitions)."""

    min_reps: int = 5
    max_reps: int = 60
    seconds: float = 4.0
    warmup: int = 2


@dataclass
class Statement:
    """One SQL statement a page ran, how long it took, and how SQLite planned it."""

    sql: str
    parameters: object
    ms: float
    plan: list[str] = field(default_factory=list)


@dataclass
class Measurement:
    """The durations of one page (or baseline) and what its slowest statements were."""

    key: str
    label: str
    side: str  # ours, peer or bare
    samples_ms: list[float]
    note: str = ""
    statements: list[Statement] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)

    @property
    def reps(self) -> int:
        return len(self.samples_ms)

    @property
    def sql_ms(self) -> float:
        return sum(statement.ms for statement in self.statements)


def percentile(samples: list[float], rank: float) -> float:
    """Return the nearest-rank percentile (with few samples, p95 is the slowest one)."""
    ordered = sorted(samples)
    index = max(math.ceil(rank / 100 * len(ordered)) - 1, 0)
    return ordered[index]


def repeat(call: Callable[[], object], budget: Budget) -> list[float]:
    """Run ``call`` after a warm-up and return each run's duration in milliseconds."""
    for _ in range(budget.warmup):
        call()
    samples: list[float] = []
    deadline = time.perf_counter() + budget.seconds
    while len(samples) < budget.max_reps:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
        if len(samples) >= budget.min_reps and time.perf_counter() > deadline:
            break
    return samples
