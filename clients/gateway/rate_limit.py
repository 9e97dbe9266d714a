"""Token-bucket rate limits per caller, in memory.

One gateway process keeps its own buckets; on AWS, API Gateway's throttling (usage plans, WAF
rate rules) limits the whole fleet in front of the Lambda functions, and these buckets limit
each warm function.
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``burst`` requests at once, refilled at ``per_minute``."""

    per_minute: float
    burst: int


class RateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def acquire(self, scope: str, key: str, rate: Rate, now: float | None = None) -> float:
        """Take one request from ``key``'s bucket; 0 if allowed, else seconds to wait."""
        now = time.monotonic() if now is None else now
        refill = rate.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.pop((scope, key), (float(rate.burst), now))
            tokens = min(float(rate.burst), tokens + (now - last) * refill)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / refill
            if not wait:
                tokens -= 1.0
            self._buckets[(scope, key)] = (tokens, now)
            while len(self._buckets) > self._max_keys:  # forget the least recently seen callers
                self._buckets.popitem(last=False)
        return wait
