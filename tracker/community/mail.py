"""Mail that goes out: each person's digest (what is new in the lab as they may read it, and
what is for them: mentions, replies, what became of the ideas they sent), and reminders to
partner accounts whose organisation's results are overdue.

- The SMTP server is named by `TRACKER_SMTP`: `smtp://user:password@host:587?starttls=1`
  (or `smtps://...:465`); the sender by the lab admin's setting, else `TRACKER_MAIL_FROM`.
- Each message is plain text with an HTML alternative, built from what its reader may read
  (the digest of `tracker.learning.whats_new` in their scope; For you as they read it). No
  image, no link to follow, nothing that reports back: no tracking.
- A failed send is tried `ATTEMPTS` times in all, then recorded as failed in `mail_log`
  (which the Admin → Mail page shows); it never stops the other messages or a page.
- Each person may opt out of each kind (`mail_preference`).
- The app sends both on the lab admin's schedule (`mail_settings`: a day of the month for
  the digest, a weekday for reminders). A run is claimed in `mail_run` before it sends, so
  several app servers on one database send it once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import os
import smtplib
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd

from tracker import clock
from tracker.access import auth
from tracker.access.scope import Scope
from tracker.community import comments, submissions
from tracker.errors import InputError
from tracker.intake import templates
from tracker.learning import whats_new
from tracker.records import repo
from tracker.storage.db import Database
from tracker.storage.store import _audit

ENV, FROM_ENV = "TRACKER_SMTP", "TRACKER_MAIL_FROM"
KINDS = {"digest": "The digest: what is new in the lab, and what is for you",
         "reminder": "Reminders when your organisation's results are overdue"}
ATTEMPTS = 3
RETRY_WAIT = float(os.environ.get("TRACKER_MAIL_RETRY_WAIT", "2"))  # seconds, doubling
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    tls: bool = False  # smtps: TLS from the first byte

    @property
    def shown(self) -> str:
        """The server as it may be printed: never the password."""
        who = f"{self.user}@" if self.user else ""
        how = " (TLS)" if self.tls else " (STARTTLS)" if self.starttls else ""
        return f"{who}{self.host}:{self.port}{how}"


def parse(url: str) -> Smtp:
    """`smtp://user:password@host:587?starttls=1` as a server; a wrong one said in words."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise InputError(f"{ENV} should look like smtp://user:password@host:587?starttls=1 "
                         "(or smtps://... for TLS from the start); it names no SMTP server.")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise InputError(f"{ENV} has a port that is not a number.") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return Smtp(host=parts.hostname, port=port,
                user=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                starttls=query.get("starttls", "0").lower() in ("1", "true", "yes"),
                tls=parts.scheme == "smtps")


def configured() -> Smtp | None:
    given = os.environ.get(ENV, "").strip()
    return parse(given) if given else None


def sender(db: Database, smtp: Smtp | None = None) -> str:
    found = db.scalar("SELECT sender FROM mail_settings WHERE id = 1")
    if isinstance(found, str) and found.strip():
        return found.strip()
    given = os.environ.get(FROM_ENV, "").strip()
    if given:
        return given
    return f"improvement-lab-tracker@{(smtp.host if smtp else 'localhost')}"


# --------------------------------------------------------------------------- settings


def settings(db: Database) -> dict:
    found = db.read("SELECT * FROM mail_settings WHERE id = 1")
    if found.empty:
        return {"digest_day": None, "reminder_weekday": None, "sender": None}
    row = found.iloc[0]
    return {k: (None if pd.isna(row[k]) else (int(row[k]) if k != "sender" else row[k]))
            for k in ("digest_day", "reminder_weekday", "sender")}


