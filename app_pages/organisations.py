"""Organisations: the partners that test ideas and send results. Add, edit, retire."""

import pandas as pd
import streamlit as st

from app import ui
from tracker import vocab
from tracker.learning import syntheses
from tracker.records import repo

db = ui.get_db()
scope = ui.scope()
ui.flash()
st.title("Partner organisations")
orgs = repo.list_organisations(db, scope, include_retired=True)
KINDS = list(vocab.ORG_KINDS)

consent = syntheses.consents(db).set_index("organisation_id")
if orgs.empty:
    st.info("No organisations yet. Add the first partner below.")
else:
    table = {"Organisation": orgs["name"],
             "Status": orgs["retired_at"].isna().map({True: "Active", False: "Retired"})}
    if scope.is_admin:  # the consents in view, beside the name (not off to the right)
        table["Named to partners"] = orgs["id"].map(consent["named_to_partners"]).fillna(False)
        table["Named in public"] = orgs["id"].map(consent["named_in_public"]).fillna(False)
    table |= {"Kind": orgs["kind"].map(vocab.ORG_KINDS), "Region": orgs["region"],
              "Cycles": orgs["cycles"], "Results": orgs["results"]}
    if scope.is_admin:  # a contact is a person: the lab admin's only (docs/sharing.md)
        table |= {"Contact": orgs["contact_name"], "E-mail": orgs["contact_email"]}
    ui.table(pd.DataFrame(table), hide_index=True, width="stretch", column_config={
        "Named to partners": st.column_config.CheckboxColumn(width=130),
        "Named in public": st.column_config.CheckboxColumn(width=120)})


def org_form(key: str, row=None, problems=()):
    """The fields of an organisation; returns their values. `problems` of the last refused
    save are shown under the fields they belong to."""
    name = st.text_input("Name *", value="" if row is None else row["name"], key=f"{key}_name")
    ui.field_problem(problems, "Organisation name")
    kind = st.selectbox("Kind *", KINDS, format_func=vocab.ORG_KINDS.get, key=f"{key}_kind",
                        index=None if row is None else KINDS.index(row["kind"]))
    ui.field_problem(problems, "Kind of organisation")
    region = st.text_input("Region", value="" if row is None else (row["region"] or ""),
                           key=f"{key}_region")
    ui.field_problem(problems, "Region")
    contact = st.text_input("Contact name", key=f"{key}_contact",
                            value="" if row is None else (row["contact_name"] or ""))
    ui.field_problem(problems, "Contact name")
    email = st.text_input("Contact e-mail", key=f"{key}_email",
                          value="" if row is None else (row["contact_email"] or ""))
    ui.field_problem(problems, "Contact e-mail")
    return {"name": name, "kind": kind, "region": region, "contact_name": contact,
            "contact_email": email}


if not scope.is_admin:
    st.stop()

tab_add, tab_edit = st.tabs(["Add an organisation", "Edit or retire"], key="orgs_tab")
# The form keeps what was typed when something is wrong; after a save, new widget keys give
# an empty form for the next organisation.
with tab_add, st.form("add_org"):
    problems = ui.form_problems("add_org")
    values = org_form(f"add{st.session_state.get('org_round', 0)}", problems=problems)
    st.caption("\\* required")
    if st.form_submit_button("Add organisation", type="primary") and ui.run_write(
            lambda: repo.add_organisation(db, scope, **values),
            f"Organisation '{values['name'].strip()}' added.", form="add_org"):
        st.session_state["org_round"] = st.session_state.get("org_round", 0) + 1
        st.rerun()

with tab_edit:
    if orgs.empty:
        st.write("Nothing to edit yet.")
    else:
        labels = {int(r.id): r.name + (" (retired)" if pd.notna(r.retired_at) else "")
                  for r in orgs.itertuples()}
        org_id = st.selectbox("Organisation", list(labels), format_func=labels.get)
        row = orgs.set_index("id").loc[org_id]
        with st.form(f"edit_org_{org_id}"):
            values = org_form(f"edit{org_id}", row)
            if st.form_submit_button("Save changes", type="primary") and ui.run_write(
                    lambda: repo.update_organisation(db, scope, org_id, **values),
                    "Organisation saved."):
                st.rerun()
        with st.form(f"consent_{org_id}"):
            st.markdown("**What this organisation agreed to** (both off until it agrees; a "
                        "change takes effect in the next report)")
            agreed = consent.loc[org_id] if org_id in consent.index else None
            recorded = "" if agreed is None or pd.isna(agreed["recorded_at"]) else \
                f"Last recorded by {agreed['recorded_by']} on {ui.fmt_date(agreed['recorded_at'])}."
            to_partners = st.checkbox(
                "May be named to other partners", key=f"consent_p_{org_id}",
                value=bool(agreed is not None and agreed["named_to_partners"]))
            in_public = st.checkbox(
                "May be named in public reports", key=f"consent_r_{org_id}",
                value=bool(agreed is not None and agreed["named_in_public"]))
            if recorded:
                st.caption(ui.esc(recorded))
            if st.form_submit_button("Save consent") and ui.run_write(
                    lambda: syntheses.set_consent(db, scope, org_id,
                                                 named_to_partners=to_partners,
                                                 named_in_public=in_public),
                    "Consent saved."):
                st.rerun()
        ui.retire_toggle(row["retired_at"], "organisation",
                         lambda retire: repo.set_organisation_retired(db, scope, org_id, retire),
                         "Retiring keeps every result and cycle of the organisation; it only "
                         "leaves the lists of active partners. Nothing is deleted.")
