"""The portfolio of change ideas: where each idea was tested, what was decided, and whether the
measures it targets improved there after it was first tried.

"Improved" means what the Outcomes chart of that measure at that organisation shows: at least
one point from the start of the idea's first cycle there to 26 weeks after its last cycle
there (WINDOW) is classed as special cause improvement, under limits from 13 or more points
(trial limits do not count). The window keeps a signal years later, which the test cannot
explain, from counting; the longer a series runs, the likelier a chance signal somewhere. It is evidence
to discuss, not proof that the idea caused the change: several ideas tested at one
organisation around the same time can share one improvement, which the chart, with each
cycle drawn on it, helps to untangle.
"""

from __future__ import annotations

import pandas as pd

from tracker import vocab
from tracker.access.scope import Scope
from tracker.analysis import summary
from tracker.records import repo
from tracker.storage.db import Database

WINDOW = pd.Timedelta(weeks=26)
_RANK = {"improved": 4, "concern": 3, "none": 2, "too_few": 1, "untargeted": 0}


def measure_outcomes(db: Database, scope: Scope, challenge_id: int) -> pd.DataFrame:
    """For every idea x organisation x targeted measure: the first cycle's start, and what the
    measure's chart shows from then to WINDOW after the last cycle (improved / concern / none /
    too_few)."""
    scope.require_member("the portfolio")
    targets = db.read(
        "WITH firsts AS (SELECT c.idea_id, c.organisation_id, min(c.start_date) AS first_start,"
        "   max(c.end_date) AS last_end"
        "   FROM cycle c JOIN idea i ON i.id = c.idea_id WHERE i.challenge_id = ?"
        "   GROUP BY c.idea_id, c.organisation_id)"
        " SELECT DISTINCT f.idea_id, f.organisation_id, cm.measure_id, f.first_start,"
        " f.last_end"
        " FROM firsts f JOIN cycle c ON c.idea_id = f.idea_id"
        "   AND c.organisation_id = f.organisation_id"
        " JOIN cycle_measure cm ON cm.cycle_id = c.id"
        " JOIN measure m ON m.id = cm.measure_id AND m.retired_at IS NULL"
        " ORDER BY f.idea_id, f.organisation_id, cm.measure_id", [challenge_id])
    targets = targets[[scope.sees(int(o)) for o in targets["organisation_id"]]]
    columns = ["idea_id", "organisation_id", "measure_id", "first_start", "outcome",
               "points_after"]
    if targets.empty:
        return pd.DataFrame(columns=columns)
    values, attributes = summary.charted_series(
        db, scope, sorted(targets["organisation_id"].unique()), targeted_by_cycles=True)
    keep = ["organisation_id", "measure_id", "period", "value", "point_type", "trial"]
    charted = pd.concat([f[keep] for f in (values, attributes) if not f.empty],
                        ignore_index=True) if not (values.empty and attributes.empty) \
        else pd.DataFrame(columns=keep)
    charted = charted[charted["value"].notna()]
    after = targets.merge(charted, on=["organisation_id", "measure_id"])
    when = pd.to_datetime(after["period"])
    after = after[(when >= pd.to_datetime(after["first_start"]))
                  & (when <= pd.to_datetime(after["last_end"]) + WINDOW)]
    counted = after[~after["trial"].astype(bool)]
    keys = ["idea_id", "organisation_id", "measure_id"]
    flags = pd.DataFrame({
        "improved": counted["point_type"].eq("improvement").groupby(
            [counted[k] for k in keys]).any(),
        "concern": counted["point_type"].eq("concern").groupby(
            [counted[k] for k in keys]).any(),
        "counted": counted.groupby(keys).size()})
    points = after.groupby(keys).size().rename("points_after")
    out = targets.merge(flags.reset_index(), on=keys, how="left").merge(
        points.reset_index(), on=keys, how="left")
    out["points_after"] = out["points_after"].fillna(0).astype(int)
    improved = out["improved"].eq(True)
    concern = out["concern"].eq(True)
    out["outcome"] = "too_few"
    out.loc[out["counted"].fillna(0) > 0, "outcome"] = "none"
    out.loc[concern, "outcome"] = "concern"
    out.loc[improved, "outcome"] = "improved"
    return out[columns].reset_index(drop=True)


