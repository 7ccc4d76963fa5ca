"""Partner uploads: a corpus of bad files (each refused with a row-level message and the
database left exactly as it was), good files in every accepted shape, history and undo,
export round trips, concurrency, and a kill in the middle of a big import."""

from __future__ import annotations

import csv
import datetime as dt
import io
import signal
import subprocess
import sys
import threading
import time
import zipfile

import pandas as pd
import pytest
from conftest import ROOT, table_counts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from tracker import clock
from tracker.access.scope import Scope
from tracker.intake import batches, export, ingest, planning, templates, upload_read
from tracker.records import observations, repo
from tracker.storage.db import Database

pytestmark = pytest.mark.dates  # runs again at other dates in CI (tests/dates.md)

ME = ADMIN = Scope.admin("tester")
TODAY = clock.today()
THIS_MONDAY = TODAY - dt.timedelta(days=TODAY.weekday())
W = [THIS_MONDAY - dt.timedelta(weeks=k) for k in range(40)]  # W[1] = last week's Monday
HEADER = "organisation,measure,period,value,numerator,denominator,note\n"
PP = "Peer Pathways"


def make_lab(db: Database) -> dict:
    start = W[30]
    cid = repo.create_challenge(db, ME, title="Lab", question="Q?", aim="Aim",
                                start_date=start, end_date=start + dt.timedelta(days=364))
    pp = repo.add_organisation(db, ME, name=PP, kind="charity")
    rv = repo.add_organisation(db, ME, name="Riverside Practice", kind="gp_practice")
    old = repo.add_organisation(db, ME, name="Old Partner", kind="charity")
    repo.set_organisation_retired(db, ME, old, True)
    ref = repo.add_measure(db, ME, code="REF", name="People referred", measure_type="process",
                           definition="d", unit="people", direction="increase",
                           data_kind="value", frequency="week")
    first = repo.add_measure(db, ME, code="FIRST", name="Attending a first session",
                             measure_type="process", definition="d", numerator="n",
                             denominator="d", unit="proportion", direction="increase",
                             data_kind="proportion", frequency="week")
    monthly = repo.add_measure(db, ME, code="MON", name="Volunteers active",
                               measure_type="process", definition="d", unit="people",
                               direction="increase", data_kind="value", frequency="month")
    return {"cid": cid, "pp": pp, "rv": rv, "ref": ref, "first": first, "mon": monthly}


@pytest.fixture
def lab(db):
    return {"db": db, **make_lab(db)}


def row(org=PP, measure="REF", period=None, value="12", num="", den="", note=""):
    period = W[2].isoformat() if period is None else period
    return f"{org},{measure},{period},{value},{num},{den},{note}\n"


def xlsx_bytes(rows, *, formulas=False) -> bytes:
    book = Workbook()
    sheet = book.active
    for r in rows:
        sheet.append(r)
    if formulas:
        sheet["D2"] = "=2*6"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def good_xlsx() -> bytes:
    return xlsx_bytes([list(upload_read.COLUMNS), [PP, "REF", W[2], 12, None, None, "ok"]])


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 50_000_000)
    return out.getvalue()


