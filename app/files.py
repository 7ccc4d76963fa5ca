"""The files of a cycle or an idea on a page: images shown (redrawn when they were stored),
PDFs and CSVs as downloads only; the form to attach one; for the lab admin, which images go
in the public report. The rules are in tracker/community/attachments.py."""

from __future__ import annotations

import streamlit as st

from app import ui
from tracker.community import attachments
from tracker.community.comments import Topic
from tracker.errors import PermissionDenied


@st.cache_resource(max_entries=200, show_spinner=False)
def _image(_db_path: str, scope, attachment_id: int, sha: str) -> bytes:
    """An image as a page shows it (at most 800 pixels a side), made once and kept between
    runs (a file's content never changes under its id), for a reader who may read it."""
    _, _, content = attachments.content(ui.get_db(), scope, attachment_id)
    kind = attachments.sniff(content)
    return attachments.preview(content, kind) if kind in attachments.IMAGES else content


def _size(n: int) -> str:
    return f"{n / 1024:,.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.1f} MB"


def show(db, scope, topic: Topic, *, key: str) -> None:
    try:
        files = attachments.listing(db, scope, topic)
    except PermissionDenied:
        return
    may_attach = attachments.may_attach(db, scope, topic)
    if files.empty and not may_attach:
        return
    st.subheader(f"Files ({len(files)})" if len(files) else "Files")
    images = files[files["kind"].isin(attachments.IMAGES)]
    columns = st.columns(3)
    for n, row in enumerate(images.to_dict("records")):
        with columns[n % 3]:
            caption = row["caption"] if isinstance(row["caption"], str) else ""
            st.image(_image(str(db.path), scope, row["id"], row["sha256"]), width="stretch",
                     alt=caption or f"A photo attached as {row['file_name']}")
            _about(row)
    for row in files[~files["kind"].isin(attachments.IMAGES)].to_dict("records"):
        st.download_button(
            f"Download {row['file_name']} ({_size(row['bytes'])})",
            data=lambda i=row["id"]: attachments.content(db, scope, i)[2],
            file_name=row["file_name"], mime=attachments.KINDS[row["kind"]][1],
            on_click="ignore", key=f"file_{key}_{row['id']}", icon=":material/download:")
        _about(row)
    managed = files[files["may_remove"]]
    if len(managed):
        _manage(db, scope, managed, key)
    if may_attach:
        _attach_form(db, scope, topic, key)


def _about(row: dict) -> None:
    said = f"{row['file_name']} · {row['uploaded_by']} · {row['uploaded_at']:%d %b %Y}" + \
        (" · in the public report" if row["public"] else "")
    if isinstance(row["caption"], str) and row["caption"]:  # a missing one reads NaN
        st.markdown(ui.esc(row["caption"]))
    elif row["caption_withheld"]:
        st.caption("(A caption not shown to you: it names someone or something withheld.)")
    st.caption(ui.esc(said))


def _manage(db, scope, managed, key: str) -> None:
    """Remove a file (its uploader, the lab admin) or, for the lab admin, put an image in
    the public report: one control under the files, not one per file."""
    names = {int(r["id"]): r["file_name"] for r in managed.to_dict("records")}
    with st.expander("Manage files"):
        chosen = st.selectbox("File", list(names), format_func=names.get,
                              key=f"manage_file_{key}")
        row = managed.set_index("id").loc[chosen]
        if scope.is_admin and row["kind"] in attachments.IMAGES:
            public = st.toggle("In the public report", value=bool(row["public"]),
                               key=f"public_{key}_{chosen}")
            if public != bool(row["public"]) and ui.run_write(
                    lambda: attachments.mark_public(db, scope, chosen, public),
                    "The image will be in the public report." if public else
                    "The image is no longer in the public report."):
                st.rerun()
        st.caption("Removing a file takes its content out of the database; a line in the "
                   "audit log stays.")
        if st.button("Remove this file", key=f"remove_{key}_{chosen}") and ui.run_write(
                lambda: attachments.remove(db, scope, chosen), "File removed."):
            st.rerun()


def _attach_form(db, scope, topic: Topic, key: str) -> None:
    with st.expander("Attach a file"), st.form(ui.form_key(f"attach_{key}")):
        st.caption(f"A photo (PNG, JPEG, WebP), a PDF or a CSV, up to "
                   f"{attachments.MAX_BYTES // 1024 // 1024} MB. Photos are redrawn, so their "
                   "camera details and location are not kept. PDFs and CSVs are downloaded, "
                   "never opened in the page.")
        upload = st.file_uploader("File", type=["png", "jpg", "jpeg", "webp", "pdf", "csv"],
                                  max_upload_size=attachments.MAX_BYTES // 1024 // 1024)
        caption = st.text_input("Caption (optional)", max_chars=attachments.MAX_CAPTION)
        if st.form_submit_button("Attach"):
            if upload is None:
                ui.show_problems(["Choose a file to attach."])
                return
            done: list = []

            def store():
                done.extend(attachments.attach(db, scope, topic, upload.name,
                                               upload.getvalue(), caption)[1])

            if ui.run_write(store, f"{upload.name} attached."):
                if done:
                    st.session_state["flash"] = f"{upload.name} attached: " + "; ".join(done) + "."
                ui.form_saved(f"attach_{key}")
                st.rerun()
