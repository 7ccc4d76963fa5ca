"""The learning record of a change idea, gathered from what the tracker already holds (nobody
retypes anything): where it was tested and how far it scaled, prediction against outcome cycle
by cycle, what the targeted measures showed at each organisation (signals, in words; never a
causal claim) and the lab team's synthesis. Every record is built for one reader
(`disclosure.Audience`): the lab team sees everything; a partner and the public see what
disclosure control lets through, and the record counts what it withheld.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tracker import vocab
from tracker.access import auth
from tracker.access.disclosure import Audience
from tracker.access.scope import Scope
from tracker.analysis import portfolio
from tracker.errors import PermissionDenied
from tracker.learning import syntheses
from tracker.records import observations, reader_view, repo
from tracker.storage.db import Database

# The record reads every organisation's cycles and results, then discloses per reader.
INTERNAL = auth.Scope.admin("learning record")
_PEOPLE_UNIT = re.compile(r"(?i)\b(people|persons?|patients?|volunteers?|participants?|"
                          r"referrals?|attendances?|carers?|tenants?)\b")


PANEL_CYCLE_COLUMNS = ["id", "idea", "cycle_no", "start_date", "end_date", "prediction",
                       "decision"]
MAX_PANELS = 6  # charts per measure in a record (signals first); the verdict names every one


@dataclass
class Evidence:
    """What one targeted measure showed where the idea was tested."""

    measure_id: int
    name: str
    unit: str
    data_kind: str
    target: float | None
    verdict: str  # in words, never a causal claim
    organisations: int = 0  # that tested the idea with this measure (panels: MAX_PANELS at most)
    panels: list[tuple[str, pd.DataFrame, pd.DataFrame]] = field(default_factory=list)
    svgs: list[str] = field(default_factory=list)  # the panels drawn, when a report draws them


@dataclass
class Record:
    idea: dict
    audience: Audience
    where: pd.DataFrame  # one row per organisation that tested it
    cycles: list[dict]  # prediction against outcome, in order
    evidence: list[Evidence]
    synthesis: dict | None
    history: pd.DataFrame  # earlier versions of the synthesis (the lab team only)

    @property
    def tested(self) -> bool:
        return bool(self.cycles)


# The reader's audience and texts are built in the data layer (`reader_view`), where the
# intake (the template, uploads, the export) can reach them too; these names stay for callers.
audience_for = reader_view.audience_for
people_not_to_name = reader_view.people_not_to_name
reader_texts = reader_view.for_reader


def counts_people(measure) -> bool:
    """Is a value measure a count of people (so a small value could identify someone)?
    Proportions and rates always are, through their numerator and denominator."""
    if measure["data_kind"] != "value":
        return True
    return bool(_PEOPLE_UNIT.search(str(measure["unit"] or "")))


def ideas_for(db: Database, scope: Scope, challenge_id: int,
              ideas: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ideas whose learning this user may read: every idea for the lab team; for a
    partner, the ideas its organisation tests (of `ideas`, the challenge's by default)."""
    ideas = repo.list_ideas(db, challenge_id) if ideas is None else ideas
    if scope.is_partner:
        tested = db.read("SELECT DISTINCT c.idea_id FROM cycle c WHERE c.organisation_id = ?",
                         [scope.organisation_id])["idea_id"]
        ideas = ideas[ideas["id"].isin(tested)]
    return ideas.reset_index(drop=True)


SYNTHESIS_TEXTS = {"key_learning": "The key learning", "worked_when": "Where it worked",
                   "did_not_work_when": "Where it did not work",
                   "reason": "The reason for the recommendation"}


