"""Reclaim's entry points: the HTTP API and the ``reclaim`` command line."""
