"""Discussion: comment threads on an idea, a cycle, an idea's learning record, or one
measure's chart at one organisation, with replies and @mentions of accounts.

A comment is read by exactly those who may read what it is about (`may_read`): the lab team
and viewers everything; a partner the ideas' threads, and its own cycles' and charts'
threads, and the learning records of the ideas it tests. Who wrote it reads as the reader may
see them (another organisation by its consented name or its anonymous label, never its
people's names), and its text passes the same last check as every shared text
(`disclosure.Audience.passage`), but for the lab team and the writer's own organisation.

Plain text only: the pages show it as text. A comment is at most `MAX_COMMENT` characters,
and one account writes at most `RATE_COUNT` in `RATE_WINDOW`. The writer may edit it for
`EDIT_WINDOW`; the writer or the lab admin may delete it: its text goes, its row and its
audit entries stay. The audit log records that a comment was written, edited or deleted,
never its text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from tracker import clock
from tracker.access.disclosure import Audience
from tracker.access.scope import Scope
from tracker.errors import InputError, PermissionDenied
from tracker.records import reader_view
from tracker.storage.db import Database
from tracker.storage.store import _audit, _Checks, _insert

MAX_COMMENT = 2000
EDIT_WINDOW = dt.timedelta(minutes=15)
RATE_COUNT, RATE_WINDOW = 10, dt.timedelta(minutes=10)
FOR_YOU_DAYS = 60
ABOUT = {"idea": "idea", "cycle": "cycle", "learning": "learning record", "chart": "chart"}
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][A-Za-z0-9._\-]*[A-Za-z0-9]|[A-Za-z0-9])")
LAB_TEAM = "lab team"


@dataclass(frozen=True)
class Topic:
    """What a thread is about. Build it with the class methods; a cycle's organisation is
    read from the database, never taken from the caller."""

    about: str
    idea_id: int | None = None
    cycle_id: int | None = None
    measure_id: int | None = None
    organisation_id: int | None = None

    @classmethod
    def idea(cls, idea_id: int) -> Topic:
        return cls("idea", idea_id=int(idea_id))

    @classmethod
    def learning(cls, idea_id: int) -> Topic:
        return cls("learning", idea_id=int(idea_id))

    @classmethod
    def cycle(cls, db: Database, cycle_id: int) -> Topic:
        found = db.read("SELECT idea_id, organisation_id FROM cycle WHERE id = ?",
                        [int(cycle_id)])
        if found.empty:
            raise InputError("That cycle no longer exists; reload the page.")
        return cls("cycle", idea_id=int(found["idea_id"].iloc[0]), cycle_id=int(cycle_id),
                   organisation_id=int(found["organisation_id"].iloc[0]))

    @classmethod
    def chart(cls, measure_id: int, organisation_id: int) -> Topic:
        return cls("chart", measure_id=int(measure_id), organisation_id=int(organisation_id))

    def where_sql(self) -> tuple[str, list]:
        """The thread's rows: SQL (on table alias c) and its parameters."""
        if self.about in ("idea", "learning"):
            return "c.about = ? AND c.idea_id = ?", [self.about, self.idea_id]
        if self.about == "cycle":
            return "c.about = 'cycle' AND c.cycle_id = ?", [self.cycle_id]
        return ("c.about = 'chart' AND c.measure_id = ? AND c.organisation_id = ?",
                [self.measure_id, self.organisation_id])


def _topic_of(row) -> Topic:
    def num(value):
        return None if value is None or pd.isna(value) else int(value)

    return Topic(row["about"], idea_id=num(row["idea_id"]), cycle_id=num(row["cycle_id"]),
                 measure_id=num(row["measure_id"]), organisation_id=num(row["organisation_id"]))


# --------------------------------------------------------------------------- who may


def _tests_idea(db: Database, organisation_id, idea_id) -> bool:
    return bool(db.scalar("SELECT count(*) FROM cycle WHERE idea_id = ? AND organisation_id = ?",
                          [idea_id, organisation_id]))


def may_read(db: Database, scope: Scope, topic: Topic) -> bool:
    """May this person read the thread (and so be told of it)?"""
    if scope.role in ("admin", "viewer"):
        return True
    if scope.role != "partner":
        return topic.about == "idea"
    if topic.about == "idea":
        return True
    if topic.about == "learning":
        return _tests_idea(db, scope.organisation_id, topic.idea_id)
    return topic.organisation_id == scope.organisation_id


