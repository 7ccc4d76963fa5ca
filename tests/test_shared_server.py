"""The shared tracker (issue 14): the command line beside the running app, and the results API
with organisation tokens. A real `streamlit run server.py` on a copy of the demo database, real
`python -m tracker` processes and real HTTP requests."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import duckdb
import pytest
import warm_start
from app_server import start_app, stop_app
from conftest import ROOT, table_counts

from tracker import clock
from tracker.access import auth
from tracker.commands import app_control
from tracker.errors import PermissionDenied
from tracker.intake import api_tokens, export, results_api
from tracker.records.repo import InputError
from tracker.storage.db import Database

ADMIN = auth.Scope.admin("test admin")
HILLVIEW = "Hillview Surgery (demo)"
RATE = "A&E attendances per 100 people supported"


def week(k: int) -> str:
    """The Monday k weeks before this week's (0: this week, which the demo has no result for
    yet; 1: the demo's last complete week), as the tracker's today says."""
    today = clock.today()
    return (today - dt.timedelta(days=today.weekday(), weeks=k)).isoformat()


def cli(*args, stdin: str | None = None, cwd=None, db=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if db is not None:
        env["TRACKER_DB"] = str(db)
    return warm_start.run([sys.executable, "-m", "tracker", *args], cwd=cwd or ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=300)


def results_file(rows: list[tuple], org: str = HILLVIEW) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["organisation", "measure", "period", "value", "numerator", "denominator"])
    for period, numerator, denominator in rows:
        writer.writerow([org, RATE, period, "", numerator, denominator])
    return out.getvalue().encode()


def post(url: str, body: bytes, token: str | None, query: str = "", headers=None):
    request = urllib.request.Request(
        f"{url}/tracker/api/results?file=results.csv{query}", data=body, method="POST",
        headers={**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


# --------------------------------------------------------------------------- tokens, in process


def test_tokens_are_made_by_the_admin_hashed_at_rest_audited_and_revoked(demo_db, tmp_path):
    token_id, secret = api_tokens.create(demo_db, ADMIN, organisation=" hillview surgery (DEMO)",
                                         label="EMIS nightly")
    assert secret.startswith("trk_") and len(secret) > 40
    scope = api_tokens.authenticate(demo_db, secret)
    assert scope.is_partner and scope.organisation == HILLVIEW
    assert f"API token {token_id}" in scope.actor
    listed = api_tokens.list_tokens(demo_db, ADMIN)
    assert listed["uses"].iloc[0] == 1 and listed["token"].iloc[0].endswith("…")
    # only the hash is kept: the secret is in no table, and not in the export either
    written = export.export_all(demo_db, ADMIN, tmp_path / "export")
    for path in written:
        assert secret not in path.read_text(encoding="utf-8", errors="replace")
    with demo_db.cursor() as cur:
        for (table,) in cur.execute("SELECT table_name FROM information_schema.tables"
                                    " WHERE table_schema = 'main'").fetchall():
            dump = str(cur.execute(f'SELECT * FROM "{table}"').fetchall())
            assert secret not in dump, table
    api_tokens.revoke(demo_db, ADMIN, token_id)
    assert api_tokens.authenticate(demo_db, secret) is None
    with pytest.raises(InputError, match="already revoked"):
        api_tokens.revoke(demo_db, ADMIN, token_id)
    actions = demo_db.read("SELECT action FROM audit_log WHERE entity = 'api_token'"
                           " ORDER BY id")["action"].tolist()
    assert actions == ["create", "revoke"]


def test_token_input_is_checked_and_only_the_admin_may_touch_tokens(demo_db):
    before = table_counts(demo_db)
    with pytest.raises(InputError) as refused:
        api_tokens.create(demo_db, ADMIN, organisation="Hillview Surgery", label="  ")
    text = " ".join(refused.value.problems)
    assert "No organisation is called 'Hillview Surgery'" in text and HILLVIEW in text
    assert "What the token is for" in text
    partner = auth.Scope(actor="p", role="partner", organisation_id=1, organisation="x")
    for attempt in (lambda: api_tokens.create(demo_db, partner, organisation=HILLVIEW,
                                              label="mine"),
                    lambda: api_tokens.list_tokens(demo_db, partner),
                    lambda: api_tokens.revoke(demo_db, partner, 1)):
        with pytest.raises(PermissionDenied):
            attempt()
    assert table_counts(demo_db) == before
    for guess in (None, "", "trk_guess", "x" * 500, "' OR 1=1 --"):
        assert api_tokens.authenticate(demo_db, guess) is None


def test_a_retired_organisations_token_stops_working(demo_db):
    from tracker.records import repo

    _, secret = api_tokens.create(demo_db, ADMIN, organisation=HILLVIEW, label="x")
    org_id = api_tokens.find_organisation(demo_db, HILLVIEW)["id"]
    repo.set_organisation_retired(demo_db, ADMIN, org_id, True)
    assert api_tokens.authenticate(demo_db, secret) is None
    with pytest.raises(InputError, match="is retired"):
        api_tokens.create(demo_db, ADMIN, organisation=HILLVIEW, label="y")


def test_the_api_stores_flagged_values_only_when_confirmed(demo_db):
    _, secret = api_tokens.create(demo_db, ADMIN, organisation=HILLVIEW, label="x")
    scope = api_tokens.authenticate(demo_db, secret)
    odd = results_file([(week(0), 900, 1)])  # 900 per 100 people: far from usual
    before = table_counts(demo_db)
    status, body = results_api.handle(demo_db, scope, odd, "odd.csv", commit=True,
                                      confirm=False)
    assert status == 409 and body["status"] == "needs confirmation" and body["flagged"] == 1
    assert "accept_unusual=true" in body["summary"] and body["warnings"][0]["row"] == 2
    assert table_counts(demo_db) == before
    status, body = results_api.handle(demo_db, scope, odd, "odd.csv", commit=True,
                                      confirm=True)
    assert status == 200 and body["status"] == "stored" and body["batch_id"] is not None
    batch = demo_db.read("SELECT uploaded_by, source FROM upload_batch WHERE id = ?",
                         [body["batch_id"]]).iloc[0]
    assert batch["uploaded_by"] == scope.actor and batch["source"] == "import"


# --------------------------------------------------------------------------- a running app


@pytest.fixture(scope="module")
def running(tmp_path_factory, demo_template):
    """The app on a copy of the demo database, with one token for Hillview."""
    folder = tmp_path_factory.mktemp("lab")
    path = folder / "lab.duckdb"
    path.write_bytes(demo_template.read_bytes())
    with Database(path) as db:
        _, secret = api_tokens.create(db, ADMIN, organisation=HILLVIEW, label="EMIS nightly")
    proc, url, log = start_app(path)
    try:
        yield {"path": path, "url": url, "token": secret, "folder": folder}
    finally:
        stop_app(proc, log)
    assert not app_control.control_path(path).exists(), "the app left its control file"


def test_the_app_leaves_a_private_control_file_and_refuses_strangers(running):
    control = app_control.control_path(running["path"])
    assert control.exists() and (control.stat().st_mode & 0o777) == 0o600
    request = urllib.request.Request(running["url"] + app_control.ROUTE, method="POST",
                                     data=b'{"argv": ["user", "list"]}',
                                     headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    with urllib.request.urlopen(running["url"] + "/healthz", timeout=30) as reply:
        assert json.loads(reply.read())["status"] == "ok"


def test_the_command_line_works_through_the_running_app(running):
    path, folder = running["path"], running["folder"]
    good = folder / "good.csv"
    good.write_bytes(results_file([(week(0), 3, 1.2)]))
    checked = cli("import", str(good), "--dry-run", "--db", str(path))
    assert checked.returncode == 0, checked.stderr
    assert "Dry run, nothing stored. Ready: 1 new" in checked.stdout
    stored = cli("import", str(good), db=path)
    assert stored.returncode == 0, stored.stderr
    assert "Stored good.csv: 1 new" in stored.stdout
    bad = folder / "bad.csv"
    bad.write_text("organisation,measure,period,value\nNobody,x,2026-13-01,abc\n")
    refused = cli("import", str(bad), db=path)
    assert refused.returncode == 1 and "Row 2, column period" in refused.stderr
    assert "Nothing was stored" in refused.stderr and "Traceback" not in refused.stderr

    added = cli("user", "add", "--name", "amara", "--role", "admin", db=path,
                stdin="Corr3ct-horse-battery\n")
    assert added.returncode == 0 and "Login is now on" in added.stdout, added.stderr
    weak = cli("user", "add", "--name", "bo", "--role", "viewer", db=path, stdin="short\n")
    assert weak.returncode == 1 and "password" in weak.stderr.lower()
    assert cli("user", "unlock", "--name", "amara", db=path).returncode == 0
    listed = cli("user", "list", db=path)
    assert "amara\tadmin" in listed.stdout and "bo" not in listed.stdout

    exported = cli("export", "--out", "out", cwd=folder, db=path)
    assert exported.returncode == 0, exported.stderr
    assert (folder / "out" / "results.csv").exists() and "files to out" in exported.stdout
    digest = cli("digest", "--since", (clock.today() - dt.timedelta(days=35)).isoformat(), "--out", str(folder / "d.md"), db=path)
    assert digest.returncode == 0 and (folder / "d.md").read_text().startswith("#")
    assert str(folder / "d.md") in digest.stdout
    made = cli("backup", db=path)
    assert made.returncode == 0 and "checked by reopening it" in made.stdout, made.stderr
    token = cli("token", "add", "--org", "Kindred Voices (demo)", "--label", "CRM", db=path)
    assert token.returncode == 0 and "trk_" in token.stdout
    assert "cannot be restored now" in cli("restore", "--from", str(folder / "backups"),
                                           db=path).stderr


def test_what_the_command_line_did_through_the_app_is_audited(running):
    path = running["path"]
    reply = cli("user", "disable", "--name", "nobody-here", db=path)
    assert reply.returncode == 1 and "Traceback" not in reply.stderr
    good = running["folder"] / "again.csv"
    good.write_bytes(results_file([(week(1), 2, 1.0)]))
    assert cli("import", str(good), db=path).returncode == 0
    reply = cli("export", "--out", str(running["folder"] / "audit"), db=path)
    assert reply.returncode == 0
    audit = (running["folder"] / "audit" / "audit_log.csv").read_text()
    assert "command line via the app" in audit


def test_a_control_file_left_by_a_crashed_app_is_ignored(tmp_path):
    path = tmp_path / "held.duckdb"
    assert cli("init", db=path).returncode == 0
    control = app_control.control_path(path)
    control.write_text(json.dumps({"url": "http://127.0.0.1:9", "token": "x", "pid": 999999}))
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
         "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        reply = cli("user", "list", db=path)
        assert reply.returncode == 1 and "in use by another program" in reply.stderr
    finally:
        holder.kill()
        holder.wait()


def test_the_results_api_checks_stores_and_refuses_in_json(running):
    url, token = running["url"], running["token"]
    body = results_file([(week(2), 4, 1.5), (week(3), 2, 1.1)])
    status, answer = post(url, body, token)
    assert status == 200 and answer["status"] == "checked"
    assert answer["new"] + answer["updated"] == 2
    assert answer["summary"].startswith("Dry run, nothing stored.")
    assert answer["preview"][0]["organisation"] == HILLVIEW
    status, answer = post(url, body, token, "&commit=true")
    assert status == 200 and answer["status"] == "stored" and answer["batch_id"]
    status, again = post(url, body, token, "&commit=true")
    assert status == 200 and again["status"] == "nothing to store"
    assert again["already_stored_batch"] == answer["batch_id"]

    odd = results_file([(week(5), 900, 1)])  # 900 per 100 people: far from usual
    status, answer = post(url, odd, token, "&commit=true")
    assert status == 409 and answer["status"] == "needs confirmation"
    assert "accept_unusual=true" in answer["summary"] and answer["batch_id"] is None
    status, answer = post(url, odd, token, "&commit=true&accept_unusual=true")
    assert status == 200 and answer["status"] == "stored" and answer["batch_id"]

    other = results_file([(week(2), 4, 1.5)], org="Kindred Voices (demo)")
    status, answer = post(url, other, token, "&commit=true")
    assert status == 422 and answer["status"] == "refused"
    assert "only for Hillview Surgery (demo)" in answer["errors"][0]["message"]
    assert answer["errors"][0]["row"] == 2 and answer["errors"][0]["column"] == "organisation"

    status, answer = post(url, body, None)
    assert status == 401 and "Authorization: Bearer" in answer["summary"]
    status, answer = post(url, body, "trk_" + "x" * 43)
    assert status == 401
    status, answer = post(url, b"x" * (52 * 1024 * 1024), token)
    assert status == 413 and "Split it" in answer["summary"]
    status, answer = post(url, b"", token, "&commit=true")
    assert status == 422 and "empty" in answer["errors"][0]["message"]

    # a multipart form, as `curl -F file=@results.csv` sends it
    boundary = "trackerboundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"form.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode() + \
        results_file([(week(4), 1, 1.0)]) + f"\r\n--{boundary}--\r\n".encode()
    status, answer = post(url, form, token, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200 and answer["file"] == "form.csv"
    assert answer["new"] + answer["updated"] == 1


def test_a_revoked_token_is_refused_at_once(running):
    url, path = running["url"], running["path"]
    made = cli("token", "add", "--org", HILLVIEW, "--label", "short-lived", db=path)
    secret = made.stdout.split(": ", 1)[1].split()[0]
    token_id = made.stdout.split()[2]
    assert post(url, results_file([(week(5), 1, 1.0)]), secret)[0] == 200
    assert cli("token", "revoke", "--id", token_id, db=path).returncode == 0
    status, answer = post(url, results_file([(week(5), 1, 1.0)]), secret)
    assert status == 401
    listed = cli("token", "list", db=path).stdout
    assert "revoked" in listed and secret not in listed


def test_the_database_is_intact_after_the_app_stopped(tmp_path, demo_template):
    path = tmp_path / "lab.duckdb"
    path.write_bytes(demo_template.read_bytes())
    proc, _, log = start_app(path)
    good = tmp_path / "g.csv"
    good.write_bytes(results_file([(week(0), 3, 1.2)]))
    try:
        assert cli("import", str(good), db=path).returncode == 0
    finally:
        stop_app(proc, log)
    with duckdb.connect(str(path), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM upload_batch WHERE file_name = 'g.csv'"
                             ).fetchone()[0]
    assert stored == 1


def test_a_stored_upload_is_reported_stored_while_another_transaction_is_open(demo_db,
                                                                              monkeypatch):
    """Found by bench/server_load.py: the checkpoint after a commit was refused while another
    write transaction was open (a sign-in, an API token's use), so a file that WAS stored was
    answered "could not process, stored nothing". A busy moment is not an error now; a
    backup waits for it, and says so in words if it does not end."""
    import tracker.storage.db as db_module
    from tracker.intake import ingest
    from tracker.storage import backup

    _, secret = api_tokens.create(demo_db, ADMIN, organisation=HILLVIEW, label="x")
    scope = api_tokens.authenticate(demo_db, secret)
    monkeypatch.setattr(db_module, "QUIET_WAIT", 0.2)
    with demo_db.cursor() as other:
        other.execute("BEGIN TRANSACTION")
        other.execute("INSERT INTO audit_log (actor, action, entity) VALUES ('t', 't', 't')")
        report = ingest.commit(demo_db, results_file([(week(0), 3, 1.2)]), "busy.csv",
                               scope)
        assert report.ok and report.batch_id is not None
        with pytest.raises(backup.BackupError, match="stayed busy.*try again"):
            backup.backup(demo_db, demo_db.path.parent / "busy-backups")
        other.execute("ROLLBACK")
    assert demo_db.scalar("SELECT count(*) FROM upload_batch WHERE file_name = 'busy.csv'") == 1
    assert backup.backup(demo_db, demo_db.path.parent / "busy-backups").size > 0


def test_the_deployment_files_agree_with_each_other():
    """deploy/: every lab in compose.yaml has its own volume and path, the Caddyfile sends
    each path to that lab and blocks the metrics and the command line's route."""
    import re

    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    # (no YAML parser is among the locked packages: the file is read by its lines)
    labs = re.findall(r"^  ([a-z0-9-]+):\n    build:", compose, re.MULTILINE)
    paths = re.findall(r"STREAMLIT_SERVER_BASE_URL_PATH: (\S+)", compose)
    volumes = re.findall(r'volumes: \["([a-z0-9-]+):/data"\]', compose)
    assert len(labs) >= 2 and len(paths) == len(labs) == len(volumes)
    assert len(set(paths)) == len(paths) and len(set(volumes)) == len(volumes)
    for name, path in zip(labs, paths, strict=True):
        assert f"handle /{path}* {{\n\t\treverse_proxy {name}:8501" in caddy
    assert "@internal path */_stcore/metrics */tracker/cli" in caddy
    assert "respond @internal 404" in caddy
    docker = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.txt" in docker and "USER tracker" in docker
    # the apps trust the proxy's X-Forwarded-For, and only the proxy can reach them
    assert compose.count('FORWARDED_ALLOW_IPS: "*"') == len(labs)
    assert "ports:" not in compose.split("proxy:")[0]


def test_the_postgresql_deployment_files_agree_with_each_other():
    """deploy/compose.postgresql.yaml: the app servers of one lab share one PostgreSQL
    database; the proxy names every one of them, keeps a browser on one, blocks what must
    not leave the server; one backup job for the lab, none in the app servers."""
    import re

    compose = (ROOT / "deploy" / "compose.postgresql.yaml").read_text()
    caddy = (ROOT / "deploy" / "Caddyfile.postgresql").read_text()
    servers = re.findall(r"^  ([a-z0-9-]+): \*app$", compose, re.MULTILINE)
    assert len(servers) == 3
    assert re.search(r"TRACKER_DB: postgresql://tracker:\$\{POSTGRES_PASSWORD[^}]*\}@db:5432/"
                     r"lab_north", compose)
    assert "POSTGRES_DB: lab_north" in compose and "Caddyfile.postgresql:/etc/caddy" in compose
    assert 'TRACKER_BACKUP_AT: "off"' in compose and "python -m tracker backup" in compose
    path = re.search(r"STREAMLIT_SERVER_BASE_URL_PATH: (\S+)", compose).group(1)
    upstream = re.search(rf"handle /{path}\* {{\n.*?reverse_proxy ([^{{]+) {{", caddy, re.S)
    assert upstream and upstream.group(1).split() == [f"{s}:8501" for s in servers]
    assert "lb_policy cookie" in caddy and f"health_uri /{path}/healthz" in caddy
    assert "@internal path */_stcore/metrics */tracker/cli" in caddy
    assert "postgresql-client" in (ROOT / "deploy" / "Dockerfile").read_text()
    assert 'FORWARDED_ALLOW_IPS: "*"' in compose and "ports:" not in compose.split("proxy:")[0]


def test_an_address_that_keeps_sending_wrong_tokens_must_wait(demo_db):
    """Wrong tokens are throttled per address as failed sign-ins are: a few go free, then
    the address waits longer each time, whatever token it sends; other addresses, and the
    right token once the wait is over, are not held up."""

    from tracker.access.auth import THROTTLE_FREE

    _, secret = api_tokens.create(demo_db, ADMIN, organisation=HILLVIEW, label="x")
    now = dt.datetime(2026, 12, 3, 9, 0)
    for _ in range(THROTTLE_FREE):
        assert api_tokens.authenticate(demo_db, "trk_" + "x" * 43, now, "203.0.113.9") is None
    with pytest.raises(api_tokens.TokenThrottled, match="wait 2 seconds") as waited:
        api_tokens.authenticate(demo_db, secret, now, "203.0.113.9")  # even the right one
    assert waited.value.seconds == 2 and "Nothing was stored" in str(waited.value)
    assert api_tokens.authenticate(demo_db, secret, now, "198.51.100.7") is not None
    assert api_tokens.authenticate(demo_db, None, now, "203.0.113.9") is None  # no guess
    later = now + dt.timedelta(seconds=3)
    assert api_tokens.authenticate(demo_db, secret, later, "203.0.113.9") is not None
    assert api_tokens.authenticate(demo_db, "trk_" + "y" * 43, later, "203.0.113.9") is None
    # the right token cleared the count: one wrong one is free again


def test_the_api_answers_429_with_retry_after_to_an_address_guessing_tokens(running):
    import time

    from tracker.access.auth import THROTTLE_FREE

    url, token = running["url"], running["token"]
    body = results_file([(week(2), 4, 1.5)])
    assert post(url, body, token)[0] == 200  # a clean count for this address
    for _ in range(THROTTLE_FREE):
        assert post(url, body, "trk_" + "z" * 43)[0] == 401
    status, answer = post(url, body, token)
    assert status == 429 and "wait" in answer["summary"] and "Traceback" not in str(answer)
    time.sleep(2.5)
    assert post(url, body, token)[0] == 200  # after the wait, the right token works
