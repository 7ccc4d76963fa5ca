"""Files attached to a cycle (by its organisation or the lab team) or to an idea (by the lab
team): the photo of a poster that was tested, a leaflet as PDF, a tally as CSV.

What a file is comes from its content, never its name: PNG, JPEG and WebP images, PDF and
CSV, up to `MAX_BYTES` each and `QUOTA_BYTES` in all per organisation (the lab team's own
files count against `LAB_QUOTA_BYTES`). A name that says one type over content of another is
refused, as is anything else.

- Images are decoded and drawn again from their pixels (Pillow): what travelled with them
  (EXIF, GPS location included, comments, colour profiles, a second file hidden behind the
  image) is not kept, and a photo taken sideways is turned upright first. An image of more
  than `MAX_PIXELS` (a decompression bomb, or a picture far larger than needed) is refused.
- A PDF is refused if it holds JavaScript, launches a program, carries embedded files or XFA
  forms, or is encrypted (and so cannot be checked).
- A CSV must be text; cells a spreadsheet would run as a formula are prefixed with an
  apostrophe, as in every export (numbers such as -5 stay numbers).

Files are stored in the database (both engines), so backups, restores and `migrate-to` carry
them. They are read as the thing they belong to: a cycle's by the lab team, viewers and that
organisation; an idea's by everyone signed in. Someone outside the lab reads a caption only
if it passes the last check of shared text. PDFs and CSVs are only ever downloaded; only
images are shown, and only images marked public by the lab admin go in the public report.
Removing a file clears its content and keeps the row and the audit entry.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.community import comments
from tracker.community.comments import Topic
from tracker.errors import InputError, PermissionDenied
from tracker.intake.upload_read import FORMULA_START
from tracker.records import files
from tracker.storage.db import Database
from tracker.storage.store import _audit, _Checks, _insert

MAX_BYTES = 10 * 1024 * 1024
QUOTA_BYTES = 100 * 1024 * 1024  # per organisation
LAB_QUOTA_BYTES = 500 * 1024 * 1024  # the lab team's own files
MAX_PIXELS = 40_000_000  # 40 megapixels: any phone photo, not a bomb
MAX_CAPTION = 300
MAX_PDF_OBJECTS = 200_000

# kind: (words, MIME type, the file name endings that say it)
KINDS = {
    "png": ("PNG image", "image/png", (".png",)),
    "jpeg": ("JPEG image", "image/jpeg", (".jpg", ".jpeg")),
    "webp": ("WebP image", "image/webp", (".webp",)),
    "pdf": ("PDF document", "application/pdf", (".pdf",)),
    "csv": ("CSV table", "text/csv", (".csv",)),
}
IMAGES = ("png", "jpeg", "webp")
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
ACCEPTED = "a PNG, JPEG or WebP image, a PDF or a CSV file"


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MB"


# --------------------------------------------------------------------------- the content


@dataclass
class Prepared:
    """A file checked and cleaned, ready to store."""

    kind: str
    file_name: str
    content: bytes
    done: list[str] = field(default_factory=list)  # what was changed, in words


def sniff(data: bytes) -> str | None:
    """The kind the content is, by its first bytes (CSV: text, checked later)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"%PDF-"):
        return "pdf"
    return None


def _named(file_name: str) -> str | None:
    lower = file_name.lower()
    for kind, (_, _, endings) in KINDS.items():
        if lower.endswith(endings):
            return kind
    return None


