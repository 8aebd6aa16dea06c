"""The clinician dashboard on loopback: time to its first byte and to the complete page, against HAPI
reads of the same resources in the same run.

The stack is the end-to-end test's (tests/e2e/clinician_support.py): the example episode synced to HAPI
by the service, the simulated EHR relaying to HAPI, the SMART authorization server, the service on a
werkzeug server. One launch through the authorization server (requests, following its redirects) gives
a session; then each repeat takes:

- dashboard first byte / complete: ``GET /clinician/`` until the headers arrive / until the last byte;
- HAPI direct: the reads the app makes (Patient read, then Observation, Procedure, CarePlan, Goal and
  QuestionnaireResponse searches by patient, ``_count=200``), one after another, straight to HAPI;
- HAPI via the relay: the same reads through the simulated EHR's ``/fhir`` (what the app goes through).

    .venv/bin/python bench/clinician_bench.py [--repeats 30]     # ETMI_TEST_HAPI_URL / ETMI_TEST_SMART_URL

Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.clinician.reader import PAGE, PATIENT_TYPES
from tests.e2e.clinician_support import Stack, clinician_stack

FHIR = {"Accept": "application/fhir+json"}


def signed_in(stack: Stack) -> requests.Session:
    """A browser-like session: the EHR's launch, the authorization server's redirects, the app's cookie."""
    http = requests.Session()
    response = http.get(f"{stack.launcher_url}/launch", params={"patient": stack.remote_patient}, timeout=60)
    assert response.status_code == 200 and 'id="patient-name"' in response.text, response.status_code
    return http


def reads(base: str, patient: str, token: str | None = None) -> Callable[[], None]:
    headers = {**FHIR, **({"Authorization": f"Bearer {token}"} if token else {})}
    http = requests.Session()

    def run() -> None:
        assert http.get(f"{base}/Patient/{patient}", headers=headers, timeout=60).status_code == 200
        for rtype in PATIENT_TYPES:
            response = http.get(f"{base}/{rtype}", params={"patient": patient, "_count": PAGE}, headers=headers,
                                timeout=60)
            assert response.status_code == 200, response.text[:200]
    return run


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


def dashboard(http: requests.Session, url: str) -> tuple[float, float]:
    start = time.perf_counter()
    with http.get(url, stream=True, timeout=60) as response:
        first = (time.perf_counter() - start) * 1000
        body = response.content
    complete = (time.perf_counter() - start) * 1000
    assert response.status_code == 200 and b'id="patient-name"' in body
    return first, complete


def row(name: str, values: list[float], baseline: float) -> str:
    median = statistics.median(values)
    p90 = sorted(values)[max(0, int(len(values) * 0.9) - 1)]
    return f"| {name} | {median:.1f} | {p90:.1f} | {median / baseline:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    hapi, smart = os.environ["ETMI_TEST_HAPI_URL"], os.environ["ETMI_TEST_SMART_URL"]
    with tempfile.TemporaryDirectory() as tmp, clinician_stack(hapi, smart, Path(tmp)) as stack:
        http = signed_in(stack)
        token = stack.clinician.sessions.tokens()[0]  # the access token (the first value kept)
        direct, relay = reads(hapi, stack.remote_patient), reads(stack.iss, stack.remote_patient, token)
        url = f"{stack.app_url}/clinician/"
        for warm in (direct, relay, lambda: dashboard(http, url)):
            warm()
        results: dict[str, list[float]] = {"direct": [], "relay": [], "first": [], "complete": []}
        for _ in range(args.repeats):  # interleaved, so load changes hit every row alike
            results["direct"].append(timed(direct))
            results["relay"].append(timed(relay))
            first, complete = dashboard(http, url)
            results["first"].append(first)
            results["complete"].append(complete)
    base = statistics.median(results["direct"])
    print(f"repeats: {args.repeats}; load average: {os.getloadavg()[0]:.1f}")
    print("| | median ms | p90 ms | vs HAPI direct |\n|---|---:|---:|---:|")
    print(row("HAPI direct (the app's 6 reads)", results["direct"], base))
    print(row("HAPI via the simulated EHR's relay", results["relay"], base))
    print(row("dashboard, first byte", results["first"], base))
    print(row("dashboard, complete page", results["complete"], base))


if __name__ == "__main__":
    main()
