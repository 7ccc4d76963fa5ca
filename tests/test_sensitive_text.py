"""The last check of shared text sees through disguise (issue 20, item 3): every red-team
variant of a name or an e-mail address that reached the public report is found, on a folded
form of the text; ordinary sentences are left alone. Then through a real public report and a
partner's record of the demo."""

from __future__ import annotations

import pytest

from tracker.access import disclosure, sensitive
from tracker.access.scope import Scope
from tracker.learning import learning_record, learning_report, syntheses
from tracker.records import repo

ADMIN = Scope.admin("test")
ORGS = ["Hillview Surgery (demo)", "Westbrook Diabetes Support Group (demo)"]
PEOPLE = ["Sarah Kowalski", "Bilal Kerr (demo)", "kowalski@example.org"]

DISGUISED = [  # the red team's, from the issue
    "Hillview   Surgery", "Hillview\nSurgery", "Hill\u200bview Surgery",
    "Hillvi\u0435w Surgery",  # a Cyrillic е
    "Hillview's new rota", "Hillview\u2019s new rota", "the HILLVIEW practice", "Westbrook",
    "sarah  kowalski", "Sarah\u00a0Kowalski", "S. Kowalski", "Bilal\nKerr", "B\u200bilal Kerr",
    "kowalski\uff20example.org", "kowalski @ example.org", "kowalski(at)example.org",
] + [  # more of the same classes
    "Hill\u00adview", "\ufeffHillview", "Ｈｉｌｌｖｉｅｗ Surgery", "Hillvíew", "HILL\u2060VIEW",
    "hillview_surgery", "Hillview-\tSurgery", "Dr Kowalski", "Ms. S Kowalski", "B. Kerr",
    "bilal\u2003kerr", "someone@nhs.net", "a.person [at] trust [dot] nhs [dot] uk",
    "mailto:x@y.org", "write to jo at example.org", "j.o{at}mail(dot)com",
    "ring 01234 567890", "07700 900 123", "+44 (0)113 496 0000", "+447700900123",
]
ORDINARY = [
    "We met at the surgery. Then we went home.", "Scores rose from 21.3 to 22.1 on 2026-11-25.",
    "3 people took part at a peer support group.", "Kerrigan came along.",
    "Care pathways for diabetes changed at 10.30 on Monday.", "The view from the hill helped.",
    "Waits fell from 24 to 12 days (n = 41).", "A GP practice in Yorkshire tested it.",
]


@pytest.mark.parametrize("text", DISGUISED)
def test_every_disguise_is_found(text):
    assert sensitive.Finder(ORGS, PEOPLE).find(text), text


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_sentences_are_left_alone(text):
    assert sensitive.Finder(ORGS, PEOPLE).find(text) == [], text


def test_what_is_found_is_said():
    finder = sensitive.Finder(ORGS, PEOPLE)
    assert ("organisation", ORGS[0]) in finder.find("the HILLVIEW practice")
    assert ("person", "Bilal Kerr (demo)") in finder.find("B. Kerr")
    assert [w for w, _ in finder.find("kowalski (at) example.org")] == ["person",
                                                                         "e-mail address"]
    assert [w for w, _ in finder.find("call 0113 496 0000")] == ["phone number"]


def test_distinctive_words_and_forms_of_a_name():
    assert sensitive.organisation_forms("Hillview Surgery (demo)") == [("hillview",),
                                                                       ("hillview", "surgery")]
    assert ("surgery",) not in sensitive.organisation_forms("Hillview Surgery")
    forms = sensitive.person_forms("Dr Tom Adeyemi (demo)")
    assert {("tom", "adeyemi"), ("t", "adeyemi"), ("adeyemi",)} == set(forms)
    assert sensitive.person_forms("jo@example.org") == []  # every address is found anyway


def consents():
    import pandas as pd

    return pd.DataFrame({"organisation_id": [1, 2, 3], "name": [*ORGS, "Peer Pathways (demo)"],
                         "kind": ["gp_practice", "community_group", "charity"],
                         "region": ["Yorkshire", "North East", "North East"],
                         "named_to_partners": [False, False, True],
                         "named_in_public": [False, False, True]})


