"""A worker process for `tracker.reports.report.render`: Vega-Lite specs in, images out.

    python -m tracker.reports.render_worker pdf|png|svg   < JSON list of specs   > one base64 line each

Run by the review pack to draw many charts on several cores. It is a plain subprocess, not a
multiprocessing child: inside the Streamlit server `__main__` is the app's script, which
multiprocessing's "spawn" would run again in every child.
"""

from __future__ import annotations

import base64
import json
import sys


def main() -> int:
    from tracker.reports.report import _render_one

    kind = sys.argv[1]
    for spec in json.load(sys.stdin):
        sys.stdout.write(base64.b64encode(_render_one((spec, kind))).decode("ascii") + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
