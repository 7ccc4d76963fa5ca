"""Issue 24, item 5: mail that goes out, delivered to a real SMTP server on loopback
(aiosmtpd, started here): each account's own digest and each partner's reminder, under the
same disclosure rules as the app; failures retried and logged; opting out; the schedule."""

from __future__ import annotations

import datetime as dt
import email
import os
import subprocess
import sys
from email import policy

import pytest
import warm_start
from app_server import free_port
from conftest import PASSWORD, ROOT, add_role_accounts

from tracker import clock
from tracker.access import auth
from tracker.community import comments, mail
from tracker.community.comments import Topic
from tracker.errors import InputError
from tracker.records import reader_view, repo
from tracker.storage.db import Database


class Inbox:
    """What the SMTP server received: (recipients, the message parsed)."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
def lab(demo_path):
    """The demo with accounts: the lab admin 'boss' (no e-mail), partners 'pp_user' (Peer
    Pathways) and 'kv_user' (Kindred Voices), the viewer 'lead', a contributor; a lab
    comment that mentions the contributor."""
    with Database(demo_path) as db:
        roles = add_role_accounts(db)
        orgs = roles["orgs"]
        auth.add_user(db, roles["admin"], username="kv_user", role="partner",
                      password=PASSWORD, organisation_id=int(orgs["Kindred Voices (demo)"]),
                      email="kv@example.org")
        auth.add_user(db, roles["admin"], username="jo.community", role="contributor",
                      password=PASSWORD, email="jo@example.org")
        idea = int(repo.list_ideas(db, repo.get_challenge(db)["id"])["id"].iloc[0])
        comments.post(db, roles["admin"], Topic.idea(idea), "@jo.community thank you for the "
                      "idea of a call; we are testing it.")
        consents = reader_view.consents(db)
        hidden = consents.loc[~consents["named_to_partners"].astype(bool), "name"].tolist()
        contacts = repo.list_organisations(db, roles["admin"])["contact_name"].dropna().tolist()
    return {"path": demo_path, "hidden": hidden, "contacts": contacts}


def _cli(*args, env: dict) -> subprocess.CompletedProcess:
    run_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return warm_start.run([sys.executable, "-m", "tracker", *args], cwd=ROOT, env=run_env,
                          capture_output=True, text=True, timeout=300)


def _text_and_html(message) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",)).get_content()
    rich = message.get_body(preferencelist=("html",)).get_content()
    return plain, rich


def test_digest_send_mails_each_account_its_own_digest(smtp_server, lab):
    inbox, url = smtp_server
    since = (clock.today() - dt.timedelta(days=60)).isoformat()
    done = _cli("digest", "--since", since, "--send", "--db", str(lab["path"]),
                env={"TRACKER_SMTP": url, "TRACKER_MAIL_FROM": "lab@example.org"})
    assert done.returncode == 0, done.stderr
    assert "4 of 4 sent" in done.stdout and "Traceback" not in done.stderr
    addressed = sorted(a for rcpt, _ in inbox.messages for a in rcpt)
    assert addressed == ["jo@example.org", "kv@example.org", "lead@example.org",
                         "pp@example.org"]  # the lab admin has no e-mail address
    for address in ("pp@example.org", "kv@example.org"):
        [message] = inbox.to(address)
        plain, rich = _text_and_html(message)
        assert message["From"] == "lab@example.org" and "What's new since" in plain
        for secret in lab["hidden"] + lab["contacts"]:
            assert secret not in plain and secret not in rich, (address, secret)
        assert "<img" not in rich and "http://" not in rich and "https://" not in rich
    [viewer] = inbox.to("lead@example.org")
    assert any(name in _text_and_html(viewer)[0] for name in lab["hidden"])  # not blind
    [contributor] = inbox.to("jo@example.org")
    plain, rich = _text_and_html(contributor)
    assert "thank you for the idea of a call" in plain and "For you" in rich
    assert "What's new since" not in plain  # the lab's news is for the lab and partners
    for secret in lab["hidden"] + lab["contacts"] + ["pp_user", "kv_user"]:
        assert secret not in plain, secret


def test_remind_send_mails_each_partner_its_own_overdue_results(smtp_server, lab):
    inbox, url = smtp_server
    later = (clock.today() + dt.timedelta(days=30)).isoformat()
    env = {"TRACKER_SMTP": url, "TRACKER_TODAY": later}
    dry = _cli("remind", "--db", str(lab["path"]), env=env)
    assert dry.returncode == 0 and "2 reminders would be sent" in dry.stdout, dry.stdout
    assert inbox.messages == []
    done = _cli("remind", "--send", "--db", str(lab["path"]), env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(a for rcpt, _ in inbox.messages for a in rcpt) == ["kv@example.org",
                                                                     "pp@example.org"]
    [reminder] = inbox.to("pp@example.org")
    plain, rich = _text_and_html(reminder)
    assert reminder["Subject"] == "Results overdue for Peer Pathways (demo)"
    assert "the period of" in plain
    for other in ("Kindred", *lab["hidden"]):
        assert other not in plain and other not in rich


def test_a_failed_send_is_retried_logged_and_said(lab, monkeypatch):
    dead = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    since = (clock.today() - dt.timedelta(days=30)).isoformat()
    done = _cli("digest", "--since", since, "--send", "--db", str(lab["path"]),
                env={"TRACKER_SMTP": dead, "TRACKER_MAIL_RETRY_WAIT": "0.01"})
    assert done.returncode == 1
    assert "Not sent to pp_user: the SMTP server did not answer (connection refused)" in \
        done.stderr and "Traceback" not in done.stderr
    with Database(lab["path"]) as db:
        logged = mail.log(db)
    assert set(logged["status"]) == {"failed"} and set(logged["attempts"]) == {mail.ATTEMPTS}


def test_opting_out_and_the_schedule(smtp_server, lab, monkeypatch):
    inbox, url = smtp_server
    monkeypatch.setenv("TRACKER_SMTP", url)
    with Database(lab["path"]) as db:
        pp = auth.scope_of_account(db, "pp_user")
        mail.set_preference(db, pp, "digest", False)
        admin = auth.scope_of_account(db, "boss")
        with pytest.raises(InputError, match="day of the month from 1 to 28"):
            mail.set_schedule(db, admin, digest_day=31)
        with pytest.raises(InputError):
            mail.set_schedule(db, pp, digest_day=1)
        mail.set_schedule(db, admin, digest_day=1, reminder_weekday=None,
                          sender_address="lab@example.org")
        now = dt.datetime.combine(clock.today(), dt.time(9))
        assert mail.due(db, now) == [("digest", f"{now:%Y-%m}")]
        said = mail.run_due(db, now)
        assert said and said[0].startswith(f"digest {now:%Y-%m}: ")
        assert mail.run_due(db, now) == []  # claimed: sent once
    addressed = {a for rcpt, _ in inbox.messages for a in rcpt}
    assert "pp@example.org" not in addressed and "kv@example.org" in addressed


def test_the_smtp_address_is_read_and_a_wrong_one_is_said():
    server = mail.parse("smtp://lab%40nhs.net:p%40ss@mail.example.org:587?starttls=1")
    assert (server.host, server.port, server.user, server.password, server.starttls) == (
        "mail.example.org", 587, "lab@nhs.net", "p@ss", True)
    assert "p@ss" not in server.shown and "p@ss" not in repr(server)
    assert mail.parse("smtps://mail.example.org").port == 465
    for wrong in ("http://mail.example.org", "mail.example.org", "smtp://"):
        with pytest.raises(InputError, match="TRACKER_SMTP should look like"):
            mail.parse(wrong)
