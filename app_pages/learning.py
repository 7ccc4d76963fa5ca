"""What we learned: the learning record of every idea (filters and a search across all of
it), and the learning report to share (public version for anyone; internal for the lab admin)."""


import pandas as pd
import streamlit as st

from app import discussion, learning_view, ui
from tracker import clock, vocab
from tracker.community.comments import Topic
from tracker.errors import InputError, PermissionDenied
from tracker.learning import learning_record, syntheses

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = challenge["id"]
ui.flash()

st.title("What we learned")
if scope.is_partner:
    st.caption(f"The learning of the ideas {ui.esc(scope.organisation)} tests. Other "
               "organisations appear by name only where they agreed, and their notes only "
               "where the lab team marked them shareable with partners.")
else:
    st.caption("Each idea's learning record: where it was tested, prediction against outcome, "
               "what the data showed, and the lab team's synthesis. What did not work is "
               "learning too.")

# every name on this page as this reader may read it (a title that would name someone the
# reader may not see named reads as a stand-in)
shared = ui.readable(db)
drivers = shared.drivers
driver_options = ui.options(drivers)
f1, f2, f3, f4 = st.columns(4)
driver_id = f1.selectbox("Driver", [None, *driver_options], key="learn_driver",
                         format_func=lambda d: "Every driver" if d is None else driver_options[d])
status = f2.selectbox("Status", [None, *vocab.IDEA_STATUSES], key="learn_status",
                      format_func=lambda s: "Every status" if s is None
                      else vocab.IDEA_STATUSES[s])
recommendation = f3.selectbox("Recommendation", [None, *syntheses.RECOMMENDATIONS],
                              key="learn_rec", format_func=lambda r: "Any recommendation"
                              if r is None else syntheses.RECOMMENDATIONS[r])
kind = f4.selectbox("Tested by", [None, *vocab.ORG_KINDS], key="learn_kind",
                    format_func=lambda k: "Any kind of organisation" if k is None
                    else vocab.ORG_KINDS[k])
search = st.text_input("Search the learning", key="learn_search",
                       placeholder="Every word, anywhere: ideas, syntheses, cycle notes")
index = learning_record.idea_index(db, scope, cid, driver_id=driver_id, status=status,
                                   recommendation=recommendation, organisation_kind=kind,
                                   search=search, view=shared)
if index.empty:
    st.info("No idea matches these filters." if scope.is_admin or not scope.is_partner
            else f"{ui.esc(scope.organisation)} tests no idea that matches these filters.")
else:
    ui.table(pd.DataFrame({
        "Idea": index["title"], "Status": index["status"].map(vocab.IDEA_STATUSES),
        "Recommendation": index["recommendation_words"].fillna("not yet written"),
        "Key learning": index["key_learning"].astype(object).fillna(""),
        "Organisations": index["organisations"], "Cycles": index["cycles"]}),
        hide_index=True, width="stretch")
    titles = ui.options(index, "title")
    wanted = st.session_state.pop("learning_idea", None)
    if wanted in titles:
        st.session_state["learn_idea"] = wanted
    idea_id = st.selectbox("Open an idea's learning record", list(titles),
                           format_func=titles.get, key="learn_idea")
    try:
        learning_view.show_record(db, scope, cid, int(idea_id))
    except PermissionDenied as exc:
        st.warning(ui.esc(exc))
    else:
        discussion.show(db, scope, Topic.learning(int(idea_id)), key=f"learning_{idea_id}",
                        heading="Discussion of this learning")

# ---------------------------------------------------------------- the report
st.divider()
st.header("The learning report")
st.caption("One file to share: the challenge and its phases, the driver diagram, each idea "
           "under its drivers with the lab team's synthesis, the evidence in words and charts, "
           "what did not work and why, every measure's definition and a note on method. HTML "
           "opens offline in any browser; PDF is the same, printed.")
with st.form("learning_report"):
    if scope.is_admin:
        public = st.toggle("Public version (disclosure control applied)", value=True,
                           help="Off: the internal version, for the lab team only.")
    else:
        public = True
        st.caption("You may download the public version; the internal one is for the lab "
                   "team only.")
    every = dict(zip(shared.ideas["id"].astype(int), shared.ideas["title"], strict=True))
    chosen = st.multiselect("Ideas (none chosen: every idea)", list(every),
                            format_func=every.get)
    kind_of_file = st.radio("File", ["HTML", "PDF"], horizontal=True)
    build = st.form_submit_button("Build the report", type="primary")
if build:
    bar, move = ui.progress_bar("Gathering the learning...")
    suffix = ".html" if kind_of_file == "HTML" else ".pdf"
    try:
        data, built_at = learning_view.learning_file(
            db, scope, public=public, ideas=[str(i) for i in chosen], kind=kind_of_file,
            progress=move)
    except (InputError, PermissionDenied) as exc:
        bar.empty()
        ui.show_problems(getattr(exc, "problems", [str(exc)]))
    else:
        bar.empty()
        version = "public" if public else "internal"
        st.session_state["learning_file"] = (
            scope, data, f"learning-{version}-{clock.today():%Y-%m-%d}{suffix}",
            "text/html" if suffix == ".html" else "application/pdf", version, built_at)
elif ui.whereabouts().entered:  # the file the form asks for as it opens, built as they read
    learning_view.prepare_learning_file(db, scope, ui.whereabouts())
made = st.session_state.get("learning_file")
if made and made[0] == scope:  # never another sign-in's file
    _, data, name, mime, version, built_at = made
    st.success(f"The {version} version is ready ({len(data) / 1e6:,.1f} MB)." + (
        f" Nothing has changed since it was built at {built_at:%H:%M}, so it is that file."
        if built_at is not None else ""))
    st.download_button(f"Download the {version} learning report", data, file_name=name,
                       mime=mime, type="primary", icon=":material/download:")
