"""Issue 21, the second round of hardening, in process and through the command line: bounded
Excel reading, search limits, backups that restore only what they should, erase that erases,
private files, one store of a file posted at once, and the small leaks. (The web server's side,
items 2, 4, 11, 12 and 16, is in test_server_hardening.py.)"""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import threading
import zipfile

import pytest
import warm_start
from conftest import ENGINES, PASSWORD, ROOT, add_role_accounts, table_counts
from test_ingest import HEADER, ME, PP, W, make_lab, row

from tracker import clock
from tracker.access import auth
from tracker.community import participants
from tracker.errors import InputError
from tracker.intake import ingest, results_api, templates
from tracker.records import reader_view, repo
from tracker.records.cycles import MAX_SEARCH_WORDS
from tracker.storage import backup, backup_folder
from tracker.storage.backup_folder import BackupError
from tracker.storage.db import Database

# --------------------------------------------------------------------------- 1. Excel gaps


def gap_xlsx(row_number: int) -> bytes:
    """The red team's file: a header and one data row, the row moved to `row_number`, and no
    <dimension> tag (so openpyxl cannot know the sheet's size in advance)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["organisation", "measure", "period", "value"])
    sheet.append([PP, "REF", W[2].isoformat(), 12])
    out = io.BytesIO()
    book.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = re.sub(r"<dimension [^>]*/>", "", data.decode())
                text = text.replace('<row r="2"', f'<row r="{row_number}"')
                text = re.sub(r'r="([A-Z]+)2"', rf'r="\g<1>{row_number}"', text)
                data = text.encode()
            target.writestr(item, data)
    return rebuilt.getvalue()


MEASURE_GAPS = r"""
import io, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import duckdb
from tracker.intake import upload_read

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def read(data):
    report = upload_read.Report(file_name="x.xlsx")
    started = time.perf_counter()
    try:
        upload_read.read_xlsx(duckdb.connect(), data, report)
        answer = "read"
    except upload_read.Refused as refused:
        answer = str(refused)
    return time.perf_counter() - started, answer

files = json.load(open(sys.argv[2]))
baseline = min(read(bytes.fromhex(files["2"]))[0] for _ in range(3))
base_mb = peak_mb()
out = {"baseline": baseline}
for rows, data in files.items():
    seconds, answer = read(bytes.fromhex(data))
    out[rows] = {"seconds": seconds, "grew_mb": peak_mb() - base_mb, "answer": answer}