BAD_FILES = {
    "empty": (b"", "The file is empty"),
    "only blank lines": (b"\n\n  \n", "The file is empty"),
    "header only": (HEADER.encode(), "header but no rows"),
    "binary named csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "binary data"),
    "not any text encoding": (b"organisation\n\x81\x8d\x8f\x90\x9d\n", "neither UTF-8 nor"),
    "truncated xlsx": (None, "damaged or incomplete"),
    "xlsx with formulas": (None, "formula that Excel has not calculated"),
    "zip bomb": (None, "zip bomb"),
    "note of a megabyte": ((HEADER + row(note="x" * 1_048_576)).encode(),
                           "keep notes under 2,000"),
    "unknown organisation": ((HEADER + row(org="Peer Pathway")).encode(),
                             "Did you mean 'Peer Pathways'"),
    "retired organisation": ((HEADER + row(org="old partner")).encode(), "is retired"),
    "unknown measure": ((HEADER + row(measure="Referals")).encode(), "no measure has"),
    "impossible date": ((HEADER + row(period="31/02/2026")).encode(), "not a date"),
    "unreadable date": ((HEADER + row(period="last tuesday")).encode(), "not a date"),
    "US-style dates": ((HEADER + row(period="03/25/2026") + row(period="03/04/2026"))
                       .encode(), "month-first (US style"),
    "weekly period not a Monday": ((HEADER + row(period=(W[2] + dt.timedelta(days=2))
                                                 .isoformat())).encode(), "Monday"),
    "monthly period not the 1st": ((HEADER + row(measure="MON", period=W[8].replace(day=15)
                                                 .isoformat())).encode(), "first day"),
    "future period": ((HEADER + row(period=(THIS_MONDAY + dt.timedelta(weeks=2)).isoformat()))
                      .encode(), "in the future"),
    "before the challenge": ((HEADER + row(period=W[35].isoformat())).encode(),
                             "outside the challenge"),
    "not a number": ((HEADER + row(value="twelve")).encode(), "not a number"),
    "NaN": ((HEADER + row(value="NaN")).encode(), "not NaN or infinity"),
    "infinite": ((HEADER + row(value="-inf")).encode(), "not NaN or infinity"),
    "negative count": ((HEADER + row(value="-3")).encode(), "cannot be negative"),
    "numerator above denominator": ((HEADER + row(measure="FIRST", value="", num="9", den="8"))
                                    .encode(), "larger than the denominator"),
    "zero denominator": ((HEADER + row(measure="FIRST", value="", num="0", den="0")).encode(),
                         "above zero"),
    "value where a proportion is expected": ((HEADER + row(measure="FIRST", value="0.5"))
                                             .encode(), "needs a numerator and a denominator"),
    "numerator for a single-value measure": ((HEADER + row(num="3", den="4")).encode(),
                                             "takes a single value"),
    "conflicting duplicates": ((HEADER + row(value="12") + row(value="13")).encode(),
                               "different values"),
    "unquoted comma": ((HEADER + row(note="one, two")).encode(), "more cells than the header"),
    "unclosed quote": ((HEADER + row(note='"never closed') + row(period=W[3].isoformat()))
                       .encode(), "double quote is not closed"),
    "no period column": (b"organisation,measure,value\nPeer Pathways,REF,12\n",
                         "'period' is missing"),
    "unknown columns only": (b"period,colour\n2026-01-05,blue\n", "not a measure"),
    "every row empty": ((HEADER + row(value="")).encode(), "Every row is empty"),
}


