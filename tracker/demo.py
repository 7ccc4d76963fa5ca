"""The demo challenge: a realistic, clearly fictional peer-support lab to explore.

Every organisation, person and number here is invented. The story is built so that the charts
have something to find: some adopted ideas really move their measures from the week their
final cycle starts at an organisation (so SPC signals line up with the cycles), others were
adopted and moved nothing, and some were abandoned. The same seed and the same `as_of` date
always give the same database.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.records import observations, repo
from tracker.storage.db import Database

ACTOR = Scope.admin("demo loader")
WEEKS = 52

ORGANISATIONS = [
    ("Northgate Community NHS Trust (demo)", "nhs_trust", "North East", "Priya Raman"),
    ("Riverside Medical Practice (demo)", "gp_practice", "North East", "Dr Tom Adeyemi"),
    ("Hillview Surgery (demo)", "gp_practice", "Yorkshire", "Sarah Kowalski"),
    ("Peer Pathways (demo)", "charity", "North East", "Leah Murphy"),
    ("Kindred Voices (demo)", "charity", "Yorkshire", "Ahmed Sayed"),
    ("Harbourside Homes (demo)", "housing_association", "North East", "Gemma Hughes"),
    ("Eastfield Wellbeing Collective (demo)", "community_group", "Yorkshire", "Joe Baptiste"),
    ("Westbrook Diabetes Support Group (demo)", "community_group", "North East", "Mei Lin"),
]

# code, name, type, definition, numerator, denominator, unit, direction, target, kind
MEASURES = [
    ("REF", "People referred to peer support", "process",
     "Number of people referred to peer support in the week (any route, self-referral included). "
     "Collected by the organisation's peer-support coordinator from the referral log every Monday.",
     None, None, "people per week", "increase", None, "value"),
    ("FIRST", "Referred people attending a first session", "process",
     "Of the people whose first session was offered in the week, the share who attended it.",
     "People who attended their first offered session",
     "People offered a first session in the week", "proportion", "increase", 0.75, "proportion"),
    ("RET6", "Still attending at 6 weeks", "outcome",
     "Of the people who started peer support six weeks before the week, the share who attended "
     "at least one session in weeks five or six.",
     "People still attending six weeks after starting",
     "People who started six weeks earlier", "proportion", "increase", 0.6, "proportion"),
    ("WAIT", "Days waited for a first session", "process",
     "Mean number of calendar days from referral to first session offered, for people offered "
     "a first session in the week.",
     None, None, "days", "decrease", 14.0, "value"),
    ("VOL", "Active volunteer peer supporters", "process",
     "Volunteer peer supporters who led or co-led at least one session in the week.",
     None, None, "volunteers", "increase", None, "value"),
    ("SWEMWBS", "Wellbeing score (SWEMWBS, mean)", "outcome",
     "Mean Short Warwick-Edinburgh Mental Wellbeing Scale score (7 items, 7-35) of people "
     "completing it at their sixth session in the week.",
     None, None, "score (7-35)", "increase", None, "value"),
    ("LONELY", "People who often feel lonely", "outcome",
     "Share answering 'often or always' to the ONS question 'how often do you feel lonely?' "
     "at their sixth session.",
     "People answering often or always", "People answering the question",
     "proportion", "decrease", None, "proportion"),
    ("AE", "A&E attendances per 100 people supported", "balancing",
     "A&E attendances reported by people in peer support, per 100 people supported in the week.",
     "A&E attendances reported in the week", "People supported in the week (hundreds)",
     "per 100 people", "decrease", None, "rate"),
    ("DROP", "Volunteers who stopped", "balancing",
     "Volunteer peer supporters who told us they were stopping, or had not led a session for "
     "four weeks, counted in the week.",
     None, None, "volunteers", "decrease", None, "value"),
]

PRIMARY = [
    "People know peer support exists and how to reach it",
    "Referral is easy and quick",
    "A sustained pool of trained volunteer peer supporters",
    "Peer support fits people's lives and keeps them engaged",
]
# name, primary driver indexes (many-to-many)
SECONDARY = [
    ("Professionals mention peer support at the right moment", [0, 1]),
    ("Self-referral without a professional", [0]),
    ("First contact within a week of referral", [1, 3]),
    ("One shared referral route across partners", [1]),
    ("Volunteers feel supported in their role", [2]),
    ("Recruitment from people who have used peer support", [2]),
    ("Sessions at times and places that suit people", [3]),
    ("Groups built around activities, not only talk", [3]),
]


@dataclass
class Idea:
    title: str
    drivers: list[int]
    verb: str  # "if we <verb> ..."
    expect: str  # "... then <expect>"
    sites: list[int]  # organisation indexes
    outcome: str  # adopted | adapted | abandoned | testing | proposed
    effects: dict[str, float] = field(default_factory=dict)
    learned: str = ""


IDEAS = [
    Idea("Peer-led welcome call within a week of referral", [2, 0],
         "ring every newly referred person within seven days, the call made by a peer supporter",
         "more people will come to their first session and they will wait less",
         [3, 4, 0], "adopted", {"WAIT": -7.0, "FIRST": 0.15},
         "A call from someone who has been there takes the fear out of the first session."),
    Idea("Text reminder the day before the first session", [2],
         "send a text reminder the day before the first session",
         "fewer people will miss their first session", [1, 2], "adopted", {"FIRST": 0.12},
         "Reminders work best sent in the afternoon, with the session address and a name."),
    Idea("Peer-support champion in each GP practice", [0, 3],
         "name a receptionist or care coordinator as the practice's peer-support champion",
         "referrals from the practice will rise", [1, 2], "adopted", {"REF": 6.0},
         "Champions need five minutes at the practice meeting each month to keep it alive."),
    Idea("Self-referral QR code on waiting-room screens", [1],
         "show a self-referral QR code on the waiting-room screens",
         "self-referrals will rise", [1, 6], "adopted", {},
         "Few people scanned the code; it costs nothing to keep, but it is not what drives referrals."),
    Idea("Leaflet in pharmacy prescription bags", [1],
         "put a peer-support leaflet into prescription bags",
         "people will self-refer after reading it", [0, 6], "abandoned", {},
         "Pharmacies could not sustain it and no referral named the leaflet."),
    Idea("Buddy for every new volunteer peer supporter", [4, 5],
         "pair every new volunteer with an experienced buddy for their first eight weeks",
         "fewer volunteers will stop and more will stay active", [3, 4, 6], "adopted",
         {"DROP": -0.45, "VOL": 3.0},
         "Volunteers said the buddy mattered most in their first three sessions."),
    Idea("Monthly volunteer supervision circle", [4],
         "run a monthly supervision circle for volunteers",
         "volunteers will feel supported and fewer will stop", [3, 5], "adapted", {},
         "Attendance was low on weekday mornings; the next version moves online in the evening."),
    Idea("Evening and weekend peer groups", [6],
         "add an evening and a Saturday group",
         "people in work will keep attending at six weeks", [5, 7], "adapted", {"RET6": 0.12},
         "Saturday groups kept people; evening groups needed a different venue."),
    Idea("Peer support on the housing officer's home-visit checklist", [0, 3],
         "add a peer-support question to the housing officer's home-visit checklist",
         "tenants with long-term conditions will be referred", [5], "adopted", {"REF": 4.0},
         "Officers asked the question once it was on the tablet form, not on paper."),
    Idea("Walk-and-talk peer groups", [7, 6],
         "run weekly walk-and-talk groups led by peer supporters",
         "wellbeing scores will rise and fewer people will feel lonely", [6, 7], "adopted",
         {"SWEMWBS": 1.8, "LONELY": -0.13},
         "Walking side by side made it easier to talk; people brought friends."),
    Idea("WhatsApp group moderated by a peer supporter", [6],
         "open a WhatsApp group moderated by a peer supporter",
         "people will stay connected between sessions", [4], "abandoned", {},
         "Moderating out of hours put too much on volunteers; safeguarding concerns."),
    Idea("Peer supporter in the diabetes clinic waiting room", [0],
         "place a peer supporter in the diabetes clinic waiting room one morning a week",
         "people with diabetes will be referred on the spot", [0, 7], "testing", {},
         ""),
    Idea("Shared referral form with social prescribers", [3],
         "use one referral form shared with the social prescribing team",
         "referrals will reach us faster and waits will fall", [2, 0], "adopted", {},
         "The form saved staff time but did not change waits or referrals."),
    Idea("Co-designed 'what to expect' video", [2, 1],
         "send a short video made with people who use peer support",
         "people will feel ready for their first session", [], "proposed", {}, ""),
]

SCALES = ["2 people", "10 people", "everyone referred in a month", "the whole service"]


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def demo_file(path: Path, *, copy_of: Path | None = None) -> Path:
    """A demo lab in a new file at `path`: a copy of `copy_of` (a demo built before, as the
    benchmarks' smoke runs in the tests are given), or built (seed 1, as of today)."""
    if copy_of is not None:
        shutil.copy(copy_of, path)
    else:
        with Database(path) as db:
            load_demo(db, seed=1)
    return path


def load_demo(db: Database, *, seed: int = 1, as_of: dt.date | None = None,
              accounts_password: str | None = None) -> dict:
    """Fill an empty database with the demo challenge. Refuses a database that holds data.

    With `accounts_password`, the demo's people are accounts too (`DEMO_ACCOUNTS`, one for each
    role, all with that password): login is on, the discussion's question mentions the lab
    lead, and each role can be tried by signing in as it."""
    if not repo.is_empty(db):
        raise repo.InputError(
            "This database already holds data, so the demo was not loaded (it never mixes with "
            "real data). Use a new file with --db, or start the app on an empty one.")
    rng = np.random.default_rng(seed)
    as_of = as_of or clock.today()
    last_week = _monday(as_of) - dt.timedelta(days=7)  # the last complete week
    # A cycle ending on or after this Sunday is still running. It is the same weekday whatever
    # day of the week `as_of` is, so the demo (its cycles, random draws, results and signals)
    # depends on the week only: built in another week it is the same story, shifted in time.
    running_from = _monday(as_of) - dt.timedelta(days=1)
    start = last_week - dt.timedelta(weeks=WEEKS - 6)  # about 11 months in
    end = start + dt.timedelta(days=364)

    cid = repo.create_challenge(
        db, ACTOR,
        title="DEMO: Peer support for everyone who wants it",
        question="What would it take for peer support to be available to everyone who wants it, "
                 "to manage their long-term health and wellbeing?",
        aim=f"By {end:%B %Y}, 80% of people with a long-term condition referred to peer support "
            "at our eight partner organisations attend a first session within 14 days, and 60% "
            "are still attending at six weeks.",
        start_date=start, end_date=end, is_demo=True)
    for name, a, b in (("Discovery", 0, 55), ("Testing ideas", 56, 300),
                       ("Sharing learning", 301, 364)):
        repo.add_phase(db, ACTOR, cid, name=name, start_date=start + dt.timedelta(days=a),
                       end_date=start + dt.timedelta(days=b))

    org_ids = []
    for name, kind, region, contact in ORGANISATIONS:
        email = contact.split()[-1].lower() + "@example.org"
        org_ids.append(repo.add_organisation(db, ACTOR, name=name, kind=kind, region=region,
                                             contact_name=contact, contact_email=email))
    measure_ids = {}
    for code, name, mtype, definition, num, den, unit, direction, target, kind in MEASURES:
        measure_ids[code] = repo.add_measure(
            db, ACTOR, code=code, name=name, measure_type=mtype, definition=definition,
            numerator=num, denominator=den, unit=unit if kind != "proportion" else "proportion",
            direction=direction, target=target, data_kind=kind, frequency="week")

    primary_ids = [repo.add_driver(db, ACTOR, cid, level="primary", name=name,
                                   measure_id=measure_ids["RET6"] if i == 3 else None)
                   for i, name in enumerate(PRIMARY)]
    secondary_ids = [repo.add_driver(db, ACTOR, cid, level="secondary", name=name,
                                     primary_ids=[primary_ids[p] for p in parents])
                     for name, parents in SECONDARY]

    weeks = pd.date_range(start, last_week, freq="7D").date
    effects: list[tuple[int, str, int, float]] = []  # (org index, measure, from week, size)
    n_cycles = 0
    for idea_no, idea in enumerate(IDEAS):
        idea_id = repo.add_idea(db, ACTOR, cid, title=idea.title,
                                driver_ids=[secondary_ids[d] for d in idea.drivers],
                                description=f"If we {idea.verb}, {idea.expect}.")
        first_week = 9 + (idea_no * 2) % 14 + int(rng.integers(0, 3))
        if idea.outcome == "testing":
            first_week = len(weeks) - 9
        for site_no, org in enumerate(idea.sites):
            week = first_week + site_no * int(rng.integers(2, 5))
            ramp = 2 if idea.outcome == "abandoned" else 3
            previous = None
            for step in range(ramp):
                length = int(rng.integers(1, 3))
                c_start = weeks[min(week, len(weeks) - 1)] + dt.timedelta(days=int(rng.integers(0, 3)))
                c_end = c_start + dt.timedelta(days=7 * length - 1)
                final = step == ramp - 1
                measures = [measure_ids[m] for m in (idea.effects or _default_measures(idea))]
                cycle_id = repo.plan_cycle(
                    db, ACTOR, idea_id=idea_id, organisation_id=org_ids[org],
                    objective=f"Test whether we can {idea.verb} with {SCALES[step]}.",
                    question=f"If we {idea.verb}, will {idea.expect.replace('will ', '', 1)}?",
                    prediction=_prediction(idea, step, rng),
                    plan_who="Peer-support coordinator with two volunteer peer supporters",
                    plan_where=ORGANISATIONS[org][0],
                    data_collection="Weekly tally on the shared results template; notes from "
                                    "a short debrief after each session.",
                    scale=SCALES[step], start_date=c_start, end_date=c_end,
                    measure_ids=measures, builds_on_id=previous)
                n_cycles += 1
                previous = cycle_id
                if c_end >= running_from:
                    break  # still running: Do not yet recorded
                real = bool(idea.effects)
                repo.record_do(
                    db, ACTOR, cycle_id,
                    do_notes=f"Ran with {SCALES[step]} as planned."
                    if rng.random() > 0.3 else f"Ran with {SCALES[step]}; started a few days late "
                                               "because a volunteer was ill.",
                    went_as_planned=bool(rng.random() > 0.3),
                    observations=rng.choice([
                        "People asked whether they could bring a family member.",
                        "Staff needed a one-page script.",
                        "Two people asked for information in another language.",
                        None]))
                if idea.outcome == "testing" and final:
                    break  # Do recorded, Study still to come
                repo.record_study(
                    db, ACTOR, cycle_id,
                    study_notes=("The result met or beat the prediction." if real else
                                 "The measures did not move beyond their usual variation; "
                                 "the prediction was not met."),
                    learning=idea.learned or "Too early to say.")
                decision = "adapt"
                if final and idea.outcome in ("adopted", "abandoned"):
                    decision = {"adopted": "adopt", "abandoned": "abandon"}[idea.outcome]
                elif step == 1 and idea.outcome == "adopted":
                    decision = "adopt"
                repo.record_act(
                    db, ACTOR, cycle_id, decision=decision,
                    next_steps={"adopt": "Scale up to the next step of the ramp."
                                if not final else "Make it part of the usual service.",
                                "adapt": "Change the approach and test again.",
                                "abandon": "Stop; share what we learned with partners."}[decision])
                if final and idea.effects and idea.outcome in ("adopted", "adapted"):
                    for code, size in idea.effects.items():
                        effects.append((org, code, week, size))
                week += length + int(rng.integers(0, 2))

    n_cycles += _late_joiners(db, cid, org_ids, measure_ids, weeks, running_from, seed)
    results = _results(rng, weeks, effects, org_ids, measure_ids)
    observations.insert_results(db, ACTOR, results, source="demo", file_name="demo data")
    _learning(db, cid, org_ids, as_of)
    people = _people(db, cid, org_ids, rng, start, as_of)
    _progress(db, cid, org_ids, start, as_of)
    if accounts_password is not None:
        _accounts(db, org_ids, accounts_password)
    _discussion(db, cid, org_ids, measure_ids, as_of, mention=accounts_password is not None)
    _files(db, cid, org_ids)
    _ideas_sent_in(db, cid, org_ids)
    _insights(db, cid, start)
    return {"challenge_id": cid, "organisations": len(org_ids), "measures": len(measure_ids),
            "participants": people,
            "ideas": len(IDEAS), "cycles": n_cycles, "results": len(results),
            "start": start, "end": end, "first_week": weeks[0], "last_week": weeks[-1]}


# An organisation that joined an adopted idea late and is still testing it: someone the lab
# team should introduce to the organisations that adopted it (idea title: organisation index).
LATE_JOINERS = {"Peer-led welcome call within a week of referral": 2}


def _late_joiners(db: Database, challenge_id: int, org_ids: list[int], measure_ids: dict,
                  weeks, running_from: dt.date, seed: int) -> int:
    """Two cycles at a late joiner: the first studied and adapted, the second under way.
    They draw on a random generator of their own, so the rest of the demo is unchanged."""
    rng = np.random.default_rng(seed + 1000)
    ideas = repo.list_ideas(db, challenge_id).set_index("title")["id"]
    made = 0
    for title, org in LATE_JOINERS.items():
        idea = next(i for i in IDEAS if i.title == title)
        measures = [measure_ids[m] for m in (idea.effects or _default_measures(idea))]
        previous = None
        for step, back in enumerate((7, 3)):
            start = weeks[len(weeks) - back] + dt.timedelta(days=int(rng.integers(0, 2)))
            end = start + dt.timedelta(days=13)
            previous = repo.plan_cycle(
                db, ACTOR, idea_id=int(ideas[title]), organisation_id=org_ids[org],
                objective=f"Test whether we can {idea.verb} with {SCALES[step]}.",
                question=f"If we {idea.verb}, will {idea.expect.replace('will ', '', 1)}?",
                prediction=_prediction(idea, step, rng), scale=SCALES[step],
                plan_who="Practice care coordinator with a peer supporter from a partner",
                start_date=start, end_date=end, measure_ids=measures, builds_on_id=previous)
            made += 1
            if end >= running_from:
                break  # still running
            repo.record_do(db, ACTOR, previous, do_notes=f"Ran with {SCALES[step]}.",
                           went_as_planned=False,
                           observations="Reception staff were unsure who should make the call.")
            repo.record_study(db, ACTOR, previous,
                              study_notes="Too early to see a change in waits.",
                              learning="The call needs a named person with time set aside.")
            repo.record_act(db, ACTOR, previous, decision="adapt",
                            next_steps="Ask a partner that adopted it how they organised calls.")
    return made


# organisation index: (may be named to other partners, may be named in public reports)
CONSENTS = {0: (True, True), 3: (True, True), 4: (True, False), 1: (True, False)}
# idea title: key learning, worked when, did not work when, recommendation, reason
SYNTHESES = {
    "Peer-led welcome call within a week of referral": (
        "A call from a peer supporter within a week of referral halves the wait for a first "
        "session and takes the fear out of it.",
        "Where a named peer supporter had protected time for calls, and the referral reached "
        "them the same day.",
        "Calls made by staff without lived experience felt like an appointment reminder.",
        "spread", "Waits fell beyond their usual variation at all three organisations that "
        "tested it, and each adopted it after three cycles."),
    "Leaflet in pharmacy prescription bags": (
        "Leaflets in prescription bags did not bring referrals, and pharmacies could not keep "
        "it going.", None,
        "Busy community pharmacies; nobody who self-referred mentioned the leaflet.",
        "stop", "No referral named the leaflet in two cycles at two organisations, and the "
        "pharmacies asked to stop."),
    "WhatsApp group moderated by a peer supporter": (
        "An always-on group chat put too much on volunteers.", None,
        "Out of hours, volunteers felt they had to answer; safeguarding questions had no owner.",
        "stop", "Volunteers asked to stop after two cycles; the risk outweighed the benefit."),
    "Buddy for every new volunteer peer supporter": (
        "A buddy for the first eight weeks keeps new volunteers: the first three sessions "
        "matter most.",
        "Where buddies were matched before the volunteer's first session.", None,
        "spread", "Fewer volunteers stopped at the organisations that adopted it."),
    "Evening and weekend peer groups": (
        "Saturday groups keep people in work attending; evening groups need the right venue.",
        "Saturday mornings in a community venue.", "Weekday evenings in a clinic building.",
        "test_further", "Retention rose with Saturday groups; the evening version is being "
        "tested again in a new venue."),
}
# excerpts marked shareable: (idea title, organisation index, note, audience)
EXCERPTS = [
    ("Peer-led welcome call within a week of referral", 3, "learning", "public"),
    ("Peer-led welcome call within a week of referral", 4, "study_notes", "partners"),
    ("Leaflet in pharmacy prescription bags", 0, "learning", "public"),
    ("Buddy for every new volunteer peer supporter", 4, "observations", "partners"),
]


def _learning(db: Database, challenge_id: int, org_ids: list[int], as_of: dt.date) -> None:
    """What the lab team recorded about sharing: consents, syntheses, shareable notes."""
    from tracker.learning import syntheses

    for index, (partners, public) in CONSENTS.items():
        syntheses.set_consent(db, ACTOR, org_ids[index], named_to_partners=partners,
                             named_in_public=public)
    ideas = repo.list_ideas(db, challenge_id).set_index("title")["id"]
    for title, (key, worked, not_worked, recommendation, reason) in SYNTHESES.items():
        syntheses.write_synthesis(db, ACTOR, int(ideas[title]), key_learning=key,
                                 worked_when=worked, did_not_work_when=not_worked,
                                 recommendation=recommendation, reason=reason,
                                 reviewed_by="Dr Ana Okafor (demo lab lead)",
                                 reviewed_on=as_of - dt.timedelta(days=10))
    cycles = repo.list_cycles(db, ACTOR, challenge_id)
    for title, org, note, audience in EXCERPTS:
        mine = cycles[(cycles["idea"] == title) & (cycles["organisation_id"] == org_ids[org])
                      & cycles[note].notna()]
        if len(mine):
            syntheses.mark_excerpt(db, ACTOR, int(mine["id"].iloc[-1]), note, audience)


# The demo's people, as accounts when asked for (`demo --accounts`): username, role, the
# organisation's index in ORGANISATIONS (partners only), e-mail. The discussion, the ideas
# sent in and the insights are theirs.
DEMO_ACCOUNTS = [
    ("lab_lead", "admin", None, "lab.lead@example.org"),
    ("leadership", "viewer", None, "leadership@example.org"),
    ("pp_coordinator", "partner", 3, "pp.coordinator@example.org"),
    ("kv_coordinator", "partner", 4, "kv.coordinator@example.org"),
    ("community_voice", "contributor", None, "community.voice@example.org"),
]


def account_roles() -> list[tuple[str, str]]:
    """The demo's accounts and what each is, in words."""
    from tracker.access.scope import ROLES

    return [(name, ROLES[role] + ("" if org is None else f", {ORGANISATIONS[org][0]}"))
            for name, role, org, _ in DEMO_ACCOUNTS]


def _person(db: Database, username: str, org_ids: list[int]) -> Scope:
    """One of the demo's people (DEMO_ACCOUNTS): their account's scope when the demo has
    accounts (so For you and Ideas sent in find what they wrote), else who they are."""
    from tracker.access import auth

    found = auth.scope_of_account(db, username)
    if found is not None:
        return found
    role, org = next((r, o) for name, r, o, _ in DEMO_ACCOUNTS if name == username)
    if role == "admin":
        return Scope.admin(username)
    return Scope(actor=username, role=role,
                 organisation_id=None if org is None else org_ids[org],
                 organisation=None if org is None else ORGANISATIONS[org][0])


def _accounts(db: Database, org_ids: list[int], password: str) -> None:
    """One account for each role (DEMO_ACCOUNTS), the lab lead first: it switches login on."""
    from tracker.access import auth

    lab = Scope.admin("lab_lead")
    for i, (username, role, org, email) in enumerate(DEMO_ACCOUNTS):
        auth.add_user(db, None if i == 0 else lab, username=username, role=role,
                      password=password, email=email,
                      organisation_id=None if org is None else org_ids[org])


def _discussion(db: Database, challenge_id: int, org_ids: list[int], measure_ids: dict,
                as_of: dt.date, *, mention: bool = False) -> None:
    """Threads of a few weeks: a partner's question on its cycle answered by the lab, two
    questions still open (one naming an organisation that did not agree to be named, which
    other partners read withheld), a note on a chart and one on a learning record. With the
    demo's accounts (`mention`), the partner's question mentions the lab lead; without them
    (local mode) there is no one to mention."""
    from tracker.community import comments
    from tracker.community.comments import Topic

    def days_ago(days: int, hour: int = 10) -> dt.datetime:
        return dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time(hour, 15))

    lab = _person(db, "lab_lead", org_ids)
    cycles = repo.list_cycles(db, ACTOR, challenge_id)
    ideas = repo.list_ideas(db, challenge_id).set_index("title")["id"]
    pp, kv = _person(db, "pp_coordinator", org_ids), _person(db, "kv_coordinator", org_ids)
    theirs = cycles[cycles["organisation_id"] == org_ids[3]].sort_values("start_date")
    if len(theirs):
        topic = Topic.cycle(db, int(theirs["id"].iloc[-1]))
        asked = comments.post(
            db, pp, topic, ("@lab_lead " if mention else "") + "Three people asked to bring "
            "a family member to their first session. Can we allow that in the next cycle?",
            at=days_ago(12))
        comments.post(db, lab, topic, "Yes. Add it to the plan, and count family members "
                      "separately so the attendance measure stays comparable.",
                      reply_to=asked, at=days_ago(11, 14))
        comments.post(db, pp, topic, "Thank you, we will.", reply_to=asked, at=days_ago(11, 16))
    comments.post(db, kv, Topic.idea(int(ideas["Buddy for every new volunteer peer supporter"])),
                  "Hillview Surgery told us their volunteers found the welcome script too "
                  "long. Has anyone shortened it?", at=days_ago(6))
    comments.post(db, pp, Topic.idea(int(ideas["Walk-and-talk peer groups"])),
                  "Has anyone run walk-and-talk groups through the winter? We are planning "
                  "for January.", at=days_ago(3))
    comments.post(db, lab, Topic.chart(measure_ids["WAIT"], org_ids[3]),
                  "The fall from the middle of the year follows the new referral route; the "
                  "shift on this chart is the welcome calls starting.", at=days_ago(20))
    comments.post(db, lab, Topic.learning(int(ideas["Peer-led welcome call within a week of "
                                                  "referral"])),
                  "Reviewed at the partner learning day. Comments welcome before the public "
                  "report goes out.", at=days_ago(9))


