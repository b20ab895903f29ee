"""(b) The bare endpoint: see ``http.py``, which runs both through the same wrk."""

from bench.sections.http import run_bare as run

__all__ = ["run"]