def may_write(db: Database, scope: Scope, topic: Topic) -> bool:
    """Viewers read and change nothing; everyone else comments where they may read."""
    return scope.role != "viewer" and may_read(db, scope, topic)


def _is_mine(scope: Scope, author, account_id) -> bool:
    if scope.account_id is not None:
        return account_id is not None and not pd.isna(account_id) and \
            int(account_id) == scope.account_id
    return author == scope.actor


# --------------------------------------------------------------------------- writing


def _mentioned(db: Database, cur, text: str, topic: Topic, problems: list) -> list[int]:
    """The accounts a text mentions (@username), each of whom may read the thread. A name
    that is no such account and one that may not read the thread get the same answer, so a
    mention cannot be used to learn who has an account."""
    from tracker.access import auth

    names = list(dict.fromkeys(m.group(1) for m in _MENTION.finditer(text or "")))
    ids = []
    for name in names:
        found = cur.execute("SELECT username FROM account WHERE lower(username) = lower(?)"
                            " AND disabled_at IS NULL", [name]).fetchone()
        person = auth.scope_of_account(db, found[0]) if found else None
        if person is None or not may_read(db, person, topic):
            problems.append(f"@{name} is not someone who can read this {ABOUT[topic.about]}, "
                            "so they could not be told: check the name, or write it without "
                            "the @.")
        elif person.account_id not in ids:
            ids.append(person.account_id)
    return ids


def _check_text(text) -> tuple[_Checks, str | None]:
    c = _Checks()
    body = c.text(text, "The comment", limit=MAX_COMMENT)
    return c, body


def post(db: Database, scope: Scope, topic: Topic, text, *, reply_to: int | None = None,
         at: dt.datetime | None = None) -> int:
    """Add a comment (or a reply to one in the same thread); returns its id. `at`, the time
    it was written, is for the demo (a story told over weeks); people write now."""
    if not may_write(db, scope, topic):
        raise PermissionDenied("You may not comment here: viewers read and change nothing, "
                               "and others comment only on what they may read.")
    c, body = _check_text(text)
    now = at or clock.now()
    with db.transaction() as cur:
        if reply_to is not None:
            where, params = topic.where_sql()
            parent = cur.execute(f"SELECT c.deleted_at FROM comment c WHERE c.id = ? AND {where}",
                                 [int(reply_to), *params]).fetchone()
            if parent is None:
                c.problems.append("The comment you are replying to is not in this thread; "
                                  "reload the page.")
            elif parent[0] is not None:
                c.problems.append("The comment you are replying to was deleted; write a new "
                                  "comment instead.")
        since = now - RATE_WINDOW
        recent = cur.execute(
            "SELECT count(*) FROM comment WHERE written_at > ? AND "
            + ("author_account_id = ?" if scope.account_id is not None else "author = ?"),
            [since, scope.account_id if scope.account_id is not None else scope.actor]
        ).fetchone()[0]
        if recent >= RATE_COUNT:
            c.problems.append(f"You have written {RATE_COUNT} comments in the last "
                              f"{int(RATE_WINDOW.total_seconds() // 60)} minutes; please wait "
                              "a few minutes before the next.")
        mentions = _mentioned(db, cur, body or "", topic, c.problems)
        c.raise_if_any()
        row = {"about": topic.about, "idea_id": topic.idea_id, "cycle_id": topic.cycle_id,
               "measure_id": topic.measure_id, "organisation_id": topic.organisation_id,
               "reply_to": None if reply_to is None else int(reply_to), "author": scope.actor,
               "author_account_id": scope.account_id, "author_role": scope.role,
               "author_organisation_id": scope.organisation_id if scope.is_partner else None,
               "body": body, "written_at": now}
        new_id = _insert(cur, "comment", row)
        for account_id in mentions:
            cur.execute("INSERT INTO comment_mention (comment_id, account_id) VALUES (?, ?)",
                        [new_id, account_id])
        _audit(cur, scope.actor, "create", "comment", new_id, None,
               {"about": topic.about, "reply_to": row["reply_to"], "characters": len(body),
                "mentions": len(mentions)})
    return new_id


