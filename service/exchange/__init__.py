"""Outcome registries in (CSV/NDJSON rows -> episode payloads) and data out (NDJSON per type, a flat CSV)."""
