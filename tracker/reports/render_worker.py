"""A worker process for `tracker.reports.drawing`: Vega-Lite specs in, images out.

    python -m tracker.reports.render_worker   < one JSON line each: {"kind": "svg", "spec": {...}}
                                              > one line each: the image in base64, or
                                                "!" and why it could not be drawn

It reads and answers one chart at a time, so the report that started it can go on building
charts while this one draws. It is a plain subprocess, not a multiprocessing child: inside the
Streamlit server `__main__` is the app's script, which multiprocessing's "spawn" would run again
in every child. It imports vl-convert alone (not pandas or Altair), so it starts in a tenth of
a second.
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
    draw(({"mark": "point"}, "svg"))  # vl-convert starts its engine while the charts are made
    for line in sys.stdin:
        try:
            job = json.loads(line)
            answer = base64.b64encode(draw((job["spec"], job["kind"]))).decode("ascii")
        except Exception as exc:  # noqa: BLE001 - said to the report, which stops with it
            answer = "!" + " ".join(str(exc).split())[:500]
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
