"""Reclaim's domain: cases, their lifecycle and their rules. Pure Python, no I/O."""
