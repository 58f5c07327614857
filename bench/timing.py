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
    # This process's CPU time per repetition: on a busy machine wall time includes waiting for
    # a core, CPU time does not (a database server's own work is not in it).
    cpu_samples_ms: list[float] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    is_page: bool = True

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_samples_ms) if self.cpu_samples_ms else float("nan")

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


# The rounds a fast page's repetitions are spread over (a slow page's are spread by time).
ROUNDS = 12


def interleave(calls: dict[str, Callable[[], object]], budget: Budget,
               on_done: Callable[[str, list[float]], None] | None = None,
               cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Time every call in rounds and return each one's durations in milliseconds (and, into
    ``cpu``, the process CPU time of each repetition).

    The machine may be busy with other work, or change speed; spreading each page's
    repetitions over the whole run, round after round, lets such load fall on every page
    alike, so ratios stay fair. In each round a call repeats until it has used its slice of
    the budget or made its share of ``ROUNDS`` (at least once): a fast page's repetitions
    would otherwise all fall in its first slice.
    """
    for call in calls.values():
        for _ in range(budget.warmup):
            call()
    samples: dict[str, list[float]] = {key: [] for key in calls}
    cpu = cpu if cpu is not None else {}
    for key in calls:
        cpu[key] = []
    spent = dict.fromkeys(calls, 0.0)
    time_slice = budget.seconds / max(budget.min_reps, 1)
    reps_per_round = max(1, math.ceil(budget.max_reps / ROUNDS))
    active = list(calls)
    while active:
        for key in list(active):
            call, used, reps = calls[key], 0.0, 0
            while True:
                started, cpu_started = time.perf_counter(), time.process_time()
                call()
                elapsed = time.perf_counter() - started
                samples[key].append(elapsed * 1000)
                cpu[key].append((time.process_time() - cpu_started) * 1000)
                used += elapsed
                reps += 1
                done = len(samples[key]) >= budget.max_reps or (
                    len(samples[key]) >= budget.min_reps and spent[key] + used >= budget.seconds
                )
                if done or used >= time_slice or reps >= reps_per_round:
                    break
            spent[key] += used
            if done:
                active.remove(key)
                if on_done is not None:
                    on_done(key, samples[key])
    return samples
