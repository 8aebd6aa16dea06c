"""What HAPI holds for a batch of stored Patients, for the exactly-once checks of bench/scaleout.py and
bench/soak_check.py: searches sent as POST ``_search`` (long id lists do not fit a URL), following ``next``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

FHIR = {"Accept": "application/fhir+json"}


def search(session: requests.Session, url: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every matching resource of a search (included ones left out), page after page."""
    response = session.post(f"{url}/_search", data=params, headers=FHIR, timeout=300)
    response.raise_for_status()
    page: dict[str, Any] = response.json()
    while True:
        yield from (entry["resource"] for entry in page.get("entry", [])
                    if entry.get("search", {}).get("mode", "match") == "match")
        link = next((lk["url"] for lk in page.get("link", []) if lk["relation"] == "next"), None)
        if link is None:
            return
        page = session.get(link, headers=FHIR, timeout=300).json()


def held_for(session: requests.Session, hapi: str, batch: list[Any],
             types: list[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(local patient id, type, resource) for each HAPI Patient matching a stored one's identifier (a
    duplicate Patient comes twice) and each resource of ``types`` whose subject/patient is one of them.
    ``batch`` rows are (local id, identifier system, identifier value)."""
    local_of = {(row[1], row[2]): row[0] for row in batch}
    remote_to_local: dict[str, str] = {}
    wanted = ",".join(f"{system}|{value}" for _, system, value in batch)
    for patient in search(session, f"{hapi}/Patient", {"identifier": wanted, "_count": "1000"}):
        local = next((local_of[(i.get("system"), i.get("value"))] for i in patient.get("identifier", [])
                      if (i.get("system"), i.get("value")) in local_of), None)
        if local is not None:
            remote_to_local[patient["id"]] = local
            yield local, "Patient", patient
    ids = ",".join(f"Patient/{rid}" for rid in remote_to_local)
    for rtype in types if ids else []:
        for resource in search(session, f"{hapi}/{rtype}", {"patient": ids, "_count": "1000"}):
            ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
            local = remote_to_local.get(ref.rpartition("Patient/")[2])
            if local is not None:
                yield local, rtype, resource
