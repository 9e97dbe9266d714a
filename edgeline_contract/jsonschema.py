"""A small JSON Schema validator: the subset of draft 2020-12 that the contract's schemas use.

Standard library only (the Pi and the gateway import it). The page's validator
(``clients/web/app/contract.js``) reads the same generated files and knows the same keywords;
both refuse a schema with any other keyword, so a schema can never use a rule that one of them
would silently skip.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
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
    if not isinstance(text, str):
        raise ValueError(f"{str(text)[:80]!r} is not RFC 3339 with a time zone")
    return _parse_text(text)


@lru_cache(maxsize=64)  # an event's time is read by its validation, then again to store it
def _parse_text(text: str) -> datetime:
    match = DATE_TIME.match(text)
    if not match:
        raise ValueError(f"{text[:80]!r} is not RFC 3339 with a time zone")
    zone, offset_hours, offset_minutes = match.group(8, 10, 11)
    if zone != "Z" and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        raise ValueError(f"{text!r} has no such time-zone offset")
    # the text is RFC 3339 and its offset real: Python 3.11+ reads it as moment_from_fields
    # does, 40x faster (3.9 and 3.10 read less of it; a newer Python may read hour 24)
    if text[11:13] != "24":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # moment_from_fields says why, or reads what an older Python could not
    return moment_from_fields(match)


def moment_from_fields(match: re.Match[str]) -> datetime:
    """The moment of a ``DATE_TIME`` match with a real offset, built from its fields."""
    text = match.string
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, offset_hours, offset_minutes = match.group(7), match.group(10), match.group(11)
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


Test = Callable[[Any], bool]  # True when the value keeps a rule
Check = Callable[[Any, str, list], None]  # (value, its field path, problems found so far)
Rule = tuple[Test, Callable[[Any], str]]  # a rule of one kind of value, and what a breach says


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


TYPES: dict[str, Test] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _is_number,
    "integer": _is_integer,
}
# the kinds of value that have rules of their own, and the one type that implies each
KINDS: dict[str, Test] = {
    "string": lambda value: isinstance(value, str),
    "number": _is_numeric,
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}
IMPLIED_KIND = {"string": "string", "number": "number", "integer": "number", "array": "array"}
IMPLIED_KIND["object"] = "object"


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


def validator(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Callable:
    """``problems`` for one schema, made once. The schema is read when this is called (a
    SchemaError then for a keyword, type or format this module does not know) into two
    functions of the same rules: one that only says whether a document keeps them all, and
    one that names each breach. A valid document costs the first only (an event: 10x faster
    than reading the schema for each one); the schema must not change afterwards."""
    accepts, check = _compile(schema, root or schema, {})

    def problems(value: Any) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if not accepts(value):
            check(value, "", found)
        return found

    return problems


def problems(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """Every way ``value`` breaks ``schema``, as (field path, message); empty when it is valid.

    The path names the field as a client would write it (``variants.0.sha256``). A schema used
    for many documents: ``validator``.
    """
    return validator(schema, root)(value)


def _all(tests: list[Test]) -> Test:
    """One test that passes when each of ``tests`` does, in order (spelled out for two and
    three: a loop costs more than the tests of a field)."""
    if not tests:
        return lambda value: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda value: first(value) and second(value)
    if len(tests) == 3:
        first, second, third = tests
        return lambda value: first(value) and second(value) and third(value)

    def every(value: Any) -> bool:
        for test in tests:  # noqa: SIM110 (all() over a generator is slower)
            if not test(value):
                return False
        return True

    return every


def _compile(
    schema: dict[str, Any], root: dict[str, Any], refs: dict[str, list]
) -> tuple[Test, Check]:
    """Whether a value keeps ``schema``, and its breaches named, with the keywords applied in
    this order: references, allOf, if/then, type (nothing more after a wrong type), const,
    enum, then those of the value's kind. ``refs`` holds each definition once (a definition
    may refer to itself)."""
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise SchemaError(f"schema uses unsupported keyword(s) {sorted(unknown)}")
    first: list[tuple[Test, Check]] = []
    if "$ref" in schema:
        first.append(_reference(schema["$ref"], root, refs))
    first += [_compile(part, root, refs) for part in schema.get("allOf", ())]
    if "if" in schema:
        first.append(_conditional(schema, root, refs))
    is_type, expected, implied = None, "", None
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        unknown_types = [name for name in names if name not in TYPES]
        if unknown_types:
            raise SchemaError(f"unknown type {unknown_types[0]!r}")
        type_tests = [TYPES[name] for name in names]
        is_type = type_tests[0] if len(type_tests) == 1 else _any(type_tests)
        expected = " or ".join(names)
        implied = IMPLIED_KIND.get(names[0]) if len(names) == 1 else None
    rules: list[Rule] = []
    if "const" in schema:
        const = schema["const"]
        rules.append(
            (lambda value: value == const, lambda value: f"must be {const!r}, not {value!r}")
        )
    if "enum" in schema:
        enum = schema["enum"]
        rules.append(
            (lambda value: value in enum, lambda value: f"must be one of {enum}, not {value!r}")
        )
    kinds = {
        "string": _string_rules(schema),
        "number": _number_rules(schema),
        "array": _array_rules(schema),
    }
    items = _compile(schema["items"], root, refs) if "items" in schema else None
    obj = _object_checks(schema, root, refs)
    kinds = {kind: kind_rules for kind, kind_rules in kinds.items() if kind_rules}

    tests = [accepts for accepts, _ in first]
    if is_type is not None:
        tests.append(is_type)
    tests += [test for test, _ in rules]
    for kind, kind_rules in kinds.items():
        tests += [_guarded(test, kind, implied) for test, _ in kind_rules]
    if items is not None:
        tests.append(_guarded(_every_item(items[0]), "array", implied))
    if obj is not None:
        tests.append(_guarded(obj[0], "object", implied))

    def check(value: Any, path: str, found: list) -> None:
        for _, part in first:
            part(value, path, found)
        if is_type is not None and not is_type(value):
            found.append((_where(path), f"must be {expected}, not {_type_name(value)}"))
            return
        for test, message in rules:
            if not test(value):
                found.append((_where(path), message(value)))
        for kind, kind_rules in kinds.items():
            if KINDS[kind](value):
                for test, message in kind_rules:
                    if not test(value):
                        found.append((_where(path), message(value)))
        if items is not None and isinstance(value, list):
            for index, item in enumerate(value):
                items[1](item, f"{path}.{index}" if path else str(index), found)
        if obj is not None and isinstance(value, dict):
            obj[1](value, path, found)

    return _all(tests), check


def _any(tests: list[Test]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda value: first(value) or second(value)
    return lambda value: any(test(value) for test in tests)


def _guarded(test: Test, kind: str, implied: str | None) -> Test:
    """``test`` for values of ``kind`` only (others pass), unless the type already said so."""
    if kind == implied:
        return test
    of_kind = KINDS[kind]
    return lambda value: not of_kind(value) or test(value)


def _every_item(accepts: Test) -> Test:
    return lambda value: all(accepts(item) for item in value)


def _reference(ref: str, root: dict[str, Any], refs: dict[str, list]) -> tuple[Test, Check]:
    if not ref.startswith("#/$defs/"):
        raise SchemaError(f"only local references (#/$defs/...) are supported, not {ref!r}")
    name = ref[len("#/$defs/") :]
    if name not in refs:
        refs[name] = cell = []  # filled below: a definition that refers to itself finds it
        cell.append(_compile(root["$defs"][name], root, refs))
    cell = refs[name]

    def check(value: Any, path: str, found: list) -> None:
        cell[0][1](value, path, found)

    return lambda value: cell[0][0](value), check


def _conditional(
    schema: dict[str, Any], root: dict[str, Any], refs: dict[str, list]
) -> tuple[Test, Check]:
    condition = _compile(schema["if"], root, refs)[0]
    then_accepts, then_check = _compile(schema.get("then", {}), root, refs)

    def check(value: Any, path: str, found: list) -> None:
        if condition(value):
            then_check(value, path, found)

    return lambda value: not condition(value) or then_accepts(value), check


def _string_rules(schema: dict[str, Any]) -> list[Rule]:
    rules: list[Rule] = []
    if schema.get("minLength", 0) > 0:
        shortest = schema["minLength"]
        rules.append(
            (
                lambda value: len(value) >= shortest,
                lambda value: f"must be at least {shortest} character(s)",
            )
        )
    if "maxLength" in schema:
        longest = schema["maxLength"]
        rules.append(
            (
                lambda value: len(value) <= longest,
                lambda value: f"must be at most {longest} characters",
            )
        )
    if "format" in schema:
        if schema["format"] != "date-time":
            raise SchemaError(f"unsupported format {schema['format']!r}")
        rules.append((_is_date_time, _date_time_problem))
    if "pattern" in schema:
        pattern = schema["pattern"]
        search = _compiled(pattern).search
        hint = f" ({schema['description']})" if "description" in schema else ""
        rules.append(
            (
                lambda value: search(value) is not None,
                lambda value: f"{value[:80]!r} does not match {pattern}{hint}",
            )
        )
    return rules


def _is_date_time(value: str) -> bool:
    try:
        parse_date_time(value)
    except ValueError:
        return False
    return True


def _date_time_problem(value: str) -> str:
    try:
        parse_date_time(value)
    except ValueError as error:
        return str(error)
    raise AssertionError("a problem asked of a valid date-time")


def _number_rules(schema: dict[str, Any]) -> list[Rule]:
    def bound(limit: float, keeps: Callable[[Any, Any], bool], sign: str) -> Rule:
        return (
            lambda value: keeps(value, limit),
            lambda value: f"must be {sign} {limit}, not {value}",
        )

    return [
        bound(schema[keyword], keeps, sign)
        for keyword, keeps, sign in (
            ("minimum", operator.ge, ">="),
            ("exclusiveMinimum", operator.gt, ">"),
            ("maximum", operator.le, "<="),
            ("exclusiveMaximum", operator.lt, "<"),
        )
        if keyword in schema
    ]


def _array_rules(schema: dict[str, Any]) -> list[Rule]:
    rules: list[Rule] = []
    if schema.get("minItems", 0) > 0:
        fewest = schema["minItems"]
        rules.append(
            (lambda value: len(value) >= fewest, lambda value: f"needs at least {fewest} item(s)")
        )
    if "maxItems" in schema:
        most = schema["maxItems"]
        rules.append(
            (lambda value: len(value) <= most, lambda value: f"holds more than {most} items")
        )
    return rules


def _object_checks(schema: dict[str, Any], root: dict, refs: dict) -> tuple[Test, Check] | None:
    if not {"properties", "required", "additionalProperties"} & set(schema):
        return None
    properties = {
        name: _compile(part, root, refs) for name, part in schema.get("properties", {}).items()
    }
    tests = {name: accepts for name, (accepts, _) in properties.items()}
    required = list(schema.get("required", ()))
    needed = frozenset(required)
    extra = schema.get("additionalProperties", True)
    extra_accepts, extra_check = (
        _compile(extra, root, refs) if isinstance(extra, dict) else (None, None)
    )
    closed = extra is False
    known = sorted(properties)
    names = frozenset(properties)
    named = list(tests.items())

    def accepts(value: dict) -> bool:
        keys = value.keys()
        if not keys >= needed or (closed and not keys <= names):
            return False
        for name, item in value.items():
            test = tests.get(name)
            if test is not None:
                if not test(item):
                    return False
            elif extra_accepts is not None and not extra_accepts(item):
                return False
        return True

    def accepts_named(value: dict) -> bool:
        """The same where only named properties have rules: an if's or a then's few."""
        keys = value.keys()
        if not keys >= needed:
            return False
        for name, test in named:  # noqa: SIM110 (all() over a generator is slower)
            if name in value and not test(value[name]):
                return False
        return True

    def check(value: dict, path: str, found: list) -> None:
        for name in required:
            if name not in value:
                found.append((f"{path}.{name}" if path else name, "is required"))
        for name, item in value.items():
            part = properties.get(name)
            if part is not None:
                part[1](item, f"{path}.{name}" if path else name, found)
            elif closed:
                where = f"{path}.{name}" if path else str(name)
                found.append((where, f"{UNKNOWN_FIELD} (known: {known})"))
            elif extra_check is not None:
                extra_check(item, f"{path}.{name}" if path else str(name), found)

    return (accepts_named if not closed and extra_accepts is None else accepts), check
