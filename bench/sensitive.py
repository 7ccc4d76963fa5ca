"""Benchmark of the last check of shared text (`tracker.access.sensitive.Finder.find`) against
a plain scan of every position of the text for every name.

    python bench/sensitive.py [--organisations 200] [--people 300] [--texts 300] [--runs 3]

A reader outside the lab team may not meet the names of the organisations and people withheld
from them; every passage a page, a report or an export gives them is read against all of
those names (each organisation's full name and distinctive words, each person's full name,
initial and surname). The texts are sentences of 10-120 words, a tenth of them naming someone.
The plain scan runs in the same process on the same words, so the ratio is fair; both must
find the same names. Prints seconds (median of the runs) and the ratio.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tracker.access import sensitive  # noqa: E402

PLACES = ["Hillview", "Westbrook", "Riverside", "Harbourside", "Kingsway", "Oakfield",
          "Ashgrove", "Meadowbank", "Thornbury", "Elmstead"]
WORDS = ["we", "met", "the", "team", "at", "the", "clinic", "and", "people", "said", "the",
         "new", "rota", "helped", "them", "a", "lot", "with", "weekly", "calls", "from", "a",
         "peer", "supporter", "after", "the", "group"]


def _plain_scan(finder: sensitive.Finder, text: str) -> list[tuple[str, str]]:
    """What `Finder.find` answers for names, found by trying every position of the text."""
    said = sensitive.words(text)
    found = []
    for form, name, what in finder._forms:
        n = len(form)
        if (what, name) not in found and any(tuple(said[i:i + n]) == form
                                             for i in range(len(said) - n + 1)):
            found.append((what, name))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=200)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    chosen = random.Random(1)
    organisations = [f"{PLACES[i % len(PLACES)]}{i // len(PLACES) or ''} Health Trust"
                     for i in range(args.organisations)]
    people = [f"Alex{i} Morgan{i}" for i in range(args.people)]
    texts = []
    for i in range(args.texts):
        words = [chosen.choice(WORDS) for _ in range(chosen.randint(10, 120))]
        if i % 10 == 0 and organisations:
            words.insert(chosen.randrange(len(words)), chosen.choice(organisations))
        texts.append(" ".join(words))
    finder = sensitive.Finder(organisations, people)
    timings: dict[str, list[float]] = {"find": [], "plain scan": []}
    for _ in range(args.runs):
        started = time.perf_counter()
        found = [[f for f in finder.find(t) if f[0] in ("organisation", "person")]
                 for t in texts]
        timings["find"].append(time.perf_counter() - started)
        started = time.perf_counter()
        scanned = [_plain_scan(finder, t) for t in texts]
        timings["plain scan"].append(time.perf_counter() - started)
        if found != scanned:
            raise SystemExit("Finder.find and the plain scan found different names")
    named = sum(1 for f in found if f)
    print(f"{args.texts} texts ({named} naming someone) against {args.organisations} "
          f"organisations and {args.people} people ({len(finder._forms)} forms of names), "
          f"median of {args.runs}:")
    find, plain = (statistics.median(timings[k]) for k in ("find", "plain scan"))
    print(f"Finder.find: {find:.3f} s; plain scan: {plain:.3f} s; "
          f"{plain / find if find else float('nan'):.1f}x")


if __name__ == "__main__":
    main()
