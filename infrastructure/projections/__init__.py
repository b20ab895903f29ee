"""Read models built from the event log: case list, timeline, audit log, reports.

The HTTP layer and the command line use ``Projector`` (running them), ``queries``
(reading them), ``verify`` and ``transfer`` (export and import).
"""

from infrastructure.projections.locks import ProjectorBusy
from infrastructure.projections.projector import NAMES, Projector, create_tables

__all__ = ["NAMES", "Projector", "ProjectorBusy", "create_tables"]
