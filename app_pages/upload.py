"""Upload results: template, file, preview, store; history and undo."""

import hashlib

import pandas as pd
import streamlit as st

from app import ui
from tracker.intake import batches, ingest, templates
from tracker.records import repo

ROWS_SHOWN = 1_000  # results of an upload shown on the page

db = ui.get_db()
scope = ui.scope()
ui.flash()
st.title("Upload results")
orgs = repo.list_organisations(db, scope, include_retired=False)
if orgs.empty:
    st.info("Add the partner organisations first (Set-up → Organisations).")
    st.stop()
org_options = ui.options(orgs)
EVERY = None

tab_upload, tab_history = st.tabs(["Upload a file", "Upload history and undo"],
                                  key="upload_tab", on_change="rerun")  # kept after undo

with tab_upload:
    if not scope.can_write:
        st.info("Viewers can see and export every result, but not upload.")
        choices = []
    else:
        choices = list(org_options) if scope.is_partner else [EVERY, *org_options]
    org_id = None if not choices else st.selectbox(
        "Organisation the file is for", choices,
        format_func=lambda v: "Several: each row names its organisation" if v is EVERY
        else org_options[v], key="upload_org")
    org_name = None if org_id is EVERY else org_options[org_id]
    if not scope.can_write:
        org_name = None

    if org_name:
        with st.expander("Download the template", expanded=False):
            st.write("The template lists every measure and period still due for "
                     f"{ui.esc(org_name)}. Fill in the values and upload it here.")
            left, right = st.columns(2)
            slug = "-".join(org_name.split())
            try:
                left.download_button("Template as Excel (.xlsx)",
                                     templates.template_xlsx(db, scope, org_name),
                                     file_name=f"template-{slug}.xlsx",
                                     mime="application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet")
                right.download_button("Template as CSV", templates.template_csv(db, scope, org_name),
                                      file_name=f"template-{slug}.csv", mime="text/csv")
            except repo.InputError as exc:
                st.error(ui.esc(" ".join(exc.problems)))

    # a new key after each store empties the uploader: the page then shows one state, what
    # was stored and what to do next, not the stored file checked again ("nothing to do")
    upload = None if not scope.can_write else st.file_uploader(
        "Results file (CSV or Excel)", type=["csv", "txt", "tsv", "xlsx"],
        key=f"upload_file_{st.session_state.get('upload_round', 0)}",
        help="The template's layout (organisation, measure, period, value, numerator, "
             "denominator, note) or one row per period with one column per measure.")
    if upload is not None:
        data = upload.getvalue()
        # Checked once per file, organisation and state of the data: reruns (a click
        # anywhere on the page) reuse the report instead of reading the file again.
        key = (hashlib.sha256(data).hexdigest(), upload.name, org_name,
               repo.data_version(db), scope)
        cached = st.session_state.get("upload_report")
        if cached is not None and cached[0] == key:
            report = cached[1]
        else:
            bar, move = ui.progress_bar("Reading the file")
            report = ingest.check(db, data, upload.name, scope, organisation=org_name,
                                  progress=move)
            bar.empty()
            st.session_state["upload_report"] = (key, report)
        stored = ui.preview_and_store(
            report, lambda progress, accept: ingest.commit(
                db, data, upload.name, scope, organisation=org_name, progress=progress,
                accept_unusual=accept),
            key="upload")
        if stored:
            st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
            st.session_state.pop("upload_report", None)
            st.rerun()

with tab_history:
    history_org = st.selectbox("Organisation", [EVERY, *org_options], key="history_org",
                         format_func=lambda v: "All organisations" if v is EVERY
                         else org_options[v])
    uploads = batches.list_batches(db, scope, None if history_org is EVERY else [history_org])
    if uploads.empty:
        st.write("No uploads yet.")
    else:
        files = uploads["file_name"].fillna("(a file of the lab team's)")
        if scope.is_partner:  # its own rows only: no other organisation's counts
            counts = {"Your results": uploads["rows_new"]}
        else:
            counts = {"New": uploads["rows_new"], "Updated": uploads["rows_updated"],
                      "Unchanged": uploads["rows_unchanged"]}
        ui.table(pd.DataFrame({
            "Upload": uploads["id"], "When": uploads["uploaded_at"], "By": uploads["uploaded_by"],
            "File": files, "Organisation": uploads["organisation"].fillna("several"),
            **counts, "Undone": uploads["undone_at"].notna().map({True: "Undone", False: ""})}),
            hide_index=True, width="stretch",
            column_config={"When": st.column_config.DatetimeColumn(format="DD MMM YYYY HH:mm")})
        labels = {int(r.id): f"Upload {r.id}: {file} ({r.uploaded_at:%d %b %Y %H:%M})"
                  + (" (undone)" if pd.notna(r.undone_at) else "")
                  for r, file in zip(uploads.itertuples(), files, strict=True)}
        batch_id = st.selectbox("Open an upload", list(labels), format_func=labels.get)
        rows = batches.batch_rows(db, scope, batch_id, limit=ROWS_SHOWN)
        held = batches.batch_size(db, scope, batch_id)
        if held > ROWS_SHOWN:  # a year of a large lab is a million rows: not one table
            st.caption(f"This upload stored {held:,} results; the first {ROWS_SHOWN:,} (by "
                       "organisation, measure and period) are shown. Export data gives them "
                       "all.")
        ui.table(rows.assign(period=pd.to_datetime(rows["period"]),
                                 note=rows["note"].fillna("")),
                     hide_index=True, width="stretch",
                     column_config={"period": st.column_config.DateColumn(
                         "Period", format="DD MMM YYYY")})
        undone = pd.notna(uploads.set_index("id").loc[batch_id, "undone_at"])
        if not undone and scope.is_admin:
            sure = st.checkbox("I want to undo this upload: its values stop counting and the "
                               "values they replaced come back", key=f"sure_{batch_id}")
            if st.button("Undo this upload", disabled=not sure):
                ui.run_write(lambda: batches.undo_batch(db, scope, batch_id),
                             f"Upload {batch_id} undone.")
                st.rerun()
