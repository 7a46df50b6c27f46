"""Properties of the parsers the services' domains share (hypothesis): messaging.validation's
integer check and messaging.envelope's readers. Any bytes or JSON are either an Envelope or
MalformedEvent (what the consumer dead-letters and POST /events answers 422), never another
exception; an envelope survives its trip through JSON."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from messaging.backoff import backoff_seconds
from messaging.envelope import Envelope, MalformedEvent, envelope_from_dict, envelope_from_json
from messaging.validation import InvalidIdempotencyKey, integer_error, require_idempotency_key
from testsupport.json_values import bodies, json_values

texts = st.text(min_size=1, max_size=30)
# Data that equals itself after a round trip: NaN never equals NaN, so it is left out here.
comparable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
envelopes = st.builds(
    Envelope,
    id=texts,
    type=texts,
    source=texts,
    time=texts,
    data=st.dictionaries(st.text(max_size=8), comparable, max_size=4),
    dataversion=st.integers(min_value=1, max_value=2**31),
    correlationid=st.none() | texts,
    subject=st.none() | texts,
)
valid_attributes = envelopes.map(Envelope.to_dict)
# Every attribute of a valid envelope in turn replaced by any JSON value.
odd_attributes = st.tuples(
    valid_attributes, st.sampled_from(["id", "type", "data", "dataversion"]), json_values
).map(lambda drawn: {**drawn[0], drawn[1]: drawn[2]})
FOUND = Envelope(id="e", type="order.confirmed", source="s", time="t", data={}).to_dict()


@given(bodies(valid_attributes) | odd_attributes | json_values)
@example({**FOUND, "dataversion": float("inf")})  # found: OverflowError, which the consumer let through
@example({**FOUND, "dataversion": [1]})  # TypeError: the consumer dead-lettered it, POST /events did not
def test_any_json_is_an_envelope_or_malformed(attributes):
    try:
        envelope = envelope_from_dict(attributes)
    except MalformedEvent:
        return
    assert isinstance(envelope, Envelope) and isinstance(envelope.dataversion, int)
    assert all(
        isinstance(getattr(envelope, name), str) and getattr(envelope, name) for name in ("id", "type")
    )


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_are_an_envelope_or_malformed(body):
    with contextlib.suppress(MalformedEvent):
        envelope_from_json(body)


# Found by reading, next to the above: json.loads gives up on deep nesting with RecursionError,
# which only POST /events caught (the consumer decodes raw bodies with envelope_from_json too).
@pytest.mark.parametrize("depth", [100_000])
def test_absurd_nesting_is_malformed_not_a_recursion_error(depth):
    body = '{"data": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(MalformedEvent):
        envelope_from_json(body)


@given(envelopes)
def test_an_envelope_round_trips_through_json(envelope):
    assert envelope_from_json(envelope.to_json()) == envelope_from_dict(json.loads(envelope.to_json()))
    again = envelope_from_json(envelope.to_json())
    assert again.to_dict() == envelope.to_dict()


@given(
    st.integers(min_value=0, max_value=100_000),
    st.floats(min_value=0.001, max_value=10),
    st.floats(min_value=0.001, max_value=3600),
    st.floats(min_value=0, max_value=1),
)
@example(1024, 1.0, 60.0, 0.5)  # found through the order's retry_delay_seconds: OverflowError
def test_backoff_stays_within_its_cap_for_any_attempt(attempt, first, cap, spread):
    delay = backoff_seconds(attempt, first=first, cap=cap, spread=spread, draw=lambda: 0.5)

    assert 0 <= delay <= cap
    assert delay == backoff_seconds(attempt, first=first, cap=cap, spread=spread, draw=lambda: 0.5)


@given(json_values, st.integers(-5, 5), st.integers(0, 10))
def test_integer_error_accepts_exactly_the_json_integers_in_range(value, minimum, span):
    maximum = minimum + span
    accepted = integer_error(value, minimum=minimum, maximum=maximum) is None

    assert accepted == (type(value) is int and minimum <= value <= maximum)


@given(st.none() | st.text(max_size=20), st.text(max_size=20))
def test_an_idempotency_key_is_accepted_exactly_when_it_is_the_expected_one(header, expected):
    try:
        require_idempotency_key(header=header, expected=expected)
    except InvalidIdempotencyKey as wrong:
        assert header != expected and wrong.expected == expected
        return
    assert header == expected