print(json.dumps(out))
"""


def test_an_excel_row_gap_bomb_is_read_in_the_time_and_memory_of_its_one_row(tmp_path):
    """Item 1, as the red team wrote it: one data row moved to row 50,000, 1,000,000 and past
    Excel's last row, with no <dimension>. Each is answered about as fast as the same row at
    row 2 (before: 150 s and 4.5 GB for the million) and with < 200 MB more memory, measured
    in a process of its own; the one past the limit is refused with what to do."""
    files = {str(n): gap_xlsx(n).hex() for n in (2, 50_000, 1_000_000, 1_048_577, 10_000_000)}
    (tmp_path / "files.json").write_text(json.dumps(files))
    done = subprocess.run([sys.executable, "-c", MEASURE_GAPS, str(ROOT),
                           str(tmp_path / "files.json")], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for rows in ("50000", "1000000", "1048577", "10000000"):
        assert got[rows]["grew_mb"] < 200, (rows, got[rows])
        # the same work as the baseline: a generous factor for a noisy machine, where the
        # unbounded reader took thousands of times longer
        assert got[rows]["seconds"] < 25 * got["baseline"] + 0.2, (rows, got)
    assert got["50000"]["answer"] == got["1000000"]["answer"] == "read"
    for past in ("1048577", "10000000"):
        assert "past Excel's last row (1,048,576)" in got[past]["answer"]
        assert "save it as .xlsx" in got[past]["answer"]


def test_a_gap_file_is_checked_with_excel_s_own_row_numbers(tmp_path):
    """Through the whole check: the row far down is found, and problems name the row Excel
    shows (an empty row in the middle is skipped, not counted)."""
    db = Database(tmp_path / "lab.duckdb")
    make_lab(db)
    report = ingest.check(db, gap_xlsx(1_000_000), "gap.xlsx", ME)
    assert report.ok and report.new == 1, [p.message for p in report.errors]
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["organisation", "measure", "period", "value"])
    sheet.append([PP, "REF", W[2].isoformat(), 12])
    sheet.append([])
    sheet.append([PP, "NOT A MEASURE", W[3].isoformat(), 12])
    out = io.BytesIO()
    book.save(out)
    report = ingest.check(db, out.getvalue(), "gap.xlsx", ME)
    assert [p.row for p in report.errors] == [4], [(p.row, p.message) for p in report.errors]
    db.close()


# --------------------------------------------------------------------------- 3. search


def test_a_cycle_search_is_a_few_words_not_a_page(demo_db):
    cid = int(repo.list_challenges(demo_db)["id"].iloc[0])
    view = reader_view.for_reader(demo_db, ME)
    for too_long in (" ".join(f"word{i}" for i in range(3000)), "x" * 201,
                     " ".join(f"w{i}" for i in range(MAX_SEARCH_WORDS + 1))):
        with pytest.raises(InputError, match="search for at most"):
            repo.list_cycles(demo_db, ME, cid, search=too_long)
        with pytest.raises(InputError, match="search for at most"):
            reader_view.readable_cycles(demo_db, view, repo.list_cycles(demo_db, ME, cid),
                                        too_long)
    # repeated words count once; a dozen words still search
    once = repo.list_cycles(demo_db, ME, cid, search="peer")
    assert len(once) and repo.list_cycles(demo_db, ME, cid, search="peer " * 30).equals(once)
    twelve = " ".join(["peer"] * 11 + ["support"])
    assert repo.list_cycles(demo_db, ME, cid, search=twelve).equals(
        repo.list_cycles(demo_db, ME, cid, search="peer support"))


# --------------------------------------------------------------------------- 5-7. backups


def _lab_file(path, name: str):
    with Database(path) as db:
        repo.add_organisation(db, ME, name=name, kind="charity")
        auth.add_user(db, None, username="boss", role="admin", password=PASSWORD)


def test_restore_takes_this_lab_s_backup_never_another_s_from_a_shared_folder(tmp_path):
    """Item 5: north and south back up into one folder; south's backup is the newer. North
    restores north's; with only south's there, north's restore is refused, saying so."""
    shared = tmp_path / "shared"
    north, south = tmp_path / "north.duckdb", tmp_path / "south.duckdb"
    _lab_file(north, "North charity")
    _lab_file(south, "South charity")
    now = dt.datetime(2026, 12, 1, 2, 0)
    with Database(north) as db:
        made_north = backup.backup(db, shared, now=now)
    with Database(south) as db:
        backup.backup(db, shared, now=now + dt.timedelta(hours=1))
    chosen, _ = backup.restore(north, shared)
    assert chosen == made_north.path
    with Database(north) as db:
        assert repo.list_organisations(db, ME)["name"].tolist() == ["North charity"]
    made_north.path.unlink()
    before = north.read_bytes()
    with pytest.raises(BackupError, match="no backup of north.*south.*other databases"):
        backup.restore(north, shared)
    assert north.read_bytes() == before


