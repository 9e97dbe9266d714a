"""Request bodies: read within a size limit, and their problems named field by field."""

import json
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import HTTPException, Request


async def read_body(request: Request, limit: int, what: str = "body") -> bytes:
    """The request's bytes, read no further than ``limit`` (413 on the declared length or past
    it while streaming, so that no client fills memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"{what} of {declared} bytes; at most {limit}")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"{what} larger than {limit} bytes")
    return bytes(data)


async def read_json_body(request: Request, limit: int) -> Any:
    """The request's JSON (see ``read_body``); clear 400s for bodies that are not JSON or nest
    too deeply to parse."""
    data = await read_body(request, limit)
    try:
        return json.loads(data)
    except RecursionError:
        raise HTTPException(400, "body nests too deeply to be an events batch") from None
    except ValueError:
        raise HTTPException(400, 'body is not JSON: send {"events": [...]}') from None


def _field(location: tuple) -> str:
    return ".".join(str(part) for part in location if part not in ("body",)) or "body"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors as ``{"field", "message"}``: what a client needs to fix its request."""
    return [{"field": _field(error["loc"]), "message": error["msg"]} for error in errors]
