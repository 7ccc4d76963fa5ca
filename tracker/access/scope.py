"""Who is asking: a `Scope` travels with every call into the data layer, which enforces it
(docs/design.md, "Who may do what"). Below the data layer and the accounts both, so each can
take it without the other."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from tracker.errors import PermissionDenied

ROLES = {"admin": "Lab admin", "partner": "Partner organisation", "viewer": "Viewer (leadership)",
         "contributor": "Contributor (lived experience, community)"}
# Who may read the lab's own data: a contributor reads only what the public report shows.
MEMBERS = ("admin", "partner", "viewer")


@dataclass(frozen=True)
class Scope:
    """Who is asking, and so what they may see and change; and which challenge they are
    looking at (`challenge_id`, None: the one running today), whose dates bound the results
    they read (`period_from`, `period_to`): results belong to their challenge."""

    actor: str
    role: str = "admin"
    organisation_id: int | None = None
    organisation: str | None = None
    account_id: int | None = None
    session_version: int = 0
    challenge_id: int | None = None
    period_from: dt.date | None = None
    period_to: dt.date | None = None

    @classmethod
    def admin(cls, actor: str) -> Scope:
        return cls(actor=actor, role="admin")

    def viewing(self, challenge: dict | None) -> Scope:
        """The same person looking at one challenge (its ideas, cycles, learning, and the
        results of its dates)."""
        if challenge is None:
            return self
        return dataclasses.replace(self, challenge_id=int(challenge["id"]),
                                   period_from=challenge["start_date"],
                                   period_to=challenge["end_date"])

    def series_reader(self) -> Scope:
        """Which results series this person reads, and nothing else about them: the lab
        admin and the viewers read every organisation's series, a partner its own
        organisation's, a contributor none of them; all within the dates of the challenge
        they look at. A cache of series (ids and numbers, no names or texts) keyed on it is
        shared by the people who read the same series, instead of one per person and
        session: the first of the lab team to open the Overview after a change charts every
        series for all of them."""
        if self.is_partner:
            role, organisation = "partner", self.organisation_id
        else:
            role, organisation = ("contributor" if self.is_contributor else "viewer"), None
        return Scope(actor="", role=role, organisation_id=organisation,
                     challenge_id=self.challenge_id, period_from=self.period_from,
                     period_to=self.period_to)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_partner(self) -> bool:
        return self.role == "partner"

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "partner")

    @property
    def is_contributor(self) -> bool:
        """A person with lived experience or a community member: reads what the public
        report shows, sends ideas, comments on ideas; never an organisation's data."""
        return self.role not in MEMBERS

    @property
    def org_ids(self) -> list[int] | None:
        """The organisations whose named data this user may see; None means all."""
        if self.is_contributor:
            return []
        return [self.organisation_id] if self.is_partner else None

    def sees(self, organisation_id) -> bool:
        if self.is_contributor:
            return False
        return not self.is_partner or organisation_id == self.organisation_id

    def require_member(self, what: str) -> None:
        """Refuse a contributor (anyone not of the lab team, a partner or a viewer) the lab's
        own data: they read what the public report shows, and nothing else."""
        if self.is_contributor:
            raise PermissionDenied(f"Contributors read what the lab shares in public; {what} "
                                   "is for the lab team and its partners.")

    def require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise PermissionDenied(f"Only the lab admin may {what} (you are signed in as "
                                   f"{ROLES.get(self.role, self.role).lower()}).")

    def require_org_write(self, organisation_id: int | None, what: str) -> None:
        if self.is_admin:
            return
        if self.is_partner and organisation_id == self.organisation_id:
            return
        if self.is_partner:
            raise PermissionDenied(f"You may {what} only for {self.organisation}.")
        if self.is_contributor:
            raise PermissionDenied(f"Contributors send ideas and comment on them; they may not "
                                   f"{what}.")
        raise PermissionDenied(f"Viewers may look and export but not {what}.")