def prepare(file_name, data: bytes) -> Prepared:
    """Check a file and clean it (images redrawn, CSV formulas defused). Raises InputError
    saying what is wrong and what to do."""
    name = (str(file_name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip() or "file"
    if len(name) > 120:
        name = name[:80] + "…" + name[-30:]
    if not data:
        raise InputError(f"{name} is empty: choose the file again.")
    if len(data) > MAX_BYTES:
        raise InputError(f"{name} is {_megabytes(len(data))}; a file may be at most "
                         f"{_megabytes(MAX_BYTES)}. Make it smaller (a photo at a lower "
                         "resolution, a PDF saved for screen) and attach it again.")
    said, found = _named(name), sniff(data)
    if said is None:
        raise InputError(f"{name} is not {ACCEPTED} (by its name). Save it as one of those.")
    if found is None and said != "csv":
        raise InputError(f"{name} is called a {KINDS[said][0]} but its content is not one (nor "
                         f"any of {ACCEPTED}). Nothing was stored; save the file again from "
                         "the program that made it.")
    if found is not None and found != said:
        raise InputError(f"{name} is called a {KINDS[said][0]} but its content is a "
                         f"{KINDS[found][0]}. Rename it to match what it is, and attach it "
                         "again.")
    if said in IMAGES:
        return _image(name, said, data)
    if said == "pdf":
        return _pdf(name, data)
    return _csv(name, data)


def _image(name: str, kind: str, data: bytes) -> Prepared:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[kind]]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise InputError(
                        f"{name} is {width:,} × {height:,} pixels, more than this tracker "
                        f"takes ({MAX_PIXELS / 1e6:.0f} megapixels): an image that large is "
                        "refused, since one built to be huge when opened could stop the "
                        "server. Save it smaller and attach it again.")
                image.load()
                upright = ImageOps.exif_transpose(image)
                mode = "RGBA" if upright.mode in ("RGBA", "LA", "PA") or (
                    upright.mode == "P" and "transparency" in upright.info) else "RGB"
                if kind == "jpeg":
                    mode = "RGB"
                pixels = upright.convert(mode)
                clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{name} would open to an image far larger than its file (a "
                         "'decompression bomb'); it was refused. Save the picture again from a "
                         "photo program and attach it.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{name} could not be read as a {KINDS[kind][0]} ({exc}); it may be "
                         "damaged. Save it again and attach it.") from None
    out = io.BytesIO()
    options = {"quality": 90} if kind == "jpeg" else {"lossless": True} if kind == "webp" \
        else {"optimize": True}
    clean.save(out, format=_PIL_FORMAT[kind], **options)
    return Prepared(kind, name, out.getvalue(),
                    ["redrawn from its pixels: camera details and location (EXIF) removed"])


_HEX_IN_NAME = re.compile(rb"#([0-9A-Fa-f]{2})")
_RAW_DANGER = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|XFA|RichMedia)(?![A-Za-z])")
_DANGER_KEYS = {"/JS": "JavaScript", "/JavaScript": "JavaScript", "/Launch": "a program to run",
                "/EmbeddedFiles": "embedded files", "/EmbeddedFile": "embedded files",
                "/XFA": "an XFA form (which can hold scripts)", "/RichMedia": "rich media"}


