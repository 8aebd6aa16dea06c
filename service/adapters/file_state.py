"""A ``SyncStatePort`` kept in one JSON file (or in memory): pull cursors and the conflict log.

The store's tables (``service.store.sync_state``) are the default; this file-backed state is what
``etmi-fhir sync --state FILE`` (or ``ETMI_SYNC_STATE_FILE``) uses, e.g. for a worker without the
service's database schema, and what tests use to inspect the state. With it, EHR edits are not applied:
it is also the ``RemoteEditPort`` of such a runtime, and ``apply``/``apply_remote`` log the edit as not
applied, keep it in the file under ``inbox`` (for inspection) and answer False.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from service.sync.ports import Conflict, Json
from service.sync.pull import not_applied

NOT_APPLIED = "the sync state is a file (ETMI_SYNC_STATE_FILE or --state): edits are not applied"


class FileSyncState:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {"cursors": {}, "conflicts": [], "inbox": []}
        if self.path and self.path.exists():
            self._data.update(json.loads(self.path.read_text(encoding="utf-8")))

    def _save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sync-state-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self._data, out, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def get_cursor(self, key: str) -> str | None:
        with self._lock:
            value = self._data["cursors"].get(key)
            return str(value) if value is not None else None

    def set_cursor(self, key: str, value: str) -> None:
        with self._lock:
            self._data["cursors"][key] = value
            self._save()

    def record_conflict(self, conflict: Conflict) -> None:
        row = asdict(conflict)
        row["at"] = conflict.at.isoformat()
        with self._lock:
            self._data["conflicts"].append(row)
            self._save()

    def list_conflicts(self, status: str | None = None) -> list[Conflict]:
        with self._lock:
            rows = [dict(r) for r in self._data["conflicts"] if status is None or r["status"] == status]
        return [Conflict(**{**r, "at": datetime.fromisoformat(r["at"])}) for r in rows]

    def resolve_conflicts(self, target: str, resource_type: str, local_id: str, resolution: str) -> int:
        """Mark held conflicts of one resource resolved (a clinician decided)."""
        changed = 0
        with self._lock:
            for row in self._data["conflicts"]:
                if (row["target"], row["resource_type"], row["local_id"], row["status"]) == (
                        target, resource_type, local_id, "held"):
                    row["status"], row["resolution"] = "resolved", resolution
                    changed += 1
            self._save()
        return changed

    def apply(self, target: str, _resource_type: str, _mapped: object, resource: Json) -> bool:
        """``RemoteEditPort``: a pulled EHR edit is not applied (logged, kept in the inbox)."""
        return self.apply_remote(target, None, resource)

    def apply_remote(self, target: str, local_id: str | None, resource: Json) -> bool:
        not_applied(resource, NOT_APPLIED)
        with self._lock:
            self._data["inbox"].append({"target": target, "local_id": local_id, "resource": resource})
            self._save()
        return False

    def inbox(self) -> list[Json]:
        with self._lock:
            return list(self._data["inbox"])
