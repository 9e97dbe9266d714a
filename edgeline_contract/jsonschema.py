"""A small JSON Schema validator: the subset of draft 2020-12 that the contract's schemas use.

Standard library only (the Pi and the gateway import it). The page's validator
(``clients/web/app/contract.js``) reads the same generated files and knows the same keywords;
both refuse a schema with any other keyword, so a schema can never use a rule that one of them
would silently skip.
"""

from __future__ import annotations

import itertools
import math
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
# the same with a real offset and no groups: 0.48 us a match where DATE_TIME's groups take 0.77
PLAIN_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
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
    # RFC 3339 with a real offset: Python 3.11+ reads it as moment_from_fields does, 40x
    # faster (3.9 and 3.10 read less of it; a newer Python may read hour 24); anything else the
    # long way, which says what is wrong
    if PLAIN_DATE_TIME.match(text) and text[11:13] != "24":
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # moment_from_fields says why, or reads what an older Python could not
    match = DATE_TIME.match(text)
    if not match:
        raise ValueError(f"{text[:80]!r} is not RFC 3339 with a time zone")
    zone, offset_hours, offset_minutes = match.group(8, 10, 11)
    if zone != "Z" and (int(offset_hours) > 23 or int(offset_minutes) > 59):
        raise ValueError(f"{text!r} has no such time-zone offset")
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


class _Matches:
    """Whether a string matches a pattern, remembering the short ones that did: telemetry
    repeats its device ids and model names, and a set lookup costs a tenth of a search (0.7 us
    for the model name pattern). Clears itself at ``bound`` strings; safe between threads."""

    def __init__(self, pattern: re.Pattern[str], bound: int = 1024, longest: int = 256) -> None:
        self.search, self.bound, self.longest = pattern.search, bound, longest
        self.seen: set[str] = set()

    def __call__(self, text: str) -> bool:
        if self.search(text) is None:
            return False
        if len(text) <= self.longest:
            if len(self.seen) >= self.bound:
                self.seen.clear()
            self.seen.add(text)
        return True


Test = Callable[[Any], bool]  # True when the value keeps a rule
Check = Callable[[Any, str, list], None]  # (value, its field path, problems found so far)
Rule = tuple[str, Callable[[Any], str]]  # a rule as a Python test of ``x``, and what a breach says


def _is_number(value: Any) -> bool:
    """A JSON number: any int (however long: it is finite), a finite float; no bool."""
    if isinstance(value, int):
        return not isinstance(value, bool)
    return isinstance(value, float) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# each type as a test of ``x``; then the kinds of value that have rules of their own, and the