def idea_index(db: Database, scope: Scope, challenge_id: int, *, driver_id=None, status=None,
               recommendation=None, organisation_kind=None, search: str | None = None,
               view: reader_view.ReaderView | None = None) -> pd.DataFrame:
    """The ideas this user may read, with their recommendation and key learning, filtered by
    driver, status, recommendation, kind of organisation that tested them and a search (every
    word, anywhere in the idea, its synthesis or the cycle notes this user may read). Built
    from what this user may read: titles, syntheses and notes as `record` shows them, so
    neither the table nor the search can reach a withheld text. `view`: this user's
    (`reader_texts`), when the caller has it."""
    view = view or reader_texts(db, scope, repo.get_challenge(db, challenge_id))
    audience = view.audience
    ideas = ideas_for(db, scope, challenge_id, view.ideas)
    latest = syntheses.syntheses(db, ideas["id"].tolist())
    for column in SYNTHESIS_TEXTS:  # a table and a search: what is withheld is not listed
        latest[column] = [t if audience.problem_in(t) is None else None
                          for t in latest[column]]
    ideas = ideas.merge(latest[["idea_id", "recommendation", "key_learning", "worked_when",
                                "did_not_work_when", "reason", "version"]],
                        left_on="id", right_on="idea_id", how="left").drop(columns="idea_id")
    cycles = repo.list_cycles(db, INTERNAL, challenge_id)
    orgs = repo.list_organisations(db, INTERNAL).set_index("id")
    # filtered by kind only where the reader may know it: never one that singles one out
    kind = cycles["organisation_id"].map(orgs["kind"]) if audience.is_lab else \
        cycles["organisation_id"].map(audience.kind_of)
    kinds = cycles.assign(kind=kind).dropna(subset=["kind"]).groupby("idea_id")["kind"].agg(
        lambda s: sorted(set(s)))
    ideas["kinds"] = ideas["id"].map(kinds).map(lambda v: v if isinstance(v, list) else [])
    keep = pd.Series(True, index=ideas.index)
    if driver_id is not None:
        keep &= ideas["driver_ids"].map(lambda ids: int(driver_id) in list(ids))
    if status:
        keep &= ideas["status"].eq(status)
    if recommendation:
        keep &= ideas["recommendation"].eq(recommendation)
    if organisation_kind:
        keep &= ideas["kinds"].map(lambda k: organisation_kind in k)
    words = (search or "").casefold().split()
    if words:
        readable = _readable_notes(db, audience, cycles)
        notes = readable.groupby("idea_id")["text"].agg(" ".join)
        text_columns = ["title", "description", "drivers", "key_learning", "worked_when",
                        "did_not_work_when", "reason"]
        texts = ideas[text_columns].astype(object).fillna("").astype(str)
        haystack = texts.agg(" ".join, axis=1) + " " + ideas["id"].map(notes).fillna("")
        haystack = haystack.str.casefold()
        for word in words:
            keep &= haystack.str.contains(word, regex=False)
    out = ideas[keep].copy()
    out["recommendation_words"] = out["recommendation"].map(syntheses.RECOMMENDATIONS)
    return out.reset_index(drop=True)


def _readable_notes(db: Database, audience: Audience, cycles: pd.DataFrame) -> pd.DataFrame:
    """idea_id, text: the cycle notes this reader may read, as they may read them (for the
    search)."""
    mark = _marks(db)
    rows = []
    for row in cycles.itertuples():
        for column in syntheses.EXCERPT_FIELDS:
            value = getattr(row, column)
            if not isinstance(value, str) or not value:
                continue
            value = audience.note(row.organisation_id, mark.get((int(row.id), column)), value,
                                  None)
            if value:
                rows.append((int(row.idea_id), value))
    return pd.DataFrame(rows, columns=["idea_id", "text"])


