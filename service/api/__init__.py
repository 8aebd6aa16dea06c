"""The ``/api/v1`` API: blueprints (transport), schemas and the write use-case."""
