"""A small JSON Schema validator: the subset of draft 2020-12 that the contract's schemas use.

Standard library only (the Pi and the gateway import it). The page's validator
(``clients/web/app/contract.js``) reads the same generated files and knows the same keywords;
both refuse a schema with any other keyword, so a schema can never use a rule that one of them
would silently skip.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

KEYWORDS = frozenset(
    {
        "$schema", "$id", "$defs", "$ref", "title", "description", "default", "examples",
        "type", "enum", "const", "properties", "required", "additionalProperties",
        "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "allOf", "if", "then",
        "format",
    }
)  # fmt: skip


# RFC 3339 with a time zone, e.g. 2026-11-23T10:00:00Z: the one ``format`` the contract uses
DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(Z|([+-])([0-9]{2}):([0-9]{2}))\Z"
)


UNKNOWN_FIELD = "is not a field of this document"  # clients ignore these in a manifest


def parse_date_time(text: str) -> datetime:
    """``text`` as an aware datetime; ValueError unless it is a real moment in RFC 3339 with a
    time zone (no 30 February, no leap second, years 1 to 9999; fractions to the microsecond)."""
    match = DATE_TIME.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{str(text)[:80]!r} is not RFC 3339 with a time zone")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, offset_hours, offset_minutes = match.group(7), match.group(10), match.group(11)
    if match.group(8) != "Z" and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        raise ValueError(f"{text!r} has no such time-zone offset")
    offset = timedelta(0)
    if match.group(8) != "Z":
        sign = -1 if match.group(9) == "-" else 1
        offset = sign * timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        return datetime(year, month, day, hour, minute, second, micro, timezone(offset))
    except ValueError as error:
        raise ValueError(f"{text!r} is not a real moment ({error})") from None


class SchemaError(ValueError):
    """A schema that uses a keyword this validator does not know: a bug in the contract."""


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    """The pattern as JSON Schema (ECMA-262) means it: a final ``$`` ends the string, where
    Python's would also allow a newline after it."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
    return re.compile(pattern)


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if name == "number":
        return math.isfinite(value)
    if name == "integer":
        return isinstance(value, int) or (math.isfinite(value) and value == int(value))
    raise SchemaError(f"unknown type {name!r}")


def _where(path: str) -> str:
    return path or "document"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} (not a finite number: NaN and Infinity are not JSON)"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}.get(
        type(value), "object" if isinstance(value, dict) else type(value).__name__
    )


def problems(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Every way ``value`` breaks ``schema``, as (field path, message); empty when it is valid.

    The path names the field as a client would write it (``variants.0.sha256``).
    """
    found: list[tuple[str, str]] = []
    _check(value, schema, root or schema, "", found)
    return found


def _check(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: str, found: list
) -> None:
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise SchemaError(f"schema at {_where(path)} uses unsupported keyword(s) {sorted(unknown)}")
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise SchemaError(f"only local references (#/$defs/...) are supported, not {ref!r}")
        _check(value, root["$defs"][ref[len("#/$defs/") :]], root, path, found)
    for part in schema.get("allOf", ()):
        _check(value, part, root, path, found)
    if "if" in schema and not problems(value, schema["if"], root):
        _check(value, schema.get("then", {}), root, path, found)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, name) for name in names):
            found.append((_where(path), f"must be {' or '.join(names)}, not {_type_name(value)}"))
            return
    if "const" in schema and value != schema["const"]:
        found.append((_where(path), f"must be {schema['const']!r}, not {value!r}"))
    if "enum" in schema and value not in schema["enum"]:
        found.append((_where(path), f"must be one of {schema['enum']}, not {value!r}"))
    if isinstance(value, str):
        _check_string(value, schema, path, found)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, found)
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            found.append((_where(path), f"needs at least {schema['minItems']} item(s)"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append((_where(path), f"holds more than {schema['maxItems']} items"))
        if "items" in schema:
            for index, item in enumerate(value):
                _check(
                    item, schema["items"], root, f"{path}.{index}" if path else str(index), found
                )
    elif isinstance(value, dict):
        _check_object(value, schema, root, path, found)


def _check_string(value: str, schema: dict[str, Any], path: str, found: list) -> None:
    if len(value) < schema.get("minLength", 0):
        found.append((_where(path), f"must be at least {schema['minLength']} character(s)"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append((_where(path), f"must be at most {schema['maxLength']} characters"))
    if schema.get("format") == "date-time":
        try:
            parse_date_time(value)
        except ValueError as error:
            found.append((_where(path), str(error)))
    elif "format" in schema:
        raise SchemaError(f"unsupported format {schema['format']!r}")
    if "pattern" in schema and not _compiled(schema["pattern"]).search(value):
        hint = f" ({schema['description']})" if "description" in schema else ""
        found.append((_where(path), f"{value[:80]!r} does not match {schema['pattern']}{hint}"))


def _check_number(value: float, schema: dict[str, Any], path: str, found: list) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        found.append((_where(path), f"must be >= {schema['minimum']}, not {value}"))
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        found.append((_where(path), f"must be > {schema['exclusiveMinimum']}, not {value}"))
    if "maximum" in schema and value > schema["maximum"]:
        found.append((_where(path), f"must be <= {schema['maximum']}, not {value}"))
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        found.append((_where(path), f"must be < {schema['exclusiveMaximum']}, not {value}"))


def _check_object(value: dict, schema: dict[str, Any], root: dict, path: str, found: list) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            found.append((f"{path}.{name}" if path else name, "is required"))
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}" if path else str(name)
        if name in properties:
            _check(item, properties[name], root, where, found)
        elif extra is False:
            found.append((where, f"{UNKNOWN_FIELD} (known: {sorted(properties)})"))
        elif isinstance(extra, dict):
            _check(item, extra, root, where, found)