def record(db: Database, scope: Scope, idea_id: int, *, public: bool = False,
           audience: Audience | None = None, outcomes: pd.DataFrame | None = None,
           view: reader_view.ReaderView | None = None,
           max_panels: int = MAX_PANELS) -> Record:
    """The learning record of one idea for this user (or for the public). `audience`, `view`
    (the challenge's texts as that reader may read them) and `outcomes`
    (portfolio.measure_outcomes) are shared when a report builds many records; `max_panels`
    charts at most per measure (signals first)."""
    challenge = repo.get_challenge(db, scope.challenge_id)
    audience = audience or audience_for(db, scope, public=public)
    view = view or reader_view.build(db, audience, challenge)
    ideas = view.ideas.set_index("id")
    if idea_id not in ideas.index:
        raise PermissionDenied("That idea is not in this challenge.")
    if not public and scope.is_partner and not (
            ideas_for(db, scope, challenge["id"], view.ideas)["id"] == idea_id).any():
        raise PermissionDenied(f"{scope.organisation} does not test this idea, so its learning "
                               "is not shared with you here; the lab team can share it.")
    internal = INTERNAL.viewing(challenge)  # every result, but only of this challenge's dates
    # a text withheld from the reader is None (a table of text holds it as NaN)
    idea = {k: None if isinstance(v, float) and np.isnan(v) else v
            for k, v in ideas.loc[idea_id].to_dict().items()} | {"id": idea_id}
    cycles = repo.list_cycles(db, internal, challenge["id"], idea_id=idea_id)
    cycles = cycles.sort_values(["start_date", "cycle_no", "id"]).reset_index(drop=True)
    cycles["idea"] = idea["title"]  # as this reader may read it (the charts' bands show it)
    marks = _marks(db, cycles["id"].tolist())
    where = _where(db, cycles, audience, marks)
    shown = _cycle_rows(cycles, audience, marks)
    if not audience.checks_text:  # the lab team sees which notes changed since it shared them
        changed = syntheses.changed_since_shared(db, cycles["id"].tolist())
        for c in shown:
            c["changed"] = {f: a for (i, f), a in changed.items() if i == c["cycle_id"]}
    if outcomes is None:
        outcomes = portfolio.measure_outcomes(db, internal, challenge["id"])
    evidence = _evidence(db, internal, cycles, outcomes[outcomes["idea_id"] == idea_id],
                         audience, marks, max_panels, view.measures.set_index("id"))
    versions = syntheses.syntheses(db, [idea_id], every_version=True)
    synthesis = None
    if not versions.empty:
        synthesis = {k: (None if not isinstance(v, str) and pd.isna(v) else v)
                     for k, v in versions.iloc[0].to_dict().items()}
        if audience.checks_text:
            for key, label in SYNTHESIS_TEXTS.items():
                synthesis[key] = audience.passage(synthesis[key],
                                                  f"{label} of '{idea['title']}'")
            synthesis["reviewed_by"] = synthesis["written_by"] = None  # no person's name
    history = versions.iloc[1:] if not audience.checks_text else versions.iloc[0:0]
    return Record(idea=idea, audience=audience, where=where, cycles=shown, evidence=evidence,
                  synthesis=synthesis, history=history.reset_index(drop=True))


def _where(db: Database, cycles: pd.DataFrame, audience: Audience, marks: dict
           ) -> pd.DataFrame:
    columns = ["organisation_id", "organisation", "kind", "region", "cycles", "first", "last",
               "scale", "latest_decision"]
    if cycles.empty:
        return pd.DataFrame(columns=columns)
    orgs = repo.list_organisations(db, INTERNAL).set_index("id")
    rows = []
    for org, group in cycles.groupby("organisation_id", sort=False):
        decided = group.dropna(subset=["decision"])
        ramp = [audience.note(org, marks.get((int(c), "scale")), s,
                              f"The scale of cycle {n} ({audience.label(org)})")
                for c, n, s in zip(group["id"], group["cycle_no"], group["scale"], strict=True)
                if isinstance(s, str) and s.strip()]
        ramp = [s for s in ramp if s is not None]
        ramp = list(dict.fromkeys(ramp))
        rows.append({
            "organisation_id": int(org), "organisation": audience.label(org),
            # an organisation not named reads by its label alone: its own kind and region
            # beside the label would single it out where the label was made general
            "kind": vocab.ORG_KINDS.get(orgs.loc[org, "kind"], orgs.loc[org, "kind"])
            if audience.is_named(org) else "",
            "region": (orgs.loc[org, "region"] or "") if audience.is_named(org) else "",
            "cycles": len(group), "first": pd.Timestamp(group["start_date"].min()).date(),
            "last": pd.Timestamp(group["end_date"].max()).date(),
            "scale": " → ".join(ramp),  # a scale withheld is left out, and counted
            "latest_decision": vocab.DECISIONS.get(decided["decision"].iloc[-1], "In progress")
            if len(decided) else "In progress"})
    return pd.DataFrame(rows, columns=columns)


