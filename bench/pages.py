"""Page timings on the demo database: each page through AppTest, cold and warm.

    python bench/pages.py [--runs 5]

Prints the median seconds per page. Not a test: it passes or fails nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from tracker import demo  # noqa: E402

PAGES = ["overview", "challenge", "ideas", "cycles", "organisations", "measures"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--demo", type=Path, default=None,
                        help="a demo database to copy instead of building one")
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "demo.duckdb"
    started = time.perf_counter()
    demo.demo_file(path, copy_of=args.demo)
    print(f"demo {'copied' if args.demo else 'load'}: {time.perf_counter() - started:.2f} s")
    os.environ["TRACKER_DB"] = str(path)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    started = time.perf_counter()
    at.run()
    print(f"first run (imports, connection): {time.perf_counter() - started:.2f} s")
    print(f"{'page':<15}{'median s':>10}{'max s':>8}")
    for page in PAGES:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            at.switch_page(f"app_pages/{page}.py").run()
            times.append(time.perf_counter() - started)
            assert not at.exception, at.exception
        print(f"{page:<15}{statistics.median(times):>10.3f}{max(times):>8.3f}")


if __name__ == "__main__":
    main()
