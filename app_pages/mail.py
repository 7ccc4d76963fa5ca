"""Admin → Mail: the SMTP server the tracker sends through, when the digest and reminders
go out, and every message sent or failed (tracker/community/mail)."""

import pandas as pd
import streamlit as st

from app import ui
from tracker.community import mail
from tracker.errors import InputError

ui.admin_only("sets the lab's mail")
db = ui.get_db()
scope = ui.scope()
ui.flash()
st.title("Mail")

try:
    smtp = mail.configured()
except InputError as exc:
    smtp = None
    st.error(ui.esc(exc))
if smtp is None:
    st.warning(f"No mail goes out: the server is not given. Set {mail.ENV} where the app "
               "starts, for example smtp://user:password@host:587?starttls=1 (docs/deploy.md).",
               icon=":material/mail_lock:")
else:
    st.success(ui.esc(f"Mail goes out through {smtp.shown}, from "
                      f"{mail.sender(db, smtp)}."), icon=":material/mail:")
schedule = getattr(db, "mail_schedule", None)
if schedule is not None and schedule.last_error:
    st.error(ui.esc(f"The last scheduled run failed: {schedule.last_error}"))

chosen = mail.settings(db)
st.header("When mail goes out")
with st.form("mail_schedule"):
    digest_on = st.toggle("Send each person's digest once a month",
                          value=chosen["digest_day"] is not None)
    day = st.number_input("Day of the month (1 to 28)", min_value=1, max_value=28, step=1,
                          value=chosen["digest_day"] or 1)
    remind_on = st.toggle("Remind partners of overdue results once a week",
                          value=chosen["reminder_weekday"] is not None)
    weekday = st.selectbox("Day of the week", range(7), format_func=mail.WEEKDAYS.__getitem__,
                           index=chosen["reminder_weekday"] or 0)
    address = st.text_input("Sender address", value=chosen["sender"] or "",
                            placeholder="improvement-lab@nhs.example")
    st.caption("Each person chooses, under For you, which of these they receive. The digest "
               "covers the month before; reminders name each partner's own overdue results.")
    if st.form_submit_button("Save", type="primary") and ui.run_write(
            lambda: mail.set_schedule(db, scope, digest_day=int(day) if digest_on else None,
                                      reminder_weekday=int(weekday) if remind_on else None,
                                      sender_address=address or None),
            "Mail schedule saved."):
        st.rerun()

st.header("Sent and failed")
logged = mail.log(db)
if logged.empty:
    st.caption("Nothing sent yet.")
else:
    failed = int((logged["status"] == "failed").sum())
    if failed:
        st.warning(f"{failed} of the last {len(logged)} messages failed after "
                   f"{mail.ATTEMPTS} tries; the reason is beside each.")
    ui.table(pd.DataFrame({
        "When": pd.to_datetime(logged["sent_at"]), "Kind": logged["kind"],
        "To": logged["username"].fillna("(removed account)"), "Subject": logged["subject"],
        "Status": logged["status"], "Tries": logged["attempts"],
        "Why it failed": logged["error"].fillna("")}), hide_index=True, width="stretch",
        column_config={"When": st.column_config.DatetimeColumn(format="DD MMM YYYY HH:mm")})
