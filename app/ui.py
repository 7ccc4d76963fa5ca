"""Streamlit helpers shared by the pages: the database connection, the current user, messages.

The logic lives in tracker/; this module only connects it to Streamlit.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import threading
import time
from collections.abc import Callable

import duckdb
import pandas as pd
import streamlit as st
from streamlit import dataframe_util  # the conversion st.vega_lite_chart makes (arrow_data)

from tracker import clock
from tracker.access import auth
from tracker.analysis import portfolio, summary
from tracker.community import mail
from tracker.intake import export
from tracker.learning import learning_record, sharing_check, whats_new
from tracker.records import reader_view, repo
from tracker.reports import charts
from tracker.storage import backup
from tracker.storage.base import (
    DatabaseDamaged,
    DatabaseError,
    DatabaseLocked,
    is_unreachable,
    location_key,
)
from tracker.storage.db import Database, damaged_message, is_damage
from tracker.storage.engines import shared
from tracker.text import escape_markdown as esc  # noqa: F401 - the pages' escape

LOG = logging.getLogger("tracker.app")


@st.cache_resource(show_spinner=False)
def _database(path: str) -> Database:
    database = shared(path)  # the same object server.py's routes use
    _daily_backups(database)
    # the lab admin's mail schedule (Admin → Mail): looks every 10 minutes; sends nothing
    # without TRACKER_SMTP
    try:
        smtp = mail.configured()
    except repo.InputError:  # said on the Admin → Mail page, never on every page
        smtp = None
    database.mail_schedule = mail.MailSchedule(database).start() if smtp else None
    return database


def _daily_backups(database: Database) -> backup.DailyBackups | None:
    """The app's automatic backup, one thread per process (the process that owns the file)."""
    at = backup.daily_time()
    if at is None or database.engine == "postgresql":
        return None  # PostgreSQL is backed up by pg_dump (docs/postgresql.md)
    daily = backup.DailyBackups(database, at, backup.keep_count()).start()
    database.daily_backups = daily  # the Backups page shows its next run and last error
    return daily


@st.cache_resource(show_spinner=False, max_entries=32)
def _shared(path: str, scope: auth.Scope, version: int) -> reader_view.ReaderView | None:
    db = _database(path)
    challenge = repo.get_challenge(db, scope.challenge_id)
    return None if challenge is None else learning_record.reader_texts(db, scope, challenge)


def readable(db: Database) -> reader_view.ReaderView:
    """The challenge's names and texts (title, question, aim, phases, drivers, ideas,
    measures) as the signed-in user may read them: the lab admin reads them as written;
    anyone else reads a stand-in for a title that would name someone withheld from them
    (`reader_view`). Pages take names from here, not from the tables."""
    return _shared(str(db.path), scope(), repo.data_version(db))


@st.cache_data(show_spinner=False, max_entries=64)
def _cycles(path: str, scope: auth.Scope, challenge_id: int, search: str | None,
            filters: tuple, today: dt.date, version: int) -> pd.DataFrame:
    db = _database(path)
    found = repo.list_cycles(db, scope, int(challenge_id), **dict(filters))
    return reader_view.readable_cycles(db, _shared(path, scope, version), found, search)


def cycles(db: Database, challenge_id: int, *, search: str | None = None,
           **filters) -> pd.DataFrame:
    """The cycles this user sees (`repo.list_cycles`), with every text as they may read it,
    and the search run on those texts alone; read once per change of the data (the cycle
    page asked three times a run)."""
    return _cycles(str(db.path), scope(), challenge_id, search, tuple(sorted(filters.items())),
                   clock.today(), repo.data_version(db))


@st.cache_data(show_spinner="Computing every series...", max_entries=16)
def _summary(path: str, scope: auth.Scope, version: int) -> pd.DataFrame:
    table = summary.summary_table(_database(path), scope)
    view = _shared(path, scope, version)
    return table if view is None else reader_view.names(view, table)


def summary_table(scope: auth.Scope) -> pd.DataFrame:
    """The Summary rows for this viewer, computed once per change of the data (about a second
    on the demo) rather than on every rerun. Keyed on the viewer's scope: cached data is
    shared between users, so one partner never gets another's rows."""
    db = get_db()
    return _summary(str(db.path), scope, repo.data_version(db))


