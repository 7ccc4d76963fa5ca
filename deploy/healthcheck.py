"""The container's health check: GET /healthz of the app in this container (under its base
URL path). Exit 0 when the tracker can read its database, 1 otherwise."""

import os
import sys
import urllib.request

base = os.environ.get("STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/")
port = os.environ.get("STREAMLIT_SERVER_PORT", "8501")
url = f"http://127.0.0.1:{port}" + (f"/{base}" if base else "") + "/healthz"
try:
    with urllib.request.urlopen(url, timeout=4) as reply:
        sys.exit(0 if reply.status == 200 else 1)
except OSError as exc:
    print(f"{url}: {exc}")
    sys.exit(1)
