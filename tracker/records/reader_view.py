"""The challenge as one reader may read it: every name, title and text the lab admin wrote
(the challenge's question and aim, phases, drivers, ideas, measures), checked for that reader
before anything is built from it.

Outputs for readers outside the lab team (the learning record and report, the digest, the
idea table and search on "What we learned") take their texts from here, never from the
tables, so no title that names a person or an organisation the reader may not see named can
reach them by a route nobody thought of. A title that fails is shown by a numbered neutral
stand-in ("an idea of the lab's (2)"), the same one throughout the output; a longer text that
fails is left out, and `Audience.withheld` counts both for the output to say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from tracker.access.disclosure import PARTNER, Audience
from tracker.access.scope import Scope
from tracker.records import observations, repo
from tracker.records.cycles import search_words
from tracker.storage.db import Database

DEFAULT_MIN_COUNT = 5  # the smallest count of people that may leave the lab, unless set


@dataclass
class ReaderView:
    audience: Audience
    challenge: dict  # title, question, aim (None where withheld), dates
    phases: pd.DataFrame
    drivers: pd.DataFrame  # name as the reader may see it
    ideas: pd.DataFrame  # title, description, drivers as the reader may see them
    measures: pd.DataFrame  # name, code, unit, definition, numerator, denominator

    def __post_init__(self):
        self.titles = dict(zip(self.ideas["id"].astype(int), self.ideas["title"], strict=True))

    def idea_title(self, idea_id) -> str:
        return self.titles.get(int(idea_id), "an idea of the lab's")


# --------------------------------------------------------------------------- the reader


def consents(db: Database) -> pd.DataFrame:
    """Every organisation with its consents (False where none was recorded)."""
    return db.read(
        "SELECT o.id AS organisation_id, o.name, o.kind, o.region,"
        " coalesce(c.named_to_partners, FALSE) AS named_to_partners,"
        " coalesce(c.named_in_public, FALSE) AS named_in_public,"
        " c.recorded_by, c.recorded_at"
        " FROM organisation o LEFT JOIN organisation_consent c ON c.organisation_id = o.id"
        " ORDER BY o.id")


def min_count(db: Database, challenge_id: int | None = None) -> int:
    """The smallest count of people (a numerator or denominator) that may leave the lab."""
    found = db.scalar("SELECT min_count FROM disclosure_settings WHERE challenge_id = ?",
                      [challenge_id]) if challenge_id is not None else \
        db.scalar("SELECT min_count FROM disclosure_settings ORDER BY challenge_id DESC LIMIT 1")
    return int(found) if found is not None else DEFAULT_MIN_COUNT


def people_not_to_name(db: Database) -> list[str]:
    """The people shared text must not name: contacts and accounts (names and e-mails), and
    participants (their e-mails always, their names unless they agreed to be named)."""
    people = db.read("SELECT contact_name AS p FROM organisation WHERE contact_name IS NOT"
                     " NULL UNION SELECT contact_email FROM organisation WHERE"
                     " contact_email IS NOT NULL UNION SELECT name FROM participant"
                     " WHERE NOT may_name AND erased_at IS NULL UNION SELECT email"
                     " FROM participant WHERE email IS NOT NULL AND erased_at IS NULL"
                     " UNION SELECT username FROM account UNION SELECT email FROM account"
                     " WHERE email IS NOT NULL")["p"].tolist()
    return [name for name in (_as_name(p) for p in people) if name]


def _as_name(text: str) -> str:
    """An account's username as the name it may stand for ("sarah.kowalski" reads "sarah
    kowalski"); a one-word username ("boss") is no one's name and is left out, or every
    text with that word in it would be withheld."""
    if not isinstance(text, str) or "@" in text:
        return text
    words = re.split(r"[._\-\s]+", text.strip())
    return " ".join(words) if len(words) > 1 else ""


def audience_for(db: Database, scope: Scope, *, public: bool = False,
                 known_people=()) -> Audience:
    """The reader of a record, report or download, with the consents and smallest count as
    they are now (a change takes effect in the next output). `known_people` (usernames,
    e-mails) are people this reader may see named: the accounts they work with."""
    challenge = repo.get_challenge(db, scope.challenge_id)
    report, public = public, public or scope.is_contributor
    people = people_not_to_name(db) if public or not scope.is_admin else []
    if known_people and not report:
        known = {_as_name(p) for p in known_people}
        people = [p for p in people if p not in known]
    return Audience.for_scope(scope, consents(db),
                              min_count=min_count(db, (challenge or {}).get("id")),
                              public=public, people=people,
                              min_group=observations.disclosure_threshold(db))


def for_reader(db: Database, scope: Scope, challenge: dict | None = None) -> ReaderView:
    """The challenge's names and texts (the one `scope` looks at, unless given) as this
    signed-in user may read them."""
    challenge = challenge or repo.get_challenge(db, scope.challenge_id)
    return build(db, audience_for(db, scope), challenge)


def measures_for(db: Database, scope: Scope) -> pd.DataFrame:
    """Every measure (`repo.list_measures`) with its name, code, unit and texts as this user
    may read them: what a template, an upload's report or an export names them by."""
    measures = repo.list_measures(db, results_of=scope.organisation_id if scope.is_partner
                                  else None)
    if scope.is_admin:
        return measures
    audience = audience_for(db, scope)
    names = [audience.title(n, "a measure", int(i))
             for n, i in zip(measures["name"], measures["id"], strict=True)]
    return _measures_as_read(audience, measures, names)


