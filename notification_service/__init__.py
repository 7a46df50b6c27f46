"""Notification: tells the customer about their order by email (at least once, deduplicated)."""
