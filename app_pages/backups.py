"""Backups (lab admin): back up now, the daily backup, the backups kept, how to restore."""

import datetime as dt

import pandas as pd
import streamlit as st

from app import ui
from tracker.storage import backup, backups

db = ui.get_db()
scope = ui.scope()
ui.flash()
st.title("Backups")
ui.admin_only("manages backups")

folder = backups.folder_of(db)
daily = db.daily_backups
on_postgresql = db.engine == "postgresql"
if on_postgresql:
    st.write("The lab's data is in a PostgreSQL database. A backup is a pg\\_dump of it: one "
             "consistent snapshot, taken while everyone goes on working, checked by listing "
             "every table in it. The daily backup is scheduled by whoever runs the servers "
             "(one for the lab, not one per app server: docs/deploy.md).")
else:
    st.write("A backup is a complete copy of the database file, made by the app itself "
             "while it runs (writes wait for the moment of the copy) and checked by opening "
             "the copy and counting every table.")
left, right = st.columns(2)
kept = backups.backups_of(db)
left.metric("Backups kept", f"{len(kept)} of {backup.keep_count()}")
if daily is not None:
    right.metric("Next automatic backup", f"{daily.next_run(dt.datetime.now()):%d %b %H:%M}")
elif on_postgresql:
    right.metric("Automatic backup", "By the server's schedule")
else:
    right.metric("Automatic backup", "Off")
if on_postgresql:
    st.caption("Folder: " + ui.esc(folder) + ". The folder and how many to keep are set by "
               "TRACKER\\_BACKUP\\_DIR and TRACKER\\_BACKUP\\_KEEP (README).")
else:
    st.caption("Folder: " + ui.esc(folder) + ". The daily time, the folder and how many to "
               "keep are set by TRACKER\\_BACKUP\\_AT, TRACKER\\_BACKUP\\_DIR and "
               "TRACKER\\_BACKUP\\_KEEP (README).")
if daily is not None and daily.last_error:
    st.error("The last automatic backup failed: " + ui.esc(daily.last_error))

if st.button("Back up now", type="primary"):
    with st.spinner("Copying and checking the database..."):
        try:
            made = backups.take(db, folder)
        except backup.BackupError as exc:
            st.error(ui.esc(exc))
        else:
            st.session_state["flash"] = (f"Backup written to {made.path} "
                                         f"({made.size / 1e6:,.1f} MB) and checked.")
            st.rerun()

if kept:
    ui.table(pd.DataFrame({"Taken": [b.taken for b in kept],
                               "File": [b.path.name for b in kept],
                               "Size (MB)": [round(b.size / 1e6, 1) for b in kept]}),
                 hide_index=True, width="stretch",
                 column_config={"Taken": st.column_config.DatetimeColumn(
                     format="DD MMM YYYY HH:mm:ss")})
else:
    st.info("No backups yet.")

st.subheader("Restoring a backup")
if on_postgresql:
    st.write("A restore goes into a new, empty PostgreSQL database, never over the lab's data. "
             "On a computer that reaches the database server:")
    st.code(f"createdb lab_restored\npython -m tracker restore --from {folder} "
            "--db postgresql://USER@HOST/lab_restored", language="bash")
    st.caption("With a folder, the newest backup in it is used. Then point TRACKER\\_DB of "
               "every app server at the restored database and restart them.")
    st.stop()
st.write("A restore replaces the database file, so the app must be stopped first (the "
         "command refuses while the app holds the file). Then, on the computer that runs "
         "the tracker:")
st.code(f"python -m tracker restore --from {folder}", language="bash")
st.caption("With a folder, the newest backup in it is used; name one file to choose another. "
           "The file it replaces is kept beside it, renamed. Then start the app again.")
