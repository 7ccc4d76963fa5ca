"""Upload results: template, file, preview, store; history and undo."""

import hashlib

import pandas as pd
import streamlit as st

import ui
from tracker import batches, ingest, repo, templates

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
            bar = st.progress(0.0, text="Reading the file")
            report = ingest.check(db, data, upload.name, scope, organisation=org_name,
                                  progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
            bar.empty()
            st.session_state["upload_report"] = (key, report)
        facts = list(dict.fromkeys([report.file_type, report.encoding]))  # once each
        if report.delimiter:
            facts.append(f"{report.delimiter}-separated")
        if report.date_format:
            facts.append(f"dates: {report.date_format}")
        if report.layout:
            facts.append(report.layout)
        st.caption(ui.esc(" · ".join(f for f in facts if f)) + f" · {report.rows:,} rows"
                   + (f" ({report.empty_rows:,} empty, skipped)" if report.empty_rows else ""))

        if report.errors:
            total = len(report.errors) + report.more_errors
            st.error(f"**Nothing can be stored yet: {total:,} problem"
                     f"{'s' if total != 1 else ''} to fix.** Correct the file and upload it "
                     "again. The database has not been changed.")
            st.dataframe(pd.DataFrame([{"Row": p.row, "Column": p.column, "Value": p.value,
                                        "Problem": p.message} for p in report.errors]),
                         hide_index=True, width="stretch",
                         column_config={"Row": st.column_config.NumberColumn(width="small"),
                                        "Column": st.column_config.TextColumn(width="small"),
                                        "Problem": st.column_config.TextColumn(width="large")})
            if report.more_errors:
                st.caption(f"... and {report.more_errors:,} more problems of the same kinds.")
        else:
            c1, c2, c3 = st.columns(3)
            c1.metric("New results", f"{report.new:,}")
            c2.metric("Updated (old → new)", f"{report.updated:,}")
            c3.metric("Unchanged (skipped)", f"{report.unchanged:,}")
        for warning in report.warnings:
            st.warning(ui.esc(warning))
        if not report.plan.empty:
            plan = report.plan

            def shown(value, numerator, denominator):
                def num(x):
                    return f"{x:g}"
                if pd.notna(value):
                    return num(value)
                if pd.notna(numerator) and pd.notna(denominator):
                    return f"{num(numerator)} / {num(denominator)}"
                return ""

            st.dataframe(pd.DataFrame({
                "Row": plan["row"], "Status": plan["status"].str.capitalize(),
                "Organisation": plan["organisation"], "Measure": plan["measure"],
                "Period": pd.to_datetime(plan["period"]),
                "Stored now": [shown(*r) for r in zip(plan["old_value"], plan["old_numerator"],
                                                      plan["old_denominator"], strict=True)],
                "From this file": [shown(*r) for r in zip(plan["value"], plan["numerator"],
                                                          plan["denominator"], strict=True)],
                "Note": [f"{old or '(none)'} → {new or '(none)'}" if status == "updated"
                         and (old or None) != (new or None) else new
                         for old, new, status in zip(plan["old_note"].where(
                             plan["old_note"].notna(), None), plan["note"].where(
                             plan["note"].notna(), None), plan["status"], strict=True)]}),
                hide_index=True, width="stretch",
                column_config={"Period": st.column_config.DateColumn(format="DD MMM YYYY")})
            if len(plan) == 5000:
                st.caption("The preview shows the first 5,000 rows.")
        if report.already_stored_batch is not None:
            st.info(ui.esc(report.summary()))
        elif report.ok and report.new + report.updated == 0:
            st.info("Every row is already stored with the same value: nothing to store.")
        elif report.ok and st.button(f"Store {report.new + report.updated:,} results",
                                     type="primary"):
            bar = st.progress(0.0, text="Storing")
            done = ingest.commit(db, data, upload.name, scope, organisation=org_name,
                                 progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
            bar.empty()
            if done.batch_id is not None:
                st.session_state["flash"] = (
                    done.summary() + " Next: see the charts on the Summary or Outcomes page. "
                    "To take it back, undo it under 'Upload history and undo'.")
                st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
                st.session_state.pop("upload_report", None)
                st.rerun()
            else:
                st.error(ui.esc(done.summary()))

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
        st.dataframe(pd.DataFrame({
            "Upload": uploads["id"], "When": uploads["uploaded_at"], "By": uploads["uploaded_by"],
            "File": files, "Organisation": uploads["organisation"].fillna("several"),
            **counts, "Undone": uploads["undone_at"].notna().map({True: "Undone", False: ""})}),
            hide_index=True, width="stretch",
            column_config={"When": st.column_config.DatetimeColumn(format="DD MMM YYYY HH:mm")})
        labels = {int(r.id): f"Upload {r.id}: {file} ({r.uploaded_at:%d %b %Y %H:%M})"
                  + (" (undone)" if pd.notna(r.undone_at) else "")
                  for r, file in zip(uploads.itertuples(), files, strict=True)}
        batch_id = st.selectbox("Open an upload", list(labels), format_func=labels.get)
        rows = batches.batch_rows(db, scope, batch_id)
        st.dataframe(rows.assign(period=pd.to_datetime(rows["period"]),
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