def _pdf(name: str, data: bytes) -> Prepared:
    """Refuse a PDF that could act when opened: JavaScript anywhere (as a name, however
    spelled with #xx escapes, or as an action's /S), launch actions, embedded files, XFA."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

    def refuse(what: str):
        raise InputError(f"{name} holds {what}, which a PDF reader could run when the file is "
                         "opened; it was refused. Print it to a new PDF (\"Save as PDF\") and "
                         "attach that.")

    unescaped = _HEX_IN_NAME.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    raw = _RAW_DANGER.search(unescaped)
    if raw:
        refuse(_DANGER_KEYS.get("/" + raw.group(1).decode(), "JavaScript"))
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise InputError(f"{name} is protected by a password, so it cannot be checked. "
                             "Save a copy without the password and attach that.")
        seen: set = set()
        todo: list = [reader.trailer]
        while todo:
            item = todo.pop()
            if isinstance(item, IndirectObject):
                key = (item.idnum, item.generation)
                if key in seen:
                    continue
                seen.add(key)
                if len(seen) > MAX_PDF_OBJECTS:
                    raise InputError(f"{name} holds more than {MAX_PDF_OBJECTS:,} objects; it "
                                     "cannot be checked. Print it to a new PDF and attach that.")
                item = item.get_object()
            if isinstance(item, DictionaryObject):
                for key, value in item.items():
                    if key in _DANGER_KEYS:
                        refuse(_DANGER_KEYS[key])
                    if key == "/S" and isinstance(value, NameObject) and \
                            value in ("/JavaScript", "/Launch"):
                        refuse(_DANGER_KEYS[str(value)])
                    todo.append(value)
                stream = getattr(item, "get_data", None)
                if stream is not None and item.get("/Type") == "/ObjStm":
                    continue  # its objects are reached by reference
            elif isinstance(item, ArrayObject):
                todo.extend(item)
        if not len(reader.pages):
            raise InputError(f"{name} has no pages.")
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError,
            OSError) as exc:
        raise InputError(f"{name} could not be read as a PDF ({type(exc).__name__}); it may "
                         "be damaged. Save it again and attach it.") from None
    return Prepared("pdf", name, data, [])


def _csv(name: str, data: bytes) -> Prepared:
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = body.decode("cp1252")
        except UnicodeDecodeError:
            raise InputError(f"{name} is called a CSV table but its content is not text. "
                             "Save it from the spreadsheet as 'CSV UTF-8' and attach it "
                             "again.") from None
    if "\x00" in text or re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f]", text):
        raise InputError(f"{name} is called a CSV table but its content is not text (it holds "
                         "control characters). Save it from the spreadsheet as 'CSV UTF-8'.")
    if re.match(r"\s*<(!doctype|html|svg|\?xml|script)", text, re.IGNORECASE):
        raise InputError(f"{name} is called a CSV table but its content is a web page or "
                         "markup. Save the table from the spreadsheet as 'CSV UTF-8'.")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputError(f"{name} could not be read as a CSV table ({exc}).") from None
    defused = 0
    for row in rows:
        for i, cell in enumerate(row):
            if cell.startswith(FORMULA_START) and not _is_number(cell):
                row[i] = "'" + cell
                defused += 1
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    done = [f"{defused} cell{'s' if defused != 1 else ''} a spreadsheet would run as a formula "
            "prefixed with an apostrophe"] if defused else []
    return Prepared("csv", name, out.getvalue().encode("utf-8"), done)


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
    except ValueError:
        return False
    return True


PREVIEW_SIDE = 800  # pixels: a photo as a page shows it (three to a row, sharp on a laptop)


def preview(content: bytes, kind: str, side: int = PREVIEW_SIDE) -> bytes:
    """An image made small enough for a page (its longer side at most `side` pixels), in
    the same format; one already that small is returned as it is. The stored file is the
    one downloaded."""
    from PIL import Image

    with Image.open(io.BytesIO(content), formats=[_PIL_FORMAT[kind]]) as image:
        if max(image.size) <= side:
            return content
        image.thumbnail((side, side))
        out = io.BytesIO()
        image.save(out, format=_PIL_FORMAT[kind], **({"quality": 85} if kind == "jpeg" else {}))
        return out.getvalue()


# --------------------------------------------------------------------------- who may


def may_read(db: Database, scope: Scope, topic: Topic) -> bool:
    """Files are read as the cycle or idea they belong to; anyone else (a contributor) reads
    only those marked public."""
    if scope.role in ("admin", "viewer", "partner"):
        return comments.may_read(db, scope, topic)
    return False


def may_attach(db: Database, scope: Scope, topic: Topic) -> bool:
    """The lab team anywhere; a partner on its own cycles (an idea's files are the lab
    team's: a partner's photo goes on the cycle it came from)."""
    if scope.is_admin:
        return True
    return scope.is_partner and topic.about == "cycle" and \
        topic.organisation_id == scope.organisation_id


def _owner_clause(scope: Scope) -> tuple[str, list]:
    if scope.is_partner:
        return "uploader_organisation_id = ?", [scope.organisation_id]
    return "uploader_organisation_id IS NULL", []


# --------------------------------------------------------------------------- writing


def attach(db: Database, scope: Scope, topic: Topic, file_name, data: bytes, caption=None
           ) -> tuple[int, list[str]]:
    """Check, clean and store a file; returns its id and what was changed, in words."""
    if topic.about not in ("cycle", "idea"):
        raise InputError("Files are attached to a cycle or an idea.")
    if not may_attach(db, scope, topic):
        raise PermissionDenied("You may attach files only to your own organisation's cycles "
                               "(the lab team: to any cycle or idea).")
    c = _Checks()
    caption = c.text(caption, "The caption", required=False, limit=MAX_CAPTION)
    try:
        ready = prepare(file_name, data)
    except InputError as exc:
        c.problems.extend(exc.problems)
    c.raise_if_any()
    owner_sql, owner_params = _owner_clause(scope)
    quota = QUOTA_BYTES if scope.is_partner else LAB_QUOTA_BYTES
    with db.transaction() as cur:
        used = cur.execute(f"SELECT coalesce(sum(bytes), 0) FROM attachment WHERE {owner_sql}"
                           " AND removed_at IS NULL", owner_params).fetchone()[0]
        if used + len(ready.content) > quota:
            who = scope.organisation if scope.is_partner else "The lab team"
            raise InputError(f"{who} has {_megabytes(int(used))} of files stored, and this one "
                             f"({_megabytes(len(ready.content))}) would pass the limit of "
                             f"{_megabytes(quota)}. Remove files no longer needed, or ask the "
                             "lab admin.")
        row = {"about": topic.about, "idea_id": topic.idea_id, "cycle_id": topic.cycle_id,
               "organisation_id": topic.organisation_id, "kind": ready.kind,
               "file_name": ready.file_name, "caption": caption, "content": ready.content,
               "bytes": len(ready.content),
               "sha256": hashlib.sha256(ready.content).hexdigest(),
               "uploaded_by": scope.actor, "uploader_account_id": scope.account_id,
               "uploader_organisation_id": scope.organisation_id if scope.is_partner else None,
               "uploaded_at": clock.now()}
        new_id = _insert(cur, "attachment", row)
        _audit(cur, scope.actor, "create", "attachment", new_id, None,
               {k: v for k, v in row.items() if k not in ("content", "caption")})
    return new_id, ready.done


def _row(cur, attachment_id: int) -> dict:
    found = cur.execute("SELECT id, about, idea_id, cycle_id, organisation_id, kind,"
                        " uploaded_by, uploader_account_id, uploader_organisation_id,"
                        " removed_at, public FROM attachment WHERE id = ?",
                        [int(attachment_id)])
    values = found.fetchone()
    if values is None:
        raise InputError("That file no longer exists; reload the page.")
    return dict(zip([d[0] for d in cur.description], values, strict=True))


def _may_remove(scope: Scope, row) -> bool:
    if scope.is_admin:
        return True
    if scope.account_id is not None and row["uploader_account_id"] is not None and \
            not pd.isna(row["uploader_account_id"]):
        return int(row["uploader_account_id"]) == scope.account_id
    return scope.account_id is None and row["uploaded_by"] == scope.actor


def remove(db: Database, scope: Scope, attachment_id: int) -> None:
    """The uploader or the lab admin removes a file: its content goes, its row and audit
    entry stay (so the history says a file was there)."""
    with db.transaction() as cur:
        row = _row(cur, attachment_id)
        if not _may_remove(scope, row):
            raise PermissionDenied("Only whoever attached a file, or the lab admin, may "
                                   "remove it.")
        if row["removed_at"] is not None:
            return
        cur.execute("UPDATE attachment SET content = ?, caption = NULL, public = FALSE,"
                    " removed_at = ?, removed_by = ? WHERE id = ?",
                    [b"", clock.now(), scope.actor, int(attachment_id)])
        _audit(cur, scope.actor, "delete", "attachment", int(attachment_id), None,
               {"removed": True})


def mark_public(db: Database, scope: Scope, attachment_id: int, public: bool) -> None:
    """The lab admin puts an image in the public learning report (or takes it out)."""
    scope.require_admin("choose the files in the public report")
    with db.transaction() as cur:
        row = _row(cur, attachment_id)
        if row["removed_at"] is not None:
            raise InputError("That file was removed.")
        if public and row["kind"] not in IMAGES:
            raise InputError("Only images go in the public report; PDFs and CSVs stay in the "
                             "lab.")
        if bool(row["public"]) == bool(public):
            return
        cur.execute("UPDATE attachment SET public = ? WHERE id = ?",
                    [bool(public), int(attachment_id)])
        _audit(cur, scope.actor, "update", "attachment", int(attachment_id),
               {"public": bool(row["public"])}, {"public": bool(public)})


# --------------------------------------------------------------------------- reading


def listing(db: Database, scope: Scope, topic: Topic) -> pd.DataFrame:
    """The files of a cycle or idea as this reader may read them (never their content):
    id, kind, file_name, caption (None where withheld), caption_withheld, bytes, sha256,
    uploaded_by (as the reader may see them), uploaded_at, public, may_remove."""
    if not may_read(db, scope, topic):
        raise PermissionDenied("You may not see the files of this.")
    where, params = topic.where_sql()
    frame = db.read(
        "SELECT id, kind, file_name, caption, bytes, sha256, uploaded_by, uploader_account_id,"
        " uploader_organisation_id, uploaded_at, public FROM attachment c"
        f" WHERE {where} AND removed_at IS NULL"
        " ORDER BY uploaded_at, id", params)
    frame = frame.astype(object).where(frame.notna(), None)
    a = comments.audience(db, scope)
    org_names = dict(db.read("SELECT id, name FROM organisation").itertuples(index=False))
    captions, withheld, names, file_names = [], [], [], []
    for row in frame.to_dict("records"):
        own = scope.is_partner and row["uploader_organisation_id"] == scope.organisation_id
        why = None if (a.is_lab or own) else a.problem_in(row["caption"])
        captions.append(None if why else row["caption"])
        withheld.append(bool(why))
        names.append(comments._author_label(scope, a, row["uploaded_by"],
                                            row["uploader_organisation_id"], org_names))
        # a file name another organisation chose is text like any other
        file_names.append(f"file {row['id']}.{row['kind']}"
                          if not a.is_lab and not own and a.problem_in(row["file_name"])
                          else row["file_name"])
    return pd.DataFrame({
        "id": [int(i) for i in frame["id"]], "kind": list(frame["kind"]),
        "file_name": file_names, "caption": captions,
        "caption_withheld": withheld, "bytes": [int(b) for b in frame["bytes"]],
        "sha256": list(frame["sha256"]),
        "uploaded_by": names, "uploaded_at": list(frame["uploaded_at"]),
        "public": [bool(p) for p in frame["public"]],
        "may_remove": [_may_remove(scope, r) for r in frame.to_dict("records")]})


def content(db: Database, scope: Scope, attachment_id: int) -> tuple[str, str, bytes]:
    """(file name, MIME type, bytes) of a file the reader may read."""
    found = db.read("SELECT * FROM attachment WHERE id = ? AND removed_at IS NULL",
                    [int(attachment_id)])
    if found.empty:
        raise InputError("That file no longer exists; reload the page.")
    row = found.iloc[0].to_dict()
    topic = comments._topic_of({**row, "measure_id": None})
    if not may_read(db, scope, topic):
        raise PermissionDenied("You may not open this file.")
    name = row["file_name"]
    own = scope.is_partner and row["uploader_organisation_id"] == scope.organisation_id
    if not scope.is_admin and not own and comments.audience(db, scope).problem_in(name):
        name = f"file {int(row['id'])}.{row['kind']}"
    return name, KINDS[row["kind"]][1], bytes(row["content"])


public_images = files.public_images  # the report's read (tracker/records/files.py)
