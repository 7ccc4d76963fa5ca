"""Who works with whom, and who should talk.

- The **map**: organisations and the ideas they test (and, for the lab admin, participants and
  the ideas they are involved in), edges weighted by the cycles run; laid out by networkx
  (a seeded spring layout, so the same data gives the same picture). Above MAX_ORGS
  organisations it groups them by kind and region, and says so.
- **Cross-sector pairs**: two organisations of different sectors (NHS, voluntary and
  community, housing, local authority) testing the same idea.
- **Who should talk**: an organisation still testing an idea that another adopted with
  improvement on its chart; or two organisations in one region testing the same idea. Each
  with its reason in words, drawn from the cycles and the portfolio's outcomes. The lab team
  marks a suggestion done or not useful (audited).

Organisations are named as the reader may see them (`disclosure.Audience`): a partner sees
another organisation by name only where it agreed to be named to other partners.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from tracker import clock, vocab
from tracker.access.scope import Scope
from tracker.analysis import portfolio
from tracker.community import participants
from tracker.learning import learning_record
from tracker.records import reader_view, repo
from tracker.storage.db import Database
from tracker.storage.store import _audit, _Checks

MAX_ORGS = 40  # above this the map groups organisations by kind and region
MAX_PEOPLE = 80  # above this the map shows participants as one count per idea
SECTORS = {"nhs_trust": "NHS", "gp_practice": "NHS", "charity": "voluntary and community",
           "community_group": "voluntary and community", "housing_association": "housing",
           "local_authority": "local authority", "other": "other"}
STATUSES = {"open": "Open", "done": "Done", "not_useful": "Not useful"}
INTERNAL = learning_record.INTERNAL


@dataclass
class Network:
    nodes: pd.DataFrame  # id, label, group (organisation / idea / participant), colour key, x, y
    edges: pd.DataFrame  # source, target, weight (cycles), x, y, x2, y2
    note: str  # what the picture shows, and what it grouped or filtered


def _cycles(db: Database, challenge_id: int, *, driver_id=None, phase_id=None, date_from=None,
            date_to=None) -> pd.DataFrame:
    """The challenge's cycles within the filters: ideas on a driver; cycles that overlap a
    phase or a date range."""
    cycles = repo.list_cycles(db, INTERNAL, challenge_id)
    if driver_id is not None:
        ideas = repo.list_ideas(db, challenge_id)
        on = ideas[ideas["driver_ids"].map(lambda ids: int(driver_id) in list(ids))]["id"]
        cycles = cycles[cycles["idea_id"].isin(on)]
    start, end = pd.to_datetime(cycles["start_date"]), pd.to_datetime(cycles["end_date"])
    if phase_id is not None:
        phase = repo.list_phases(db, challenge_id).set_index("id").loc[int(phase_id)]
        date_from = max(filter(None, [date_from, pd.Timestamp(phase["start_date"]).date()]))
        date_to = min(filter(None, [date_to, pd.Timestamp(phase["end_date"]).date()]))
    keep = pd.Series(True, index=cycles.index)
    if date_from is not None:
        keep &= end >= pd.Timestamp(date_from)
    if date_to is not None:
        keep &= start <= pd.Timestamp(date_to)
    return cycles[keep]


def network(db: Database, scope: Scope, challenge_id: int, *, driver_id=None, phase_id=None,
            date_from=None, date_to=None) -> Network:
    """The map for this reader (participants only for the lab admin)."""
    cycles = _cycles(db, challenge_id, driver_id=driver_id, phase_id=phase_id,
                     date_from=date_from, date_to=date_to)
    audience = learning_record.audience_for(db, scope)
    orgs = repo.list_organisations(db, INTERNAL).set_index("id")
    # the ideas' titles as this reader may read them
    ideas = reader_view.build(db, audience, repo.get_challenge(db, challenge_id)).ideas \
        .set_index("id")
    pairs = cycles.groupby(["organisation_id", "idea_id"]).size().rename("weight").reset_index()
    grouped = pairs["organisation_id"].nunique() > MAX_ORGS
    note = []
    if grouped and not audience.is_lab:  # grouped by the words the reader's labels use
        key = {o: f"org:{audience.group_of(o)}" for o in pairs["organisation_id"].unique()}
        pairs["source"] = pairs["organisation_id"].map(key)
        sizes = pd.Series(key).value_counts()
        labels = {k: k[4:] if n == 1 else f"{n} organisations, each {k[4:]}"
                  for k, n in sizes.items()}
        kinds = {key[o]: audience.kind_of(o) or "not shown" for o in key}
        note.append(f"{pairs['organisation_id'].nunique()} organisations are grouped as they "
                    f"may be named to you ({len(sizes)} groups) so the map stays legible; "
                    "filter by driver, phase or dates to see fewer.")
    elif grouped:
        key = {o: f"org:{orgs.loc[o, 'kind']}:{orgs.loc[o, 'region'] or ''}"
               for o in pairs["organisation_id"].unique()}
        pairs["source"] = pairs["organisation_id"].map(key)
        sizes = pd.Series(key).value_counts()
        labels = {k: f"{n} {vocab.ORG_KINDS.get(k.split(':')[1], 'organisations').lower()}"
                     f"{'' if n == 1 else ' (group)'}"
                     f"{' in ' + k.split(':', 2)[2] if k.split(':', 2)[2] else ''}"
                  for k, n in sizes.items()}
        kinds = {k: k.split(":")[1] for k in sizes.index}
        note.append(f"{pairs['organisation_id'].nunique()} organisations are grouped by kind "
                    f"and region ({len(sizes)} groups) so the map stays legible; filter by "
                    "driver, phase or dates to see fewer.")
    else:
        pairs["source"] = "org:" + pairs["organisation_id"].astype(str)
        labels = {f"org:{o}": audience.label(o) for o in pairs["organisation_id"].unique()}
        kinds = {f"org:{o}": orgs.loc[o, "kind"] for o in pairs["organisation_id"].unique()}
    pairs["target"] = "idea:" + pairs["idea_id"].astype(str)
    edges = pairs.groupby(["source", "target"], as_index=False)["weight"].sum()
    nodes = [{"id": k, "label": labels[k], "group": "Organisation",
              "colour": vocab.ORG_KINDS.get(kinds[k], kinds[k])} for k in labels]
    nodes += [{"id": f"idea:{i}", "label": ideas.loc[i, "title"], "group": "Idea",
               "colour": vocab.IDEA_STATUSES.get(ideas.loc[i, "status"], "")}
              for i in sorted(pairs["idea_id"].unique())]
    if scope.is_admin:
        people = participants.list_participants(db, scope, challenge_id)
        links = people[["id", "name", "idea_ids"]].explode("idea_ids").dropna()
        links = links[links["idea_ids"].isin(pairs["idea_id"])]
        if links["id"].nunique() > MAX_PEOPLE:  # one node per idea: how many are involved
            per_idea = links.groupby("idea_ids")["id"].nunique()
            nodes += [{"id": f"people:{i}", "label": f"{n} participants", "group": "Participant",
                       "colour": "Participant"} for i, n in per_idea.items()]
            edges = pd.concat([edges, pd.DataFrame({
                "source": [f"people:{i}" for i in per_idea.index],
                "target": [f"idea:{int(i)}" for i in per_idea.index], "weight": 1})],
                ignore_index=True)
            note.append(f"{links['id'].nunique():,} participants are shown as one count per "
                        "idea (their names are on the People page).")
        elif len(links):
            nodes += [{"id": f"person:{p}", "label": n, "group": "Participant",
                       "colour": "Participant"}
                      for p, n in links.drop_duplicates("id")[["id", "name"]].itertuples(
                          index=False)]
            edges = pd.concat([edges, pd.DataFrame({
                "source": "person:" + links["id"].astype(str),
                "target": "idea:" + links["idea_ids"].astype(int).astype(str),
                "weight": 1})], ignore_index=True)
    node_frame = pd.DataFrame(nodes, columns=["id", "label", "group", "colour"])
    graph = nx.Graph()
    graph.add_nodes_from(node_frame["id"])
    graph.add_weighted_edges_from(edges[["source", "target", "weight"]].itertuples(index=False))
    spread = 1.8 / np.sqrt(max(len(graph), 1))
    where = nx.spring_layout(graph, seed=7, weight="weight", k=spread) if len(graph) else {}
    node_frame["x"] = node_frame["id"].map(lambda n: float(where[n][0]))
    node_frame["y"] = node_frame["id"].map(lambda n: float(where[n][1]))
    place = node_frame.set_index("id")
    edges = edges.assign(x=edges["source"].map(place["x"]), y=edges["source"].map(place["y"]),
                         x2=edges["target"].map(place["x"]), y2=edges["target"].map(place["y"]))
    note.insert(0, f"{(node_frame['group'] == 'Organisation').sum()} organisations and "
                   f"{(node_frame['group'] == 'Idea').sum()} ideas; a line's width is the "
                   "number of cycles run" + (", and participants joined to the ideas they "
                                             "are involved in" if scope.is_admin else "") + ".")
    return Network(nodes=node_frame, edges=edges, note=" ".join(note))


def cross_sector_pairs(db: Database, scope: Scope, challenge_id: int, **filters) -> pd.DataFrame:
    """Two organisations of different sectors testing the same idea, with what each did."""
    cycles = _cycles(db, challenge_id, **filters)
    audience = learning_record.audience_for(db, scope)
    view = reader_view.build(db, audience, repo.get_challenge(db, challenge_id))
    orgs = repo.list_organisations(db, INTERNAL).set_index("id")
    per = _per_pair(cycles)
    # a sector only where the reader may know the kind: a pair that would tell a hidden
    # kind is not listed to them
    kinds = per["organisation_id"].map(orgs["kind"]) if audience.is_lab else \
        per["organisation_id"].map(audience.kind_of)
    per["sector"] = kinds.map(SECTORS)
    per = per.dropna(subset=["sector"])
    rows = []
    for _, group in per.groupby("idea_id"):
        group = group.reset_index(drop=True)
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                a, b = group.iloc[i], group.iloc[j]
                if a["sector"] == b["sector"]:
                    continue
                rows.append({
                    "idea": view.idea_title(a["idea_id"]),
                    "first": audience.label(a["organisation_id"]),
                    "first_sector": a["sector"], "second": audience.label(b["organisation_id"]),
                    "second_sector": b["sector"],
                    "together": f"{_did(a)}; {_did(b)}",
                    "from": min(pd.Timestamp(a["first"]), pd.Timestamp(b["first"])).date(),
                    "to": max(pd.Timestamp(a["last"]), pd.Timestamp(b["last"])).date()})
    return pd.DataFrame(rows, columns=["idea", "first", "first_sector", "second",
                                       "second_sector", "together", "from", "to"])


def _per_pair(cycles: pd.DataFrame) -> pd.DataFrame:
    """One row per idea x organisation: cycles run, the latest decision, first and last day."""
    return cycles.sort_values(["start_date", "cycle_no", "id"]).groupby(
        ["idea_id", "organisation_id"]).agg(
        idea=("idea", "first"), cycles=("id", "size"), decision=("decision", "last"),
        stage=("stage", "last"), first=("start_date", "min"),
        last=("end_date", "max")).reset_index()


def _did(row) -> str:
    decision = vocab.DECISIONS.get(row["decision"]) if isinstance(row["decision"], str) else None
    n = int(row["cycles"])
    return f"{n} cycle{'s' if n != 1 else ''}, " + (
        f"then {decision.lower()}" if decision else "still testing")


# --------------------------------------------------------------------------- who should talk


def suggestions(db: Database, scope: Scope, challenge_id: int) -> pd.DataFrame:
    """Introductions the lab team can make, each with its reason in words (lab admin only:
    the lab team acts on them)."""
    scope.require_admin("see who should talk")
    cycles = repo.list_cycles(db, INTERNAL, challenge_id)
    orgs = repo.list_organisations(db, INTERNAL).set_index("id")
    columns = ["key", "kind", "idea_id", "idea", "first_id", "first", "second_id", "second",
               "reason", "contacts", "status"]
    if cycles.empty:
        return pd.DataFrame(columns=columns)
    per = _per_pair(cycles)
    found = portfolio.measure_outcomes(  # the results of this challenge's dates only
        db, INTERNAL.viewing(repo.get_challenge(db, challenge_id)), challenge_id)
    improved = found[found["outcome"] == "improved"]
    names = repo.list_measures(db).set_index("id")["name"]
    rows = []
    testing = per[per["decision"].ne("adopt") & per["decision"].ne("abandon")]
    adopted = per[per["decision"].eq("adopt")]
    for t in testing.itertuples():
        for a in adopted[adopted["idea_id"] == t.idea_id].itertuples():
            better = improved[(improved["idea_id"] == a.idea_id)
                              & (improved["organisation_id"] == a.organisation_id)]
            if better.empty or a.organisation_id == t.organisation_id:
                continue
            what = ", ".join(sorted(names.get(m, "") for m in better["measure_id"]))
            first, second = orgs.loc[t.organisation_id, "name"], orgs.loc[a.organisation_id,
                                                                          "name"]
            rows.append({
                "key": f"adopted:{t.idea_id}:{t.organisation_id}:{a.organisation_id}",
                "kind": "Learn from an adopter", "idea_id": t.idea_id, "idea": t.idea,
                "first_id": t.organisation_id, "first": first,
                "second_id": a.organisation_id, "second": second,
                "reason": f"{first} {_on_cycle(t.cycles, t.stage, t.last)} of '{t.idea}'; "
                          f"{second} "
                          f"adopted it "
                          f"after {a.cycles} cycle{'s' if a.cycles != 1 else ''} and its chart "
                          f"showed special cause improvement in {what.lower()}: introduce "
                          "them."})
    for idea_id, group in testing.groupby("idea_id"):
        group = group.assign(region=group["organisation_id"].map(orgs["region"]))
        for region, same in group.groupby("region"):
            same = same.reset_index(drop=True)
            for i in range(len(same)):
                for j in range(i + 1, len(same)):
                    a, b = same.iloc[i], same.iloc[j]
                    first, second = orgs.loc[a["organisation_id"], "name"], \
                        orgs.loc[b["organisation_id"], "name"]
                    rows.append({
                        "key": f"region:{idea_id}:{a['organisation_id']}:{b['organisation_id']}",
                        "kind": "Same idea, same region", "idea_id": idea_id,
                        "idea": a["idea"], "first_id": a["organisation_id"], "first": first,
                        "second_id": b["organisation_id"], "second": second,
                        "reason": f"{first} and {second}, both in the {region}, "
                                  + _both_tested(a, b) + ": they could compare notes."})
    out = pd.DataFrame(rows, columns=columns[:-2])
    if out.empty:
        return pd.DataFrame(columns=columns)
    agreed = db.read("SELECT organisation_id, name, email FROM participant"
                     " WHERE challenge_id = ? AND may_contact AND retired_at IS NULL"
                     " AND organisation_id IS NOT NULL ORDER BY name", [challenge_id])
    by_org = {int(o): ", ".join(f"{n} <{e}>" if isinstance(e, str) else n
                                for n, e in zip(g["name"], g["email"], strict=True))
              for o, g in agreed.groupby("organisation_id")}
    out["contacts"] = [_contacts(by_org, a, b)
                       for a, b in zip(out["first_id"], out["second_id"], strict=True)]
    marks = db.read("SELECT suggestion_key, status FROM suggestion_status")
    marked = dict(zip(marks["suggestion_key"], marks["status"], strict=True))
    out["status"] = [marked.get(k, "open") for k in out["key"]]
    return out.reset_index(drop=True)  # introductions to an adopter first, as built


def _still_testing(stage, last) -> bool:
    """Its latest cycle is still open (not yet through Act), or runs to today or later."""
    return stage != "done" or pd.Timestamp(last).date() >= clock.today()


def _on_cycle(cycles: int, stage, last) -> str:
    """"is on cycle 3", or, where its last cycle has ended and been decided, "ran 3 cycles (the
    last ended 04 May 2026)"."""
    if _still_testing(stage, last):
        return f"is on cycle {cycles}"
    return (f"ran {cycles} cycle{'s' if cycles != 1 else ''} (the last ended "
            f"{pd.Timestamp(last):%d %b %Y})")


