"""Attachments (issue 24, item 2): the type from the content, images redrawn without EXIF,
refusals in words (oversize, a lying type, an image bomb, a PDF with JavaScript), scoping,
the quota, removal and the public mark; stored alike on both engines."""

import io
import struct
import zlib

import pytest
from conftest import PASSWORD, table_counts
from PIL import Image

from tracker.access import auth
from tracker.community import attachments
from tracker.community.comments import Topic
from tracker.errors import InputError, PermissionDenied
from tracker.records import repo


def photo_with_location(size=(64, 48), fmt="JPEG") -> bytes:
    """A photo as a phone takes it: camera details and the GPS position in its EXIF."""
    image = Image.new("RGB", size, (200, 120, 40))
    exif = image.getexif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 39.9)
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # it does carry a location
    return data


def png(size=(20, 10), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` × `height` (a decompression bomb's shape)."""
    data = bytearray(png((1, 1), "L"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def pdf(extra: str = "") -> bytes:
    """A one-page PDF, with `extra` entries in its catalogue."""
    objects = [f"<< /Type /Catalog /Pages 2 0 R {extra}>>",
               "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n" \
        .encode()
    return bytes(out)


# --------------------------------------------------------------------------- the content


def test_a_photo_is_redrawn_and_its_location_is_gone():
    for fmt, name in (("JPEG", "poster.jpg"), ("WEBP", "poster.webp"), ("PNG", "poster.png")):
        before = photo_with_location(fmt=fmt)
        ready = attachments.prepare(name, before)
        after = Image.open(io.BytesIO(ready.content))
        assert after.format == fmt and after.size == (64, 48)
        assert not after.getexif() and not after.getexif().get_ifd(0x8825), fmt
        assert b"PhoneMaker" not in ready.content and b"Exif" not in ready.content, fmt
        assert "location" in " ".join(ready.done)


def test_a_polyglot_keeps_only_its_picture():
    hidden = b"<html><script>alert(1)</script></html>PK\x03\x04zip"
    ready = attachments.prepare("poster.png", png() + hidden)
    assert b"script" not in ready.content and b"PK\x03\x04" not in ready.content
    assert Image.open(io.BytesIO(ready.content)).size == (20, 10)


@pytest.mark.parametrize("name, data, said", [
    ("poster.png", b"<html><script>alert(1)</script></html>", "its content is not one"),
    ("notes.pdf", png(), "its content is a PNG image"),
    ("photo.jpg", pdf(), "its content is a PDF document"),
    ("page.html", b"<html></html>", "is not a PNG, JPEG or WebP image, a PDF or a CSV"),
    ("drawing.svg", b"<svg onload='alert(1)'/>", "is not a PNG, JPEG or WebP image"),
    ("tally.csv", png(), "its content is a PNG image"),
    ("tally.csv", b"<!DOCTYPE html><html><script>x</script>", "web page or markup"),
    ("tally.csv", b"a,b\x00\x01\x02", "not text"),
    ("empty.png", b"", "is empty"),
])
def test_a_type_that_lies_about_itself_is_refused_in_words(name, data, said):
    with pytest.raises(InputError, match=said):
        attachments.prepare(name, data)


def test_an_oversize_file_is_refused_before_it_is_read():
    with pytest.raises(InputError, match=r"at most 10\.0 MB"):
        attachments.prepare("big.pdf", b"%PDF-" + b"0" * attachments.MAX_BYTES)


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (8_000, 6_000)])
def test_an_image_bomb_is_refused(width, height):
    """Both past Pillow's own limit (a bomb) and past the tracker's 40 megapixels."""
    with pytest.raises(InputError, match="decompression bomb|megapixels"):
        attachments.prepare("bomb.png", png_claiming(width, height))


@pytest.mark.parametrize("extra, said", [
    ("/OpenAction << /S /JavaScript /JS (app.alert(1)) >> ", "JavaScript"),
    ("/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >> ", "JavaScript"),
    ("/Names << /JavaScript << /Names [(a) << /S /JavaScript /JS (x) >>] >> >> ", "JavaScript"),
    ("/OpenAction << /S /Launch /F (calc.exe) >> ", "a program to run"),
    ("/Names << /EmbeddedFiles << /Names [] >> >> ", "embedded files"),
    ("/AcroForm << /XFA [] >> ", "XFA"),
])
def test_a_pdf_that_could_act_when_opened_is_refused(extra, said):
    with pytest.raises(InputError, match=said):
        attachments.prepare("leaflet.pdf", pdf(extra))


def test_a_plain_pdf_is_kept_as_it_is_and_a_csv_loses_its_formulas():
    plain = pdf()
    assert attachments.prepare("leaflet.pdf", plain).content == plain
    ready = attachments.prepare("tally.csv", b"week,count,note\n2026-03-02,-5,=HYPERLINK(\"x\")\n"
                                b"2026-03-09,+3,@SUM(A1)\n")
    text = ready.content.decode()
    assert ',-5,"\'=HYPERLINK' in text and ",+3,'@SUM" in text
    assert "2 cells" in ready.done[0]


# --------------------------------------------------------------------------- in the database


@pytest.fixture
def lab(db):
    auth.add_user(db, None, username="admin", role="admin", password=PASSWORD)
    admin = auth.authenticate(db, "admin", PASSWORD)
    cid = repo.create_challenge(db, admin, title="Peer support", question="What would it take?",
                                aim="More peer support", start_date="2026-01-05",
                                end_date="2026-12-31")
    river = repo.add_organisation(db, admin, name="Riverside Practice", kind="gp_practice")
    hill = repo.add_organisation(db, admin, name="Hillview Surgery", kind="gp_practice")
    measure = repo.add_measure(db, admin, code="REF", name="Referrals", measure_type="process",
                               definition="People referred", unit="people",
                               direction="increase", data_kind="value", frequency="week")
    idea = repo.add_idea(db, admin, cid, title="Welcome call")
    cycle = repo.plan_cycle(db, admin, idea_id=idea, organisation_id=river, objective="Try",
                            question="Will they come?", prediction="6 of 10",
                            start_date="2026-03-02", end_date="2026-03-15",
                            measure_ids=[measure])
    for name, org in (("ann", river), ("bob", hill)):
        auth.add_user(db, admin, username=name, role="partner", password=PASSWORD,
                      organisation_id=org)
    auth.add_user(db, admin, username="lead", role="viewer", password=PASSWORD)
    people = {n: auth.scope_of_account(db, n) for n in ("admin", "ann", "bob", "lead")}
    return {"db": db, "idea": idea, "cycle": cycle, "river": river, **people}


def test_a_partner_s_photo_is_stored_clean_and_read_only_by_those_who_read_the_cycle(lab):
    db = lab["db"]
    topic = Topic.cycle(db, lab["cycle"])
    new_id, done = attachments.attach(db, lab["ann"], topic, "poster.jpg",
                                      photo_with_location(), caption="The poster we tested")
    assert done
    name, mime, data = attachments.content(db, lab["admin"], new_id)
    assert (name, mime) == ("poster.jpg", "image/jpeg")
    assert not Image.open(io.BytesIO(data)).getexif()  # stored without EXIF, on both engines
    assert data == attachments.content(db, lab["ann"], new_id)[2] == \
        attachments.content(db, lab["lead"], new_id)[2]
    for outsider in ("bob",):
        with pytest.raises(PermissionDenied):
            attachments.content(db, lab[outsider], new_id)
        with pytest.raises(PermissionDenied):
            attachments.listing(db, lab[outsider], topic)
    before = table_counts(db)
    for who in ("bob", "lead"):  # another partner and a viewer attach nothing here
        with pytest.raises(PermissionDenied):
            attachments.attach(db, lab[who], topic, "x.png", png())
    with pytest.raises(PermissionDenied):  # an idea's files are the lab team's
        attachments.attach(db, lab["ann"], Topic.idea(lab["idea"]), "x.png", png())
    with pytest.raises(InputError, match="content is a PNG"):
        attachments.attach(db, lab["ann"], topic, "x.pdf", png())
    assert table_counts(db) == before
    shown = attachments.listing(db, lab["lead"], topic)
    assert shown["file_name"].tolist() == ["poster.jpg"] and shown["uploaded_by"].iloc[0] == \
        "ann (Riverside Practice)"


def test_the_quota_removal_and_the_public_mark(lab, monkeypatch):
    db = lab["db"]
    topic = Topic.cycle(db, lab["cycle"])
    first, _ = attachments.attach(db, lab["ann"], topic, "a.png", png())
    monkeypatch.setattr(attachments, "QUOTA_BYTES", 2 * len(attachments.prepare("a.png",
                                                                                png()).content))
    attachments.attach(db, lab["ann"], topic, "b.png", png())
    with pytest.raises(InputError, match="would pass the limit"):
        attachments.attach(db, lab["ann"], topic, "c.png", png())
    with pytest.raises(PermissionDenied):
        attachments.remove(db, lab["bob"], first)
    attachments.remove(db, lab["ann"], first)
    attachments.attach(db, lab["ann"], topic, "c.png", png())  # room again
    assert db.scalar("SELECT octet_length(content) FROM attachment WHERE id = ?", [first]) == 0
    with pytest.raises(InputError):
        attachments.content(db, lab["admin"], first)
    pdf_id, _ = attachments.attach(db, lab["admin"], topic, "leaflet.pdf", pdf())
    with pytest.raises(InputError, match="Only images"):
        attachments.mark_public(db, lab["admin"], pdf_id, True)
    image = int(attachments.listing(db, lab["admin"], topic)["id"].iloc[0])
    with pytest.raises(PermissionDenied):
        attachments.mark_public(db, lab["ann"], image, True)
    attachments.mark_public(db, lab["admin"], image, True)
    assert attachments.public_images(db, [lab["idea"]])["id"].tolist() == [image]
    audit = repo.list_audit(db, lab["admin"])
    assert not audit[audit["entity"] == "attachment"]["after"].str.contains("content").any()


def test_files_survive_a_backup_and_a_restore_on_both_engines(lab, tmp_path, request):
    """The file on DuckDB (copied and checked by reopening) and pg_dump on PostgreSQL,
    restored into a new database: every byte of every file as it was stored."""
    db = lab["db"]
    topic = Topic.cycle(db, lab["cycle"])
    stored = {}
    for name, data in (("poster.jpg", photo_with_location()), ("leaflet.pdf", pdf()),
                       ("tally.csv", b"week,count\n2026-03-02,4\n")):
        new_id, _ = attachments.attach(db, lab["ann"], topic, name, data)
        stored[new_id] = attachments.content(db, lab["admin"], new_id)[2]
    if request.node.callspec.params["db"] == "duckdb":
        from tracker.storage import backup
        from tracker.storage.db import Database

        made = backup.backup(db, tmp_path / "backups")
        db.close()
        db.path.write_bytes(b"")  # the lab's file lost
        backup.restore(db.path, tmp_path / "backups")
        assert made.path.exists()
        with Database(db.path) as restored:
            for new_id, data in stored.items():
                assert attachments.content(restored, lab["admin"], new_id)[2] == data
        return
    import psycopg

    from tracker.storage import backup_pg
    from tracker.storage.pg import PostgresDatabase

    backup_pg.backup(db, tmp_path / "dumps")
    server = request.getfixturevalue("postgresql_server")
    target = "t_restore_files"
    with psycopg.connect(server + " dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {target}")
        admin.execute(f"CREATE DATABASE {target}")
    try:
        backup_pg.restore(f"{server} dbname={target}", tmp_path / "dumps")
        with PostgresDatabase(f"{server} dbname={target}") as restored:
            for new_id, data in stored.items():
                assert attachments.content(restored, lab["admin"], new_id)[2] == data
    finally:
        with psycopg.connect(server + " dbname=postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {target} WITH (FORCE)")


def test_only_images_marked_public_go_in_the_public_report_and_their_captions_are_checked(
        demo_db):
    from tracker.access.scope import Scope
    from tracker.learning import learning_report

    admin = Scope.admin("t")
    ideas = repo.list_ideas(demo_db, repo.get_challenge(demo_db)["id"]).set_index("title")["id"]
    idea = int(ideas["Buddy for every new volunteer peer supporter"])
    topic = Topic.idea(idea)
    shown, _ = attachments.attach(demo_db, admin, topic, "a.png", png((30, 30)),
                                  caption="Volunteers met at Hillview Surgery (demo).")
    kept, _ = attachments.attach(demo_db, admin, topic, "b.png", png((31, 31)),
                                 caption="Not for the public")
    attachments.mark_public(demo_db, admin, shown, True)
    html = learning_report.build_html(demo_db, admin, public=True, ideas=[str(idea)])
    assert html.count('<figure class="photo">') == 1
    assert "Hillview" not in html and "Not for the public" not in html  # withheld, unmarked
    assert "An image&#39;s caption is withheld" in html or "image's caption is withheld" in html
    internal = learning_report.build_html(demo_db, admin, public=False, ideas=[str(idea)])
    assert "Volunteers met at Hillview Surgery" in internal
