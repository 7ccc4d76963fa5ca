"""Partner organisations: add, edit, retire (never deleted while anything refers to them)."""

from __future__ import annotations

import pandas as pd

from tracker import clock, vocab
from tracker.access.scope import Scope
from tracker.storage.db import Database
from tracker.storage.store import (
    _audit,
    _Checks,
    _insert,
    _unique_name,
    _update,
)

# --------------------------------------------------------------------------- organisations


def list_organisations(db: Database, scope: Scope, include_retired: bool = True) -> pd.DataFrame:
    """The organisations this user may see by name (a partner: its own only). The contact
    (a person's name and e-mail) is the lab admin's only (docs/sharing.md): for anyone else
    both columns are empty, read so, never filtered later."""
    scope.require_member("the list of organisations")
    own = scope.organisation_id if scope.is_partner else None
    return db.read(
        "SELECT o.id, o.name, o.kind, o.region,"
        " CASE WHEN ? THEN o.contact_name END AS contact_name,"
        " CASE WHEN ? THEN o.contact_email END AS contact_email, o.retired_at,"
        " (SELECT count(*) FROM result r WHERE r.organisation_id = o.id) AS results,"
        " (SELECT count(*) FROM cycle c WHERE c.organisation_id = o.id) AS cycles"
        " FROM organisation o WHERE (? OR o.retired_at IS NULL) AND (?::INTEGER IS NULL"
        " OR o.id = ?) ORDER BY o.name",
        [scope.is_admin, scope.is_admin, include_retired, own, own],
    )


def _org_fields(cur, c, name, kind, region, contact_name, contact_email, exclude_id=None):
    fields = {
        "name": c.text(name, "Organisation name"),
        "kind": c.choice(kind, "Kind of organisation", vocab.ORG_KINDS),
        "region": c.text(region, "Region", required=False),
        "contact_name": c.text(contact_name, "Contact name", required=False),
        "contact_email": c.email(contact_email, "Contact e-mail"),
    }
    if fields["name"]:
        _unique_name(cur, "organisation", "name", fields["name"], "Organisation name",
                     c.problems, exclude_id)
    return fields


def add_organisation(db: Database, scope: Scope, *, name, kind, region=None, contact_name=None,
                     contact_email=None) -> int:
    scope.require_admin("add organisations")
    c = _Checks()
    with db.transaction() as cur:
        fields = _org_fields(cur, c, name, kind, region, contact_name, contact_email)
        c.raise_if_any()
        new_id = _insert(cur, "organisation", fields)
        _audit(cur, scope.actor, "create", "organisation", new_id, None, fields)
    return new_id


def update_organisation(db: Database, scope: Scope, org_id: int, *, name, kind, region=None,
                        contact_name=None, contact_email=None) -> dict:
    scope.require_admin("edit organisations")
    c = _Checks()
    with db.transaction() as cur:
        fields = _org_fields(cur, c, name, kind, region, contact_name, contact_email, org_id)
        c.raise_if_any()
        return _update(cur, scope.actor, "organisation", org_id, fields, "organisation")


def set_organisation_retired(db: Database, scope: Scope, org_id: int, retired: bool) -> None:
    """Retire (or bring back) an organisation. Its results and cycles are kept: nothing that
    refers to it is ever deleted."""
    scope.require_admin("retire organisations")
    with db.transaction() as cur:
        _update(cur, scope.actor, "organisation", org_id,
                {"retired_at": clock.now() if retired else None}, "organisation")
