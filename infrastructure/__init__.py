"""Reclaim's infrastructure: the event store, settings, and what persists beside it."""