def bad_bytes(name: str) -> bytes:
    if name == "truncated xlsx":
        data = good_xlsx()
        return data[: len(data) // 2]
    if name == "xlsx with formulas":
        return xlsx_bytes([list(upload_read.COLUMNS), [PP, "REF", W[2], None, None, None, None]],
                          formulas=True)
    if name == "zip bomb":
        return zip_bomb()
    return BAD_FILES[name][0]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_refused_with_a_clear_message_and_nothing_changes(lab, name):
    db = lab["db"]
    before = table_counts(db)
    data = bad_bytes(name)
    file_name = "results.xlsx" if name in ("truncated xlsx", "xlsx with formulas", "zip bomb") \
        else "results.csv"
    checked = ingest.check(db, data, file_name, ADMIN)
    stored = ingest.commit(db, data, file_name, ME)
    for report in (checked, stored):
        assert not report.ok
        text = " ".join(str(p) for p in report.errors)
        assert BAD_FILES[name][1] in text, text
        assert "Traceback" not in text
        assert report.batch_id is None
    assert table_counts(db) == before


def test_row_level_messages_name_row_column_and_value(lab):
    data = (HEADER + row() + row(period="31/02/2026", value="x")).encode()
    report = ingest.check(lab["db"], data, "r.csv", ADMIN)
    messages = [str(p) for p in report.errors]
    assert any(m.startswith("Row 3, column period, value '31/02/2026'") for m in messages)
    assert any(m.startswith("Row 3, column value, value 'x'") for m in messages)
    assert all(p.row == 3 for p in report.errors)


def test_rows_after_an_unreadable_row_keep_their_numbers(lab):
    data = (HEADER + row(note="a, b") + row(period=W[3].isoformat(), value="bad")).encode()
    report = ingest.check(lab["db"], data, "r.csv", ADMIN)
    assert [(p.row, p.column) for p in report.errors] == [(2, None), (3, "value")]


def test_file_over_the_size_limit(lab, monkeypatch):
    monkeypatch.setattr(planning, "MAX_FILE_BYTES", 100)
    report = ingest.check(lab["db"], (HEADER + row() * 5).encode(), "big.csv", ADMIN)
    assert "the limit is" in str(report.errors[0])


def test_a_hundred_thousand_bad_rows_are_counted_not_all_listed(lab):
    db = lab["db"]
    before = table_counts(db)
    lines = [HEADER] + [row(measure="NOPE", period=W[1 + i % 20].isoformat())
                        for i in range(100_000)]
    report = ingest.commit(db, "".join(lines).encode(), "huge.csv", ME)
    assert not report.ok and report.rows == 100_000
    assert len(report.errors) == upload_read.MAX_LISTED
    assert len(report.errors) + report.more_errors >= 100_000
    assert table_counts(db) == before


def test_rows_for_another_organisation_are_refused(lab):
    data = (HEADER + row() + row(org="Riverside Practice")).encode()
    forced = ingest.check(lab["db"], data, "r.csv", ADMIN, organisation=PP)
    assert "this upload is for Peer Pathways" in str(forced.errors[0])
    assert forced.errors[0].row == 3
    partner = Scope(actor="pp", role="partner", organisation_id=lab["pp"], organisation=PP)
    scoped = ingest.check(lab["db"], data, "r.csv", partner)
    assert "you may upload results only for Peer Pathways" in str(scoped.errors[0])


# --------------------------------------------------------------------------- good files


def stored(db):
    return observations.load_results(db, ADMIN).sort_values(["organisation", "measure", "period"])


def test_good_file_in_every_accepted_shape(lab):
    db = lab["db"]
    cases = {
        "utf8": (HEADER + row(value="11", note="café")).encode("utf-8"),
        "bom": ("\ufeff" + HEADER + row(period=W[3].isoformat(), value="12")).encode("utf-8"),
        "cp1252": (HEADER + row(period=W[4].isoformat(), value="13", note="’quoted’ café"))
        .encode("cp1252"),
        "semicolon decimal comma": (HEADER.replace(",", ";")
                                    + f"{PP};REF;{W[5]};13,5;;;\n").encode(),
        "tab": (HEADER.replace(",", "\t") + f"{PP}\tREF\t{W[6]}\t14\t\t\t\n").encode(),
        "quoted newline": (HEADER + row(period=W[7].isoformat(), value="15",
                                        note='"two\nlines, and a comma"')).encode(),
        "uk date and names in odd case": (HEADER + row(org="  peer   PATHWAYS ",
                                                       measure="people REFERRED",
                                                       period=W[8].strftime("%d/%m/%Y"),
                                                       value="16")).encode(),
        "proportion": (HEADER + row(measure="first", value="", num="4", den="8",
                                    period=W[9].isoformat())).encode(),
        "wide": (f"period,REF,FIRST numerator,FIRST denominator\n{W[10]},17,3,9\n").encode(),
    }
    expected_encoding = {"bom": "UTF-8 with BOM", "cp1252": "Windows-1252",
                         "semicolon decimal comma": "UTF-8"}
    for name, data in cases.items():
        report = ingest.commit(db, data, f"{name}.csv", ME,
                               organisation=PP if name == "wide" else None)
        assert report.ok, (name, [str(e) for e in report.errors])
        assert report.batch_id is not None, name
        if name in expected_encoding:
            assert report.encoding.startswith(expected_encoding[name])
    results = stored(db)
    ref = results[results["measure"] == "People referred"].set_index("period")["value"]
    assert ref[pd.Timestamp(W[5])] == 13.5
    notes = set(results["note"].dropna())
    assert {"café", "’quoted’ café", "two\nlines, and a comma"} <= notes
    first = results[results["measure"] == "Attending a first session"]
    assert set(zip(first["numerator"], first["denominator"], strict=True)) == {(4, 8), (3, 9)}


def test_xlsx_template_round_trip(lab):
    db = lab["db"]
    data = templates.template_xlsx(db, ADMIN, PP)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Results", "Instructions"]
    sheet = book["Results"]
    header = [c.value for c in sheet[1]]
    assert header == [*upload_read.COLUMNS, upload_read.HOW_TO]
    assert sheet[2][7].value.startswith(("value: one number, in", "numerator: "))
    instructions = " ".join(str(c.value) for r in book["Instructions"].iter_rows() for c in r)
    assert "Operational definition" in instructions and "numerator and denominator" in instructions
    filled = 0
    for r in sheet.iter_rows(min_row=2):
        if r[1].value == "People referred" and filled < 3:
            r[3].value = 20 + filled
            filled += 1
    out = io.BytesIO()
    book.save(out)
    report = ingest.commit(db, out.getvalue(), "template.xlsx", ME, organisation=PP)
    assert report.ok and report.new == 3 and report.empty_rows > 0
    assert report.encoding == "Excel workbook"
    assert not report.warnings  # the "how to fill in" column is read past quietly


def test_csv_template_lists_periods_due(lab):
    db = lab["db"]
    text = templates.template_csv(db, ADMIN, PP).decode()
    frame = pd.read_csv(io.StringIO(text))
    assert list(frame.columns) == [*upload_read.COLUMNS, upload_read.HOW_TO]
    # the unit and the base of every measure, on every row, in the CSV too
    guide = frame.set_index("measure")[upload_read.HOW_TO]
    assert guide["People referred"].iloc[0] == "value: one number, in people"
    assert guide["Attending a first session"].iloc[0].startswith("numerator: n; denominator: d")
    weekly = frame[frame["measure"] == "People referred"]["period"]
    assert len(weekly) == 31  # W[30] .. this week
    assert set(frame["measure"]) == {"People referred", "Attending a first session",
                                     "Volunteers active"}
    ingest.commit(db, (HEADER + row()).encode(), "one.csv", ME)
    again = pd.read_csv(io.StringIO(templates.template_csv(db, ADMIN, PP).decode()))
    assert len(again[again["measure"] == "People referred"]) == 30  # W[2] no longer due


def test_update_supersedes_keeps_history_and_undo_brings_it_back(lab):
    db = lab["db"]
    first = ingest.commit(db, (HEADER + row(value="10")).encode(), "a.csv", ME)
    assert (first.new, first.updated) == (1, 0)
    second = ingest.commit(db, (HEADER + row(value="11") + row(period=W[3].isoformat()))
                           .encode(), "b.csv", ME)
    assert (second.new, second.updated, second.unchanged) == (1, 1, 0)
    assert second.plan.set_index("status").loc["updated", "old_value"] == 10
    assert stored(db)["value"].tolist() == [12, 11]  # W[3] comes before W[2]
    history = db.read("SELECT value FROM result ORDER BY id")["value"].tolist()
    assert history == [10, 11, 12]  # nothing overwritten in place
    assert batches.undo_batch(db, ME, second.batch_id) == 2
    assert stored(db)["value"].tolist() == [10]
    with pytest.raises(repo.InputError, match="already undone"):
        batches.undo_batch(db, ME, second.batch_id)
    audit = repo.list_audit(db, ADMIN)
    assert {"upload", "undo"} <= set(audit["action"])
    listed = batches.list_batches(db, ADMIN, [lab["pp"]])
    assert listed["undone_at"].notna().sum() == 1



def test_an_upload_s_rows_are_read_a_page_at_a_time(lab):
    """The upload page opens an upload's rows: at scale one upload is a million results, so
    it reads the first rows and the count (on each engine), not every row."""
    db = lab["db"]
    data = (HEADER + "".join(row(period=W[k].isoformat(), value=str(10 + k))
                             for k in range(2, 8))).encode()
    batch = ingest.commit(db, data, "six.csv", ME).batch_id
    assert batches.batch_size(db, ME, batch) == 6
    first = batches.batch_rows(db, ME, batch, limit=4)
    assert len(first) == 4
    pd.testing.assert_frame_equal(first, batches.batch_rows(db, ME, batch).head(4))

def test_the_same_file_twice_adds_nothing(lab):
    db = lab["db"]
    data = (HEADER + row() + row(period=W[3].isoformat())).encode()
    assert ingest.commit(db, data, "a.csv", ME).batch_id is not None
    before = table_counts(db)
    again = ingest.commit(db, data, "a.csv", ME)
    assert again.ok and again.batch_id is None and again.already_stored_batch is not None
    assert again.unchanged == 2
    assert table_counts(db) == before


def test_far_from_history_is_a_warning_not_an_error(lab):
    db = lab["db"]
    lines = [HEADER] + [row(period=W[k].isoformat(), value=str(10 + k % 3)) for k in range(3, 15)]
    assert ingest.commit(db, "".join(lines).encode(), "history.csv", ME).ok
    report = ingest.check(db, (HEADER + row(value="1000")).encode(), "typo.csv", ADMIN)
    assert report.ok
    assert any("far from this organisation's usual results" in str(w) for w in report.warnings)


def test_identical_duplicate_rows_are_a_warning(lab):
    report = ingest.check(lab["db"], (HEADER + row() + row()).encode(), "dupe.csv", ADMIN)
    assert report.ok and report.new == 1
    assert any("repeat this row" in str(w) for w in report.warnings)


# --------------------------------------------------------------------------- export


def test_export_writes_every_table_and_neutralises_formulas(lab, tmp_path):
    db = lab["db"]
    data = (HEADER + row(note="=HYPERLINK(\"http://x\")") + row(period=W[3].isoformat(),
                                                                note="@SUM(1)")).encode()
    assert ingest.commit(db, data, "f.csv", ME).ok
    written = {p.name for p in export.export_all(db, ADMIN, tmp_path)}
    assert {"results.csv", "organisations.csv", "measures.csv", "cycles.csv",
            "audit_log.csv", "upload_batches.csv"} <= written
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["organisation", "measure", "period", "value", "numerator",
                             "denominator", "note", "batch"]
    assert {r["note"] for r in rows} == {"'=HYPERLINK(\"http://x\")", "'@SUM(1)"}
    assert {(r["value"], r["period"]) for r in rows} == {("12", W[2].isoformat()),
                                                          ("12", W[3].isoformat())}
    # exported results import again unchanged (the apostrophe is taken off)
    report = ingest.check(db, (tmp_path / "results.csv").read_bytes(), "results.csv", ADMIN)
    assert report.ok and report.unchanged == 2


notes = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                max_size=40).map(str.strip)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 25), st.sampled_from(["REF", "FIRST"]),
                          st.integers(0, 500), st.integers(0, 500), notes),
                min_size=1, max_size=30, unique_by=lambda t: (t[0], t[1])))
