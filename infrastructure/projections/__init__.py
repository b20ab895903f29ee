"""Read models of the event log: case list, timeline, audit log, reports.

Commands write them inline (``inline``); ``projector`` makes them again from the log
(``reclaim replay``, ``reclaim project``); ``queries`` reads them; ``verify`` and
``transfer`` check, export and import.
"""
