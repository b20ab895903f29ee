"""How Reclaim's processes log: one format for the command line and for every worker
``reclaim serve`` starts (uvicorn starts its workers as fresh processes, which do not
inherit the parent's logging set-up)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """INFO and up to standard error, unless the process has set its logging up already."""
    logging.basicConfig(level=logging.INFO, format=FORMAT)