def set_schedule(db: Database, scope: Scope, *, digest_day=None, reminder_weekday=None,
                 sender_address=None) -> None:
    """The lab admin's schedule: the digest on a day of the month (1 to 28, None: not sent),
    reminders on a weekday (0 Monday to 6 Sunday, None: not sent), and the sender."""
    from tracker.storage.store import _Checks

    scope.require_admin("set when mail goes out")
    c = _Checks()
    if digest_day is not None and not (isinstance(digest_day, int) and 1 <= digest_day <= 28):
        c.problems.append("The digest's day is a day of the month from 1 to 28.")
    if reminder_weekday is not None and not (isinstance(reminder_weekday, int)
                                             and 0 <= reminder_weekday <= 6):
        c.problems.append("The reminders' day is a day of the week.")
    address = c.email(sender_address, "Sender address") if sender_address else None
    c.raise_if_any()
    with db.transaction() as cur:
        cur.execute("DELETE FROM mail_settings WHERE id = 1")
        cur.execute("INSERT INTO mail_settings (id, digest_day, reminder_weekday, sender,"
                    " changed_by, changed_at) VALUES (1, ?, ?, ?, ?, ?)",
                    [digest_day, reminder_weekday, address, scope.actor, clock.now()])
        _audit(cur, scope.actor, "update", "mail_settings", 1, None,
               {"digest_day": digest_day, "reminder_weekday": reminder_weekday,
                "sender": address})


def opted_out(db: Database, account_id: int) -> set[str]:
    found = db.read("SELECT kind FROM mail_preference WHERE account_id = ? AND opted_out",
                    [int(account_id)])
    return set(found["kind"])


def set_preference(db: Database, scope: Scope, kind: str, receive: bool) -> None:
    """Each person opts in or out of each kind of mail, for their own account."""
    if kind not in KINDS:
        raise InputError("That is not a kind of mail the tracker sends.")
    if scope.account_id is None:
        raise InputError("Mail goes to accounts with an e-mail address; local mode has none.")
    with db.transaction() as cur:
        cur.execute("DELETE FROM mail_preference WHERE account_id = ? AND kind = ?",
                    [scope.account_id, kind])
        cur.execute("INSERT INTO mail_preference (account_id, kind, opted_out, changed_at)"
                    " VALUES (?, ?, ?, ?)", [scope.account_id, kind, not receive, clock.now()])
        _audit(cur, scope.actor, "update", "mail_preference", scope.account_id, None,
               {"kind": kind, "receive": bool(receive)})


# --------------------------------------------------------------------------- messages


@dataclass
class Outgoing:
    account_id: int
    username: str
    address: str
    subject: str
    text: str
    html: str


def _recipients(db: Database, kind: str) -> list[tuple[Scope, str]]:
    """(scope, address) of every enabled account with an e-mail that did not opt out."""
    found = db.read("SELECT a.username, a.email FROM account a WHERE a.email IS NOT NULL"
                    " AND a.disabled_at IS NULL AND NOT EXISTS (SELECT 1 FROM mail_preference"
                    " p WHERE p.account_id = a.id AND p.kind = ? AND p.opted_out)"
                    " ORDER BY a.username", [kind])
    out = []
    for username, address in zip(found["username"], found["email"], strict=True):
        scope = auth.scope_of_account(db, username)
        if scope is not None:
            out.append((scope, address))
    return out


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title)}</title></head><body style=\"font-family: Arial, sans-serif;"
            f" max-width: 42em\">{body}</body></html>")


def _for_you_part(db: Database, scope: Scope, since: dt.datetime) -> tuple[list[str], str]:
    """What is for this person since `since`, as text lines and HTML."""
    lines, parts = [], []
    items = comments.for_you(db, scope)
    items = items[pd.to_datetime(items["written_at"]) >= pd.Timestamp(since)]
    for row in items.to_dict("records"):
        said = f"{row['author']} {row['why']}: {row['text']}"
        lines.append(f"- {said}")
        parts.append(f"<li>{html.escape(said)}</li>")
    decided = submissions.decided_since(db, scope, since)
    for row in decided.to_dict("records"):
        said = f"The idea you sent ({row['what_to_try'][:120]}): {row['status_words'].lower()}"
        if isinstance(row["reason"], str) and row["reason"]:
            said += f". The lab team's reason: {row['reason']}"
        lines.append(f"- {said}")
        parts.append(f"<li>{html.escape(said)}</li>")
    body = f"<h2>For you</h2><ul>{''.join(parts)}</ul>" if parts else ""
    return lines, body


