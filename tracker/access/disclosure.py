"""Disclosure control: what a reader outside the lab team may see of the lab's learning.

Four readers:
- the **lab** (lab admins, and the internal report): everything;
- a **viewer** (leadership, in the app): every organisation and note, like the lab team, but
  never a person who did not agree to be named, nor any e-mail address or phone number;
- a **partner**: everything of its own organisation; another organisation is named only if
  it agreed to be named to other partners, its cycle notes appear only where the lab team
  marked them shareable with partners (or public), and its counts below the smallest count
  are withheld;
- the **public** (the public report): organisations named only with public consent, notes
  only where marked public, counts below the smallest count withheld, and no person's name or
  e-mail anywhere.

Every text a reader outside the lab team receives (titles and names the lab admin wrote as
much as the notes partners wrote) is checked before it is used (`passage`, `title`): a text
that names an organisation the reader may not see named, or a person, or holds an e-mail
address or phone number, is withheld (a title by a neutral stand-in) and the output says so.
An organisation that is not named reads as its kind and region only where at least the lab's
disclosure threshold of its organisations (3 unless set) share that label; otherwise it reads
more generally (kind alone, region alone, "a partner organisation").
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from tracker.access import sensitive
from tracker.access.scope import Scope

LAB, VIEWER, PARTNER, PUBLIC = "lab", "viewer", "partner", "public"
# A label ("a GP practice in Yorkshire") is used only when at least this many of the lab's
# organisations share it, so that it cannot single one out: the lab's disclosure threshold
# (the fewest organisations an unnamed group may hold), 3 unless the lab sets another.
MIN_GROUP = 3
_ARTICLE = {"nhs_trust": "an", "other": "an"}
KIND_WORDS = {  # how an organisation reads when it is not named
    "nhs_trust": "NHS trust",
    "gp_practice": "GP practice",
    "charity": "charity",
    "housing_association": "housing association",
    "community_group": "community group",
    "local_authority": "local authority",
    "other": "organisation",
}


@dataclass
class Withheld:
    """What a version withheld, counted, for the note that says so."""

    organisations: set = field(default_factory=set)  # shown by kind and region
    notes: int = 0  # cycle notes not marked for this reader
    points: int = 0  # chart points whose count is below the smallest count
    passages: list[str] = field(default_factory=list)  # marked text withheld, with why
    titles: int = 0  # names and titles shown by a stand-in

    def sentences(self, min_count: int) -> list[str]:
        out = []
        if self.organisations:
            n = len(self.organisations)
            out.append(f"{n} organisation{'s' if n != 1 else ''} that did not agree to be "
                       f"named {'is' if n == 1 else 'are'} shown by kind and region.")
        if self.notes:
            out.append(f"{self.notes} cycle note{'s' if self.notes != 1 else ''} not marked "
                       "shareable for this reader {} left out.".format(
                           "is" if self.notes == 1 else "are"))
        if self.points:
            out.append(f"{self.points} chart point{'s' if self.points != 1 else ''} based on "
                       f"fewer than {min_count} people {'is' if self.points == 1 else 'are'} "
                       "not shown (gaps in the line); the mean and limits of those charts "
                       "come from the points shown alone.")
        if self.titles:
            out.append(f"{self.titles} name{'s' if self.titles != 1 else ''} or "
                       f"title{'s' if self.titles != 1 else ''} that would name someone or "
                       "something withheld here "
                       f"{'is' if self.titles == 1 else 'are'} shown by a stand-in "
                       "(\"an idea of the lab's (1)\").")
        out.extend(self.passages)
        return out


class Audience:
    """Who will read it, and so how organisations are named and which notes and counts show."""

    def __init__(self, kind: str, consents: pd.DataFrame, *, min_count: int,
                 own_organisation: int | None = None, people: list[str] = (),
                 min_group: int = MIN_GROUP):
        self.kind = kind
        self.min_group = int(min_group)
        self.own = own_organisation
        self.min_count = int(min_count)
        self.withheld = Withheld()
        self._names = dict(zip(consents["organisation_id"].astype(int), consents["name"],
                               strict=True))
        consent_column = "named_in_public" if kind == PUBLIC else "named_to_partners"
        self._named = {int(o) for o, ok in zip(consents["organisation_id"],
                                               consents[consent_column], strict=True)
                       if kind in (LAB, VIEWER) or bool(ok) or o == own_organisation}
        self._labels = self._anonymous_labels(consents)
        # names the reader must not meet in shared text: organisations not named to them,
        # and (outside the lab) every person the tracker knows by name, seen through
        # disguise (tracker.access.sensitive), besides any e-mail address or phone number
        self._finder = sensitive.Finder(
            organisations=[n for o, n in self._names.items() if o not in self._named],
            people=[p for p in people if p and len(p.strip()) >= 3] if kind != LAB else [])
        self._standins: dict = {}
        self._checked: dict = {}

    @classmethod
    def for_scope(cls, scope: Scope, consents: pd.DataFrame, *, min_count: int,
                  public: bool = False, people: list[str] = (),
                  min_group: int = MIN_GROUP) -> Audience:
        if public or scope.is_contributor:  # a contributor reads what the public reads
            return cls(PUBLIC, consents, min_count=min_count, people=people,
                       min_group=min_group)
        if scope.is_partner:
            return cls(PARTNER, consents, min_count=min_count, min_group=min_group,
                       own_organisation=scope.organisation_id, people=people)
        if not scope.is_admin:
            return cls(VIEWER, consents, min_count=min_count, people=people)
        return cls(LAB, consents, min_count=min_count)

    @property
    def is_lab(self) -> bool:
        return self.kind == LAB

    def _anonymous_labels(self, consents: pd.DataFrame) -> dict[int, str]:
        """"a GP practice in the North West", numbered "(1)", "(2)" where several such
        organisations are not named (numbered in the order they joined, so the same
        organisation keeps its number throughout one report). A label is used only when at
        least `min_group` of the lab's organisations share it; otherwise its kind alone, then
        its region alone, then "a partner organisation": never a label that fits one."""
        kinds = consents["kind"].fillna("other").tolist()
        regions = [r.strip() if isinstance(r, str) and r.strip() else None
                   for r in consents["region"]]
        both = Counter(zip(kinds, regions, strict=True))
        by_kind, by_region = Counter(kinds), Counter(r for r in regions if r)
        words = {}
        self._kinds = {}  # the kind of each organisation whose kind this reader may know
        self._groups = {}  # the words a group of organisations is shown by, unnumbered
        for org, kind, region in zip(consents["organisation_id"].astype(int), kinds, regions,
                                     strict=True):
            if org in self._named:
                self._kinds[org] = kind
                self._groups[org] = self._kind_words(kind, region)
                continue
            if region and both[(kind, region)] >= self.min_group:
                words[org] = self._kind_words(kind, region)
                self._kinds[org] = kind
            elif by_kind[kind] >= self.min_group:
                words[org] = self._kind_words(kind, None)
                self._kinds[org] = kind
            elif region and by_region[region] >= self.min_group:
                words[org] = self._kind_words("any", region)
            else:
                words[org] = "a partner organisation"
        self._groups.update(words)
        counts = Counter(words.values())
        seen: Counter = Counter()
        labels = {}
        for org, text in words.items():
            seen[text] += 1
            labels[org] = f"{text} ({seen[text]})" if counts[text] > 1 else text
        return labels

    @staticmethod
    def _kind_words(kind: str, region) -> str:
        """"a GP practice in the North West", "a charity in Yorkshire", "an NHS trust"."""
        noun = KIND_WORDS.get(kind, "organisation")
        text = f"{_ARTICLE.get(kind, 'a')} {noun}" if kind != "any" else "an organisation"
        if not isinstance(region, str) or not region.strip():
            return text
        region = region.strip()
        the = "the " if re.match(r"(?i)(north|south|east|west|midlands)\b", region) else ""
        return f"{text} in {the}{region}"

    # ------------------------------------------------------------------ organisations

    def kind_of(self, organisation_id) -> str | None:
        """The organisation's kind, where this reader may know it (named to them, or its kind
        shared by at least `min_group` organisations); None where a filter or a table by kind
        would single it out."""
        return self._kinds.get(int(organisation_id))

    def group_of(self, organisation_id) -> str:
        """The words organisations are grouped by for this reader ("a GP practice in the
        North East", unnumbered): never a kind or region the reader's labels would not say."""
        return self._groups.get(int(organisation_id), "a partner organisation")

    def label(self, organisation_id) -> str:
        """The organisation as this reader may see it."""
        org = int(organisation_id)
        if org in self._named:
            return self._names.get(org, "an organisation")
        self.withheld.organisations.add(org)
        return self._labels.get(org, "an organisation")

    def is_named(self, organisation_id) -> bool:
        """May this reader see the organisation by name (and so its kind and region)?"""
        return int(organisation_id) in self._named

    def is_outside(self, organisation_id) -> bool:
        """True where this reader is not the lab team (nor a viewer) nor the organisation
        itself: counts and notes are then controlled."""
        return self.kind in (PARTNER, PUBLIC) and organisation_id != self.own

    @property
    def checks_text(self) -> bool:
        """Is every text checked before this reader sees it (everyone but the lab team)?"""
        return self.kind != LAB

    # ------------------------------------------------------------------ notes and text

    def note_allowed(self, organisation_id, mark: str | None) -> bool:
        """May this reader see a cycle note of this organisation marked `mark`?"""
        if not self.is_outside(organisation_id):
            return True
        allowed = ("public",) if self.kind == PUBLIC else ("partners", "public")
        return mark in allowed

    def note(self, organisation_id, mark: str | None, text: str | None,
             where: str | None) -> str | None:
        """A note an organisation wrote (a cycle's prediction, scale, study notes...) as this
        reader may read it: None where it is not marked for them (counted) or it names
        someone or something withheld (said, where `where` is given). An organisation reads
        its own notes as written."""
        if not self.note_allowed(organisation_id, mark):
            self.withheld.notes += 1
            return None
        if not self.checks_text or (self.own is not None and organisation_id == self.own):
            return text
        if where is None:
            return text if self.problem_in(text) is None else None
        return self.passage(text, where)

    def problem_in(self, text: str | None) -> str | None:
        """Why a passage may not go to this reader (it names an organisation they may not see
        named, or a person, or holds an e-mail address), or None."""
        if not isinstance(text, str) or not text or self.kind == LAB:
            return None
        if text not in self._checked:  # a title is met many times in one report
            self._checked[text] = self._why(text)
        return self._checked[text]

    def _why(self, text: str) -> str | None:
        found = {what for what, _ in self._finder.find(text)}
        if found & {"organisation", "person"}:
            return "it names an organisation or a person that may not be named here"
        if "e-mail address" in found:
            return "it holds an e-mail address"
        if "phone number" in found:
            return "it holds a phone number"
        return None

    def passage(self, text: str | None, where: str) -> str | None:
        """Shared text as this reader may see it: the text, or None (withheld, and said)."""
        why = self.problem_in(text)
        if why is None:
            return text
        self.withheld.passages.append(f"{where} is withheld because {why}; edit it to share "
                                      "it.")
        return None

    def title(self, text: str | None, what: str, key) -> str:
        """A name or title (of an idea, driver, measure, phase) as this reader may see it: the
        text, or where it names someone or something withheld, a neutral stand-in ("an idea
        of the lab's (2)"), numbered in the order first met, so the same item keeps its
        stand-in throughout one output. The stand-in is counted once in what is withheld."""
        if not isinstance(text, str) or self.problem_in(text) is None:
            return text
        mine = self._standins.setdefault(what, {})
        if key not in mine:
            mine[key] = f"{what} of the lab's ({len(mine) + 1})"
            self.withheld.titles += 1
        return mine[key]

    # ------------------------------------------------------------------ counts

    def small(self, counts: pd.Series) -> pd.Series:
        """True where a count of people is below the smallest count that may leave the lab."""
        return counts.notna() & (counts < self.min_count)