def _files(db: Database, challenge_id: int, org_ids: list[int]) -> None:
    """A partner's photo of the poster it tested (taken on a phone: its EXIF held the
    camera and a GPS position, which attaching removed) and the lab team's leaflet as a PDF,
    on the idea; the photo is marked for the public report."""
    from tracker.community import attachments
    from tracker.community.comments import Topic

    cycles = repo.list_cycles(db, ACTOR, challenge_id)
    pp = _person(db, "pp_coordinator", org_ids)
    idea = int(repo.list_ideas(db, challenge_id).set_index("title")["id"][
        "Peer-led welcome call within a week of referral"])
    theirs = cycles[(cycles["organisation_id"] == org_ids[3]) & (cycles["idea_id"] == idea)] \
        .sort_values("start_date")
    if len(theirs):
        photo, _ = attachments.attach(
            db, pp, Topic.cycle(db, int(theirs["id"].iloc[-1])), "poster_in_reception.jpg",
            poster_photo(), caption="The poster in reception, week two of the cycle.")
        attachments.mark_public(db, ACTOR, photo, True)
    attachments.attach(db, ACTOR, Topic.idea(idea), "welcome_call_leaflet.pdf",
                       leaflet_pdf(["Peer support: a call within a week",
                                    "A peer supporter will ring you within seven days of your",
                                    "referral to tell you about the groups near you.",
                                    "DEMO: an invented leaflet."]),
                       caption="The leaflet partners hand out with the welcome call.")