def _own_row(cur, scope: Scope, comment_id: int) -> dict:
    found = cur.execute("SELECT * FROM comment WHERE id = ?", [int(comment_id)])
    values = found.fetchone()
    if values is None:
        raise InputError("That comment no longer exists; reload the page.")
    return dict(zip([d[0] for d in cur.description], values, strict=True))


def edit(db: Database, scope: Scope, comment_id: int, text) -> None:
    """The writer changes their comment, within `EDIT_WINDOW` of writing it."""
    c, body = _check_text(text)
    with db.transaction() as cur:
        row = _own_row(cur, scope, comment_id)
        if not _is_mine(scope, row["author"], row["author_account_id"]):
            raise PermissionDenied("Only the person who wrote a comment may edit it.")
        if row["deleted_at"] is not None:
            raise InputError("That comment was deleted; it cannot be edited.")
        if clock.now() - row["written_at"] > EDIT_WINDOW:
            raise InputError(f"A comment can be edited for {int(EDIT_WINDOW.seconds // 60)} "
                             "minutes after it is written; write a new comment (a reply) "
                             "instead.")
        topic = _topic_of(row)
        mentions = _mentioned(db, cur, body or "", topic, c.problems)
        c.raise_if_any()
        if body == row["body"]:
            return
        cur.execute("UPDATE comment SET body = ?, edited_at = ? WHERE id = ?",
                    [body, clock.now(), int(comment_id)])
        known = {r[0] for r in cur.execute("SELECT account_id FROM comment_mention"
                                           " WHERE comment_id = ?", [int(comment_id)]).fetchall()}
        for account_id in mentions:
            if account_id not in known:
                cur.execute("INSERT INTO comment_mention (comment_id, account_id) VALUES (?, ?)",
                            [int(comment_id), account_id])
        _audit(cur, scope.actor, "update", "comment", int(comment_id), None,
               {"edited": True, "characters": len(body)})


def delete(db: Database, scope: Scope, comment_id: int) -> None:
    """The writer or the lab admin deletes a comment: its text goes; the row stays (replies
    keep their place, "deleted" shows in its stead) and so does the audit entry."""
    with db.transaction() as cur:
        row = _own_row(cur, scope, comment_id)
        if not (scope.is_admin or _is_mine(scope, row["author"], row["author_account_id"])):
            raise PermissionDenied("Only the person who wrote a comment, or the lab admin, may "
                                   "delete it.")
        if row["deleted_at"] is not None:
            return
        cur.execute("UPDATE comment SET body = NULL, deleted_at = ?, deleted_by = ? WHERE id = ?",
                    [clock.now(), scope.actor, int(comment_id)])
        _audit(cur, scope.actor, "delete", "comment", int(comment_id), None, {"deleted": True})


# --------------------------------------------------------------------------- reading

WITHHELD = "(This comment is not shown to you: {why}.)"
DELETED = "(deleted)"


def audience(db: Database, scope: Scope) -> Audience:
    """The reader of comments: as for a learning record, except that the accounts the
    reader works with (the lab team's, their own organisation's; a viewer's: all) are
    people they may see named, so a reply that mentions one is not withheld."""
    accounts = db.read("SELECT username, email, role, organisation_id FROM account")
    if scope.is_partner:
        accounts = accounts[accounts["role"].eq("admin")
                            | accounts["organisation_id"].eq(scope.organisation_id)]
    elif scope.role != "viewer":  # the lab team's, and (a contributor) their own
        accounts = accounts[accounts["role"].eq("admin") | accounts["username"].eq(scope.actor)]
    known = [*accounts["username"], *accounts["email"].dropna()]
    return reader_view.audience_for(db, scope, known_people=known)


def _author_label(scope: Scope, a: Audience, author: str, author_org, org_names: dict,
                  role: str = "admin") -> str:
    """Who wrote it, as this reader may know them: a contributor is named to the lab team
    only; the lab team's people to those who work with them; another organisation by its
    consented name or its label, never its people."""
    if role not in ("admin", "partner"):
        return f"{author} (contributor)" if scope.is_admin else "a contributor"
    if author_org is None or pd.isna(author_org):
        return f"{author} ({LAB_TEAM})" if not scope.is_contributor else "the lab team"
    org = int(author_org)
    if scope.role in ("admin", "viewer") or (scope.is_partner and org == scope.organisation_id):
        return f"{author} ({org_names.get(org, 'an organisation')})"
    return a.label(org)  # another organisation: by consent, never its people


