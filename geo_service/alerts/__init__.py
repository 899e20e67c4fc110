"""Alerts to people: subscriptions, matching in the ingest's transaction, the outbox and its channels."""
