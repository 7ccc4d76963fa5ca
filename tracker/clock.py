"""What the tracker takes as today: one place every date rule reads, so tests can set it.

A lab's dates (a result dated in the future, the periods still due, the month a progress score
is for, what is new since a date, the date a report was made) follow `today()`. It is the
computer's date unless `TRACKER_TODAY` holds a date (YYYY-MM-DD): the tests pin it so that the
demo, its signals and every date check are the same on any day, and a lab can rehearse a
meeting as of a date. `now()` is today's date at the computer's time of day, for the dates
the tracker stamps on what it records (a retirement, a consent).

Elapsed time is not a date rule: session expiry, sign-in throttling, API token use and the
backup schedule read the real clock (`datetime.datetime.now()`), whatever `TRACKER_TODAY` says.
"""

from __future__ import annotations

import datetime as dt
import os

ENV = "TRACKER_TODAY"


def today() -> dt.date:
    given = os.environ.get(ENV, "").strip()
    if not given:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(given)
    except ValueError:
        raise ValueError(f"{ENV} is '{given}', which is not a date: write it as YYYY-MM-DD, "
                         "or leave it unset for the computer's date.") from None


def now() -> dt.datetime:
    real = dt.datetime.now()
    day = today()
    return real if day == real.date() else dt.datetime.combine(day, real.time())