def _shown(db: Database, scope: Scope, frame: pd.DataFrame, a: Audience) -> pd.DataFrame:
    """Rows of `comment` (already ones the reader may read) as the reader sees them."""
    org_names = dict(db.read("SELECT id, name FROM organisation").itertuples(index=False))
    frame = frame.astype(object).where(frame.notna(), None)  # NA and NaT as None
    authors, bodies, withheld = [], [], []
    for row in frame.itertuples():
        authors.append(_author_label(scope, a, row.author, row.author_organisation_id,
                                     org_names, row.author_role))
        if row.deleted_at is not None:
            bodies.append(DELETED)
            withheld.append(False)
            continue
        own = scope.is_partner and row.author_organisation_id == scope.organisation_id
        why = None if (a.is_lab or own) else a.problem_in(row.body)
        if why:
            a.withheld.passages.append(f"A comment is withheld because {why}.")
        bodies.append(WITHHELD.format(why=why) if why else row.body)
        withheld.append(bool(why))
    now = clock.now()
    mine = [_is_mine(scope, r.author, r.author_account_id) for r in frame.itertuples()]
    alive = [d is None for d in frame["deleted_at"]]
    return pd.DataFrame({
        "id": [int(i) for i in frame["id"]],
        "reply_to": [None if r is None else int(r) for r in frame["reply_to"]],
        "author": authors,
        "text": bodies,
        "withheld": withheld,
        "written_at": list(frame["written_at"]),
        "edited": [e is not None for e in frame["edited_at"]],
        "deleted": [not x for x in alive],
        "may_edit": [m and al and now - w <= EDIT_WINDOW for m, al, w in
                     zip(mine, alive, frame["written_at"], strict=True)],
        "may_delete": [al and (m or scope.is_admin) for m, al in zip(mine, alive, strict=True)],
    })


def thread(db: Database, scope: Scope, topic: Topic) -> pd.DataFrame:
    """The thread as this reader reads it, in the order written: id, reply_to, author, text
    (withheld or deleted said in words), withheld, written_at, edited, deleted, may_edit,
    may_delete."""
    if not may_read(db, scope, topic):
        raise PermissionDenied("You may not read this discussion.")
    where, params = topic.where_sql()
    frame = db.read(f"SELECT c.* FROM comment c WHERE {where} ORDER BY c.written_at, c.id",
                    params)
    return _shown(db, scope, frame, audience(db, scope))


def ordered(thread_frame: pd.DataFrame) -> list[tuple[int, dict]]:
    """(depth, row) in reading order: each comment, then its replies (depth 1), oldest first.
    Replies to replies stand under the comment that began the thread."""
    rows = thread_frame.to_dict("records")
    by_id = {r["id"]: r for r in rows}

    def root(row):
        seen = set()
        while row["reply_to"] is not None and not pd.isna(row["reply_to"]) \
                and int(row["reply_to"]) in by_id and row["id"] not in seen:
            seen.add(row["id"])
            row = by_id[int(row["reply_to"])]
        return row["id"]

    roots = [r for r in rows if r["reply_to"] is None or pd.isna(r["reply_to"])
             or int(r["reply_to"]) not in by_id]
    replies: dict[int, list] = {}
    for r in rows:
        if r not in roots:
            replies.setdefault(root(r), []).append(r)
    out = []
    for r in roots:
        out.append((0, r))
        out.extend((1, reply) for reply in replies.get(r["id"], []))
    return out


# --------------------------------------------------------------------------- for you


def _challenge_filter(scope: Scope) -> tuple[str, list]:
    """Threads of the challenge the reader is looking at (a chart's thread belongs to every
    challenge, as its measure does)."""
    if scope.challenge_id is None:
        return "TRUE", []
    return ("(c.about = 'chart' OR c.idea_id IN (SELECT id FROM idea WHERE challenge_id = ?))",
            [scope.challenge_id])


