"""The learning record of an idea on screen, shared by "What we learned" and "Change ideas":
the lab team's synthesis (and, for the lab admin, the form that saves its next version),
where the idea was tested, what the data showed and prediction against outcome cycle by
cycle (with, for the lab admin, how each note is shared). All user text is shown as text."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import streamlit as st

from app import ui
from tracker import clock, vocab
from tracker.access import auth
from tracker.analysis import portfolio
from tracker.community import insights
from tracker.learning import learning_record, learning_report, syntheses
from tracker.records import repo
from tracker.reports import charts
from tracker.storage.db import Database
from tracker.text import shown


@st.cache_data(show_spinner="Checking what each idea's measures showed...", max_entries=8)
def _outcomes(path: str, challenge_id: int, version: int) -> pd.DataFrame:
    # every organisation's outcomes; the record discloses them per reader, never this frame
    return portfolio.measure_outcomes(ui._database(path), learning_record.INTERNAL,
                                      challenge_id)


def outcomes(db: Database, challenge_id: int) -> pd.DataFrame:
    return _outcomes(str(db.path), challenge_id, repo.data_version(db))


def prepare_outcomes(path: str, challenge_id: int, version: int) -> None:
    """What each idea's measures showed, worked out while someone signs in (`ui.
    prepare_overview`): every learning record reads it, for every reader (0.8 CPU s of the
    first visit to What we learned at scale, once per change of the data)."""
    _outcomes(path, challenge_id, version)


@st.cache_data(show_spinner=False, max_entries=512)
def _panel(title: str, frame: pd.DataFrame, cycles: pd.DataFrame, unit: str,
           target: float | None, percent: bool) -> tuple[dict, tuple[str, str]]:
    """One chart of a record as a Vega-Lite spec, with its text alternative (a sentence and
    its data as an HTML table), keyed on what it draws: drawing it in Altair is most of a
    record's cost, and a change elsewhere (a note, another idea's result) leaves it as it was."""
    spec = charts.vega_lite(charts.idea_panel(title, frame, cycles, unit=unit, target=target,
                                              percent=percent))
    words, data = charts.text_alternative(spec)
    return ui.arrow_data(spec), (words, ui.html_table(data))


@st.cache_data(show_spinner="Gathering the learning of this idea...", max_entries=32)
def _record(path: str, scope: auth.Scope, challenge_id: int, idea_id: int,
            version: int) -> tuple[learning_record.Record, list[list[tuple[dict, tuple]]]]:
    """The record for this reader and its charts as Vega-Lite specs with their text
    alternatives, once per change of the data. Keyed on the reader's scope: one reader's
    record is never another's (a chart is shared only where it draws the same data)."""
    db = ui._database(path)
    rec = learning_record.record(db, scope, idea_id,
                                 outcomes=_outcomes(path, challenge_id, version))
    return rec, [[_panel(title, frame, cycles, e.unit, e.target, e.data_kind == "proportion")
                  for title, frame, cycles in e.panels] for e in rec.evidence]


def _insights(db: Database, scope: auth.Scope, challenge_id: int, idea_id: int) -> None:
    """The discovery insights behind the idea, as this reader may read them."""
    if scope.is_contributor:
        return
    behind = insights.list_insights(db, scope, challenge_id, idea_id=idea_id,
                                    view=ui.readable(db))
    if behind.empty:
        return
    st.subheader(f"Insights behind it ({len(behind)})")
    for row in behind.to_dict("records"):
        st.markdown(ui.esc(f"{insights.SOURCES[row['source']]}, "
                           f"{row['heard_on']:%d %b %Y}: {row['summary']}"))
        if isinstance(row["quote"], str) and row["quote"]:
            st.caption(ui.esc(f"“{row['quote']}”"))


def show_record(db: Database, scope: auth.Scope, challenge_id: int, idea_id: int, *,
                editable: bool = True) -> None:
    rec, specs = _record(str(db.path), scope, challenge_id, idea_id, repo.data_version(db))
    idea = rec.idea
    st.header(ui.esc(idea["title"]))
    st.markdown(f"**Status:** {vocab.IDEA_STATUSES.get(idea['status'], idea['status'])} · "
                f"**Drivers:** {ui.esc(idea['drivers']) or 'none linked'}")
    if shown(idea.get("description")):
        st.markdown(ui.esc(idea["description"]))
    _synthesis(db, scope, rec, editable and scope.is_admin)
    _insights(db, scope, challenge_id, idea_id)
    if not rec.tested:
        st.info("This idea has not been tested yet: no PDSA cycle has been logged for it, so "
                "there is no evidence to show.")
        _withheld(rec)
        return
    st.subheader("Where it was tested")
    where = rec.where
    ui.table(pd.DataFrame({
        "Organisation": where["organisation"], "Kind": where["kind"], "Region": where["region"],
        "Cycles": where["cycles"], "From": pd.to_datetime(where["first"]),
        "To": pd.to_datetime(where["last"]), "Scale, cycle by cycle": where["scale"],
        "Latest decision": where["latest_decision"]}), hide_index=True, width="stretch",
        column_config={"From": st.column_config.DateColumn(format="DD MMM YYYY"),
                       "To": st.column_config.DateColumn(format="DD MMM YYYY")})
    st.subheader("What the data showed")
    st.caption("Each measure the idea's cycles targeted, at each organisation that tested it, "
               "with the idea's cycles shaded. A signal is evidence to discuss, not proof that "
               "the idea caused the change.")
    if not rec.evidence:
        st.write("The cycles of this idea named no measure to watch.")
    for evidence, panels in zip(rec.evidence, specs, strict=True):
        st.markdown(f"**{ui.esc(evidence.verdict)}**")
        note = learning_report.charts_note(evidence)
        if note:
            st.caption(note)
        columns = st.columns(2)
        for i, (spec, alternative) in enumerate(panels):
            columns[i % 2].vega_lite_chart(spec, width="content")
            ui.chart_text(alternative, columns[i % 2])
    st.subheader("Prediction against outcome, cycle by cycle")
    for cycle in _cycles_shown(rec.cycles, idea["id"]):
        _cycle(db, scope, cycle, editable and scope.is_admin)
    _withheld(rec)


CYCLES_AT_ONCE = 10  # a record's cycles on the page at a time (each is a box, with a form)


def _cycles_shown(cycles: list[dict], idea_id: int) -> list[dict]:
    """The record's cycles, ten at a time when there are more, in the order they ran: an idea
    tested at many organisations has dozens, and drawing them all (each with its sharing
    form) kept the browser busy for seconds."""
    if len(cycles) <= CYCLES_AT_ONCE:
        return cycles
    starts = range(0, len(cycles), CYCLES_AT_ONCE)
    start = st.selectbox(
        f"Cycles shown (of {len(cycles)}, in the order they ran)", list(starts),
        key=f"learn_cycles_{idea_id}",
        format_func=lambda i: f"{i + 1} to {min(i + CYCLES_AT_ONCE, len(cycles))}, from "
                              f"{ui.fmt_date(cycles[i]['start'])}")
    return cycles[start:start + CYCLES_AT_ONCE]


def _withheld(rec: learning_record.Record) -> None:
    said = rec.audience.withheld.sentences(rec.audience.min_count)
    if said and not rec.audience.is_lab:
        st.caption("Shared with you under the lab's disclosure rules: "
                   + ui.esc(" ".join(said)))


def _synthesis(db: Database, scope: auth.Scope, rec: learning_record.Record,
               editable: bool) -> None:
    st.subheader("What the lab team concluded")
    s = rec.synthesis
    if s is None:
        st.caption("The lab team has not written its synthesis of this idea yet.")
    else:
        with st.container(border=True):
            if s["key_learning"]:
                st.markdown(f"**Key learning.** {ui.esc(s['key_learning'])}")
            if s["worked_when"]:
                st.markdown(f"**Where and when it worked.** {ui.esc(s['worked_when'])}")
            if s["did_not_work_when"]:
                st.markdown(f"**Where and when it did not work.** "
                            f"{ui.esc(s['did_not_work_when'])}")
            words = syntheses.RECOMMENDATIONS.get(s["recommendation"], "")
            st.markdown(f"**Recommendation: {words}.** {ui.esc(s['reason'] or '')}")
            reviewed = "Not reviewed yet."
            if pd.notna(s.get("reviewed_on")):
                who = f" by {s['reviewed_by']}" if s.get("reviewed_by") else ""
                reviewed = f"Reviewed{who} on {ui.fmt_date(s['reviewed_on'])}."
            elif s.get("reviewed_by"):  # saved before the date was asked for
                reviewed = f"Reviewed by {s['reviewed_by']} (the date was not given)."
            if rec.audience.is_lab:
                reviewed += (f" Version {s['version']}, written by {s['written_by']} on "
                             f"{ui.fmt_date(s['written_at'])}.")
            st.caption(ui.esc(reviewed))
    if not rec.history.empty:
        with st.expander(f"Earlier versions ({len(rec.history)})"):
            h = rec.history
            ui.table(pd.DataFrame({
                "Version": h["version"], "Written": pd.to_datetime(h["written_at"]),
                "By": h["written_by"], "Key learning": h["key_learning"],
                "Recommendation": h["recommendation"].map(syntheses.RECOMMENDATIONS),
                "Reason": h["reason"], "Worked": h["worked_when"],
                "Did not work": h["did_not_work_when"]}), hide_index=True, width="stretch",
                column_config={"Written": st.column_config.DatetimeColumn(
                    format="DD MMM YYYY HH:mm")})
    if editable:
        _synthesis_form(db, scope, rec)


def _synthesis_form(db: Database, scope: auth.Scope, rec: learning_record.Record) -> None:
    s = rec.synthesis or {}
    idea_id = rec.idea["id"]
    form = f"synthesis_{idea_id}"
    label = "Revise the synthesis (saves version {})".format(int(s["version"]) + 1) if s \
        else "Write the synthesis"
    with st.expander(label, expanded=not s), st.form(form):
        problems = ui.form_problems(form)
        st.caption("Plain text: it is shown exactly as written, in the app and in reports. "
                   "Name an organisation only if it agreed to be named where this is read.")
        key = st.text_area("Key learning (a few sentences)", value=s.get("key_learning") or "",
                           max_chars=syntheses.KEY_LEARNING_LIMIT, key=f"{form}_key")
        ui.field_problem(problems, "Key learning")
        worked = st.text_area("Where and when it worked", value=s.get("worked_when") or "",
                              key=f"{form}_worked")
        ui.field_problem(problems, "Where and when it worked")
        failed = st.text_area("Where and when it did not work",
                              value=s.get("did_not_work_when") or "", key=f"{form}_failed")
        ui.field_problem(problems, "Where and when it did not work")
        choices = list(syntheses.RECOMMENDATIONS)
        recommendation = st.radio(
            "Recommendation", choices, horizontal=True, format_func=syntheses.RECOMMENDATIONS.get,
            index=choices.index(s["recommendation"]) if s.get("recommendation") in choices
            else None, key=f"{form}_rec")
        ui.field_problem(problems, "Recommendation")
        reason = st.text_area("Reason for the recommendation", value=s.get("reason") or "",
                              key=f"{form}_reason")
        ui.field_problem(problems, "Reason")
        left, right = st.columns(2)
        reviewed_by = left.text_input("Reviewed by", value=s.get("reviewed_by") or "",
                                      key=f"{form}_by")
        stored = pd.Timestamp(s["reviewed_on"]).date() if pd.notna(s.get("reviewed_on")) \
            else None
        # the latest day offered is today, or the stored one if a clock set back put it later
        # (a save then says the date is after today, rather than the page failing)
        reviewed_on = right.date_input(
            "Reviewed on", value=stored, format="DD/MM/YYYY",
            max_value=max(clock.today(), stored or clock.today()), key=f"{form}_on")
        ui.field_problem(problems, "Reviewed")
        if st.form_submit_button("Save as a new version", type="primary") and ui.run_write(
                lambda: syntheses.write_synthesis(
                    db, scope, idea_id, key_learning=key, worked_when=worked,
                    did_not_work_when=failed, recommendation=recommendation, reason=reason,
                    reviewed_by=reviewed_by, reviewed_on=reviewed_on),
                f"Synthesis of '{rec.idea['title']}' saved.", form=form,
                texts={"The key learning": key, "Where it worked": worked,
                       "Where it did not work": failed, "The reason": reason}):
            st.rerun()


def _cycle(db: Database, scope: auth.Scope, cycle: dict, editable: bool) -> None:
    planned = {True: "went as planned", False: "did not go as planned",
               None: "not yet recorded"}[cycle["went_as_planned"]]
    title = (f"Cycle {cycle['cycle_no']} · {cycle['organisation']} · "
             f"{ui.fmt_date(cycle['start'])} to {ui.fmt_date(cycle['end'])} · "
             f"{cycle['decision'] or cycle['stage']}")
    with st.expander(ui.esc(title)):
        st.caption(f"The test {planned}.")
        notes = [f"**{label}:** _not shared with you_" if cycle["notes"][field] is None
                 else f"**{label}:** {ui.esc(cycle['notes'][field])}"
                 for field, label in syntheses.EXCERPT_FIELDS.items()
                 if field in cycle["notes"]]
        if notes:  # one paragraph a note, drawn as one element (a page holds many cycles)
            st.markdown("\n\n".join(notes))
        if editable and cycle["shared"]:
            _share_form(db, scope, cycle)


def _share_form(db: Database, scope: auth.Scope, cycle: dict) -> None:
    form = f"share_{cycle['cycle_id']}"
    with st.form(form):
        st.caption("Who may read each note outside the lab team (partners see notes marked "
                   "Partners or Public; the public report only those marked Public).")
        for field, was in cycle.get("changed", {}).items():
            st.warning(f"{syntheses.EXCERPT_FIELDS[field]}: changed since you shared it "
                       f"({syntheses.AUDIENCES.get(was, was)}), so it is back with the lab "
                       "team only. Read it again and mark it if it may still go out.",
                       icon=":material/edit_note:")
        chosen = {}
        for field, mark in cycle["shared"].items():
            chosen[field] = st.segmented_control(
                syntheses.EXCERPT_FIELDS[field], list(syntheses.AUDIENCES),
                format_func=syntheses.AUDIENCES.get, default=mark, key=f"{form}_{field}")

        def save():
            for field, audience in chosen.items():
                if audience and audience != cycle["shared"][field]:
                    syntheses.mark_excerpt(db, scope, cycle["cycle_id"], field, audience)

        if st.form_submit_button("Save sharing") and ui.run_write(save, "Sharing saved."):
            st.rerun()


REPORTS_KEPT = 6  # built learning reports kept (a few MB each), the newest
PREPARE = "TRACKER_PREPARE_REPORTS"  # "off": no report is built before it is asked for


@st.cache_resource(show_spinner=False)
def _reports() -> tuple[dict, threading.Lock]:
    """Learning reports already built, shared by every session of this server. Each is keyed
    on who asked (their scope), which version and ideas, the file kind, the day and the
    version of the data: one reader never gets a file built for another, and any change
    of the data (a result, a note, a consent) builds it again."""
    return {}, threading.Lock()


@st.cache_resource(show_spinner=False)
def _preparing() -> tuple[ThreadPoolExecutor, dict[tuple, Future]]:
    """One thread that builds, ahead of the click, the report a reader who has just opened
    What we learned is likely to ask for; and the builds it has begun (key -> future)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="learning-report"), {}


def _key(db: Database, scope: auth.Scope, public: bool, ideas: list[str], kind: str) -> tuple:
    return (str(db.path), scope, public, tuple(sorted(ideas)), kind, clock.today(),
            repo.data_version(db))


def _build(db: Database, scope: auth.Scope, *, public: bool, ideas: list[str], kind: str,
           progress) -> bytes:
    html = learning_report.build_html(db, scope, public=public, ideas=ideas or None,
                                      progress=progress)
    if kind != "PDF":
        return html.encode("utf-8")
    with tempfile.TemporaryDirectory() as work:
        return learning_report.html_to_pdf(html, Path(work) / "report.pdf").read_bytes()


def _keep(key: tuple, data: bytes) -> tuple[bytes, dt.datetime]:
    built, lock = _reports()
    with lock:
        built[key] = (data, dt.datetime.now())
        while len(built) > REPORTS_KEPT:
            built.pop(next(iter(built)))  # the oldest first
        return built[key]


class _Left(Exception):
    """The reader left the page before the report built for them ahead was finished."""


GIVE_WAY_SECONDS = 30  # at most, in all, that a build ahead waits for the reader's own reruns


def prepare_learning_file(db: Database, scope: auth.Scope, where: ui.Whereabouts) -> bool:
    """Begin building, in the background, the report a click on "Build the report" asks for
    as the form opens (the public version of every idea, as HTML), unless it is built or
    being built, or the one thread is busy with another. Called as a reader enters What we
    learned, not on the page's own reruns (a lab admin saving syntheses one after another
    sets no build going at each save). At each idea and chart the build gives way while the
    reader's page is running (their clicks come first), and stops once they have gone to
    another page: it takes cores from the server only while it may be asked for. Returns
    whether a build began."""
    if os.environ.get(PREPARE, "").strip().lower() == "off":
        return False
    key = _key(db, scope, True, [], "HTML")
    built, lock = _reports()
    executor, begun = _preparing()
    with lock:
        for old in [k for k, future in begun.items() if future.done()]:
            begun.pop(old)
        if key in built or begun:  # ready, or the thread is busy
            return False

        page, waited = where.page, [0.0]

        def step(fraction: float, words: str) -> None:
            while where.busy and waited[0] < GIVE_WAY_SECONDS:
                time.sleep(0.02)
                waited[0] += 0.02
            if where.page != page:
                raise _Left

        def build() -> None:
            with contextlib.suppress(_Left):
                _keep(key, _build(db, scope, public=True, ideas=[], kind="HTML",
                                  progress=step))

        begun[key] = executor.submit(build)
    return True


def learning_file(db: Database, scope: auth.Scope, *, public: bool, ideas: list[str],
                  kind: str, progress) -> tuple[bytes, dt.datetime | None]:
    """The learning report as HTML or PDF bytes, built once per change of the data rather
    than on every click, and when it was built if that was before this click (None when
    built now, or finished now from the build begun as the page opened)."""
    key = _key(db, scope, public, ideas, kind)
    built, lock = _reports()
    with lock:
        if key in built:
            return built[key]
        begun = _preparing()[1].get(key)
    if begun is not None:
        if progress is not None:
            progress(0.5, "Finishing the report begun when this page opened...")
        where = ui.whereabouts()
        where.waiting = True  # the build gives way to this page's runs, but not to this wait
        try:
            with contextlib.suppress(Exception):  # if it failed, built below: error said there
                begun.result()
                with lock:
                    if key in built:
                        return built[key][0], None
        finally:
            where.waiting = False
    data = _build(db, scope, public=public, ideas=ideas, kind=kind, progress=progress)
    _keep(key, data)
    return data, None