def _ideas_sent_in(db: Database, challenge_id: int, org_ids: list[int]) -> None:
    """Ideas sent in, in every state: one waiting, one accepted (the lab had added it: the
    welcome call began as a contributor's idea), one merged, one parked, one declined."""
    from tracker.community import submissions

    contributor = _person(db, "community_voice", org_ids)
    partner = _person(db, "kv_coordinator", org_ids)
    ideas = repo.list_ideas(db, challenge_id).set_index("title")["id"]
    drivers = repo.list_drivers(db, challenge_id)
    first = int(drivers["id"].iloc[0]) if len(drivers) else None
    sent = [
        (contributor, "Nobody told me peer support existed until a year after my diagnosis.",
         "People newly referred", "A phone call from someone who has been there, soon after "
         "referral", "My own experience", ("accept", ideas.get(
             "Peer-led welcome call within a week of referral"), None)),
        (partner, "Volunteers drift away in their first month.", "New volunteer peer "
         "supporters", "Pair each new volunteer with an experienced one", "Our volunteer "
         "survey", ("merge", ideas.get("Buddy for every new volunteer peer supporter"), None)),
        (contributor, "Groups all meet on weekday mornings, when I am at work.",
         "People in work", "A monthly Saturday group", "A conversation at a peer group",
         ("park", None, "A good idea for the next challenge: the evening and weekend groups "
                        "are being tested now.")),
        (partner, "Some people cannot travel to a group.", "Housebound people",
         "Home visits by peer supporters", None,
         ("decline", None, "Home visits need safeguarding checks the partners cannot run in "
                           "this challenge; the telephone ideas reach the same people.")),
        (contributor, "Waiting rooms are where people sit with their worries.",
         "People waiting for a GP appointment", "Short peer-support talks in the waiting "
         "room once a month", "Discovery workshop", None),
    ]
    for who, problem, who_for, what, came_from, decision in sent:
        number = submissions.send(db, who, challenge_id, problem=problem, who_for=who_for,
                                  what_to_try=what, came_from=came_from, driver_id=first)
        if decision is not None:
            action, idea, reason = decision
            submissions.triage(db, _person(db, "lab_lead", org_ids), number, action,
                               idea_id=None if idea is None else int(idea), reason=reason)