@st.cache_data(show_spinner="Checking every idea's measures...", max_entries=16)
def _portfolio(path: str, scope: auth.Scope, version: int) -> pd.DataFrame:
    view = _shared(path, scope, version)
    if view is None:
        return portfolio.portfolio(_database(path), scope)
    pairs = portfolio.portfolio(_database(path), scope,
                                names=view.measures.set_index("id")["name"])
    return reader_view.names(view, pairs)


def portfolio_pairs(scope: auth.Scope) -> pd.DataFrame:
    """The portfolio rows (idea x organisation) for this viewer, cached like the Summary."""
    db = get_db()
    return _portfolio(str(db.path), scope, repo.data_version(db))


# no spinner of its own: _whats_new's says it, and `prepare_overview` calls it outside a page
@st.cache_data(show_spinner=False, max_entries=16)
def _signal_points(path: str, reader: auth.Scope, version: int) -> pd.DataFrame:
    # `reader`: Scope.series_reader(), so the lab team shares one entry (ids, no names)
    return whats_new.signal_points(_database(path), reader)


@st.cache_data(show_spinner="Looking for what is new...", max_entries=16)
def _whats_new(path: str, scope: auth.Scope, since: dt.date, version: int) -> pd.DataFrame:
    # the signals are kept apart from the date (a sign-in's date, the last visit, is new each
    # time, and charting every series again took a second of the sign-in at scale) and from
    # the person (the lab team reads the same series); the reader's names and texts are the
    # page's own (`readable`), not built again
    return whats_new.whats_new(_database(path), scope, since, view=_shared(path, scope, version),
                               points=_signal_points(path, scope.series_reader(), version))


_PREPARED: dict[str, int] = {}  # database -> the data version its Overview was prepared for


def prepare_overview(db: Database,
                     then: Callable[[str, int, int], object] | None = None) -> None:
    """While someone signs in, chart in the background every series the lab team's
    Overview looks through for what is new (`_signal_points`, the cache the Overview reads:
    about a second of the server's first sign-in at scale), once per change of the data. A
    sign-in that comes before it is done waits for it rather than charting them again
    (Streamlit computes a cached value once); a partner's own series are few, and charted as
    its Overview opens. Then `then(path, challenge id, data version)`, if given: a page's
    cache that every reader shares, filled after the Overview's."""
    try:  # a preparation: it never stands in the way of the sign-in page
        path, version = str(db.path), repo.data_version(db)
        if _PREPARED.get(path) == version:
            return
        _PREPARED[path] = version
        challenge = _challenge(path, None, clock.today(), version)  # where a sign-in lands
    except Exception:  # noqa: BLE001 - the page itself says what is wrong with the database
        LOG.warning("The Overview could not be prepared ahead", exc_info=True)
        return
    if challenge is None:
        return
    reader = auth.Scope(actor="", role="viewer").viewing(challenge).series_reader()

    def prepare() -> None:
        try:
            _signal_points(path, reader, version)
            if then is not None:
                then(path, int(challenge["id"]), version)
        except Exception:  # noqa: BLE001 - the pages compute it themselves, and say why
            LOG.warning("The Overview could not be prepared ahead", exc_info=True)

    threading.Thread(target=prepare, name="tracker-prepare-overview", daemon=True).start()


PRELOAD_KEY = "tracker_preload"  # the sign-in page's container of elements no one sees
# A chart with one point, drawn by the code every chart of the tracker is drawn by
PRELOAD_CHART = {"data": {"values": [{"x": 0}]}, "mark": "point",
                 "encode": {"x": {"field": "x", "type": "quantitative"}},
                 "width": 40, "height": 40}


