"""Overview: where the challenge stands, how fast cycles run, ideas by status, fresh results."""

import datetime as dt

import pandas as pd
import streamlit as st

from app import ui
from tracker import clock, demo, vocab
from tracker.community import events, participants
from tracker.records import observations, repo
from tracker.reports import charts

db = ui.get_db()
scope = ui.scope()
challenge = ui.current_challenge(db)

if challenge is None and not scope.is_admin:
    st.title("Welcome to the improvement lab tracker")
    st.info("The lab team has not set up its challenge yet. Please come back later.")
    st.stop()

if challenge is None:
    st.title("Welcome to the improvement lab tracker")
    st.write("The tracker holds one lab's challenge: its driver diagram, change ideas, partner "
             "organisations, measures and every PDSA cycle. This database is empty.")
    left, right = st.columns(2)
    with left, st.container(border=True):
        st.subheader("Explore the demo challenge")
        st.write("A fictional peer-support lab: 8 partner organisations, 14 change ideas, over "
                 "60 PDSA cycles and a year of weekly results. Everything in it is invented and "
                 "labelled as demo data.")
        if st.button("Load the demo challenge", type="primary"):
            with st.spinner("Loading the demo challenge..."):
                ui.run_write(lambda: demo.load_demo(db), "Demo challenge loaded.")  # admin only
            st.rerun()
    with right, st.container(border=True):
        st.subheader("Start your own challenge")
        with st.form("new_challenge"):
            title = st.text_input("Short title", placeholder="Peer support for everyone")
            question = st.text_area("Challenge question",
                                    placeholder="What would it take for ...?")
            aim = st.text_area("Aim (what, how much, for whom, by when)")
            today = clock.today()
            start = st.date_input("Start date", value=today, format="DD/MM/YYYY")
            end = st.date_input("End date", value=today + dt.timedelta(days=364),
                                format="DD/MM/YYYY")
            if st.form_submit_button("Start blank", type="primary") and ui.run_write(
                    lambda: repo.create_challenge(db, scope, title=title, question=question,
                                                  aim=aim, start_date=start, end_date=end),
                    "Challenge created."):
                st.rerun()
    st.stop()

ui.flash()
today = clock.today()
shared = ui.readable(db)  # every name and text as this user may read it
phases = shared.phases
progress = repo.challenge_progress(challenge, phases, today)
st.title(ui.esc(shared.challenge["title"]))
if shared.challenge["question"]:
    st.caption(ui.esc(shared.challenge["question"]))

cycles = ui.cycles(db, challenge["id"])
ideas = shared.ideas
done = cycles[cycles["stage"] == "done"]
days = (pd.to_datetime(done["end_date"]) - pd.to_datetime(done["start_date"])).dt.days + 1
recent = cycles[pd.to_datetime(cycles["start_date"]) >= pd.Timestamp(today - dt.timedelta(days=28))]

c1, c2, c3, c4 = st.columns(4)
c1.metric("Month", f"{progress['month']} of {progress['months']}",
          f"Phase: {progress['phase'] or progress['state']}", delta_color="off",
          delta_arrow="off",
          help=f"{ui.fmt_date(challenge['start_date'])} to {ui.fmt_date(challenge['end_date'])}",
          border=True)
adopted = int((ideas["status"] == "adopted").sum())
c2.metric("Ideas adopted", f"{adopted} of {len(ideas)}", border=True)
c3.metric("PDSA cycles", f"{len(cycles)}", f"{len(recent)} started in the last 4 weeks",
          delta_color="off", delta_arrow="off", border=True)
c4.metric("Median days per cycle", f"{days.median():.0f}" if len(days) else "–",
          help="From start to end date of completed cycles", border=True)

