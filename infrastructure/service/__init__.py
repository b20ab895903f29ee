"""The service layer: one typed method per command, owning its unit of work, and the
access rules every adapter (HTTP, case book, e-mail intake) applies the same way."""