def prepare_browser() -> None:
    """While someone types on the sign-in page, their browser loads the code of what the
    page after it draws: charts (Vega-Embed), data grids, Arrow and dates, about
    2.5 MB of JavaScript that Streamlit fetches and compiles the first time a page of the
    tab shows one (most of the server's first sign-in at scale, after the server's own
    0.5 s). One element of each kind, with nothing of the lab's in it, in a container that
    takes no room and is hidden from sight, the keyboard and screen readers
    (`visibility: hidden`)."""
    with st.container(key=PRELOAD_KEY):
        st.html(f"<style>.st-key-{PRELOAD_KEY}{{position:absolute;left:0;top:0;width:20rem;"
                "height:0;overflow:hidden;pointer-events:none}"
                f".st-key-{PRELOAD_KEY},.st-key-{PRELOAD_KEY} *{{visibility:hidden!important}}"
                "</style>")  # !important: a label of Streamlit's sets itself visible
        st.vega_lite_chart(PRELOAD_CHART, width="content")
        table(pd.DataFrame({"x": pd.Series([], dtype=int)}), hide_index=True)  # the grid's code
        st.date_input("x", value=dt.date(2000, 1, 1), key=f"{PRELOAD_KEY}_date",
                      label_visibility="collapsed")
        st.page_link("app_pages/overview.py", label="x")


def whats_new_since(scope: auth.Scope, since: dt.date) -> pd.DataFrame:
    """What is new since a date for this viewer, cached like the Summary."""
    db = get_db()
    return _whats_new(str(db.path), scope, since, repo.data_version(db))


def get_db() -> Database:
    """The process's one connection to the database named by TRACKER_DB (or the default)."""
    path = location_key()
    try:
        return _database(path)
    except DatabaseDamaged as exc:
        st.error(str(exc), icon=":material/report:")
        st.stop()
    except (DatabaseLocked, DatabaseError) as exc:
        st.error(f"The tracker cannot open its database. {exc}")
        st.stop()


class Whereabouts:
    """The page a session is on (its URL path), and whether its latest run opened it (from
    another page, a link or a sign-in) rather than ran it again after a click on it. Kept in
    the session's state and changed in place, so a thread working for the session can
    tell when the person has left the page."""

    __slots__ = ("entered", "page", "running", "waiting")

    def __init__(self) -> None:
        self.page: str | None = None
        self.entered = True
        self.running = False  # a run of the session's page is under way
        self.waiting = False  # ... and waits for work in the background to finish

    @property
    def busy(self) -> bool:
        """The session's page is running and not waiting on work in the background: that
        work gives way to it."""
        return self.running and not self.waiting


def whereabouts() -> Whereabouts:
    return st.session_state.setdefault("whereabouts", Whereabouts())


def run_page(page) -> None:
    """Run the chosen page; a damaged database file met while reading is said in words (where
    the last backup is, what to do), never as a stack trace."""
    where = whereabouts()
    where.entered, where.page = where.page != page.url_path, page.url_path
    where.running = True
    try:
        page.run()
    except duckdb.Error as exc:
        if not is_damage(exc):
            raise
        st.error(damaged_message(get_db().path, str(exc)), icon=":material/report:")
    except Exception as exc:
        if not unreachable(exc):
            raise
        say_unreachable()
    finally:
        where.running = False


def say_unreachable() -> None:
    st.error("The tracker cannot reach its database server just now, so this page "
             "cannot be shown and nothing was changed. Try again in a minute; if it goes "
             "on, tell whoever looks after the tracker (the server log says more).",
             icon=":material/cloud_off:")


unreachable = is_unreachable  # a PostgreSQL server that does not answer (tracker.storage.base)


def scope() -> auth.Scope:
    """Who is signed in, and so what they may see and change, looking at the challenge
    chosen in the sidebar. In local mode (no accounts yet) everyone is the lab admin. The
    entry point signs people in before any page runs."""
    found = st.session_state.get("scope")
    if found is None:
        if auth.accounts_exist(get_db()):
            st.error("Please sign in.")  # pages never run without the entry point's gate
            st.stop()
        found = auth.LOCAL_ADMIN
    return found.viewing(current_challenge(get_db()))


CHALLENGE_KEY = "challenge_id"  # the sidebar's choice of challenge


@st.cache_data(show_spinner=False, max_entries=64)
def _challenge(path: str, chosen: int | None, today: dt.date, version: int) -> dict | None:
    return repo.get_challenge(_database(path), chosen)


