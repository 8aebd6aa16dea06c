"""How the fake EHR of ``fakes.py`` words its answers, as the real servers differ (what the engine must read).

Defaults are Medplum-like bundle answers (``"201"`` and a versioned ``location``). ``status_text`` adds the
reason phrase as HAPI does (``"201 Created"``); ``entry_etag`` adds the entry's ``etag`` (HAPI);
``entry_resource`` the resource (``Prefer: return=representation``); ``entry_location = False`` leaves the
location out; ``versioned_location = False`` names ``Type/id`` without ``/_history/v`` in entries and in the
``Location`` header (R4 does not require the version there); ``etag = False`` answers single requests
without the ``ETag`` header.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from http import HTTPStatus

from service.sync.ports import Json


@dataclass(frozen=True)
class AnswerStyle:
    status_text: bool = False
    entry_location: bool = True
    entry_etag: bool = False
    entry_resource: bool = False
    versioned_location: bool = True
    etag: bool = True

    def status(self, status: int) -> str:
        return f"{status} {HTTPStatus(status).phrase}" if self.status_text else str(status)

    def location(self, rtype: str, rid: str, version: str) -> str:
        return f"{rtype}/{rid}" + (f"/_history/{version}" if self.versioned_location else "")

    def entry(self, status: int, rtype: str, rid: str, version: str | None, stored: Json | None) -> Json:
        """A batch/transaction-response entry for a write that went through."""
        response: Json = {"status": self.status(status)}
        if version and self.entry_location:
            response["location"] = self.location(rtype, rid, version)
        if version and self.entry_etag:
            response["etag"] = f'W/"{version}"'
        answer: Json = {"response": response}
        if version and self.entry_resource and stored is not None:
            answer["resource"] = copy.deepcopy(stored)
        return answer

    def headers(self, base_url: str, rtype: str, rid: str, version: str) -> dict[str, str]:
        """``Location`` (and ``ETag``) of a single request's answer."""
        return {"Location": f"{base_url}/{self.location(rtype, rid, version)}",
                **({"ETag": f'W/"{version}"'} if self.etag else {})}