with st.container(border=True):
    head, pick = st.columns([3, 1])
    since = pick.date_input("Since", value=today - dt.timedelta(days=30), max_value=today,
                            format="DD/MM/YYYY", key="new_since")
    head.subheader(f"What's new since {ui.fmt_date(since)}")
    news = ui.whats_new_since(scope, since)
    if news.empty:
        st.write("Nothing new since then: no cycle started or decided, no new signal, no "
                 "learning written.")
    else:
        counts = news["what"].value_counts()
        words = {"Learning written": ("idea written up", "ideas written up"),
                 "Decision": ("decision", "decisions"), "Signal": ("signal", "signals"),
                 "Cycle started": ("cycle started", "cycles started")}
        st.caption(" · ".join(f"{counts.get(k, 0)} {one if counts.get(k, 0) == 1 else more}"
                              for k, (one, more) in words.items()))
        ui.table(pd.DataFrame({"When": pd.to_datetime(news["when"]), "What": news["what"],
                                   "Details": news["text"]}),
                     hide_index=True, width="stretch", height=min(38 + 35 * len(news), 320),
                     column_config={"When": st.column_config.DateColumn(format="DD MMM YYYY"),
                                    "Details": st.column_config.TextColumn(width="large")})
        st.page_link("app_pages/learning.py", label="Read what we learned",
                     icon=":material/school:")

st.subheader("Cycle velocity")
st.caption("PDSA cycles started and completed each week. Rapid testing means days to a few "
           "weeks per cycle.")
velocity = charts.weekly_velocity(cycles, challenge["start_date"], min(today, challenge["end_date"]))
ui.chart(charts.velocity_chart(velocity), width="stretch")

left, right = st.columns([2, 3])
with left:
    st.subheader("Ideas by status")
    ui.chart(charts.ideas_by_status(ideas), width="stretch")
with right:
    st.subheader("How fresh each organisation's results are")
    fresh = observations.results_freshness(db, scope)
    latest = pd.to_datetime(fresh["latest_period"])
    age = (pd.Timestamp(today) - latest).dt.days
    fresh["Status"] = pd.cut(age, [-10_000, 13, 34, 10_000],
                             labels=["Up to date", "Late", "Overdue"]).astype("string")
    fresh.loc[latest.isna(), "Status"] = "No results yet"
    ui.table(
        pd.DataFrame({"Organisation": fresh["organisation"], "Latest period": latest,
                      "Days since": age, "Results": fresh["results"], "Status": fresh["Status"]}),
        hide_index=True, width="stretch",
        column_config={"Latest period": st.column_config.DateColumn(format="DD MMM YYYY")})
    if scope.can_write:
        left, right = st.columns(2)
        left.page_link("app_pages/enter.py", label="Enter results in the browser",
                       icon=":material/edit_note:")
        right.page_link("app_pages/upload.py", label="Upload a results file",
                        icon=":material/upload_file:")

st.subheader("The community")
counted = participants.counts(db, scope, challenge["id"])
held = events.list_events(db, scope, challenge["id"])
m1, m2, m3, chart = st.columns([1, 1, 1, 4])
m1.metric("Participants", int(counted["participants"].sum()), border=True)
m2.metric("New this month", int(counted["new_this_month"].sum()), border=True)
m3.metric("Events held", len(held), border=True,
          help="Workshops and meetings of the challenge (People page)")
with chart:
    if counted.empty:
        st.write("No participant recorded yet (People page).")
    else:
        ui.chart(charts.community_chart(events.community_over_time(db, challenge["id"]),
                                               participants.TAKING_PART, width=520),
                        width="content")

st.subheader("Latest decisions")
decided = done.sort_values(["end_date", "id"], ascending=False).head(8)
if decided.empty:
    st.write("No cycle has reached its Act stage yet.")
else:
    ui.table(
        pd.DataFrame({
            "Ended": pd.to_datetime(decided["end_date"]),
            "Idea": decided["idea"], "Cycle": decided["cycle_no"],
            "Organisation": decided["organisation"],
            "Decision": decided["decision"].map(vocab.DECISIONS),
            "Next steps": decided["next_steps"]}),
        hide_index=True, width="stretch",
        column_config={"Ended": st.column_config.DateColumn(format="DD MMM YYYY")})