def test_any_accepted_file_comes_back_unchanged_through_export(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("roundtrip")
    with Database(folder / "t.duckdb") as db:
        make_lab(db)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(upload_read.COLUMNS)
        expected = {}
        for week, measure, a, b, note in rows:
            period = W[week].isoformat()
            if measure == "REF":
                value = a + b / 100
                writer.writerow([PP, measure, period, value, "", "", note])
                expected[(measure, period)] = (value, None, None, note or None)
            else:
                num, den = min(a, b), max(a, b) + 1
                writer.writerow([PP, measure, period, "", num, den, note])
                expected[(measure, period)] = (None, float(num), float(den), note or None)
        report = ingest.commit(db, out.getvalue().encode(), "in.csv", ME)
        assert report.ok, [str(e) for e in report.errors]
        export.export_all(db, ADMIN, folder / "out")
        again = ingest.check(db, (folder / "out" / "results.csv").read_bytes(), "results.csv", ADMIN)
        assert again.ok and again.unchanged == len(rows) and again.new == again.updated == 0
        exported = pd.read_csv(folder / "out" / "results.csv", keep_default_na=False,
                               dtype=str)
        assert len(exported) == len(rows)
        codes = {"People referred": "REF", "Attending a first session": "FIRST"}
        for r in exported.itertuples():
            value, num, den, note = expected[(codes[r.measure], r.period)]
            assert (float(r.value) if r.value else None) == value
            assert (float(r.numerator) if r.numerator else None) == num
            assert (float(r.denominator) if r.denominator else None) == den
            shown = r.note[1:] if r.note[:1] == "'" and r.note[1:2] and r.note[1:2] in "=+-@" \
                else r.note
            assert (shown or None) == note


# --------------------------------------------------------------------------- concurrency


def test_eight_uploads_at_once_while_others_read(tmp_path):
    with Database(tmp_path / "c.duckdb") as db:
        make_lab(db)
        org_ids = [repo.add_organisation(db, ME, name=f"Partner {i}", kind="charity")
                   for i in range(8)]
        errors, reads = [], []

        def upload(i):
            try:
                lines = [HEADER] + [row(org=f"Partner {i}", period=W[k].isoformat(),
                                        value=str(i * 100 + k)) for k in range(1, 29)]
                report = ingest.commit(db, "".join(lines).encode(), f"p{i}.csv", ME,
                                       organisation=f"Partner {i}")
                if not report.ok or report.new != 28:
                    errors.append((i, [str(e) for e in report.errors]))
            except Exception as exc:  # noqa: BLE001 - any failure fails the test below
                errors.append((i, repr(exc)))

        stop = threading.Event()

        def read():
            while not stop.is_set():
                try:
                    reads.append(len(observations.load_results(db, ADMIN)))
                except Exception as exc:  # noqa: BLE001
                    errors.append(("reader", repr(exc)))

        readers = [threading.Thread(target=read) for _ in range(2)]
        writers = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join(timeout=120)
        stop.set()
        for t in readers:
            t.join(timeout=30)
        assert errors == []
        results = observations.load_results(db, ADMIN)
        assert len(results) == 8 * 28
        assert set(results["organisation_id"]) == set(org_ids)
        assert reads and max(reads) <= 8 * 28


# --------------------------------------------------------------------------- kill -9


def million_row_lab(db: Database) -> pd.DataFrame:
    """200 organisations and 100 weekly measures in `db`, and a file's worth of results for
    them: 1,000,000 rows (50 weeks each)."""
    weeks = [(THIS_MONDAY - dt.timedelta(weeks=k)).isoformat() for k in range(1, 51)]
    repo.create_challenge(db, ME, title="Lab", question="Q?", aim="Aim",
                          start_date=THIS_MONDAY - dt.timedelta(weeks=60),
                          end_date=THIS_MONDAY + dt.timedelta(weeks=10))
    for i in range(200):
        repo.add_organisation(db, ME, name=f"Site {i}", kind="charity")
    for j in range(100):
        repo.add_measure(db, ME, code=f"M{j}", name=f"Measure {j}", measure_type="process",
                         definition="d", unit="u", direction="increase", data_kind="value",
                         frequency="week")
    return pd.DataFrame({
        "organisation": pd.Series([f"Site {i}" for i in range(200)]).repeat(100 * 50).to_numpy(),
        "measure": pd.Series([f"M{j}" for j in range(100)] * 200).repeat(50).to_numpy(),
        "period": weeks * (200 * 100),
        "value": 7, "numerator": "", "denominator": "", "note": ""})


def test_killed_in_the_middle_of_a_million_row_import(tmp_path):
    """SIGKILL while storing a 1,000,000-row file: on reopen the upload is all there or not
    there at all."""
    path = tmp_path / "k.duckdb"
    with Database(path) as db:
        frame = million_row_lab(db)
    big = tmp_path / "million.csv"
    frame.to_csv(big, index=False)
    assert len(frame) == 1_000_000
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "import", str(big), "--db", str(path), "--verbose"],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        if "Storing" in line:
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # it was killed, not finished
    with Database(path) as db:
        n_batches = db.scalar("SELECT count(*) FROM upload_batch")
        results = db.scalar("SELECT count(*) FROM result")
    assert (n_batches, results) in ((0, 0), (1, 1_000_000))