def portfolio(db: Database, scope: Scope, challenge_id: int | None = None, *,
              names: pd.Series | None = None) -> pd.DataFrame:
    """One row per idea x organisation where the idea was tested: cycles run, the latest
    decision, the first cycle's start, what the targeted measures show after it (the best of
    them: improved, else concern, else no signal, else too few points) and, per measure, in
    words (with `names`, measure id -> name, as the reader may read them)."""
    challenge_id = challenge_id or (repo.get_challenge(db, scope.challenge_id) or {}).get("id")
    columns = ["idea_id", "idea", "organisation_id", "organisation", "cycles", "latest_decision",
               "first_start", "last_end", "outcome", "outcome_words", "measures", "measure_id"]
    if challenge_id is None:
        return pd.DataFrame(columns=columns)
    cycles = repo.list_cycles(db, scope, challenge_id)
    if cycles.empty:
        return pd.DataFrame(columns=columns)
    ordered = cycles.sort_values(["start_date", "cycle_no"])
    pairs = ordered.groupby(["idea_id", "organisation_id"], sort=False).agg(
        idea=("idea", "first"), organisation=("organisation", "first"),
        cycles=("id", "size"), latest=("decision", "last"), latest_stage=("stage", "last"),
        first_start=("start_date", "min"), last_end=("end_date", "max")).reset_index()
    pairs["latest_decision"] = [
        vocab.DECISIONS.get(d, "In progress") if isinstance(d, str) else "In progress"
        for d in pairs["latest"]]
    found = measure_outcomes(db, scope, challenge_id)
    if names is None:
        names = repo.list_measures(db).set_index("id")["name"]
    if found.empty:
        pairs["outcome"] = "untargeted"
        pairs["measures"] = ""
        pairs["measure_id"] = None
    else:
        found["rank"] = found["outcome"].map(_RANK)
        best = found.sort_values("rank").groupby(["idea_id", "organisation_id"]).tail(1)
        # in measure order, whatever order the database returned the rows in
        found = found.sort_values(["idea_id", "organisation_id", "measure_id"])
        words = found.assign(text=found["measure_id"].map(names) + ": "
                             + found["outcome"].map(vocab.OUTCOMES).str.lower())
        words = words.groupby(["idea_id", "organisation_id"])["text"].agg("; ".join)
        pairs = pairs.merge(best[["idea_id", "organisation_id", "outcome", "measure_id"]],
                            on=["idea_id", "organisation_id"], how="left")
        pairs["outcome"] = pairs["outcome"].fillna("untargeted")
        pairs["measures"] = pairs.set_index(["idea_id", "organisation_id"]).index.map(
            words).fillna("")
    pairs["outcome_words"] = pairs["outcome"].map(vocab.OUTCOMES)
    return pairs[columns].sort_values(["idea", "organisation"], ignore_index=True)


def idea_summary(pairs: pd.DataFrame, ideas: pd.DataFrame) -> pd.DataFrame:
    """Per idea: in how many organisations it was tested, how many saw improvement in the
    measures it targets after its first cycle there, how many a concern, and its cycles."""
    counts = pairs.groupby("idea_id").agg(
        organisations=("organisation_id", "nunique"), cycles=("cycles", "sum"),
        improved=("outcome", lambda s: int((s == "improved").sum())),
        concern=("outcome", lambda s: int((s == "concern").sum())),
        adopted=("latest_decision", lambda s: int((s == "Adopt").sum())))
    out = ideas[["id", "title", "status"]].rename(columns={"id": "idea_id", "title": "idea"})
    out = out.merge(counts.reset_index(), on="idea_id", how="left")
    for column in ("organisations", "cycles", "improved", "concern", "adopted"):
        out[column] = out[column].fillna(0).astype(int)
    out["status"] = out["status"].map(vocab.IDEA_STATUSES).fillna(out["status"])
    return out.sort_values(["improved", "organisations", "idea"],
                           ascending=[False, False, True], ignore_index=True)
