"""Export data: every table this user may see, as CSV files in one zip."""

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from app import ui
from tracker.intake import export

db = ui.get_db()
scope = ui.scope()
st.title("Export data")
if scope.is_partner:
    st.write(f"The export holds {ui.esc(scope.organisation)}'s results, cycles and uploads, and the "
             "shared challenge, drivers, ideas and measures.")
else:
    st.write("The export holds every table: the challenge, drivers, ideas, organisations, "
             "measures, cycles, uploads, current results (results.csv) and their history"
             + (", and the audit log." if scope.is_admin else "."))
st.caption("Text that a spreadsheet would run as a formula starts with an apostrophe.")
if st.button("Prepare the export", type="primary"):
    with tempfile.TemporaryDirectory() as folder:
        paths = export.export_all(db, scope, Path(folder))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, path.name)
    st.session_state["export_zip"] = buffer.getvalue()
if "export_zip" in st.session_state:
    st.download_button("Download the export (zip of CSV files)", st.session_state["export_zip"],
                       file_name="tracker-export.zip", mime="application/zip")
