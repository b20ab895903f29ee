"""Webhooks: endpoints a workspace admin registers, the deliveries made to them, and the
dispatcher that follows the log and sends them (signed per Standard Webhooks)."""
