"""Bulk Data ``$export`` jobs kept in a directory, so every gunicorn worker (and a restart) sees them.

A job is ``<root>/<id>/job.json`` plus the ``<Type>.ndjson`` files written so far. There is no
background thread: each status poll moves the job on by one resource type (under a lock file, so two
workers polling at once never write the same file), so a job advances while its client polls. The
root is beside a SQLite database file (``etmi.db.bulk/``), else in the system temp directory keyed by
the database URL (one host's workers share it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.exchange.export import Selection, write_ndjson

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
STALE_LOCK = 120.0  # seconds: a worker that died mid-type leaves its lock; another takes over after this


def bulk_root(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().with_name(Path(url.database).name + ".bulk")
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"etmi-bulk-{digest}"


@dataclass
class Job:
    id: str
    owner: str  # the token's subject: only it may poll, download or cancel
    request: str
    transaction_time: str  # FHIR instant of the kick-off; resources changed later are left out
    pending: list[str]
    since: str | None = None
    patients_only: bool = False
    done: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def complete(self) -> bool:
        return not self.pending

    def progress(self) -> str:
        total = len(self.done) + len(self.pending)
        return f"{len(self.done)} of {total} resource types exported"


class Jobs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, owner: str, request: str, types: list[str], since: datetime | None, patients_only: bool,
               now: datetime) -> Job:
        job = Job(uuid.uuid4().hex, owner, request, now.isoformat(timespec="milliseconds") + "Z", types,
                  since.isoformat() if since else None, patients_only)
        (self.root / job.id).mkdir(parents=True)
        self._save(job)
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job if it exists and is ``owner``'s (someone else's job reads as missing)."""
        if not JOB_ID.match(job_id):
            return None
        try:
            job = Job(**json.loads((self.root / job_id / "job.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return job if job.owner == owner else None

    def file(self, job: Job, rtype: str) -> Path | None:
        path = self.root / job.id / f"{rtype}.ndjson"
        return path if rtype in job.done and path.is_file() else None

    def cancel(self, job: Job) -> None:
        shutil.rmtree(self.root / job.id, ignore_errors=True)

    def advance(self, job: Job, sessions: sessionmaker[Session]) -> Job:
        """Export the next pending type unless another worker is at it; returns the job as it now is."""
        if job.complete:
            return job
        lock = self.root / job.id / ".lock"
        if not self._lock(lock):
            return job
        try:
            fresh = self.get(job.id, job.owner)
            if fresh is None or fresh.complete:  # cancelled, or finished by another worker
                return fresh or job
            rtype = fresh.pending[0]
            selection = Selection((rtype,), datetime.fromisoformat(fresh.since) if fresh.since else None,
                                  fresh.patients_only, until=datetime.fromisoformat(fresh.transaction_time[:-1]))
            part = self.root / job.id / f"{rtype}.ndjson.part"
            with part.open("wb") as out:
                count = write_ndjson(sessions, rtype, out, selection)
            os.replace(part, self.root / job.id / f"{rtype}.ndjson")
            fresh.pending, fresh.done[rtype] = fresh.pending[1:], count
            self._save(fresh)
            return fresh
        finally:
            lock.unlink(missing_ok=True)

    def _lock(self, lock: Path) -> bool:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime > STALE_LOCK:
                    lock.unlink(missing_ok=True)
                    return self._lock(lock)
            except FileNotFoundError:
                return self._lock(lock)
            return False
        except FileNotFoundError:  # the job was cancelled
            return False

    def _save(self, job: Job) -> None:
        target = self.root / job.id / "job.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(job)))
        os.replace(temporary, target)


def manifest(job: Job, base: str) -> dict[str, Any]:
    """The Bulk Data complete-status body: transactionTime, request, requiresAccessToken, output, error."""
    return {"transactionTime": job.transaction_time, "request": job.request, "requiresAccessToken": True,
            "output": [{"type": t, "url": f"{base}/$export-file/{job.id}/{t}.ndjson", "count": n}
                       for t, n in job.done.items() if n],
            "error": []}