# what the discovery phase heard: source, day of the challenge, summary, quote (agreed to be
# quoted), the drivers (names) and ideas (titles) it informs
INSIGHTS = [
    ("survey", 10, "Two in three people with a long-term condition had never been offered "
     "peer support; most would have taken it.", None,
     ["People know peer support exists and how to reach it"], []),
    ("interview", 14, "People are told about peer support once, at diagnosis, when they "
     "cannot take it in.", "I heard the word 'group' and switched off. A month later I "
     "would have gone.", ["Professionals mention peer support at the right moment"],
     ["Peer-led welcome call within a week of referral"]),
    ("workshop", 20, "Referral forms differ at every partner; staff give up on them.", None,
     ["Referral is easy and quick", "One shared referral route across partners"],
     ["Shared referral form with social prescribers"]),
    ("interview", 24, "A call from someone who has lived with the condition lowers the fear "
     "of the first session.", None, ["First contact within a week of referral"],
     ["Peer-led welcome call within a week of referral"]),
    ("literature", 28, "Volunteer peer supporters stay longer with regular supervision and a "
     "named buddy in their first months.", None,
     ["A sustained pool of trained volunteer peer supporters",
      "Volunteers feel supported in their role"],
     ["Buddy for every new volunteer peer supporter", "Monthly volunteer supervision circle"]),
    ("data", 33, "Half of the people referred in working age never attend a weekday morning "
     "group.", None, ["Sessions at times and places that suit people"],
     ["Evening and weekend peer groups"]),
    ("workshop", 40, "People want to do something together, not only talk.", "Give me a "
     "walk, and I'll talk.", ["Groups built around activities, not only talk",
                              "Peer support fits people's lives and keeps them engaged"],
     ["Walk-and-talk peer groups"]),
    ("interview", 45, "Some people would refer themselves if they knew how.", None,
     ["Self-referral without a professional"],
     ["Self-referral QR code on waiting-room screens"]),
]


