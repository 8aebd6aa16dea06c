"""Adapters: the only code that talks to the network (FHIR servers, token endpoints, JWKS)."""
