"""Accounts (lab admin): add, disable, enable, unlock, change role, reset passwords."""

import pandas as pd
import streamlit as st

from app import ui
from tracker.access import auth
from tracker.intake import api_tokens
from tracker.records import repo

db = ui.get_db()
scope = ui.scope()
ui.flash()
st.title("Accounts")
ui.admin_only("manages accounts")

local = not auth.accounts_exist(db)
if local:
    st.info("There are no accounts yet, so the tracker runs in local mode: one user, the lab "
            "admin, on this computer only. Creating the first account switches login on; it "
            "must be a lab admin, and you will then sign in with it.")
else:
    users = auth.list_users(db, scope)
    ui.table(pd.DataFrame({
        "Username": users["username"], "Role": users["role"].map(auth.ROLES),
        "Organisation": users["organisation"], "E-mail": users["email"],
        "Status": users["disabled_at"].isna().map({True: "Active", False: "Disabled"}),
        "Locked until": users["locked_until"], "Last login": users["last_login_at"]}),
        hide_index=True, width="stretch")

orgs = repo.list_organisations(db, scope, include_retired=False)
org_options = ui.options(orgs)
with st.expander("Add an account", expanded=local), st.form(ui.form_key("add_account")):
    username = st.text_input("New username")
    role = st.selectbox("Role", list(auth.ROLES), format_func=auth.ROLES.get,
                        index=0 if local else None)
    org_id = st.selectbox("Organisation (partner accounts only)", [None, *org_options],
                          format_func=lambda v: "None" if v is None else org_options[v])
    email = st.text_input("E-mail (needed for single sign-on)")
    sso_only = st.checkbox("Signs in only with single sign-on (no password)")
    password = st.text_input(f"Password (at least {auth.MIN_PASSWORD} characters)",
                             type="password")
    again = st.text_input("Password again", type="password")
    if st.form_submit_button("Add account", type="primary"):
        if not sso_only and password != again:
            st.error("Nothing was saved: the two passwords differ.")
        elif ui.run_write(lambda: auth.add_user(
                db, scope, username=username, role=role, password=password,
                organisation_id=org_id, email=email, sso_only=sso_only),
                f"Account '{username.strip()}' added."):
            ui.form_saved("add_account")
            if local:
                ui.sign_out("Login is now on. Sign in with the account you have just created.")
            st.rerun()

if not local:
    st.subheader("Change an account")
    names = users["username"].tolist()
    who = st.selectbox("Account", names)
    row = users.set_index("username").loc[who]
    left, right = st.columns(2)
    with left:
        if pd.isna(row["disabled_at"]):
            if st.button("Disable this account", disabled=row["id"] == scope.account_id):
                ui.run_write(lambda: auth.disable_user(db, scope, who), f"'{who}' disabled.")
                st.rerun()
        elif st.button("Enable this account"):
            ui.run_write(lambda: auth.enable_user(db, scope, who), f"'{who}' enabled.")
            st.rerun()
        if pd.notna(row["locked_until"]) and st.button(
                "Unlock this account", help="Lift the lock after five failed sign-ins; the "
                "person can sign in again at once."):
            ui.run_write(lambda: auth.unlock_user(db, scope, who), f"'{who}' unlocked.")
            st.rerun()
        with st.form("change_role"):
            new_role = st.selectbox("Role", list(auth.ROLES), format_func=auth.ROLES.get,
                                    index=list(auth.ROLES).index(row["role"]))
            new_org = st.selectbox("Organisation (partner accounts only)",
                                   [None, *org_options],
                                   format_func=lambda v: "None" if v is None else org_options[v])
            if st.form_submit_button("Change role (signs the account out)"):
                ui.run_write(lambda: auth.change_role(db, scope, who, new_role, new_org),
                             f"Role of '{who}' changed; its open sessions have ended.")
                st.rerun()
    with right, st.form(ui.form_key("reset_password")):
        new = st.text_input("New password", type="password")
        if st.form_submit_button("Reset password (and unlock)") and ui.run_write(
                lambda: auth.reset_password(db, scope, who, new), f"Password of '{who}' reset."):
            ui.form_saved("reset_password")
            st.rerun()

st.subheader("Results API tokens")
st.caption("A token lets a partner organisation's own system send that organisation's results "
           "(the same checks, preview and all-or-nothing store as Upload results; docs/api.md). "
           "Only a fingerprint is kept: the token is shown once, when it is made.")
made = st.session_state.pop("new_api_token", None)
if made:
    st.success(f"Token for {ui.esc(made['organisation'])}. Copy it now and give it to the "
               "organisation over a safe channel: it will not be shown again.")
    st.code(made["secret"], language=None)
tokens = api_tokens.list_tokens(db, scope)
if tokens.empty:
    st.caption("No tokens yet.")
else:
    ui.table(pd.DataFrame({
        "No.": tokens["id"], "Organisation": tokens["organisation"], "For": tokens["label"],
        "Token starts": tokens["token"], "Made by": tokens["created_by"],
        "Made": tokens["created_at"], "Last used": tokens["last_used_at"],
        "Uses": tokens["uses"],
        "Revoked": tokens["revoked_at"]}), hide_index=True, width="stretch", placeholder="–",
        column_config={k: st.column_config.DatetimeColumn(format="D MMM YYYY HH:mm")
                       for k in ("Made", "Last used", "Revoked")})
with st.expander("Make a token"), st.form(ui.form_key("add_token")):
    token_org = st.selectbox("Organisation", list(org_options), index=None,
                             format_func=org_options.get)
    label = st.text_input("What it is for (for example 'EMIS nightly export')")
    if st.form_submit_button("Make the token", type="primary"):
        name = org_options.get(token_org, "")
        result = {}

        def make():
            result["secret"] = api_tokens.create(db, scope, organisation=name, label=label)[1]

        if ui.run_write(make):
            ui.form_saved("add_token")
            st.session_state["new_api_token"] = {"organisation": name,
                                                 "secret": result["secret"]}
            st.rerun()
active = tokens[tokens["revoked_at"].isna()] if not tokens.empty else tokens
if not active.empty:
    with st.expander("Revoke a token"):
        choice = st.selectbox("Token", active["id"].tolist(), format_func=lambda i: (
            f"{i}: {active.set_index('id').loc[i, 'organisation']} – "
            f"{active.set_index('id').loc[i, 'label']}"))
        if st.button("Revoke it (it stops working at once)"):
            ui.run_write(lambda: api_tokens.revoke(db, scope, int(choice)),
                         f"Token {choice} revoked.")
            st.rerun()