def _insights(db: Database, challenge_id: int, start: dt.date) -> None:
    """The discovery phase's insights, behind most drivers and several ideas."""
    from tracker.community import insights

    drivers = repo.list_drivers(db, challenge_id).set_index("name")["id"]
    ideas = repo.list_ideas(db, challenge_id).set_index("title")["id"]
    lab = _person(db, "lab_lead", [])
    for source, day, summary, quote, driver_names, idea_titles in INSIGHTS:
        insights.add_insight(
            db, lab, challenge_id, source=source, heard_on=start + dt.timedelta(days=day),
            summary=summary, quote=quote, quote_consent=quote is not None,
            driver_ids=[int(drivers[n]) for n in driver_names if n in drivers],
            idea_ids=[int(ideas[t]) for t in idea_titles if t in ideas])


def poster_photo() -> bytes:
    """A phone photo of a poster, as a phone saves it: JPEG with the camera's make and model
    and the GPS position where it was taken in its EXIF."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), (236, 232, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((120, 40, 520, 440), fill=(0, 94, 184))
    for row, line in enumerate(("PEER SUPPORT", "Talk to someone who", "has been there too",
                                "Ask at reception", "(demo)")):
        draw.text((150, 80 + row * 70), line, fill=(255, 255, 255), font_size=34)
    exif = image.getexif()
    exif[0x010F], exif[0x0110] = "DemoPhone", "Camera 12"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (54.0, 58.0, 21.3), "W", (1.0, 36.0, 52.1)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, exif=exif)
    return out.getvalue()


def leaflet_pdf(lines: list[str]) -> bytes:
    """A one-page PDF of a few lines of text (Helvetica), written out by hand."""
    def escaped(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = "BT /F1 18 Tf 56 760 Td 24 TL " + " ".join(
        f"({escaped(line)}) Tj T*" for line in lines) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
               " /Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    start = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{start}\n"
            "%%EOF\n").encode()
    return bytes(out)


FIRST_NAMES = ["Ada", "Bilal", "Chloe", "Dev", "Efua", "Finn", "Grace", "Hamza", "Isla", "Jonah",
               "Kemi", "Luca", "Maya", "Niall", "Omar", "Priti", "Quinn", "Rosa", "Sami", "Tess"]
LAST_NAMES = ["Abbott", "Bello", "Carr", "Dunn", "Eze", "Ford", "Gill", "Hart", "Iqbal", "Jones",
              "Kerr", "Lowe", "Mensah", "Nash", "Okoro", "Price", "Rahman", "Shaw", "Tran", "Vance"]
# how people take part, with how many of the demo's 60 (lived experience is the largest group)
TAKING_PART = [("lived_experience", 16), ("carer", 6), ("clinician", 7), ("peer_supporter", 9),
               ("charity_staff", 7), ("housing_staff", 4), ("commissioner", 3),
               ("researcher", 3), ("designer", 3), ("other", 2)]
EVENTS = [(20, "Discovery workshop: what gets in the way of peer support", "Discovery"),
          (70, "Ideas sprint with partners and people with lived experience", "Testing ideas"),
          (180, "Partner learning day: what the first cycles taught us", "Testing ideas"),
          (305, "Sharing learning: what would it take?", "Sharing learning")]


def _people(db: Database, challenge_id: int, org_ids: list[int], rng, start: dt.date,
            as_of: dt.date) -> int:
    """About 60 fictional participants of every kind (some with consents), and the events
    they came to."""
    from tracker.community import events, participants

    ideas = repo.list_ideas(db, challenge_id)["id"].tolist()
    span = max((as_of - start).days, 1)
    made = []
    n = 0
    for kind, count in TAKING_PART:
        for _ in range(count):
            first, last = FIRST_NAMES[n % 20], LAST_NAMES[(n * 7 + 3 * (n // 20) + 3) % 20]
            n += 1
            own_account = kind in ("lived_experience", "carer") and rng.random() < 0.6
            org = None if own_account or kind in ("researcher", "designer") else \
                int(org_ids[int(rng.integers(0, len(org_ids)))])
            region = ORGANISATIONS[org_ids.index(org)][2] if org else \
                str(rng.choice(["North East", "Yorkshire"]))
            joined = start + dt.timedelta(days=int(rng.integers(0, span)))
            pid = participants.add_participant(
                db, ACTOR, challenge_id, name=f"{first} {last} (demo)", taking_part=kind,
                organisation_id=org, region=region,
                email=f"{first.lower()}.{last.lower()}@example.org", joined_on=joined,
                may_contact=bool(rng.random() < 0.5), may_name=bool(rng.random() < 0.3),
                idea_ids=[int(i) for i in rng.choice(ideas, size=int(rng.integers(0, 3)),
                                                    replace=False)])
            made.append((pid, joined))
    phases = repo.list_phases(db, challenge_id).set_index("name")["id"]
    for day, name, phase in EVENTS:
        on = start + dt.timedelta(days=day)
        if on > as_of:
            continue
        there = [p for p, joined in made if joined <= on and rng.random() < 0.55]
        events.add_event(db, ACTOR, challenge_id, on_date=on, name=name,
                         phase_id=int(phases[phase]), participant_ids=there)
    return len(made)


def _progress(db: Database, challenge_id: int, org_ids: list[int], start: dt.date,
              as_of: dt.date) -> None:
    """A progress score for every partner for every month so far, following its cycles:
    rising through planning to changes tested, then improvement after its first adoption."""
    from tracker.records import progress

    cycles = repo.list_cycles(db, ACTOR, challenge_id)
    month = start.replace(day=1)
    while month <= min(as_of, clock.today()).replace(day=1):
        end = (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()
        for k, org in enumerate(org_ids):
            mine = cycles[cycles["organisation_id"] == org]
            begun = mine[pd.to_datetime(mine["start_date"]) <= pd.Timestamp(end)]
            adopted = mine[(mine["decision"] == "adopt")
                           & (pd.to_datetime(mine["end_date"]) <= pd.Timestamp(end))]
            months_in = (month.year - start.year) * 12 + month.month - start.month
            if begun.empty:
                score = min(0.5 + 0.5 * months_in, 2.0)
                why = "Getting ready: team formed, planning the first test."
            elif adopted.empty:
                score, why = 2.5, f"{len(begun)} cycles run; no improvement on the charts yet."
            else:
                since = (pd.Timestamp(end) - pd.to_datetime(adopted["end_date"]).min()).days
                score = min(3.0 + 0.5 * (since // 60), 4.5 if k % 3 else 4.0)
                why = f"{len(adopted)} changes adopted; improvement on the charts."
            progress.score_month(db, ACTOR, org, month, score, why)
        month = (pd.Timestamp(month) + pd.offsets.MonthBegin(1)).date()


def _default_measures(idea: Idea) -> list[str]:
    text = (idea.verb + " " + idea.expect).lower()
    if "volunteer" in text:
        return ["VOL", "DROP"]
    if "wait" in text or "faster" in text:
        return ["WAIT", "REF"]
    if "connected" in text or "ready" in text:
        return ["RET6", "FIRST"]
    return ["REF"]


def _prediction(idea: Idea, step: int, rng) -> str:
    if "FIRST" in idea.effects:
        base = 55 + int(rng.integers(0, 5))
        return (f"With {SCALES[step]}, at least {base + 10}% will attend their first session "
                f"(it is about {base}% now).")
    if "REF" in idea.effects or "referr" in idea.expect:
        return f"With {SCALES[step]}, we will see at least {3 + step * 2} more referrals a week."
    return f"With {SCALES[step]}, {idea.expect}."


def _results(rng, weeks, effects, org_ids, measure_ids) -> pd.DataFrame:
    """Weekly results for every organisation and measure, with the effects of ideas that worked
    (ramping in over two weeks) and the ordinary noise of small services."""
    n_weeks, n_orgs = len(weeks), len(org_ids)
    size = rng.uniform(0.6, 1.6, n_orgs)  # organisation size
    shift = {code: np.zeros((n_orgs, n_weeks)) for code in measure_ids}
    for org, code, week, amount in effects:
        ramp = np.clip((np.arange(n_weeks) - week + 1) / 2, 0, 1)
        shift[code][org] += amount * ramp

    frames = []

    def add(code, org, value=None, num=None, den=None):
        frames.append(pd.DataFrame({
            "organisation_id": org_ids[org], "measure_id": measure_ids[code], "period": weeks,
            "value": value, "numerator": num, "denominator": den}))

    for org in range(n_orgs):
        referrals = rng.poisson(np.maximum(9 * size[org] + shift["REF"][org], 0.5))
        add("REF", org, value=referrals.astype(float))
        offered = rng.poisson(8 * size[org], n_weeks) + 3
        attended = rng.binomial(offered, np.clip(0.55 + shift["FIRST"][org], 0.02, 0.98))
        add("FIRST", org, num=attended.astype(float), den=offered.astype(float))
        started = rng.poisson(6 * size[org], n_weeks) + 2
        still = rng.binomial(started, np.clip(0.45 + shift["RET6"][org], 0.02, 0.98))
        add("RET6", org, num=still.astype(float), den=started.astype(float))
        wait = rng.normal(24 - 2 * size[org], 2.5, n_weeks) + shift["WAIT"][org]
        add("WAIT", org, value=np.round(np.maximum(wait, 1), 1))
        volunteers = np.round(6 * size[org] + rng.normal(0, 1.2, n_weeks) + shift["VOL"][org])
        add("VOL", org, value=np.maximum(volunteers, 0))
        score = rng.normal(21.3, 0.7, n_weeks) + shift["SWEMWBS"][org]
        add("SWEMWBS", org, value=np.round(score, 1))
        answered = rng.poisson(7 * size[org], n_weeks) + 4
        lonely = rng.binomial(answered, np.clip(0.45 + shift["LONELY"][org], 0.02, 0.98))
        add("LONELY", org, num=lonely.astype(float), den=answered.astype(float))
        supported = np.round(rng.uniform(0.4, 0.6, n_weeks) * size[org], 2)  # hundreds
        visits = rng.poisson(6 * supported)
        add("AE", org, num=visits.astype(float), den=supported)
        add("DROP", org, value=rng.poisson(np.maximum(0.7 + shift["DROP"][org], 0.05)).astype(float))

    frame = pd.concat(frames, ignore_index=True)
    # Real services miss weeks: a few gaps everywhere, and Harbourside Homes is five weeks late.
    missing = rng.random(len(frame)) < 0.015
    late = (frame["organisation_id"] == org_ids[5]) & (frame["period"] > weeks[-6])
    frame = frame[~missing & ~late].reset_index(drop=True)
    frame["note"] = None
    return frame