def digest_messages(db: Database, since: dt.date, *, challenge_id: int | None = None,
                    smtp: Smtp | None = None) -> list[Outgoing]:
    """Each account's own digest since `since`: what is new in the lab as that account may
    read it (a contributor: only what is for them), and what is for them."""
    challenge = repo.get_challenge(db, challenge_id)
    if challenge is None:
        raise InputError("There is no challenge yet, so there is nothing to send.")
    start = dt.datetime.combine(since, dt.time())
    out = []
    with tempfile.TemporaryDirectory(prefix="tracker-digest-") as folder:
        for scope, address in _recipients(db, "digest"):
            scope = scope.viewing(challenge)
            lines, mine = _for_you_part(db, scope, start)
            if scope.is_contributor:
                if not lines:
                    continue
                subject = f"For you from the improvement lab, since {since:%d %B %Y}"
                text = "\n".join([subject, "", *lines, ""])
                body = _page(subject, f"<h1>{html.escape(subject)}</h1>{mine}")
            else:
                md = whats_new.digest(db, scope, since, Path(folder) / "d.md").read_text(
                    encoding="utf-8")
                page = whats_new.digest(db, scope, since, Path(folder) / "d.html").read_text(
                    encoding="utf-8")
                subject = md.splitlines()[0].lstrip("# ").strip()
                text = md + ("\n## For you\n\n" + "\n".join(lines) + "\n" if lines else "")
                body = page.replace("</body>", f"{mine}</body>", 1) if mine else page
            out.append(Outgoing(scope.account_id, scope.actor, address, subject,
                                text + _footer(), body.replace("</body>", _footer_html()
                                                              + "</body>", 1)))
    return out


def reminder_messages(db: Database, *, today: dt.date | None = None) -> list[Outgoing]:
    """Each partner account whose organisation has results overdue: which measures and
    periods, as the partner reads their names. Nobody else is reminded."""
    today = today or clock.today()
    out = []
    for scope, address in _recipients(db, "reminder"):
        if not scope.is_partner:
            continue
        rows = templates.entry_rows(db, scope, scope.organisation, today=today)
        late = rows[rows["due"] == "overdue"] if len(rows) else rows
        if late.empty:
            continue
        subject = f"Results overdue for {scope.organisation}"
        items = [f"{r['measure']}: the period of {pd.Timestamp(r['period']):%d %b %Y}"
                 for r in late.to_dict("records")]
        text = "\n".join([subject, "", "The lab has no result yet for:", "",
                          *[f"- {i}" for i in items], "",
                          "Send them on the Enter results or Upload results page of the "
                          "tracker, or through your organisation's system.", ""])
        body = _page(subject, f"<h1>{html.escape(subject)}</h1><p>The lab has no result yet "
                     "for:</p><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items)
                     + "</ul><p>Send them on the Enter results or Upload results page of the "
                     "tracker, or through your organisation's system.</p>")
        out.append(Outgoing(scope.account_id, scope.actor, address, subject,
                            text + _footer(), body.replace("</body>", _footer_html()
                                                           + "</body>", 1)))
    return out


def _footer() -> str:
    return ("\n--\nSent by the improvement lab tracker. To stop this kind of mail, open For "
            "you in the tracker and untick it under 'Mail you receive'.\n")


def _footer_html() -> str:
    return ("<hr><p style=\"color:#555\">Sent by the improvement lab tracker. To stop this "
            "kind of mail, open For you in the tracker and untick it under 'Mail you "
            "receive'.</p>")


# --------------------------------------------------------------------------- sending


@dataclass
class Sent:
    sent: int = 0
    failed: list[str] = field(default_factory=list)  # usernames, with why


def _message(item: Outgoing, from_address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = item.address
    message["Subject"] = item.subject.replace("\n", " ")[:200]
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(item.text)
    message.add_alternative(item.html, subtype="html")
    return message


def _connect(smtp: Smtp) -> smtplib.SMTP:
    if smtp.tls:
        server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=20,
                                  context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=20)
        if smtp.starttls:
            server.starttls(context=ssl.create_default_context())
    if smtp.user:
        server.login(smtp.user, smtp.password or "")
    return server


