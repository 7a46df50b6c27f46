"""Shared plumbing for the five services: events, broker, outbox/inbox, HTTP basics.

No business rules live here and nothing here imports a service.
"""
