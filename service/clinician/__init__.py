"""Clinician app: a SMART App Launch 2.0 app showing a patient's ETMI course (issue 14).

Rule: the app reads only from the launching EHR with the user's token (through service/adapters);
tokens stay in the server-side session, never in the browser.
"""

LAUNCH_PATH = "/clinician/launch"


def launch_url(base_url: str) -> str:
    """The app's launch URL under a public base URL (for CDS Hooks `smart` links)."""
    return base_url.rstrip("/") + LAUNCH_PATH