def _marks(db: Database, cycle_ids=None) -> dict:
    """(cycle_id, note) -> who it is shared with, for notes shared beyond the lab team."""
    marks = syntheses.excerpt_marks(db, cycle_ids)
    return {(int(c), f): a for c, f, a in zip(marks["cycle_id"], marks["field"],
                                              marks["audience"], strict=True)}


def _cycle_rows(cycles: pd.DataFrame, audience: Audience, marks: dict) -> list[dict]:
    """Prediction against outcome, cycle by cycle, with each note the reader may see (None
    where it is withheld) and, for the lab team, how each note is shared."""
    out = []
    for row in cycles.itertuples():
        notes, shared = {}, {}
        for column, label in syntheses.EXCERPT_FIELDS.items():
            text = getattr(row, column)
            if not isinstance(text, str) or not text.strip():
                continue
            mark = marks.get((int(row.id), column), "lab")
            shared[column] = mark
            notes[column] = audience.note(
                row.organisation_id, mark, text,
                f"A {label.lower()} of cycle {row.cycle_no} ({audience.label(row.organisation_id)})")
        out.append({
            "cycle_id": int(row.id), "cycle_no": int(row.cycle_no),
            "organisation_id": int(row.organisation_id),
            "organisation": audience.label(row.organisation_id),
            "start": pd.Timestamp(row.start_date).date(), "end": pd.Timestamp(row.end_date).date(),
            "stage": vocab.STAGES.get(row.stage, row.stage),
            "went_as_planned": None if pd.isna(row.went_as_planned) else bool(row.went_as_planned),
            "decision": vocab.DECISIONS.get(row.decision) if isinstance(row.decision, str)
            else None,
            "notes": notes, "shared": shared, "changed": {}})
    return out


def verdict(name: str, found: pd.DataFrame, label) -> str:
    """What a measure showed where an idea was tested, in words: "special cause improvement
    at 2 of 3 organisations within 26 weeks of the last cycle there (A, B); no signal at C".
    Signals are evidence to discuss, never a causal claim."""
    n = len(found)
    if n == 0:
        return f"{name}: no results where the idea was tested."
    weeks = int(portfolio.WINDOW / pd.Timedelta(weeks=1))
    parts = []
    for outcome, words in (("improved", "special cause improvement"),
                           ("concern", "special cause concern"),
                           ("none", "no signal"), ("too_few", "too few points to tell")):
        orgs = [label(o) for o in found.loc[found["outcome"] == outcome, "organisation_id"]]
        if not orgs:
            continue
        if outcome in ("improved", "concern"):
            parts.append(f"{words} at {len(orgs)} of {n} organisation{'s' if n != 1 else ''} "
                         f"from the first cycle to {weeks} weeks after the last cycle there "
                         f"({', '.join(orgs)})")
        else:
            parts.append(f"{words} at {', '.join(orgs)}")
    return f"{name}: " + "; ".join(parts) + "."


