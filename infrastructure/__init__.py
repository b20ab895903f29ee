"""Reclaim's infrastructure: ``store`` (the event store and what is saved beside it),
``projections`` (the read models, written inline), ``read`` (queries over them),
``service`` (the commands and access rules), ``drafts`` (drafted messages),
``settings`` and ``bootstrap`` (the one wiring point)."""