# one type that implies each
TYPE_TESTS = {
    "object": "isinstance(x, dict)",
    "array": "isinstance(x, list)",
    "string": "isinstance(x, str)",
    "boolean": "isinstance(x, bool)",
    "null": "x is None",
    # a plain float or int answered inline (0.5 us an event of the 6 its checks take), any
    # other value by the function
    "number": "(x.__class__ is float and x - x == 0.0 or _is_number(x))",
    "integer": "(x.__class__ is int or _is_integer(x))",
}
KIND_TESTS = {
    "string": "isinstance(x, str)",
    "number": "_is_numeric(x)",
    "array": "isinstance(x, list)",
    "object": "isinstance(x, dict)",
}
IMPLIED_KIND = {"string": "string", "number": "number", "integer": "number", "array": "array"}
IMPLIED_KIND["object"] = "object"
OBJECT_KEYWORDS = frozenset({"properties", "required", "additionalProperties"})


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
    one that names each breach. A valid document costs the first only; the schema must not
    change afterwards."""
    accepts, check = _compile(schema, root or schema)

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


def _compile(schema: dict[str, Any], root: dict[str, Any]) -> tuple[Test, Check]:
    """(whether a value keeps ``schema``, its breaches named) for a schema under ``root``."""
    reader = _Reader(root)
    accepts = reader.function(schema)
    check = reader.check(schema)
    reader.load()
    return reader.namespace[accepts], check


class _Reader:
    """A schema read into Python. Its quick test is written as Python source (a function per
    object, item schema and definition, every other rule inline): one call per object where a
    closure per rule made 165 calls per telemetry event, 5x slower. Its named breaches are
    closures over the same rules (the slow path: invalid documents only). Keywords apply in
    this order: references, allOf, if/then, type (nothing more after a wrong type), const,
    enum, then those of the value's kind."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.namespace: dict[str, Any] = {
            "_is_number": _is_number,
            "_is_integer": _is_integer,
            "_is_numeric": _is_numeric,
            "_is_date_time": _is_date_time,
        }
        self.source: list[str] = []
        self.names = itertools.count()
        self.definitions: dict[str, str] = {}  # $defs name -> its function
        self.definition_checks: dict[str, list[Check]] = {}

    def load(self) -> None:
        """Define the written functions (each test and check finds them here when it runs)."""
        exec("\n".join(self.source), self.namespace)  # source this reader wrote, no input's

    def constant(self, value: Any) -> str:
        name = self._name("_k")
        self.namespace[name] = value
        return name

    def _name(self, stem: str) -> str:
        return f"{stem}{next(self.names)}"

    def test(self, expression: str) -> Test:
        return eval(f"lambda x: {expression}", self.namespace)  # an expression written here

    def function(self, schema: dict[str, Any]) -> str:
        """The name of a function that is true when its argument keeps ``schema``."""
        name = self._name("_f")
        self.source += [f"def {name}(x):", f"    return {self.expression(schema)}", ""]
        return name

    def expression(self, schema: dict[str, Any]) -> str:
        """A Python expression that is true when ``x`` keeps ``schema``."""
        parts = []
        if "$ref" in schema:
            parts.append(f"{self.definition(schema['$ref'])}(x)")
        parts += [self.expression(part) for part in schema.get("allOf", ())]
        if "if" in schema:
            condition = self.expression(schema["if"])
            parts.append(f"not ({condition}) or ({self.expression(schema.get('then', {}))})")
        names, implied = _types(schema)
        if names:
            parts.append(" or ".join(TYPE_TESTS[name] for name in names))
        for kind, rules in self.rules(schema).items():
            joined = " and ".join(f"({test})" for test, _ in rules)
            guarded = kind is not None and kind != implied
            parts.append(f"not {KIND_TESTS[kind]} or ({joined})" if guarded else joined)
        if "items" in schema:
            every = f"all(map({self.function(schema['items'])}, x))"
            parts.append(every if implied == "array" else f"not isinstance(x, list) or {every}")
        if OBJECT_KEYWORDS & set(schema):
            keeps = f"{self.object_function(schema)}(x)"
            parts.append(keeps if implied == "object" else f"not isinstance(x, dict) or {keeps}")
        return " and ".join(f"({part})" for part in parts) or "True"

    def definition(self, ref: str) -> str:
        name = _definition_name(ref)
        if name not in self.definitions:
            function = self.definitions[name] = self._name("_d")  # before: it may refer to itself
            body = self.expression(self.root["$defs"][name])
            self.source += [f"def {function}(x):", f"    return {body}", ""]
        return self.definitions[name]

    def object_function(self, schema: dict[str, Any]) -> str:
        name = self._name("_o")
        properties = schema.get("properties", {})
        known = self.constant(frozenset(properties))
        extra = schema.get("additionalProperties", True)
        lines = [f"def {name}(x):", "    document = x"]
        if schema.get("required"):
            needed = self.constant(frozenset(schema["required"]))
            lines.append(f"    if not document.keys() >= {needed}: return False")
        if extra is False:
            lines.append(f"    if not document.keys() <= {known}: return False")
        required = set(schema.get("required", ()))
        for field, part in properties.items():
            test = f"if not ({self.expression(part)}): return False"
            if field in required:  # present: the first line said so
                lines += [f"    x = document[{field!r}]", f"    {test}"]
            else:
                lines += [f"    if {field!r} in document:", f"        x = document[{field!r}]"]
                lines.append(f"        {test}")
        if isinstance(extra, dict):
            lines += [
                "    for field, x in document.items():",
                f"        if field not in {known} and not ({self.expression(extra)}): return False",
            ]
        self.source += [*lines, "    return True", ""]
        return name

    def rules(self, schema: dict[str, Any]) -> dict[str | None, list[Rule]]:
        """The rules of any value (None: const, enum) and of each kind of value."""
        found = {
            None: self.value_rules(schema),
            "string": self.string_rules(schema),
            "number": self.number_rules(schema),
            "array": self.array_rules(schema),
        }
        return {kind: rules for kind, rules in found.items() if rules}

    def value_rules(self, schema: dict[str, Any]) -> list[Rule]:
        rules: list[Rule] = []
        if "const" in schema:
            const = schema["const"]
            rules.append(
                (f"x == {self.constant(const)}", lambda value: f"must be {const!r}, not {value!r}")
            )
        if "enum" in schema:
            enum = schema["enum"]
            rules.append(
                (
                    f"x in {self.constant(enum)}",
                    lambda value: f"must be one of {enum}, not {value!r}",
                )
            )
        return rules

    def string_rules(self, schema: dict[str, Any]) -> list[Rule]:
        rules = self.length_rules(
            schema,
            ("minLength", lambda n: f"must be at least {n} character(s)"),
            ("maxLength", lambda n: f"must be at most {n} characters"),
        )
        if "format" in schema:
            if schema["format"] != "date-time":
                raise SchemaError(f"unsupported format {schema['format']!r}")
            rules.append(("_is_date_time(x)", _date_time_problem))
        if "pattern" in schema:
            pattern = schema["pattern"]
            matches = _Matches(_compiled(pattern))
            seen, match = self.constant(matches.seen), self.constant(matches)
            hint = f" ({schema['description']})" if "description" in schema else ""
            rules.append(
                (
                    f"x in {seen} or {match}(x)",
                    lambda value: f"{value[:80]!r} does not match {pattern}{hint}",
                )
            )
        return rules

    def number_rules(self, schema: dict[str, Any]) -> list[Rule]:
        def bound(limit: float, sign: str) -> Rule:
            return (
                f"x {sign} {self.constant(limit)}",
                lambda value: f"must be {sign} {limit}, not {value}",
            )

        return [
            bound(schema[keyword], sign)
            for keyword, sign in (
                ("minimum", ">="),
                ("exclusiveMinimum", ">"),
                ("maximum", "<="),
                ("exclusiveMaximum", "<"),
            )
            if keyword in schema
        ]

    def array_rules(self, schema: dict[str, Any]) -> list[Rule]:
        return self.length_rules(
            schema,
            ("minItems", lambda n: f"needs at least {n} item(s)"),
            ("maxItems", lambda n: f"holds more than {n} items"),
        )

    def length_rules(
        self,
        schema: dict[str, Any],
        shortest: tuple[str, Callable[[Any], str]],
        longest: tuple[str, Callable[[Any], str]],
    ) -> list[Rule]:
        """A string's or an array's bounds on its length: (keyword, what a breach says of it)."""
        rules: list[Rule] = []
        keyword, says = shortest
        if schema.get(keyword, 0) > 0:
            fewest, too_short = schema[keyword], says(schema[keyword])
            rules.append((f"len(x) >= {self.constant(fewest)}", lambda value: too_short))
        keyword, says = longest
        if keyword in schema:
            most, too_long = schema[keyword], says(schema[keyword])
            rules.append((f"len(x) <= {self.constant(most)}", lambda value: too_long))
        return rules

    def check(self, schema: dict[str, Any]) -> Check:
        """A function that names each way a value breaks ``schema``."""
        first: list[Check] = []
        if "$ref" in schema:
            first.append(self.definition_check(schema["$ref"]))
        first += [self.check(part) for part in schema.get("allOf", ())]
        if "if" in schema:
            first.append(self.conditional_check(schema))
        names, _ = _types(schema)
        is_type = self.test(" or ".join(TYPE_TESTS[name] for name in names)) if names else None
        expected = " or ".join(names)
        kinds = [
            (
                None if kind is None else self.test(KIND_TESTS[kind]),
                [(self.test(test), message) for test, message in rules],
            )
            for kind, rules in self.rules(schema).items()
        ]
        items = self.check(schema["items"]) if "items" in schema else None
        obj = self.object_check(schema) if OBJECT_KEYWORDS & set(schema) else None

        def check(value: Any, path: str, found: list) -> None:
            for part in first:
                part(value, path, found)
            if is_type is not None and not is_type(value):
                found.append((_where(path), f"must be {expected}, not {_type_name(value)}"))
                return
            for of_kind, rules in kinds:
                if of_kind is None or of_kind(value):
                    for test, message in rules:
                        if not test(value):
                            found.append((_where(path), message(value)))
            if items is not None and isinstance(value, list):
                for index, item in enumerate(value):
                    items(item, f"{path}.{index}" if path else str(index), found)
            if obj is not None and isinstance(value, dict):
                obj(value, path, found)

        return check

    def definition_check(self, ref: str) -> Check:
        name = _definition_name(ref)
        if name not in self.definition_checks:
            self.definition_checks[name] = cell = []  # filled below: it may refer to itself
            cell.append(self.check(self.root["$defs"][name]))
        cell = self.definition_checks[name]

        def check(value: Any, path: str, found: list) -> None:
            cell[0](value, path, found)

        return check

    def conditional_check(self, schema: dict[str, Any]) -> Check:
        condition = self.function(schema["if"])
        then_check = self.check(schema.get("then", {}))

        def check(value: Any, path: str, found: list) -> None:
            if self.namespace[condition](value):
                then_check(value, path, found)

        return check

    def object_check(self, schema: dict[str, Any]) -> Check:
        properties = {name: self.check(part) for name, part in schema.get("properties", {}).items()}
        required = list(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        extra_check = self.check(extra) if isinstance(extra, dict) else None
        closed = extra is False
        known = sorted(properties)

        def check(value: dict, path: str, found: list) -> None:
            for name in required:
                if name not in value:
                    found.append((f"{path}.{name}" if path else name, "is required"))
            for name, item in value.items():
                part = properties.get(name)
                if part is not None:
                    part(item, f"{path}.{name}" if path else name, found)
                elif closed:
                    where = f"{path}.{name}" if path else str(name)
                    found.append((where, f"{UNKNOWN_FIELD} (known: {known})"))
                elif extra_check is not None:
                    extra_check(item, f"{path}.{name}" if path else str(name), found)

        return check


def _types(schema: dict[str, Any]) -> tuple[list[str], str | None]:
    """The schema's type names (none without ``type``) and the kind of value they imply.
    Also where an unknown keyword or type is refused: every subschema is read through here."""
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise SchemaError(f"schema uses unsupported keyword(s) {sorted(unknown)}")
    if "type" not in schema:
        return [], None
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    unknown_types = [name for name in names if name not in TYPE_TESTS]
    if unknown_types:
        raise SchemaError(f"unknown type {unknown_types[0]!r}")
    return names, IMPLIED_KIND.get(names[0]) if len(names) == 1 else None


def _definition_name(ref: str) -> str:
    if not ref.startswith("#/$defs/"):
        raise SchemaError(f"only local references (#/$defs/...) are supported, not {ref!r}")
    return ref[len("#/$defs/") :]


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
