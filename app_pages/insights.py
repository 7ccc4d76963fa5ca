"""Discovery insights: what the discovery phase heard and the drivers and ideas it informs;
filters and search; the lab admin records them one by one or imports a list
(tracker/community/insights)."""

import pandas as pd
import streamlit as st

from app import ui
from tracker.community import insights

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = int(challenge["id"])
ui.flash()
st.title("Discovery insights")
st.write("What the discovery phase heard, from interviews, surveys, workshops, the literature "
         "and data, and the drivers and change ideas each one informs. A quote is kept only "
         "where the person agreed to be quoted.")

view = ui.readable(db)
drivers = {int(d.id): d.name for d in view.drivers.itertuples() if pd.isna(d.retired_at)}
ideas = ui.options(view.ideas, "title")
f1, f2, f3 = st.columns(3)
source = f1.selectbox("Source", [None, *insights.SOURCES], key="insight_source",
                      format_func=lambda s: "Every source" if s is None else insights.SOURCES[s])
driver = f2.selectbox("Driver", [None, *drivers], key="insight_driver",
                      format_func=lambda d: "Every driver" if d is None else drivers[d])
idea = f3.selectbox("Idea", [None, *ideas], key="insight_idea",
                    format_func=lambda i: "Every idea" if i is None else ideas[i])
search = st.text_input("Search the insights", key="insight_search", max_chars=200)
found = insights.list_insights(db, scope, cid, source=source, driver_id=driver, idea_id=idea,
                               search=search, view=view)
st.caption(f"{len(found)} insight{'s' if len(found) != 1 else ''}.")
if len(found):
    ui.table(pd.DataFrame({
        "Heard on": pd.to_datetime(found["heard_on"]),
        "Source": found["source"].map(insights.SOURCES), "Summary": found["summary"],
        "Quote": found["quote"].fillna(""), "Drivers": found["drivers"],
        "Ideas": found["ideas"]}), hide_index=True, width="stretch",
        column_config={"Heard on": st.column_config.DateColumn(format="DD MMM YYYY")})
    ui.csv_download(found.drop(columns=["driver_ids", "idea_ids"]), "insights.csv")

if not scope.is_admin:
    st.stop()

st.header("Record an insight")
with st.form(ui.form_key("insight")):
    c1, c2 = st.columns(2)
    new_source = c1.selectbox("Source", list(insights.SOURCES),
                              format_func=insights.SOURCES.get)
    heard_on = c2.date_input("Date heard", format="DD/MM/YYYY", value=None)
    summary = st.text_area("Summary: what was heard", max_chars=insights.SUMMARY_LIMIT)
    quote = st.text_area("Quote (optional)", max_chars=insights.QUOTE_LIMIT)
    consent = st.checkbox("They agreed to be quoted")
    linked_drivers = st.multiselect("Drivers it informs", list(drivers),
                                    format_func=drivers.get)
    linked_ideas = st.multiselect("Ideas it informs", list(ideas), format_func=ideas.get)
    if st.form_submit_button("Save the insight", type="primary") and ui.run_write(
            lambda: insights.add_insight(db, scope, cid, source=new_source, heard_on=heard_on,
                                         summary=summary, quote=quote, quote_consent=consent,
                                         driver_ids=linked_drivers, idea_ids=linked_ideas),
            "Insight saved."):
        ui.form_saved("insight")
        st.rerun()

with st.expander("Import a list of insights (CSV or Excel)"):
    st.caption("Columns: source (interview, survey, workshop, literature, data), date "
               "(YYYY-MM-DD or DD/MM/YYYY), summary, quote, quote consent (yes / no), drivers "
               "and ideas (their names as shown here, several separated by ;). Every row is "
               "checked; nothing is stored until the whole list is right.")
    st.download_button("Download an empty list (CSV)", key="insights_template",
                       data=b"source,date,summary,quote,quote consent,drivers,ideas\n",
                       file_name="insights.csv", mime="text/csv", icon=":material/download:")
    upload = st.file_uploader("List of insights (CSV or Excel)", type=["csv", "xlsx"],
                              key=f"insights_file_{st.session_state.get('insights_round', 0)}")
    if upload is not None:
        data = upload.getvalue()
        report = insights.check(db, scope, cid, data, upload.name)
        if not report.ok:
            ui.show_refused_list(report, upload.name)
        else:
            plan = report.plan
            st.info(f"Ready: {report.new} insight{'s' if report.new != 1 else ''}.")
            ui.table(pd.DataFrame({
                "Row": plan["row"], "Source": plan["source"].map(insights.SOURCES),
                "Heard on": pd.to_datetime(plan["heard_on"]), "Summary": plan["summary"],
                "Quote": plan["quote"].fillna(""),
                "Drivers": plan["driver_ids"].map(lambda ids: "; ".join(
                    drivers.get(i, "") for i in ids)),
                "Ideas": plan["idea_ids"].map(lambda ids: "; ".join(
                    ideas.get(i, "") for i in ids))}), hide_index=True, width="stretch",
                column_config={"Heard on": st.column_config.DateColumn(format="DD MMM YYYY")})
            if st.button(f"Add {report.new} insights", type="primary", key="insights_import"):
                done = insights.commit(db, scope, cid, data, upload.name)
                if done.ok:
                    st.session_state["insights_round"] = st.session_state.get(
                        "insights_round", 0) + 1
                    st.session_state["flash"] = f"{done.new} insights added from the list."
                    st.rerun()
                else:
                    ui.show_problems([str(p) for p in done.errors])
