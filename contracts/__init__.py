"""Event contracts: JSON Schemas (with examples) for the envelope and every event type.

Imports no service; stdlib + jsonschema only, so any service's tests can check what it
produces and what it accepts against the same files.
"""

from contracts.schemas import EVENT_TYPES, example_event, validate_event

__all__ = ["EVENT_TYPES", "example_event", "validate_event"]