def _evidence(db: Database, internal: Scope, cycles: pd.DataFrame, outcomes: pd.DataFrame,
              audience: Audience, marks: dict, max_panels: int, names: pd.DataFrame
              ) -> list[Evidence]:
    """Per targeted measure: the verdict in words, and a chart panel for each organisation
    that tested the idea and has results (with the idea's cycles there drawn on it)."""
    if cycles.empty:
        return []
    measures = repo.list_measures(db).set_index("id")
    targeted = db.read("SELECT DISTINCT cm.cycle_id, cm.measure_id FROM cycle_measure cm"
                       " JOIN cycle c ON c.id = cm.cycle_id WHERE c.idea_id = ?",
                       [int(cycles["idea_id"].iloc[0])])
    out = []
    for measure_id in sorted(targeted["measure_id"].unique()):
        m = measures.loc[measure_id]
        if pd.notna(m["retired_at"]):
            continue
        found = outcomes[outcomes["measure_id"] == measure_id]
        cycle_ids = targeted.loc[targeted["measure_id"] == measure_id, "cycle_id"]
        mine = cycles[cycles["id"].isin(cycle_ids)]
        org_ids = list(dict.fromkeys(mine["organisation_id"].astype(int)))
        results = observations.load_results(db, internal, measure_id=int(measure_id),
                                            organisation_ids=org_ids)
        panels = []
        rank = {"improved": 0, "concern": 1, "none": 2, "too_few": 3}
        outcome_of = dict(zip(found["organisation_id"].astype(int),
                              found["outcome"].map(rank), strict=True))
        org_ids.sort(key=lambda o: outcome_of.get(o, 4))  # signals first
        for org in org_ids:
            series = results[results["organisation_id"] == org]
            if series.empty:
                continue
            frame = _charted(db, series, m, org, audience)
            # only what the panel draws: a record holds no text the reader may not read
            shown = mine.loc[mine["organisation_id"] == org, PANEL_CYCLE_COLUMNS].copy()
            if audience.checks_text:  # band tooltips carry the prediction
                shown["prediction"] = [
                    audience.note(org, marks.get((int(c), "prediction")), p, None) or ""
                    if isinstance(p, str) else "" for c, p in zip(shown["id"],
                                                                   shown["prediction"],
                                                                   strict=True)]
            panels.append((audience.label(org), frame, shown))
            if len(panels) == max_panels:
                break
        name, unit = names.loc[measure_id, "name"], names.loc[measure_id, "unit"]
        out.append(Evidence(measure_id=int(measure_id), name=name, unit=unit,
                            data_kind=m["data_kind"],
                            target=None if pd.isna(m["target"]) else float(m["target"]),
                            verdict=verdict(name, found, audience.label), panels=panels,
                            organisations=len(org_ids)))
    return out


def _charted(db: Database, series: pd.DataFrame, m, org: int, audience: Audience
             ) -> pd.DataFrame:
    """The panel's chart frame. For a reader outside the lab, a point based on fewer people
    than the smallest count is withheld before anything is computed: the mean, limits and
    signals come from the points shown alone, so no published figure (a mean times the
    number of points, a p chart's centre, a limit's width) can be solved for a hidden one."""
    from tracker.reports import charts

    notes = observations.list_annotations(db, INTERNAL, int(m.name), org)
    series = series.sort_values("period").reset_index(drop=True)
    small = np.zeros(len(series), dtype=bool)
    if audience.is_outside(org) and counts_people(m):
        if m["data_kind"] == "value":
            small = audience.small(series["value"]) & series["value"].gt(0)
        else:  # a numerator of 0 names nobody; a small denominator or numerator may
            small = audience.small(series["denominator"]) | (
                audience.small(series["numerator"]) & series["numerator"].gt(0))
        small = small.to_numpy()
        if small.any():
            audience.withheld.points += int(small.sum())
            series = series.copy()
            series.loc[small, ["value", "numerator", "denominator"]] = np.nan
    frame = charts.outcome_frame(
        series, m["data_kind"], improvement=m["direction"],
        phase_dates=pd.to_datetime(notes.loc[notes["kind"] == "phase", "on_date"]).tolist())
    if small.any():
        frame.loc[small, ["value", "upper", "lower"]] = np.nan
        frame.loc[small, "sentence"] = ""
        frame.loc[small, "point_type"] = "common_cause"
        frame["segment"] = frame["value"].isna().cumsum()
    return frame
