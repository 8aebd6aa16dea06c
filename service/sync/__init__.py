"""The sync engine: push the outbox to EHR targets, pull their edits (see README.md)."""