def challenge_title(audience: Audience, challenge: dict) -> str:
    """A challenge's title as this reader may read it (a stand-in by its dates)."""
    if audience.problem_in(challenge["title"]) is None:
        return challenge["title"]
    audience.withheld.titles += 1
    return (f"The lab's challenge of {pd.Timestamp(challenge['start_date']):%b %Y} to "
            f"{pd.Timestamp(challenge['end_date']):%b %Y}")


def build(db: Database, audience: Audience, challenge: dict) -> ReaderView:
    """Every admin-written text of `challenge`, as `audience` may read it."""
    cid = challenge["id"]
    ideas = repo.list_ideas(db, cid)
    drivers = repo.list_drivers(db, cid)
    phases = repo.list_phases(db, cid)
    # a partner counts its own organisation's results only
    measures = repo.list_measures(db, results_of=audience.own if audience.kind == PARTNER
                                  else None)
    if not audience.checks_text:
        return ReaderView(audience, dict(challenge), phases, drivers, ideas, measures)
    a = audience
    challenge = dict(challenge)
    challenge["title"] = challenge_title(a, challenge)
    for key, label in (("question", "The challenge's question"), ("aim", "The aim")):
        challenge[key] = a.passage(challenge[key], label)
    phases = phases.assign(name=[a.title(n, "a phase", int(i))
                                 for n, i in zip(phases["name"], phases["id"], strict=True)])
    drivers = drivers.assign(name=[a.title(n, "a driver", int(i))
                                   for n, i in zip(drivers["name"], drivers["id"], strict=True)])
    driver_names = dict(zip(drivers["id"].astype(int), drivers["name"], strict=True))
    order = drivers.set_index("id")["position"].to_dict() if "position" in drivers else {}
    titles = [a.title(t, "an idea", int(i)) for t, i in zip(ideas["title"], ideas["id"],
                                                            strict=True)]
    ideas = ideas.assign(
        title=titles,
        description=[a.passage(d, f"The description of '{t}'")
                     for d, t in zip(ideas["description"], titles, strict=True)],
        drivers=["; ".join(driver_names[d] for d in sorted(
            (int(d) for d in ids if int(d) in driver_names), key=lambda d: (order.get(d, 0), d)))
            for ids in ideas["driver_ids"]])
    names = [a.title(n, "a measure", int(i)) for n, i in zip(measures["name"], measures["id"],
                                                            strict=True)]
    measure_names = dict(zip(measures["id"].astype(int), names, strict=True))
    drivers = drivers.assign(
        description=[a.passage(d, f"The description of the driver '{n}'")
                     for d, n in zip(drivers["description"], drivers["name"], strict=True)],
        measure=[measure_names.get(int(m)) if pd.notna(m) else None
                 for m in drivers["measure_id"]])
    measures = _measures_as_read(a, measures, names)
    return ReaderView(audience, challenge, phases, drivers, ideas, measures)


