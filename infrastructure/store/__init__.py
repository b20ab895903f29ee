"""The event store and everything saved beside the events: the application, group
commit, the recorders and database, topics, idempotency records, keys, sessions,
templates, evidence blobs and log export/import."""