def _both_tested(a, b) -> str:
    """Two organisations' tests of one idea, in the tense their dates call for."""
    idea, counts = a["idea"], f"{a['cycles']} and {b['cycles']} cycles"
    running = [_still_testing(x["stage"], x["last"]) for x in (a, b)]
    if all(running):
        return f"are testing '{idea}' ({counts} so far)"
    latest = max(pd.Timestamp(a["last"]), pd.Timestamp(b["last"]))
    if not any(running):
        return f"tested '{idea}' ({counts}; the latest ended {latest:%d %b %Y})"
    return f"have both tested '{idea}' ({counts}; one is still testing)"


def _contacts(by_org: dict[int, str], first: int, second: int) -> str:
    """People at both organisations who agreed to be contacted by other participants; none
    unless both sides have someone who agreed."""
    sides = [by_org.get(int(o)) for o in (first, second)]
    if not all(sides):
        return ("No contact details: not both organisations have someone who agreed to be "
                "contacted. Ask them first.")
    return " · ".join(sides)


def mark_suggestion(db: Database, scope: Scope, key: str, status: str) -> None:
    scope.require_admin("mark suggestions")
    c = _Checks()
    c.choice(status, "Status", STATUSES)
    text = c.text(key, "Suggestion")
    c.raise_if_any()
    with db.transaction() as cur:
        before = cur.execute("SELECT status FROM suggestion_status WHERE suggestion_key = ?",
                             [text]).fetchone()
        if before is None:
            cur.execute("INSERT INTO suggestion_status (suggestion_key, status, marked_by)"
                        " VALUES (?, ?, ?)", [text, status, scope.actor])
        else:
            cur.execute("UPDATE suggestion_status SET status = ?, marked_by = ?,"
                        " marked_at = current_timestamp WHERE suggestion_key = ?",
                        [status, scope.actor, text])
        _audit(cur, scope.actor, "update", "suggestion", None,
               {"suggestion": text, "status": before[0] if before else "open"},
               {"suggestion": text, "status": status})