def test_a_postgresql_restore_from_a_shared_folder_never_guesses_whose_dump(
        pg_url, tmp_path, postgresql_server):
    """Item 5 on PostgreSQL: a restore goes into a new database, so a folder with dumps of
    several databases is refused (name the dump); with one database's dumps, its newest."""
    import psycopg

    from tracker.storage import backup_pg
    from tracker.storage.pg import PostgresDatabase

    with PostgresDatabase(pg_url) as db:
        repo.add_organisation(db, ME, name="North charity", kind="charity")
        made = backup_pg.backup(db, tmp_path / "shared")
    other = tmp_path / "shared" / "south-20991231-000000.dump"
    other.write_bytes(made.path.read_bytes())
    target = "t_restore_shared"
    with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {target}")
    url = pg_url.replace(pg_url.split("///")[1].split("?")[0], target)
    try:
        with pytest.raises(BackupError, match="several databases.*south"):
            backup_pg.restore(url, tmp_path / "shared")
        other.unlink()
        assert backup_pg.restore(url, tmp_path / "shared") == made.path
        with psycopg.connect(url) as con:
            assert con.execute("SELECT name FROM organisation").fetchall() == [
                ("North charity",)]
    finally:
        with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {target} WITH (FORCE)")


def _damaged(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "cut":
        path.write_bytes(bytes(data[: len(data) // 2]))
        return
    step = max(1, len(data) // 2000)
    for i in range(0, len(data), step)[:2000]:
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["cut", "flipped"])
def test_a_damaged_backup_is_refused_and_the_database_left_as_it_was(tmp_path, how):
    """Item 6 on the file: a backup cut short, or with 2,000 flipped bytes, is refused by
    restore (its checksum, and every row read), and the database is not touched."""
    path = tmp_path / "lab.duckdb"
    _lab_file(path, "A charity")
    with Database(path) as db:
        made = backup.backup(db, tmp_path / "backups")
    _damaged(made.path, how)
    before = path.read_bytes()
    with pytest.raises(BackupError, match="damaged"):
        backup.restore(path, tmp_path / "backups")
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.restoring")) and not list(tmp_path.glob("*before-restore*"))
    # without its checksum, a cut backup still fails the full read
    if how == "cut":
        backup_folder.checksum_path(made.path).unlink()
        with pytest.raises(BackupError):
            backup.restore(path, made.path)
        assert path.read_bytes() == before


def test_a_backup_without_accounts_is_not_restored_over_a_lab_with_accounts(tmp_path):
    """Item 4's restore: that would leave a served tracker open with no sign-in."""
    path = tmp_path / "lab.duckdb"
    with Database(path) as db:
        repo.add_organisation(db, ME, name="A charity", kind="charity")
        early = backup.backup(db, tmp_path / "backups")
        auth.add_user(db, None, username="boss", role="admin", password=PASSWORD)
    before = path.read_bytes()
    with pytest.raises(BackupError, match="no accounts.*no sign-in"):
        backup.restore(path, early.path)
    assert path.read_bytes() == before
    # into a new file it is allowed (then add a lab admin before serving it)
    backup.restore(tmp_path / "new.duckdb", early.path)


def test_keep_below_one_is_refused_and_every_backup_kept(tmp_path):
    """Item 7: `backup --keep 0` deleted every backup, the new one included."""
    path = tmp_path / "lab.duckdb"
    _lab_file(path, "A charity")
    with Database(path) as db:
        backup.backup(db, tmp_path / "backups")
        with pytest.raises(BackupError, match="keep at least 1"):
            backup.backup(db, tmp_path / "backups", keep=0)
    assert len(backup_folder.list_backups(tmp_path / "backups")) == 1
    done = warm_start.run([sys.executable, "-m", "tracker", "backup", "--db", str(path),
                           "--out", str(tmp_path / "backups"), "--keep", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "keep at least 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(backup_folder.list_backups(tmp_path / "backups")) == 1


def test_a_damaged_postgresql_dump_is_refused(pg_url, tmp_path, postgresql_server):
    """Item 6 on PostgreSQL: a dump cut short or with flipped bytes is refused before
    anything is restored."""
    import psycopg

    from tracker.storage import backup_pg
    from tracker.storage.pg import PostgresDatabase

    with PostgresDatabase(pg_url) as db:
        repo.add_organisation(db, ME, name="A charity", kind="charity")
        made = backup_pg.backup(db, tmp_path / "dumps")
    for how in ("cut", "flipped"):
        copy = tmp_path / "dumps" / f"lab-{how}-20260101-000000.dump"
        copy.write_bytes(made.path.read_bytes())
        backup_folder.checksum_path(made.path).rename(backup_folder.checksum_path(copy))
        _damaged(copy, how)
        target = "t_restore_" + how
        with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as a:
            a.execute(f"CREATE DATABASE {target}")
        url = pg_url.replace(pg_url.split("///")[1].split("?")[0], target)
        try:
            with pytest.raises(BackupError, match="damaged"):
                backup_pg.restore(url, copy)
            with psycopg.connect(url) as con:
                assert con.execute("SELECT count(*) FROM information_schema.tables"
                                   " WHERE table_schema = 'public'").fetchone()[0] == 0
        finally:
            with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as a:
                a.execute(f"DROP DATABASE {target} WITH (FORCE)")
        backup_folder.checksum_path(copy).rename(backup_folder.checksum_path(made.path))


# --------------------------------------------------------------------------- 8. erase

NAME, EMAIL = "Zebedee Quartermaine", "zq.private@example.org"


def _person(db) -> int:
    cid = repo.create_challenge(db, ME, title="Lab", question="Q?", aim="Aim",
                                start_date=W[30], end_date=W[30] + dt.timedelta(days=364))
    for i in range(40):  # others, so that the statistics have something to keep
        participants.add_participant(db, ME, cid, name=f"Person {i}", taking_part="carer",
                                     email=f"p{i}@example.org")
    return participants.add_participant(db, ME, cid, name=NAME, taking_part="carer",
                                        email=EMAIL, may_contact=True)


def test_an_erase_leaves_no_byte_of_the_person_in_the_file_or_its_wal(tmp_path):
    """Item 8 on the file, as the red team checked it: after the erase, neither the name nor
    the e-mail is anywhere in the database file or its write-ahead log; the lab's data and
    its counters are as before, and the backups that still hold the person are named."""
    path = tmp_path / "lab.duckdb"
    db = Database(path)
    pid = _person(db)
    db.checkpoint()
    assert NAME.encode() in path.read_bytes()  # the check can see the name
    counts = table_counts(db)
    from tracker.storage import backups

    taken = backups.take(db)
    held = participants.erase(db, ME, pid)
    assert held == [taken.path]
    with db.transaction() as cur:  # the app goes on writing after the rewrite
        cur.execute("FORCE CHECKPOINT")
    for file in (path, tmp_path / "lab.duckdb.wal"):
        if file.exists():
            data = file.read_bytes()
            assert NAME.encode() not in data and EMAIL.encode() not in data, file
            assert b"Zebedee" not in data and b"zq.private" not in data, file
    assert table_counts(db) == {**counts, "audit_log": counts["audit_log"] + 1}
    new = participants.add_participant(db, ME, int(repo.list_challenges(db)["id"].iloc[0]),
                                       name="Next person", taking_part="carer")
    assert new == pid + 1  # the counters carried over
    db.close()
    with Database(path) as again:
        assert again.scalar("SELECT name FROM participant WHERE id = ?", [pid]) == "erased"


def test_an_erase_on_postgresql_leaves_the_person_out_of_the_statistics(pg_url):
    """Item 8 on PostgreSQL: pg_stats (most common values, histograms) held the e-mail and
    name after the erase; now the table is rewritten and its statistics refreshed."""
    from tracker.storage.pg import PostgresDatabase

    with PostgresDatabase(pg_url) as db:
        pid = _person(db)
        with db.cursor() as cur:
            cur.execute("ANALYZE participant")
        stats = " ".join(str(v) for v in db.read(
            "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats"
            " WHERE tablename = 'participant'").to_numpy().ravel())
        assert "Zebedee" in stats  # the check can see it
        participants.erase(db, ME, pid)
        stats = " ".join(str(v) for v in db.read(
            "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats"
            " WHERE tablename = 'participant'").to_numpy().ravel())
        assert "Zebedee" not in stats and "zq.private" not in stats
        assert db.scalar("SELECT name FROM participant WHERE id = ?", [pid]) == "erased"


# --------------------------------------------------------------------------- 9. private files


def test_files_the_tracker_writes_are_private_whatever_the_umask(tmp_path):
    """Item 9: with umask 022, the database, its backups and their checksums, exports and
    reports are 0600 and the folders the tracker makes 0700."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    path = tmp_path / "lab.duckdb"

    def run(*args):
        done = warm_start.run([sys.executable, "-m", "tracker", *args, "--db", str(path)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                              umask=0o022)
        assert done.returncode == 0, done.stderr

    run("init")
    with Database(path) as db:
        make_lab(db)
    os.chmod(path, 0o644)  # a database made before: made private when next opened
    run("backup", "--out", str(tmp_path / "backups"))
    run("export", "--out", str(tmp_path / "export"))
    made = [path, *sorted((tmp_path / "backups").iterdir()),
            *sorted((tmp_path / "export").iterdir())]
    assert len(made) >= 5
    for file in made:
        assert file.stat().st_mode & 0o777 == 0o600, file
    for folder in (tmp_path / "backups", tmp_path / "export"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


# --------------------------------------------------------------------------- 10. once


@pytest.mark.parametrize("engine", ENGINES)
def test_one_file_posted_four_times_at_once_is_stored_once(engine, db_path, request):
    """Item 10: four API commits of the same file at once, from four app servers on
    PostgreSQL (one process's threads on the file): one stores it, the rest hear "nothing
    to store", with the batch that holds it."""
    from tracker.intake import api_tokens

    if engine == "duckdb":
        first = Database(db_path)
        servers = [first] * 4
    else:
        from tracker.storage.pg import PostgresDatabase

        url = request.getfixturevalue("pg_url")
        first = PostgresDatabase(url)
        servers = [first] + [PostgresDatabase(url) for _ in range(3)]
    try:
        make_lab(first)
        _, secret = api_tokens.create(first, ME, organisation=PP, label="nightly")
        scope = api_tokens.authenticate(first, secret)
        data = (HEADER + row(value="11") + row(period=W[3].isoformat(), value="9")).encode()
        answers: list = [None] * 4
        start = threading.Barrier(4)

        def post(i):
            start.wait()
            answers[i] = results_api.handle(servers[i], scope, data, "same.csv", commit=True,
                                            confirm=False)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        statuses = sorted(a[1]["status"] for a in answers)
        assert statuses == ["nothing to store"] * 3 + ["stored"], answers
        stored = next(a[1] for a in answers if a[1]["status"] == "stored")
        assert stored["new"] == 2
        assert {a[1]["already_stored_batch"] for a in answers
                if a[1]["status"] != "stored"} == {stored["batch_id"]}
        assert first.scalar("SELECT count(*) FROM upload_batch") == 1
        assert first.scalar("SELECT count(*) FROM result") == 2
    finally:
        for server in set(servers):
            server.close()


# --------------------------------------------------------------------------- 13-15, 17


def test_a_partner_hears_the_same_answer_for_a_name_that_exists_and_one_that_does_not(
        demo_db):
    """Item 13: the dry run and the API said "you may upload results only for ..." for an
    organisation that exists, and "no organisation has this name" for one that does not."""
    accounts = add_role_accounts(demo_db)
    partner = auth.authenticate(demo_db, "pp_user", PASSWORD)
    others = [n for n in accounts["orgs"].index if n != "Peer Pathways (demo)"]
    week = (clock.today() - dt.timedelta(days=clock.today().weekday() + 14)).isoformat()
    measure = repo.list_measures(demo_db)["name"].iloc[0]

    def answer(org: str, **options) -> list[str]:
        text = f"organisation,measure,period,value\n{org},{measure},{week},1\n"
        report = ingest.check(demo_db, text.encode(), "x.csv", partner, **options)
        return [p.message for p in report.errors if p.column == "organisation"]

    for options in ({}, {"organisation": "Peer Pathways (demo)"}):
        real, made_up = answer(others[0], **options), answer("Zz Nowhere Trust", **options)
        assert real and real == made_up, (real, made_up)
        assert not any(o in real[0] for o in others)
    # and suggestions come from its own names only
    near = answer(others[0][:-2], **{})
    assert not any(o in near[0] for o in others)


def test_a_partner_s_measures_count_its_own_results(demo_db):
    """Item 14: the Measures page's Results column counted every organisation's rows."""
    add_role_accounts(demo_db)
    partner = auth.authenticate(demo_db, "pp_user", PASSWORD)
    own = demo_db.read("SELECT measure_id, count(*) AS n FROM result WHERE organisation_id = ?"
                       " GROUP BY ALL", [partner.organisation_id]).set_index("measure_id")["n"]
    every = repo.list_measures(demo_db).set_index("id")["results"]
    for measures in (reader_view.measures_for(demo_db, partner),  # templates, uploads
                     reader_view.for_reader(demo_db, partner).measures):  # the Measures page
        got = measures.set_index("id")["results"]
        assert (got == own.reindex(got.index).fillna(0).astype(int)).all()
        assert (got <= every.reindex(got.index)).all() and (got < every.reindex(got.index)).any()


def test_the_excel_template_stores_formula_like_text_as_text(demo_db):
    """Item 15: a measure named =1+2, or a definition holding =HYPERLINK(...), became a live
    formula in the template partners download."""
    from openpyxl import load_workbook

    m = repo.list_measures(demo_db).astype(object).iloc[0]
    m = m.where(m.notna(), None)
    repo.update_measure(demo_db, ME, int(m["id"]), name="=1+2",
                        definition='=HYPERLINK("http://evil.example","click")',
                        **{k: m[k] for k in ("code", "measure_type", "unit", "direction",
                                             "data_kind", "frequency", "numerator",
                                             "denominator", "target")})
    data = templates.template_xlsx(demo_db, ME, "Peer Pathways (demo)")
    book = load_workbook(io.BytesIO(data))  # formulas as written, not calculated
    cells = [c for sheet in book for r in sheet.iter_rows() for c in r if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells}
    assert "=1+2" in texts and '=HYPERLINK("http://evil.example","click")' in texts


def test_a_password_typed_as_a_username_is_not_kept(demo_db):
    """Item 17: the audit log kept an unknown username verbatim."""
    add_role_accounts(demo_db)
    with pytest.raises(auth.AuthError):
        auth.authenticate(demo_db, "Tr0ub4dor&3-secret", "whatever", client="203.0.113.5")
    dump = " ".join(str(v) for v in demo_db.read("SELECT * FROM audit_log").to_numpy().ravel())
    assert "Tr0ub4dor" not in dump
    assert "not an account; not kept" in dump


def test_the_app_keeps_its_database_private_however_it_is_started(tmp_path):
    """The app's script run on its own (`streamlit run streamlit_app.py`, or AppTest) with
    umask 022: the new database and its WAL are the tracker's user's only, as when
    `streamlit run server.py` starts it."""
    path = tmp_path / "new.duckdb"
    script = ("import os, sys; from streamlit.testing.v1 import AppTest; "
              f"at = AppTest.from_file({str(ROOT / 'streamlit_app.py')!r}, default_timeout=90); "
              "at.run(); assert not at.exception, at.exception; "
              # while the app holds it open, as a running server does
              "print([(p, oct(os.stat(p).st_mode & 0o777)) for p in sys.argv[1:] "
              "if os.path.exists(p)])")
    done = subprocess.run([sys.executable, "-c", script, str(path), f"{path}.wal"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TRACKER_DB": str(path)},
                          preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr[-2000:]
    modes = dict(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert str(path) in modes and f"{path}.wal" in modes, modes
    assert set(modes.values()) == {"0o600"}, modes