def current_challenge(db: Database) -> dict | None:
    """The challenge chosen in the sidebar, or the one running today
    (`repo.default_challenge_id`). Read once per change of the data and per day: a page asks
    for it about ten times a run (each `scope()`), and finding the one running today reads
    every challenge."""
    return _challenge(str(db.path), st.session_state.get(CHALLENGE_KEY), clock.today(),
                      repo.data_version(db))


def admin_only(what: str) -> None:
    """Stop an Admin page for anyone but the lab admin (the menu hides it from them too)."""
    if not scope().is_admin:
        st.error(f"Only the lab admin {what}.")
        st.stop()


WEB_SESSION = "web_session"  # the id of the server-side session this tab signed in to


def sign_out(message: str | None = None) -> None:
    st.session_state.pop("scope", None)
    st.session_state.pop(WEB_SESSION, None)
    # the next sign-in in this tab opens on the challenge running then, as a new tab does
    st.session_state.pop(CHALLENGE_KEY, None)
    st.session_state.pop("last_active", None)
    if message:
        st.session_state["login_message"] = message


def run_write(action: Callable[[], object], success: str | None = None, *,
              form: str | None = None, texts: dict[str, str | None] | None = None) -> bool:
    """Run a write; show its refusal in plain words (nothing was saved) or a success toast.
    With `form`, a refusal is kept for the next run and the page reruns, so the fields can
    be marked where they stand (`field_problem`); their input is kept by their keys. With
    `texts` ({label: text} of what was written), a saved text that some readers will not see
    is said, with who and why (`sharing_check`), above the page after it reruns."""
    try:
        action()
    except repo.InputError as exc:
        if form:
            st.session_state[f"problems_{form}"] = list(exc.problems)
            st.rerun()
        show_problems(exc.problems)
        return False
    if success:  # success messages name what was saved: user text, escaped
        st.toast(esc(success))
        st.session_state["flash"] = success
    if texts:
        st.session_state["flash_sharing"] = sharing_check.warnings(get_db(), texts)
    return True


def show_refused_list(report, file_name: str) -> None:
    """A list the lab admin imported (people, insights) that was refused: how many problems,
    then each with its row, column and value; nothing was stored."""
    total = len(report.errors) + report.more_errors
    st.error(f"Nothing was stored: {total} problem{'s' if total != 1 else ''} in "
             f"{esc(file_name)}. Correct the file and upload it again.")
    table(pd.DataFrame({"Row": [p.row for p in report.errors],
                        "Column": [p.column for p in report.errors],
                        "Value": [p.value for p in report.errors],
                        "Problem": [p.message for p in report.errors]}),
          hide_index=True, width="stretch")


def show_problems(problems: list[str]) -> None:
    lines = "\n".join(f"- {esc(p)}" for p in problems)
    st.error(f"Nothing was saved. Please fix the following:\n\n{lines}")


TEXT_ROWS = 60  # rows of a table repeated as text for screen readers


def table(data, **options):
    """`st.dataframe` with empty cells shown as "–" (not "None"), then the same figures as
    text a screen reader reads (the grid is drawn on a canvas, which it cannot): an HTML table
    of the first TEXT_ROWS rows in an expander. Returns what `st.dataframe` returns (the
    selection, for a table that can be selected)."""
    options.setdefault("placeholder", "–")
    shown = st.dataframe(data, **options)
    if isinstance(data, pd.DataFrame) and not data.empty:
        text_table(data)
    return shown


def text_table(data: pd.DataFrame, label: str = "This table as text") -> None:
    """The first TEXT_ROWS rows of `data` as an HTML table (st.table), in an expander."""
    with st.expander(label):
        if len(data) > TEXT_ROWS:
            st.caption(f"The first {TEXT_ROWS} of {len(data):,} rows.")
        st.html(html_table(data.head(TEXT_ROWS)))


TABLE_STYLE = ("<style>.tracker-text-table-box{overflow-x:auto;max-width:100%}"
               ".tracker-text-table{border-collapse:collapse;font-size:0.9rem}"
               ".tracker-text-table th,.tracker-text-table td{border:1px solid #b1b4b6;"
               "padding:0.2rem 0.5rem;text-align:left;vertical-align:top}</style>")


