"""The ``reclaim`` command line (``main``), with its projection commands and helpers."""
