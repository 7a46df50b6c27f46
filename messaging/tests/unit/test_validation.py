"""messaging.validation: the values every service's rules validate with."""

from __future__ import annotations

import pytest

from messaging.validation import (
    FieldError,
    InvalidIdempotencyKey,
    InvalidInput,
    integer_error,
    is_integer,
    require_idempotency_key,
)


def test_invalid_input_keeps_its_field_errors_and_names_them():
    error = InvalidInput(
        iter([FieldError("sku", "is unknown"), FieldError("quantity", "must be an integer")])
    )
    assert error.errors == (FieldError("sku", "is unknown"), FieldError("quantity", "must be an integer"))
    assert str(error) == "sku: is unknown; quantity: must be an integer"


def test_the_idempotency_key_must_be_the_expected_one():
    require_idempotency_key(header="charge:o-1", expected="charge:o-1")
    for header in (None, "", "charge:o-2"):
        with pytest.raises(InvalidIdempotencyKey, match="^Idempotency-Key must be 'charge:o-1'$") as caught:
            require_idempotency_key(header=header, expected="charge:o-1")
        assert caught.value.expected == "charge:o-1"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, None),
        (10, None),
        (-1, "must be from 0 to 10"),
        (11, "must be from 0 to 10"),
        (True, "must be an integer"),
        (1.0, "must be an integer"),
        ("1", "must be an integer"),
        (None, "must be an integer"),
    ],
)
def test_integer_error_says_what_is_wrong(value, error):
    assert integer_error(value, minimum=0, maximum=10) == error
    assert is_integer(value) == (error != "must be an integer")
