"""A worker process for `tracker.reports.report.render`: Vega-Lite specs in, images out.

    python -m tracker.reports.render_worker pdf|png|svg   < JSON list of specs   > one base64 line each

Run by the review pack and the learning report to draw many charts on several cores. It is a
plain subprocess, not a multiprocessing child: inside the Streamlit server `__main__` is the
app's script, which multiprocessing's "spawn" would run again in every child. It imports
vl-convert alone (not pandas or Altair), so a worker starts in a tenth of a second.
"""

from __future__ import annotations

import base64
import json
import sys


def draw(job: tuple[dict, str]) -> bytes:
    """One Vega-Lite spec as PDF, PNG (at twice the size) or SVG (UTF-8 bytes)."""
    import vl_convert as vlc

    spec, kind = job
    if kind == "pdf":
        return vlc.vegalite_to_pdf(spec)
    return vlc.vegalite_to_png(spec, scale=2) if kind == "png" else \
        vlc.vegalite_to_svg(spec).encode("utf-8")


def main() -> int:
    kind = sys.argv[1]
    for spec in json.load(sys.stdin):
        sys.stdout.write(base64.b64encode(draw((spec, kind))).decode("ascii") + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