WITHHELD_CODE = "–"  # a measure's code that would name someone withheld


def _measures_as_read(a: Audience, measures: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The measures with every text as the reader reads it, in the order of the names as
    read (the tables list them by name: a stand-in's place must not hint at the real name)."""
    return measures.assign(
        name=names,
        code=[c if a.problem_in(c) is None else WITHHELD_CODE for c in measures["code"]],
        unit=[u if a.problem_in(u) is None else "" for u in measures["unit"]],
        **{column: [a.passage(t, f"The {label} of '{n}'")
                    for t, n in zip(measures[column], names, strict=True)]
           for column, label in (("definition", "definition"), ("numerator", "numerator"),
                                 ("denominator", "denominator"))}).sort_values(
        ["measure_type", "name"], kind="stable").reset_index(drop=True)


CYCLE_TEXTS = ("objective", "question", "prediction", "plan_who", "plan_where",
               "data_collection", "scale", "do_notes", "observations", "study_notes",
               "learning", "next_steps")


def readable_cycles(db: Database, view: ReaderView, cycles: pd.DataFrame,
                    search: str | None = None) -> pd.DataFrame:
    """Cycles (`repo.list_cycles`, already cut to what the reader's scope sees) with every
    text as the reader may read it: the idea's title and the measures' names from the view,
    each note checked (a partner reads its own organisation's notes as written), and the
    search (every word) run on those texts alone, so it cannot find a withheld one."""
    a = view.audience
    out = cycles.copy()
    if a.checks_text and len(out):
        out["idea"] = out["idea_id"].map(view.idea_title)
        for column in CYCLE_TEXTS:
            if column in out:
                out[column] = [a.note(o, None, t, None) if isinstance(t, str) else t
                               for o, t in zip(out["organisation_id"], out[column],
                                               strict=True)]
        if "measures" in out:
            ids = out["id"].astype(int).tolist()
            links = db.read(f"SELECT cycle_id, measure_id FROM cycle_measure WHERE cycle_id IN"
                            f" ({', '.join('?' for _ in ids)})", ids)
            names = view.measures.set_index("id")["name"]
            joined = links.assign(name=links["measure_id"].map(names)).dropna().groupby(
                "cycle_id")["name"].agg(lambda n: "; ".join(sorted(n)))
            out["measures"] = out["id"].map(joined)
    words = search_words(search)
    if words and len(out):
        columns = [c for c in (*CYCLE_TEXTS, "idea", "organisation") if c in out]
        haystack = out[columns].astype(object).fillna("").astype(str).agg(" ".join, axis=1)
        haystack = haystack.str.casefold()
        keep = pd.Series(True, index=out.index)
        for word in words:
            keep &= haystack.str.contains(word, regex=False)
        out = out[keep]
    return out.reset_index(drop=True)


NOTE_NOT_SHARED = "(a note not shared with you)"


def chart_notes(view: ReaderView, notes: pd.DataFrame) -> pd.DataFrame:
    """A chart's notes (`observations.list_annotations`) as the reader may read them: a note
    written by the reader's own organisation as written; any other (the lab team's, on their
    chart or on every chart) only where it names nobody withheld from them."""
    a = view.audience
    if not a.checks_text or notes.empty:
        return notes
    own = [a.own is not None and pd.notna(o) and int(o) == a.own
           for o in notes["author_organisation_id"]]
    return notes.assign(text=[
        t if not isinstance(t, str) or mine or a.problem_in(t) is None else NOTE_NOT_SHARED
        for t, mine in zip(notes["text"], own, strict=True)])


def names(view: ReaderView, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame from elsewhere with its names as the reader may read them: `measure`, `unit`
    and `code` columns by `measure_id`, an `idea` column by `idea_id` (from the view)."""
    if not view.audience.checks_text or frame.empty:
        return frame
    out = frame.copy()
    measures = view.measures.set_index("id")
    for column, source in (("measure", "name"), ("unit", "unit"), ("code", "code")):
        if column in out and "measure_id" in out:
            out[column] = out["measure_id"].map(measures[source])
    if "idea" in out and "idea_id" in out:
        out["idea"] = out["idea_id"].map(view.idea_title)
    return out
