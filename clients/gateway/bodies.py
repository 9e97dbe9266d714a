"""Request bodies: read within a size limit and a time limit, by a bounded number of callers at
once, and their problems named field by field.

A client that sends slowly holds what it sent so far for as long as it takes: 100 slow 5 MB
uploads once grew the gateway by 486 MB for good. So a body must arrive within ``timeout_s``
(408 after), at most ``max_in_flight`` bodies are received at once and ``max_per_caller`` per
token (503 and 429 before a byte is read), and images go to a temporary file, not memory.
"""

import asyncio
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from resources.telemetry import load_json


@dataclass
class BodyBudget:
    """How many request bodies may be received at once, in all and per caller."""

    max_in_flight: int
    max_per_caller: int
    timeout_s: float
    in_flight: int = 0
    by_caller: Counter = field(default_factory=Counter)

    @asynccontextmanager
    async def slot(self, caller: str) -> AsyncIterator[None]:
        """Hold one of the slots while a body is received (the event loop is one thread: plain
        counters are safe)."""
        if self.in_flight >= self.max_in_flight:
            raise HTTPException(
                503, "too many requests are sending at once: retry", headers={"Retry-After": "2"}
            )
        if self.by_caller[caller] >= self.max_per_caller:
            raise HTTPException(
                429,
                f"at most {self.max_per_caller} requests of one token may send at once",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        self.by_caller[caller] += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self.by_caller[caller] -= 1
            if not self.by_caller[caller]:
                del self.by_caller[caller]


async def _chunks(request: Request, limit: int, what: str, timeout_s: float):
    """The body's chunks, 413 past ``limit`` (declared or streamed), 408 past ``timeout_s``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"{what} of {declared} bytes; at most {limit}")
    received = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise HTTPException(413, f"{what} larger than {limit} bytes")
                yield chunk
    except TimeoutError:
        raise HTTPException(
            408, f"the {what} did not arrive within {timeout_s:g} s ({received} bytes came)"
        ) from None


async def read_body(
    request: Request, limit: int, what: str = "body", timeout_s: float = 10.0
) -> bytes:
    """The request's bytes, read no further than ``limit`` and for no longer than
    ``timeout_s``."""
    data = bytearray()
    async for chunk in _chunks(request, limit, what, timeout_s):
        data += chunk
    return bytes(data)


async def spool_body(request: Request, limit: int, what: str, timeout_s: float) -> Path:
    """The request's bytes in a temporary file (the caller removes it): a large body is never
    held in memory."""
    with tempfile.NamedTemporaryFile(prefix="edgeline-upload-", delete=False) as spool:
        try:
            async for chunk in _chunks(request, limit, what, timeout_s):
                spool.write(chunk)
        except BaseException:
            spool.close()
            Path(spool.name).unlink(missing_ok=True)
            raise
    return Path(spool.name)


async def read_json_body(request: Request, limit: int, timeout_s: float = 10.0) -> Any:
    """The request's JSON (see ``read_body``); clear 400s for bodies that are not JSON or nest
    too deeply to parse."""
    data = await read_body(request, limit, timeout_s=timeout_s)
    try:
        return load_json(data)
    except RecursionError:
        raise HTTPException(400, "body nests too deeply to be an events batch") from None
    except ValueError:
        raise HTTPException(400, 'body is not JSON: send {"events": [...]}') from None


def _field(location: tuple) -> str:
    return ".".join(str(part) for part in location if part not in ("body",)) or "body"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors as ``{"field", "message"}``: what a client needs to fix its request."""
    return [{"field": _field(error["loc"]), "message": error["msg"]} for error in errors]