def html_table(frame: pd.DataFrame) -> str:
    """A frame as one plain HTML table (headers as `th scope=col`), every cell escaped as
    text: one element for the browser to draw, where `st.table` draws each cell as Markdown
    (on a page of six charts, a second of the browser's time)."""
    cells = _cells(frame)
    head = "".join(f"<th scope='col'>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in cells.itertuples(index=False))
    return (f"{TABLE_STYLE}<div class='tracker-text-table-box' tabindex='0'>"
            f"<table class='tracker-text-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


ISO_DAY = r"\d{4}-\d{2}-\d{2}(T00:00:00(\.0+)?)?"  # a day as a chart's data writes it


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell of a frame as plain text: dates as dates, numbers with separators, empty
    cells as "–"."""
    out = pd.DataFrame(index=frame.index)
    for i, column in enumerate(frame.columns):
        values = frame[column]
        if (values.dtype == object or pd.api.types.is_string_dtype(values)) and \
                values.notna().any() and \
                values.dropna().astype(str).str.fullmatch(ISO_DAY).all():
            values = pd.to_datetime(values)  # a chart's dates come as text: read as dates
        if pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime("%d %b %Y")
        else:
            text = values.map(lambda v: f"{v:,g}" if isinstance(v, float) else str(v))
        out[i] = text.astype(object).where(values.notna(), "–")
    return out


def chart(figure, **options) -> None:
    """The chart, then its text alternative under it (a sentence, and its data as a table a
    screen reader reads: `charts.text_alternative`). Both come from one Vega-Lite
    specification (`charts.vega_lite`, data inline), made once: `st.altair_chart` made its own
    and checked it against the whole Vega-Lite schema on every run (0.17 s of each Review
    step at scale), and the text alternative made another. The builders' specifications are
    checked against the schema by the tests, on every chart of every page
    (tests/test_app.py)."""
    spec = charts.vega_lite(figure)
    st.vega_lite_chart(spec, **options)
    chart_text(charts.text_alternative(spec))


def arrow_data(spec: dict) -> dict:
    """A Vega-Lite spec to keep (in a cache) with its datasets as Arrow bytes, the form
    `st.vega_lite_chart` sends a chart's data in: given rows, it converts them on every run
    (a third of the run of an idea's learning record at scale); given bytes, it sends them
    as they are. The bytes are Streamlit's own conversion, so the chart draws the same, under
    the same names (Altair's, a hash of the rows, as Streamlit's element ids expect)."""
    datasets = spec.get("datasets")
    if not isinstance(datasets, dict):
        return spec
    return {**spec, "datasets": {
        name: dataframe_util.convert_anything_to_arrow_bytes(rows)
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows) else rows
        for name, rows in datasets.items()}}


def chart_text(figure, where=None) -> None:
    """A chart's text alternative (`chart`), in `where` (a column) or on the page. `figure`
    is the chart, or its (sentence, table) already worked out (the table as a frame, or as
    `html_table` made it)."""
    words, data = figure if isinstance(figure, tuple) else charts.text_alternative(figure)
    table = data if isinstance(data, str) else None if data.empty else html_table(data)
    with (where or st).expander("This chart in words and numbers"):
        st.markdown(esc(words))
        if table:
            st.html(table)


def form_key(form: str) -> str:
    """The key of an adding form for this round. A refused save keeps everything typed (the
    form is the same one when the page reruns); after a save, `form_saved(form)` starts the
    next round: a new, empty form. (Streamlit's `clear_on_submit` would empty it either way.)"""
    return f"{form}_{st.session_state.get(f'round_{form}', 0)}"


def form_saved(form: str, *keys: str) -> None:
    """The form was saved: draw the next one empty (see `form_key`), its widgets with keys of
    their own (`keys`) too."""
    st.session_state[f"round_{form}"] = st.session_state.get(f"round_{form}", 0) + 1
    for key in keys:
        st.session_state.pop(key, None)


def form_problems(form: str) -> list[str]:
    """The problems of a form's last refused save (shown once, above the form)."""
    problems = st.session_state.pop(f"problems_{form}", [])
    if problems:
        show_problems(problems)
    return problems


def field_problem(problems: list[str], *names: str) -> None:
    """Mark a field: its problems, in red, right under it. A problem belongs to a field when
    it starts with the field's name as the data layer says it ("Measure name is required")."""
    mine = [p for p in problems if any(p.startswith(n) or p.startswith(f"A {n.lower()}")
                                       for n in names)]
    for problem in mine:
        st.caption(f":red[↑ {esc(problem)}]")


def retire_toggle(retired_at, noun: str, set_retired: Callable[[bool], object],
                  explain: str) -> None:
    """The retire / bring back button of an organisation, measure or driver. Retiring keeps
    everything that refers to the thing; nothing is deleted."""
    retired = retired_at is not None and not pd.isna(retired_at)
    if st.button(f"Bring back this {noun}" if retired else f"Retire this {noun}", help=explain):
        run_write(lambda: set_retired(not retired),
                  f"{noun.capitalize()} brought back." if retired else f"{noun.capitalize()} retired.")
        st.rerun()


def open_chart(measure_id: int, organisation_id: int) -> None:
    """Go to the Outcomes page showing this measure at this organisation (the Outcomes page
    reads these keys as its select boxes' state)."""
    st.session_state["outcome_measure"] = int(measure_id)
    st.session_state["outcome_org"] = int(organisation_id)
    st.switch_page("app_pages/outcomes.py")


def flash() -> None:
    """Show (once) the message of the last successful change, which survives st.rerun. It
    stands in a box that is on the page whether or not there is a message, so what follows
    keeps its place when the message goes: tabs after it (People's) stayed on the tab chosen
    rather than going back to the first."""
    box = st.container()
    message = st.session_state.pop("flash", None)
    if message:
        box.success(esc(message))
    for warning in st.session_state.pop("flash_sharing", None) or []:
        box.warning(esc(warning), icon=":material/visibility_off:")


def challenge_or_welcome(db: Database) -> dict:
    """Return the challenge chosen in the sidebar (the one running today unless another was
    chosen), or explain that there is none yet and stop the page."""
    challenge = current_challenge(db)
    if challenge is None:
        st.info("There is no challenge yet. Open **Overview** to load the demo challenge or to "
                "start your own.")
        st.page_link("app_pages/overview.py", label="Go to Overview", icon=":material/home:")
        st.stop()
    return challenge


def csv_download(frame: pd.DataFrame, file_name: str, label: str = "Download this table (CSV)",
                 key: str | None = None) -> None:
    """The tracker's own CSV of a table shown on the page: text a spreadsheet would run as a
    formula (=, +, -, @) is neutralised. The grids' built-in download is off
    (client.disableDataExport), because it writes cells exactly as they are."""
    data = export.neutralise(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")
    st.download_button(label, data, file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:")


def fmt_date(value) -> str:
    if value is None or (not isinstance(value, dt.date) and pd.isna(value)):
        return ""
    return pd.Timestamp(value).strftime("%d %b %Y")


def options(frame: pd.DataFrame, label: str = "name") -> dict[int, str]:
    """id → label, for select boxes that return ids."""
    return dict(zip(frame["id"].astype(int), frame[label].astype(str), strict=True))



PROGRESS_EVERY = 0.25  # seconds: a progress bar moves at most this often


def progress_bar(text: str) -> tuple:
    """A progress bar and the function that moves it (fraction, text). It moves at most every
    quarter of a second: each move is a message the browser draws, and a report that moved it
    for every chart kept the browser busy on the cores the report needs."""
    bar = st.progress(0.0, text=text)
    last = [time.monotonic()]

    def move(fraction: float, words: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY or fraction >= 1.0:
            last[0] = now
            bar.progress(min(max(fraction, 0.0), 1.0), text=words)
    return bar, move


def preview_and_store(report, store: Callable, *, key: str, what: str = "file") -> bool:
    """The preview of a checked upload (a file, or the results typed into the entry grid):
    what was read, every problem with its row and column, new / updated (old → new) /
    unchanged, the rows flagged as probable typing errors, and a Store button. Flagged rows
    are stored only once the person ticks that they checked them. `store(progress,
    accept_unusual)` commits (flagged values only when ticked) and returns the final report.
    Returns True once stored (the caller then resets)."""
    facts = list(dict.fromkeys([report.file_type, report.encoding]))  # once each
    if report.delimiter:
        facts.append(f"{report.delimiter}-separated")
    if report.date_format:
        facts.append(f"dates: {report.date_format}")
    if report.layout:
        facts.append(report.layout)
    if what == "file":
        # a file refused by its header was never counted: not "0 rows" of a file that has some
        if report.rows or not report.errors:
            facts.append(f"{report.rows:,} row{'s' if report.rows != 1 else ''}")
        st.caption(esc(" · ".join(f for f in facts if f))
                   + (f" ({report.empty_rows:,} empty, skipped)" if report.empty_rows else ""))
    if report.errors:
        total = len(report.errors) + report.more_errors
        again = "Correct the file and upload it again" if what == "file" else \
            "Correct the grid and check it again"
        whole = [p.message for p in report.errors if p.row is None]  # the file as a whole
        st.error(f"**Nothing can be stored yet: {total:,} problem"
                 f"{'s' if total != 1 else ''} to fix.** {again}. The database has not been "
                 "changed." + "".join(f"\n\n{esc(m)}" for m in whole))
        rows = [p for p in report.errors if p.row is not None]
        if rows:
            table(pd.DataFrame([{"Row": p.row, "Column": p.column, "Value": p.value,
                                 "Problem": p.message} for p in rows]),
                  hide_index=True, width="stretch", placeholder="",
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
        st.warning(esc(warning))
    if not report.plan.empty:
        _plan_table(report.plan)
    if report.already_stored_batch is not None:
        st.info(esc(report.summary()))
        return False
    if report.ok and report.new + report.updated == 0:
        st.info("Every row is already stored with the same value: nothing to store.")
        return False
    if not report.ok:
        return False
    confirmed = True
    if report.implausible:
        confirmed = st.checkbox(
            f"I have checked the {report.implausible:,} flagged row"
            f"{'s' if report.implausible != 1 else ''}: the values are right, store them as "
            "they are", key=f"{key}_confirm_{report.sha256[:12]}")
    count = report.new + report.updated
    if not st.button(f"Store {count:,} result{'s' if count != 1 else ''}", type="primary",
                     disabled=not confirmed, key=f"{key}_store"):
        return False
    bar, move = progress_bar("Storing")
    done = store(move,
                 confirmed and bool(report.implausible))  # ticked: the Store button needs it
    bar.empty()
    if done.batch_id is None:
        st.error(esc(done.summary()))
        return False
    st.session_state["flash"] = (
        done.summary() + " Next: see the charts on the Summary or Outcomes page. To take it "
        "back, undo it under Upload results → 'Upload history and undo'.")
    return True


def _plan_table(plan: pd.DataFrame) -> None:
    def shown(value, numerator, denominator):
        if pd.notna(value):
            return f"{value:g}"
        if pd.notna(numerator) and pd.notna(denominator):
            return f"{numerator:g} / {denominator:g}"
        return ""

    old_notes = plan["old_note"].where(plan["old_note"].notna(), None)
    new_notes = plan["note"].where(plan["note"].notna(), None)
    table(pd.DataFrame({
        "Row": plan["row"], "Status": plan["status"].str.capitalize(),
        "Organisation": plan["organisation"], "Measure": plan["measure"],
        "Period": pd.to_datetime(plan["period"]),
        "Stored now": [shown(*r) for r in zip(plan["old_value"], plan["old_numerator"],
                                              plan["old_denominator"], strict=True)],
        "New": [shown(*r) for r in zip(plan["value"], plan["numerator"], plan["denominator"],
                                       strict=True)],
        "Note": [f"{old or '(none)'} → {new or '(none)'}" if status == "updated"
                 and (old or None) != (new or None) else new
                 for old, new, status in zip(old_notes, new_notes, plan["status"],
                                             strict=True)]}),
        hide_index=True, width="stretch",
        column_config={"Period": st.column_config.DateColumn(format="DD MMM YYYY")})
    if len(plan) == 5000:
        st.caption("The preview shows the first 5,000 rows.")
