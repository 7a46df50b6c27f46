"""Hypothesis strategies for what a request body or an event's data can hold: any JSON value
(as Python's json module reads it, NaN and Infinity included), and bodies that are valid
except for a few fields, so that a property reaches past the first check."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=6)


@st.composite
def spoiled(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid body with some fields replaced by any JSON value, some dropped, or left whole."""
    body = dict(draw(valid))
    for key in draw(st.sets(st.sampled_from(sorted(body)))) if body else ():
        if draw(st.booleans()):
            body[key] = draw(json_values)
        else:
            del body[key]
    return body


def bodies(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies, spoiled ones and any JSON object at all."""
    return valid | spoiled(valid) | json_objects
