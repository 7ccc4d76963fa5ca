"""The tracker's entry point: page setup, sign-in, the menu (st.navigation) and the sidebar."""

import datetime as dt
import json
from pathlib import Path

import streamlit as st

from app import learning_view, ui
from tracker.access import auth, first_run, web_sessions
from tracker.errors import InputError
from tracker.records import reader_view, repo
from tracker.storage.base import keep_files_private

# The database and its WAL are the tracker's user's only, however the app was started
# (`streamlit run server.py` does this too; `streamlit run streamlit_app.py` or a test did not).
keep_files_private()

# server.py serves it under the base URL path (several labs behind one proxy)
SESSION_ROUTE = web_sessions.base_path(st.get_option("server.baseUrlPath")) + web_sessions.ROUTE
COOKIE_TICKET = "cookie_ticket"  # a sign-in's ticket, until this tab's page has asked for it

# The icon is a file of the tracker's, served by the app itself: a material or emoji icon is
# fetched from a font server on the internet on every page (it fails offline and tells a
# third party who uses the tracker).
ICON = Path(__file__).resolve().parent / "static" / "app_icon.png"
st.set_page_config(page_title="Improvement lab tracker", page_icon=str(ICON), layout="wide")

db = ui.get_db()


def sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all  # noqa: BLE001
        return False