def send(db: Database, smtp: Smtp, kind: str, items: list[Outgoing]) -> Sent:
    """Send each message, trying each up to `ATTEMPTS` times (waiting `RETRY_WAIT`, then
    twice as long); log every outcome. A failure never stops the others."""
    done = Sent()
    from_address = sender(db, smtp)
    server = None
    for item in items:
        error = None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if server is None:
                    server = _connect(smtp)
                server.send_message(_message(item, from_address))
                error = None
                break
            except (OSError, smtplib.SMTPException) as exc:
                error = _words(exc)
                if server is not None:
                    with contextlib.suppress(OSError):
                        server.close()
                server = None
                if attempt < ATTEMPTS:
                    time.sleep(RETRY_WAIT * 2 ** (attempt - 1))
        with db.transaction() as cur:
            cur.execute("INSERT INTO mail_log (kind, account_id, subject, status, attempts,"
                        " error, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [kind, item.account_id, item.subject[:200],
                         "failed" if error else "sent", attempt, error, clock.now()])
        if error:
            done.failed.append(f"{item.username}: {error}")
        else:
            done.sent += 1
    if server is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            server.quit()
    return done


def _words(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the SMTP server refused the user name or password"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the SMTP server refused the address"
    if isinstance(exc, ConnectionRefusedError):
        return "the SMTP server did not answer (connection refused)"
    if isinstance(exc, TimeoutError):
        return "the SMTP server did not answer in time"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def log(db: Database, limit: int = 200) -> pd.DataFrame:
    return db.read("SELECT l.sent_at, l.kind, a.username, l.subject, l.status, l.attempts, l.error"
                   " FROM mail_log l LEFT JOIN account a ON a.id = l.account_id"
                   f" ORDER BY l.id DESC LIMIT {int(limit)}")


# --------------------------------------------------------------------------- the schedule


def due(db: Database, now: dt.datetime) -> list[tuple[str, str]]:
    """The scheduled runs due now and not yet claimed: ("digest", "2026-12") on or after
    the digest's day of the month; ("reminder", "2026-W49") on the reminders' weekday."""
    chosen = settings(db)
    wanted = []
    today = now.date()
    if chosen["digest_day"] and today.day >= chosen["digest_day"]:
        wanted.append(("digest", f"{today:%Y-%m}"))
    if chosen["reminder_weekday"] is not None and today.weekday() == chosen["reminder_weekday"]:
        year, week, _ = today.isocalendar()
        wanted.append(("reminder", f"{year}-W{week:02d}"))
    done = db.read("SELECT kind, period FROM mail_run")
    claimed = set(zip(done["kind"], done["period"], strict=True))
    return [w for w in wanted if w not in claimed]


def _claim(db: Database, kind: str, period: str) -> bool:
    try:
        with db.transaction() as cur:
            if cur.execute("SELECT 1 FROM mail_run WHERE kind = ? AND period = ?",
                           [kind, period]).fetchone():
                return False
            cur.execute("INSERT INTO mail_run (kind, period, started_at) VALUES (?, ?, ?)",
                        [kind, period, clock.now()])
    except Exception:  # noqa: BLE001 - another server claimed it first (a lost race)
        return False
    return True


def run_due(db: Database, now: dt.datetime | None = None) -> list[str]:
    """Send what the schedule says is due (the app's background thread calls this); returns
    what it did, in words. Without TRACKER_SMTP it sends nothing."""
    smtp = configured()
    if smtp is None:
        return []
    now = now or clock.now()
    said = []
    for kind, period in due(db, now):
        if not _claim(db, kind, period):
            continue
        if kind == "digest":
            last = now.date().replace(day=1) - dt.timedelta(days=1)
            items = digest_messages(db, last.replace(day=1), smtp=smtp)
        else:
            items = reminder_messages(db, today=now.date())
        result = send(db, smtp, kind, items)
        with db.transaction() as cur:
            cur.execute("UPDATE mail_run SET sent = ?, failed = ? WHERE kind = ? AND period = ?",
                        [result.sent, len(result.failed), kind, period])
        said.append(f"{kind} {period}: {result.sent} sent, {len(result.failed)} failed")
    return said


class MailSchedule:
    """A thread in each app server that sends what the schedule says is due, looking every
    `every` seconds. Any failure is kept for the Admin → Mail page (`last_error`) and never
    reaches a page; a run claimed by another server is left to it."""

    def __init__(self, db: Database, every: float = 600.0):
        import threading

        self.db, self.every = db, every
        self.last_error: str | None = None
        self.last_done: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracker-mail", daemon=True)

    def start(self) -> MailSchedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                done = run_due(self.db)
                if done:
                    self.last_done = done
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - said on the Admin → Mail page
                self.last_error = str(exc)
