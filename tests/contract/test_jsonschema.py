"""The contract's validator: its fast reading of timestamps gives what the fields give, and a
schema is read once into checks that refuse what they do not know."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeline_contract.jsonschema import (
    DATE_TIME,
    SchemaError,
    _compile,
    _Matches,
    moment_from_fields,
    parse_date_time,
    validator,
)
from edgeline_contract.manifest import MANIFEST
from edgeline_contract.telemetry import EVENT, FIELDS
from tests.gateway.conftest import pi_event, web_event


def two(most: int) -> st.SearchStrategy[str]:
    """Two digits up to ``most``: the real ones and a few past them."""
    return st.integers(0, most).map(lambda n: f"{n:02d}")


texts = st.builds(
    lambda year, month, day, hour, minute, second, fraction, zone: (
        f"{year:04d}-{month}-{day}T{hour}:{minute}:{second}{fraction}{zone}"
    ),
    st.integers(0, 9999),
    two(13),
    two(32),
    two(25),
    two(60),
    two(61),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)),
    st.one_of(
        st.just("Z"),
        st.builds(
            lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
            st.sampled_from("+-"),
            st.integers(0, 23),
            st.integers(0, 59),
        ),
    ),
)


def outcome(read, text):
    try:
        moment = read(text)
    except ValueError as error:
        return "refused", str(error)
    return moment, moment.utcoffset()


@settings(max_examples=400, deadline=None)
@given(texts)
def test_a_timestamp_reads_as_its_fields_say(text):
    assert outcome(parse_date_time, text) == outcome(
        lambda t: moment_from_fields(DATE_TIME.match(t)), text
    )


def test_offsets_and_hours_that_do_not_exist_are_refused():
    for text in ("2026-01-01T00:00:00+00:60", "2026-01-01T00:00:00+24:00"):
        with pytest.raises(ValueError, match="no such time-zone offset"):
            parse_date_time(text)
    with pytest.raises(ValueError, match="not a real moment"):
        parse_date_time("2026-01-01T24:00:00Z")


def test_a_schema_is_read_once_and_refuses_what_it_does_not_know():
    check = validator(
        {
            "type": "object",
            "required": ["n"],
            "properties": {"n": {"type": "integer", "maximum": 3}, "xs": {"$ref": "#/$defs/xs"}},
            "$defs": {"xs": {"type": "array", "items": {"$ref": "#/$defs/xs"}, "maxItems": 1}},
        }
    )
    assert check({"n": 2, "xs": [[[]]]}) == []
    assert check({"xs": [[], []]}) == [("n", "is required"), ("xs", "holds more than 1 items")]
    assert check({"n": 4.0, "xs": [[1]]}) == [
        ("n", "must be <= 3, not 4.0"),
        ("xs.0.0", "must be array, not integer"),
    ]
    for broken in ({"type": "decimal"}, {"format": "email"}, {"minimum": 1, "multipleOf": 2}):
        with pytest.raises(SchemaError):
            validator(broken)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**13), 10**13)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "web", "pi", "fp16", "wasm", "2026-12-02T10:00:00Z", "x" * 101]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


READ_SCHEMAS = [_compile(schema, schema) for schema in (EVENT, MANIFEST)]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([pi_event, web_event, dict]),
    st.dictionaries(st.sampled_from([*sorted(FIELDS), "extra", "labels"]), json_values, max_size=3),
    st.sets(st.sampled_from(sorted(FIELDS)), max_size=2),
)
def test_the_quick_yes_and_the_named_breaches_agree(make, changes, removed):
    """A document passes the quick test exactly when no breach is named, however it is broken."""
    document = {k: v for k, v in {**make(), **changes}.items() if k not in removed}
    for accepts, check in READ_SCHEMAS:
        found: list = []
        check(document, "", found)
        assert accepts(document) == (found == [])


def test_an_integer_too_long_for_a_float_is_a_number_not_a_crash():
    # 10**400 reads from JSON as an int; math.isfinite could not take it (OverflowError: a 500)
    check = validator({"type": "number", "maximum": 5})
    assert check(10**400) == [("document", f"must be <= 5, not {10**400}")]
    assert check(-(10**400)) == []
    assert check(float("inf")) == [
        ("document", "must be number, not inf (not a finite number: NaN and Infinity are not JSON)")
    ]


def test_a_pattern_remembers_short_matches_within_its_bound_and_never_a_miss():
    matches = _Matches(re.compile(r"^d-[0-9]+\Z"), bound=8, longest=12)
    assert [matches(f"d-{n}") for n in range(20)] == [True] * 20
    assert 0 < len(matches.seen) <= 8
    assert matches("d-7\n") is False and matches("x") is False and matches("x") is False
    assert "x" not in matches.seen and "d-7\n" not in matches.seen
    assert matches("d-" + "1" * 20) and ("d-" + "1" * 20) not in matches.seen
    # through a validator: a remembered string is still accepted, a miss still named
    check = validator({"type": "string", "pattern": "^[a-z]+$"})
    assert [check("turbine") for _ in range(3)] == [[], [], []]
    assert (
        check("Turbine") == check("Turbine") == [("document", "'Turbine' does not match ^[a-z]+$")]
    )
