"""Tells the person who typed `make run` where Rapport is and how to sign in, once it is up.

It waits for the gateway to report ready, prints the URL and the demo logins, then stays
alive (honcho stops everything when any process exits).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx

DEMO_LOGINS = [
    ("clinician", "clinician@demo.rapport", "demo-clinician-pass"),
    ("client", "client@demo.rapport", "demo-client-pass"),
    ("admin", "admin@demo.rapport", "demo-admin-pass"),
]


def wait_for(url: str, timeout: float = 180.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def main() -> None:
    base = os.environ.get("RAPPORT_PUBLIC_URL", "http://127.0.0.1:8000")
    if not wait_for(f"{base}/readyz"):
        print(f"Rapport did not become ready at {base}/readyz; see the logs above.", flush=True)
    else:
        lines = [
            "",
            "=" * 64,
            f"  Rapport is running at {base}",
            f"  API docs per service: {base.rsplit(':', 1)[0]}:8001/docs (identity), :8002 …",
            "  Demo logins (POST /v1/auth/login):",
            *[f"    {role:<10} {email:<26} {password}" for role, email, password in DEMO_LOGINS],
            "  Ctrl-C stops everything.",
            "=" * 64,
            "",
        ]
        print("\n".join(lines), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