@pytest.mark.parametrize("kind", [disclosure.PUBLIC, disclosure.PARTNER])
def test_the_audience_withholds_each_disguise_and_says_why(kind):
    reader = disclosure.Audience(kind, consents(), min_count=3, people=PEOPLE,
                                 own_organisation=3 if kind == disclosure.PARTNER else None)
    for text in DISGUISED:
        assert reader.passage(text, "A note") is None, text
    for text in ORDINARY + ["Peer Pathways (demo) tested it."]:
        assert reader.passage(text, "A note") == text
    said = " ".join(reader.withheld.passages)
    assert "e-mail address" in said and "phone number" in said
    assert "Hillview" not in said and "Kowalski" not in said  # the reason names no one
    lab = disclosure.Audience(disclosure.LAB, consents(), min_count=3, people=PEOPLE)
    assert all(lab.passage(t, "A note") == t for t in DISGUISED)  # the lab team reads all


def test_a_disguised_name_in_a_synthesis_never_reaches_the_public_report(demo_db):
    """Planted in a synthesis of the demo (a text the public report prints after the last
    check): the public HTML and a partner's record leave it out and say so; the internal
    report keeps it."""
    challenge = repo.get_challenge(demo_db)
    ideas = repo.list_ideas(demo_db, challenge["id"]).set_index("title")["id"]
    welcome = "Peer-led welcome call within a week of referral"
    planted = {
        "key_learning": "Calls worked best when HILL\u200bVIEW's coordinator rang first.",
        "worked_when": "S. Kowalski rang within two days (kowalski (at) example [dot] org).",
        "did_not_work_when": "Westbrook\u00a0had no volunteers; ring 01234 567890.",
    }
    syntheses.write_synthesis(demo_db, ADMIN, int(ideas[welcome]), recommendation="spread",
                              reason="It halves the wait.", **planted)
    public = learning_report.build_html(demo_db, ADMIN, public=True, ideas=[welcome])
    folded = " ".join(sensitive.words(public))
    for word in ("hillview", "kowalski", "westbrook", "01234", "567890"):
        assert word not in folded, word
    assert "is withheld because it names an organisation or a person" in public
    internal = learning_report.build_html(demo_db, ADMIN, public=False, ideas=[welcome])
    assert "Kowalski" in internal
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")["id"]
    pp = Scope(actor="p", role="partner", organisation_id=int(orgs["Peer Pathways (demo)"]),
               organisation="Peer Pathways (demo)")
    record = learning_record.record(demo_db, pp, int(ideas[welcome]))
    shown = " ".join(sensitive.words(str(record.synthesis)))
    assert "kowalski" not in shown and "hillview" not in shown


def test_a_run_of_words_is_found_wherever_it_stands_as_a_plain_scan_finds_it():
    """`Finder.find` looks for a name only where its first word stands in the text (a page
    reads every text against every name a reader may not meet). It finds what a plain scan of
    every position finds: at the start, the end, twice, overlapping, and not a part of it."""
    import random

    def plain_scan(said, form):
        n = len(form)
        return any(tuple(said[i:i + n]) == form for i in range(len(said) - n + 1))

    orgs = ORGS + [f"Harbour {w} Trust" for w in ("Lane", "Quay", "Mill")] + ["Quay Quay Mill"]
    people = PEOPLE + ["Ann Quay", "Mill Harbour"]
    finder = sensitive.Finder(orgs, people)
    vocabulary = ["harbour", "quay", "mill", "lane", "trust", "ann", "hillview", "surgery",
                  "kowalski", "sarah", "s", "bilal", "kerr", "b", "westbrook", "the", "of"]
    chosen = random.Random(20)
    for _ in range(2000):
        said = [chosen.choice(vocabulary) for _ in range(chosen.randint(0, 9))]
        expected = []
        for form, name, what in finder._forms:
            if (what, name) not in expected and plain_scan(said, form):
                expected.append((what, name))
        assert finder.find(" ".join(said)) == expected, said