def for_you(db: Database, scope: Scope) -> pd.DataFrame:
    """What the person should know of, newest first, from the last `FOR_YOU_DAYS` days:
    comments that mention them, replies to their comments, and new comments in threads they
    wrote in. Each: why, the comment as they may read it, and its thread (a `Topic`)."""
    if scope.account_id is None:
        mine_sql, me = "c2.author = ?", scope.actor
    else:
        mine_sql, me = "c2.author_account_id = ?", scope.account_id
    since = clock.now() - dt.timedelta(days=FOR_YOU_DAYS)
    in_challenge, cparams = _challenge_filter(scope)
    not_me = ("c.author_account_id IS DISTINCT FROM ?" if scope.account_id is not None
              else "c.author <> ?")
    frame = db.read(
        f"""SELECT c.*,
               CASE WHEN EXISTS (SELECT 1 FROM comment_mention m WHERE m.comment_id = c.id
                                 AND m.account_id = ?) THEN 'mentioned you'
                    WHEN EXISTS (SELECT 1 FROM comment c2 WHERE c2.id = c.reply_to
                                 AND {mine_sql}) THEN 'replied to you'
                    ELSE 'wrote in a discussion you joined' END AS why
            FROM comment c
            WHERE c.deleted_at IS NULL AND c.written_at >= ? AND {not_me} AND {in_challenge}
              AND (EXISTS (SELECT 1 FROM comment_mention m WHERE m.comment_id = c.id
                           AND m.account_id = ?)
                   OR EXISTS (SELECT 1 FROM comment c2 WHERE c2.about = c.about
                              AND c2.idea_id IS NOT DISTINCT FROM c.idea_id
                              AND c2.cycle_id IS NOT DISTINCT FROM c.cycle_id
                              AND c2.measure_id IS NOT DISTINCT FROM c.measure_id
                              AND c2.organisation_id IS NOT DISTINCT FROM c.organisation_id
                              AND {mine_sql} AND c2.written_at < c.written_at))
            ORDER BY c.written_at DESC, c.id DESC LIMIT 200""",
        [scope.account_id if scope.account_id is not None else -1, me, since, me, *cparams,
         scope.account_id if scope.account_id is not None else -1, me])
    return _with_topics(db, scope, frame)


def _with_topics(db: Database, scope: Scope, frame: pd.DataFrame) -> pd.DataFrame:
    topics = [_topic_of(r) for r in frame.to_dict("records")]
    keep = [may_read(db, scope, t) for t in topics]  # roles and organisations change
    frame = frame[pd.Series(keep, index=frame.index, dtype=bool)].reset_index(drop=True)
    topics = [t for t, k in zip(topics, keep, strict=True) if k]
    shown = _shown(db, scope, frame, audience(db, scope))
    return shown.assign(why=frame["why"].tolist() if "why" in frame else None, topic=topics)


def open_questions(db: Database, scope: Scope) -> pd.DataFrame:
    """For the lab team: threads begun by someone outside the lab that no one in the lab has
    answered yet, oldest first (the longest waiting)."""
    scope.require_admin("see the open questions")
    in_challenge, cparams = _challenge_filter(scope)
    frame = db.read(
        f"""SELECT c.*, 'asked' AS why FROM comment c
            WHERE c.reply_to IS NULL AND c.deleted_at IS NULL
              AND c.author_role <> 'admin' AND {in_challenge}
              AND NOT EXISTS (SELECT 1 FROM comment r WHERE r.reply_to = c.id
                              AND r.author_role = 'admin' AND r.deleted_at IS NULL)
            ORDER BY c.written_at, c.id""", cparams)
    return _with_topics(db, scope, frame)


def topic_label(topic: Topic, view: reader_view.ReaderView, cycles: pd.DataFrame | None = None
                ) -> str:
    """Where a thread is, in words the reader may read: "the idea 'Peer-led walking group'",
    "cycle 3 of 'Text reminders' at Hillview Surgery", "the chart of 'Attendance' at ..."."""
    a = view.audience
    if topic.about == "idea":
        return f"the idea '{view.idea_title(topic.idea_id)}'"
    if topic.about == "learning":
        return f"the learning record of '{view.idea_title(topic.idea_id)}'"
    if topic.about == "cycle":
        number = ""
        if cycles is not None and not cycles.empty:
            found = cycles[cycles["id"] == topic.cycle_id]
            if len(found):
                number = f"cycle {int(found['cycle_no'].iloc[0])} "
        return (f"{number or 'a cycle '}of '{view.idea_title(topic.idea_id)}' at "
                f"{a.label(topic.organisation_id)}")
    names = dict(zip(view.measures["id"].astype(int), view.measures["name"], strict=True))
    return (f"the chart of '{names.get(topic.measure_id, 'a measure')}' at "
            f"{a.label(topic.organisation_id)}")
