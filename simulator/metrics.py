"""Prometheus text exposition of the provider's traffic, written by hand (a few counters and one histogram
do not justify a dependency, and a per-app registry keeps in-process providers apart).

Label values come from closed sets decided before a request is served: the dialects the provider has and
each one's operations (`Dialect.operations()`), `invalid` for anything else, so no client, signed or not,
can add a series: 10,000 requests naming 10,000 made-up actions leave /metrics as it was."""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Iterable, Mapping

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


INVALID = "invalid"


class Metrics:
    def __init__(self, operations: Mapping[str, Iterable[str] | None] | None = None) -> None:
        """`operations`: dialect name -> the operations it serves (None: not declared, counted as they come).
        Without it (a bare Metrics) every dialect and operation is counted as given."""
        self._known = None if operations is None else {
            dialect: (None if ops is None else frozenset(ops) | {INVALID}) for dialect, ops in operations.items()}
        self.reset()

    def _label(self, dialect: str, operation: str) -> tuple[str, str]:
        if self._known is None:
            return dialect, operation
        if dialect not in self._known:
            return INVALID, INVALID
        ops = self._known[dialect]
        return dialect, (operation if ops is None or operation in ops else INVALID)

    def reset(self) -> None:
        self._requests: dict[tuple[str, str, str, str], int] = defaultdict(int)
        # (dialect, operation) -> [bucket counts..., +Inf count], sum
        self._latency: dict[tuple[str, str], list[int]] = {}
        self._latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self._pushes: dict[tuple[str, str], int] = defaultdict(int)

    def observe_request(self, dialect: str, operation: str, status: int | None, fault: str | None,
                        latency: float) -> None:
        dialect, operation = self._label(dialect, operation)
        self._requests[(dialect, operation, str(status) if status is not None else "none", fault or "none")] += 1
        key = (dialect, operation)
        buckets = self._latency.get(key)
        if buckets is None:
            buckets = self._latency[key] = [0] * (len(LATENCY_BUCKETS) + 1)
        buckets[bisect.bisect_left(LATENCY_BUCKETS, latency)] += 1
        self._latency_sum[key] += latency

    def observe_push(self, kind: str, result: str) -> None:
        """`result`: delivered, retried, failed, dropped, duplicated, delayed, reordered."""
        self._pushes[(kind, result)] += 1

    def render(self) -> str:
        lines = [
            "# HELP pstnsim_requests_total Requests served by the provider, by dialect, operation, status and fault.",
            "# TYPE pstnsim_requests_total counter",
        ]
        for (dialect, operation, status, fault), count in sorted(self._requests.items()):
            labels = _labels(dialect=dialect, operation=operation, status=status, fault=fault)
            lines.append(f"pstnsim_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP pstnsim_request_duration_seconds Time from arrival to the end of the exchange (loop clock).",
            "# TYPE pstnsim_request_duration_seconds histogram",
        ]
        for (dialect, operation), buckets in sorted(self._latency.items()):
            base = _labels(dialect=dialect, operation=operation)
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, None), buckets):
                cumulative += count
                le = "+Inf" if bound is None else f"{bound:g}"
                lines.append(f'pstnsim_request_duration_seconds_bucket{{{base},le="{le}"}} {cumulative}')
            lines.append(f"pstnsim_request_duration_seconds_sum{{{base}}} {self._latency_sum[(dialect, operation)]:.6f}")
            lines.append(f"pstnsim_request_duration_seconds_count{{{base}}} {cumulative}")
        lines += [
            "# HELP pstnsim_push_total Outbound pushes (call records, expiry notices) by kind and result.",
            "# TYPE pstnsim_push_total counter",
        ]
        for (kind, result), count in sorted(self._pushes.items()):
            lines.append(f"pstnsim_push_total{{{_labels(kind=kind, result=result)}}} {count}")
        return "\n".join(lines) + "\n"


def _labels(**values: str) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in values.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def parse_samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """Read back the exposition format (name, labels, value); for tests and the harness's reports."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        labels: dict[str, str] = {}
        for part in rest.rstrip("}").split('",') if rest else []:
            key, _, raw = part.partition('="')
            labels[key] = raw.rstrip('"')
        yield name, labels, float(value)
