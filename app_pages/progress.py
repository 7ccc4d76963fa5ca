"""Partner progress: the IHI progress score of each partner organisation, month by month,
scored by the lab team (each level described in the form), shown as a heat map."""


import pandas as pd
import streamlit as st

from app import ui
from tracker import clock
from tracker.records import progress, repo
from tracker.reports import charts

db = ui.get_db()
scope = ui.scope()
ui.challenge_or_welcome(db)
ui.flash()

st.title("Partner progress")
st.caption("Each month the lab team scores each partner team on the IHI progress score of a "
           "collaborative, from 0.5 (intent to participate) to 5.0 (outstanding sustainable "
           "results).")
scores = progress.scores(db, scope)
if scores.empty:
    st.info("No progress score yet." + (" Score a month below." if scope.is_admin else ""))
else:
    ui.chart(charts.progress_heatmap(scores, width=560), width="content")
    latest = progress.latest(db, scope)
    st.subheader("Latest score of each partner")
    ui.table(pd.DataFrame({"Organisation": latest["organisation"],
                               "Month": pd.to_datetime(latest["month"]),
                               "Score": latest["score"], "Comment": latest["comment"]}),
                 hide_index=True, width="stretch",
                 column_config={"Month": st.column_config.DateColumn(format="MMM YYYY"),
                                "Score": st.column_config.NumberColumn(format="%.1f")})
    ui.csv_download(scores[["organisation", "month", "score", "comment", "scored_by",
                            "scored_at"]], "progress-scores.csv")

with st.expander("What each score means"):
    ui.table(pd.DataFrame({"Score": list(progress.LEVELS),
                               "Meaning": list(progress.LEVELS.values())}),
                 hide_index=True, width="stretch",
                 column_config={"Score": st.column_config.NumberColumn(format="%.1f")})

if not scope.is_admin:
    st.stop()

orgs = repo.list_organisations(db, scope, include_retired=False)
org_options = ui.options(orgs)
with st.form("score_month"):
    st.subheader("Score a month")
    problems = ui.form_problems("score_month")
    org = st.selectbox("Partner organisation", list(org_options), format_func=org_options.get)
    today = clock.today()
    month = st.date_input("Month (any day in it)", value=today.replace(day=1), max_value=today,
                          format="DD/MM/YYYY")
    ui.field_problem(problems, "Month")
    score = st.radio("Score", list(progress.LEVELS), index=None,
                     format_func=lambda s: f"{s:.1f}: {progress.LEVELS[s]}")
    ui.field_problem(problems, "Progress score")
    comment = st.text_area("Comment (what the score is based on)")
    said = {}

    def save_score():
        said["text"] = progress.score_month(db, scope, org, month, score, comment)

    if st.form_submit_button("Save the score", type="primary") and ui.run_write(
            save_score, form="score_month"):
        st.session_state["flash"] = f"{org_options[org]}: {said['text']}"
        st.toast(ui.esc(st.session_state["flash"]))
        st.rerun()

if not scores.empty:
    with st.expander("History of every score given (those replaced included)"):
        every = progress.history(db, scope)
        ui.table(pd.DataFrame({
            "Organisation": every["organisation"], "Month": pd.to_datetime(every["month"]),
            "Score": every["score"],
            "State": every["replaced"].map({True: "replaced by a later score", False: "current"}),
            "Comment": every["comment"], "Given by": every["scored_by"],
            "Given on": every["scored_at"]}), hide_index=True, width="stretch",
            column_config={"Month": st.column_config.DateColumn(format="MMM YYYY"),
                           "Score": st.column_config.NumberColumn(format="%.1f"),
                           "Given on": st.column_config.DatetimeColumn(format="D MMM YYYY")})