def client_address() -> str | None:
    """Where the request comes from, for throttling failed sign-ins (behind a reverse proxy
    this is the proxy, unless it passes the address on)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def session_cookie() -> str | None:
    token = st.context.cookies.get(web_sessions.COOKIE) if st.context.cookies else None
    return token if isinstance(token, str) else None


def remember(signed_in: auth.Scope) -> None:
    """Signed in: keep it for this tab, which goes on at once to the page asked for (a deep
    link included). Its next run asks /tracker/session in the background to set the HttpOnly
    cookie that keeps the person signed in across a refresh or a new tab."""
    st.session_state["scope"] = signed_in
    st.session_state["last_active"] = dt.datetime.now()
    if not isinstance(st.context.url, str):  # no browser (AppTest): this tab only
        st.rerun()
    browser = st.context.cookies.get(web_sessions.BROWSER_COOKIE) if st.context.cookies else None
    if not isinstance(browser, str) or not browser:
        st.session_state.pop("scope", None)
        st.error("Your browser did not keep the tracker's cookie, so the sign-in cannot "
                 "finish. Allow cookies for this site, reload the page and sign in again.")
        st.stop()
    ticket = web_sessions.start(db, signed_in, browser)
    st.session_state[ui.WEB_SESSION] = web_sessions.ticket_session(db, ticket)
    st.session_state[COOKIE_TICKET] = ticket
    st.rerun()


def set_cookie_in_background(ticket: str) -> None:
    """The browser asks /tracker/session for this tab's session cookie, in the background
    (the page is not loaded again: that made a sign-in wait a second or more)."""
    def js(value: str) -> str:  # a JavaScript string that cannot close the <script>
        return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")

    st.sidebar.html(f"<script>fetch({js(SESSION_ROUTE)} + '?ticket=' + "
                    f"encodeURIComponent({js(ticket)}) + '&then=stay', "
                    "{credentials: 'same-origin', cache: 'no-store'});</script>",
                    unsafe_allow_javascript=True)


def this_session() -> int | str | None:
    """This tab's server-side session: the one it signed in to (by id), else the one its
    cookie names (a refresh or a new tab)."""
    return st.session_state.get(ui.WEB_SESSION) or session_cookie()


def login_page() -> None:
    # the page a sign-in opens on, made ready while the person types, then what every
    # learning record reads
    ui.prepare_overview(db, then=learning_view.prepare_outcomes)
    ui.prepare_browser()  # and the code the browser draws it with, loaded meanwhile
    st.title("Improvement lab tracker")
    message = st.session_state.pop("login_message", None)
    if message:
        st.info(ui.esc(message))
    if sso_configured():
        # The identity provider's cookie outlives a tracker session: signing in again takes
        # a click, so logging out of the tracker (or its idle expiry) is never undone by it.
        if st.user.is_logged_in:
            if st.button("Continue with single sign-on", type="primary"):
                try:
                    signed_in = auth.scope_for_email(
                        db, st.user.get("email"), bool(st.user.get("email_verified", False)))
                except auth.AuthError as exc:
                    st.error(ui.esc(exc))
                else:
                    remember(signed_in)
            if st.button("Sign out of single sign-on"):
                st.logout()
        else:
            st.button("Log in with single sign-on", on_click=st.login, type="primary")
        st.divider()
    with st.form("login"):
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        if st.form_submit_button("Log in", type="primary"):
            try:
                signed_in = auth.authenticate(db, username, password, client=client_address())
            except auth.AuthError as exc:
                st.error(ui.esc(exc))
            else:
                remember(signed_in)


def first_run_page() -> None:
    """No accounts, and a request that may not use local mode: make the first lab admin with
    the setup code the server printed in its log (tracker/access/first_run.py)."""
    st.title("Improvement lab tracker")
    st.subheader("Set up the first lab admin")
    st.write("This tracker has no accounts yet, and it is reached from another computer or "
             "through a proxy, so nobody may use it without signing in. The person who runs "
             "the server finds a one-time setup code in the server's log (or creates the first "
             "account with `python -m tracker user add --name NAME --role admin`).")
    with st.form("first_admin"):
        code = st.text_input("Setup code (from the server's log)", autocomplete="off")
        username = st.text_input("Username of the first lab admin", autocomplete="username")
        password = st.text_input(f"Password (at least {auth.MIN_PASSWORD} characters)",
                                 type="password",
                                 autocomplete="new-password")
        repeated = st.text_input("The same password again", type="password",
                                 autocomplete="new-password")
        if st.form_submit_button("Create the lab admin and sign in", type="primary"):
            try:
                signed_in = first_run.create_first_admin(db, code, username, password,
                                                         repeated)
            except InputError as exc:
                st.error(ui.esc(exc))
            else:
                remember(signed_in)


def menu(admin: bool, contributor: bool = False) -> dict[str, list]:
    """The menu, by section (the Admin section for lab admins only). A contributor's is what
    the lab shares in public, ideas sent in and For you: nothing else is reachable."""
    if contributor:
        return {"The lab": [
            st.Page("app_pages/shared_learning.py", title="What the lab learned",
                    icon=":material/school:", default=True),
            st.Page("app_pages/ideas_sent_in.py", title="Send an idea",
                    icon=":material/add_comment:"),
            st.Page("app_pages/for_you.py", title="For you", icon=":material/notifications:"),
        ]}
    pages = {
        "Challenge": [
            st.Page("app_pages/overview.py", title="Overview", icon=":material/home:", default=True),
            st.Page("app_pages/for_you.py", title="For you", icon=":material/notifications:"),
            st.Page("app_pages/challenge.py", title="Challenge and drivers", icon=":material/flag:"),
            st.Page("app_pages/insights.py", title="Discovery insights",
                    icon=":material/travel_explore:"),
            st.Page("app_pages/ideas.py", title="Change ideas", icon=":material/lightbulb:"),
            st.Page("app_pages/ideas_sent_in.py", title="Ideas sent in",
                    icon=":material/add_comment:"),
            st.Page("app_pages/cycles.py", title="Test cycles (PDSA)", icon=":material/autorenew:"),
            st.Page("app_pages/learning.py", title="What we learned", icon=":material/school:"),
            st.Page("app_pages/people.py", title="People", icon=":material/diversity_3:"),
            st.Page("app_pages/collaboration.py", title="Collaboration", icon=":material/hub:"),
            st.Page("app_pages/progress.py", title="Partner progress", icon=":material/trending_up:"),
        ],
        "Results": [
            st.Page("app_pages/summary.py", title="Summary", icon=":material/table_chart:"),
            st.Page("app_pages/outcomes.py", title="Outcomes", icon=":material/show_chart:"),
            st.Page("app_pages/portfolio.py", title="Portfolio of ideas", icon=":material/grid_view:"),
            st.Page("app_pages/review.py", title="Review", icon=":material/slideshow:"),
            st.Page("app_pages/enter.py", title="Enter results", icon=":material/edit_note:"),
            st.Page("app_pages/upload.py", title="Upload results", icon=":material/upload_file:"),
            st.Page("app_pages/export.py", title="Export data", icon=":material/download:"),
        ],
        "Set-up": [
            st.Page("app_pages/organisations.py", title="Organisations", icon=":material/apartment:"),
            st.Page("app_pages/measures.py", title="Measures", icon=":material/straighten:"),
        ],
    }
    if admin:
        pages["Admin"] = [
            st.Page("app_pages/accounts.py", title="Accounts", icon=":material/group:"),
            st.Page("app_pages/audit.py", title="Audit log", icon=":material/history:"),
            st.Page("app_pages/backups.py", title="Backups", icon=":material/backup:"),
            st.Page("app_pages/mail.py", title="Mail", icon=":material/mail:"),
        ]
    return pages


# Everything below reads the database: a PostgreSQL server that does not answer (stopped,
# restarting) is said in words on the page, never as Streamlit's generic error.
try:
    # ---------------------------------------------------------------- who is this?
    local_mode = not auth.accounts_exist(db)
    if local_mode and not first_run.is_local(
            st.get_option("server.address"), st.context.ip_address, st.context.headers,
            in_browser=isinstance(st.context.url, str)):
        first_run_page()
        st.stop()
    if local_mode:
        scope = auth.LOCAL_ADMIN
    else:
        scope = st.session_state.get("scope")
        if scope is None:  # a refresh or a new tab: the cookie names the session
            scope, ended_because = web_sessions.resume(db, session_cookie())
            if scope is not None:
                st.session_state["scope"] = scope
                st.session_state["last_active"] = dt.datetime.now()
            elif ended_because:
                st.session_state["login_message"] = ended_because
        session = this_session()
        last = st.session_state.get("last_active")
        now = dt.datetime.now()
        if scope is not None and last is not None and now - last > auth.IDLE_TIMEOUT:
            ui.sign_out("Your session ended after 30 minutes without activity. Please sign in "
                        "again.")
            web_sessions.end(db, session)
            scope = None
            if sso_configured() and st.user.is_logged_in:
                st.logout()  # the identity provider's cookie must not sign the person back in
        ended = None if scope is None else auth.session_ended(db, scope)
        if scope is not None and not ended and web_sessions.ended(db, session):
            ended = "You logged out (in this or another window), so this window was signed out."
        if ended:
            ui.sign_out(ended)
            web_sessions.end(db, session)
            scope = None
        if scope is None:
            # the menu, hidden, so that the page asked for (a deep link) is the one a
            # sign-in opens: the sign-in goes on in this run's session, with no page load
            st.navigation(menu(admin=True), position="hidden")
            login_page()
            st.stop()
        st.session_state["last_active"] = now
        # the server-side session's activity, written at most once a minute (not every rerun)
        if now - st.session_state.get("seen_at", dt.datetime.min) > web_sessions.SEEN_EVERY:
            web_sessions.seen(db, session)
            st.session_state["seen_at"] = now
        ticket = st.session_state.pop(COOKIE_TICKET, None)
        if ticket:  # signed in on the last run: the browser now asks for its cookie
            set_cookie_in_background(ticket)

    # ---------------------------------------------------------------- menu
    page = st.navigation(menu(scope.is_admin, scope.is_contributor),
                         expanded=True)  # every page in view

    challenges = repo.list_challenges(db)
    with st.sidebar:
        if len(challenges) > 1:  # a lab takes a new challenge every 9-12 months; earlier ones stay
            reader = ui.readable(db).audience  # titles as this user may read them
            labels = {int(c.id): f"{reader_view.challenge_title(reader, c._asdict())} "
                                 f"({c.start_date:%b %Y} – {c.end_date:%b %Y}"
                                 + (", upcoming)" if c.state == "upcoming" else ")")
                      for c in challenges.itertuples()}
            if st.session_state.get(ui.CHALLENGE_KEY) not in labels:  # the one running today
                st.session_state[ui.CHALLENGE_KEY] = repo.default_challenge_id(db)
            st.selectbox("Challenge", list(labels), format_func=labels.get, key=ui.CHALLENGE_KEY,
                         help="Ideas, cycles, learning, people and the results of its dates belong "
                              "to each challenge; organisations and measures carry over.")
        challenge = ui.current_challenge(db)
        if challenge is not None:
            challenge = {**challenge, "title": ui.readable(db).challenge["title"]}
            st.markdown(f"**{ui.esc(challenge['title'])}**")
            if challenge["is_demo"]:
                st.warning("Demo data: every organisation, person and number here is invented.",
                           icon=":material/science:")
        if local_mode:
            st.info(f"Local mode: you are the lab admin; the app listens on this computer only. "
                       f"Creating the first account (Admin → Accounts) switches login on. "
                       f"Database: {ui.esc(db.path)}")
        else:
            role = auth.ROLES[scope.role]
            where = f", {scope.organisation}" if scope.organisation else ""
            st.caption(f"Signed in as **{ui.esc(scope.actor)}** ({role.lower()}{ui.esc(where)}).")
            if scope.role == "viewer":
                st.caption("Viewers see everything and may export, but change nothing.")
            if st.button("Log out"):
                web_sessions.end(db, this_session())
                ui.sign_out("You have logged out.")
                if sso_configured() and st.user.is_logged_in:
                    st.logout()
                st.rerun()

    if challenge is not None and len(challenges) > 1 and \
            int(challenge["id"]) != repo.default_challenge_id(db):
        dates = f"{challenge['start_date']:%d %b %Y} to {challenge['end_date']:%d %b %Y}"
        if challenge["state"] == "upcoming":
            st.info(f"You are setting up an upcoming challenge, **{ui.esc(challenge['title'])}** "
                    f"({dates}). Results are stored for it from its start; until then the lab "
                    "opens on the challenge running now. Choose another in the sidebar, below "
                    "the menu.", icon=":material/event_upcoming:")
        else:
            st.info(f"You are looking at an earlier challenge, **{ui.esc(challenge['title'])}** "
                    f"({dates}). Choose another in the sidebar, below the menu.",
                    icon=":material/history:")

    ui.run_page(page)
except Exception as exc:
    if not ui.unreachable(exc):
        raise
    ui.say_unreachable()
