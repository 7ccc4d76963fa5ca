"""Review: laid out for a meeting (large type, one chart per screen) and exported as a pack."""

import tempfile
from pathlib import Path

import streamlit as st

from app import ui
from tracker import clock
from tracker.records import repo
from tracker.reports import charts, report

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
st.title("Review")

ALL = "All organisations"
MAX_NOTABLE = 30  # headlines on the summary screen: a meeting reads a screen, not a list
LARGE_PACK = 150  # charts; beyond this the page asks before building
SECONDS_PER_CHART = 0.8  # measured: docs/benchmarks.md (vl-convert renders each chart)


def shows(n: int) -> str:
    return f"{n:,} show{'s' if n == 1 else ''}"
names = repo.list_organisations(db, scope, include_retired=False)["name"].tolist()
c1, c2, c3 = st.columns([2, 1, 1])
organisation = c1.selectbox("Organisation", ([] if scope.is_partner else [ALL]) + names)
date_from = c2.date_input("From", value=challenge["start_date"], format="DD/MM/YYYY")
# to today, within the challenge's dates (an upcoming challenge: to its start, never before it)
date_to = c3.date_input("To", value=max(min(clock.today(), challenge["end_date"]),
                                        challenge["start_date"]), format="DD/MM/YYYY")
chosen = None if organisation == ALL else organisation

rows = report.pack_rows(db, scope, chosen, ui.summary_table(scope))
if rows.empty:
    st.info("No results yet.")
    st.stop()
st.caption(ui.esc(report.subtitle(chosen, date_from, date_to)))
# special causes first (improvement, then concern), then targets at risk, then the rest
rows = rows.assign(_order=(~rows["improving"]).astype(int) + (~rows["concern"]).astype(int)
                   + (~rows["assurance"].str.startswith("Consistently")).astype(int)) \
    .sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
labels = ["Summary"] + [f"{r.measure} — {r.organisation}" for r in rows.itertuples()]
if st.session_state.get("review_screen", 0) >= len(labels):
    st.session_state["review_screen"] = 0


def step(by: int) -> None:
    st.session_state["review_screen"] = (st.session_state.get("review_screen", 0) + by) \
        % len(labels)


back, pick, forward = st.columns([1, 6, 1], vertical_alignment="bottom")
back.button("← Previous", on_click=step, args=(-1,), width="stretch")
screen = pick.selectbox("Screen", options=range(len(labels)), key="review_screen",
                        format_func=lambda i: f"{i + 1} of {len(labels)}. {labels[i]}")
forward.button("Next →", on_click=step, args=(1,), width="stretch", type="primary")
if screen == 0:
    improving, concern = int(rows["improving"].sum()), int(rows["concern"].sum())
    st.markdown(f"## {len(rows):,} charts: {shows(improving)} improvement now, "
                f"{shows(concern)} concern")
    notable = rows[rows["improving"] | rows["concern"]
                   | rows["assurance"].str.startswith("Consistently")]
    notable = notable.assign(order=~notable["improving"] & ~notable["concern"]) \
        .sort_values("order", kind="stable")  # special causes first, then assurance
    for row in notable.head(MAX_NOTABLE).itertuples():
        st.markdown(f"### {ui.esc(row.measure)} — {ui.esc(row.organisation)}\n"
                    f"**{row.variation}.** {row.assurance}."
                    + (f" Now: {ui.esc(row.signal_now)}" if row.signal_now else ""))
        if row.signal_earlier:
            st.caption(f"Earlier: {ui.esc(row.signal_earlier)}")
    if len(notable) > MAX_NOTABLE:
        st.markdown(f"#### … and {len(notable) - MAX_NOTABLE:,} more: choose an organisation "
                    "above, or see them all on the Summary page.")
else:
    slide = report.build_slide(db, scope, rows.iloc[screen - 1], date_from=date_from,
                               date_to=date_to, view=ui.readable(db))
    if slide is None:
        st.info("No results for this chart in this period.")
        st.stop()
    chart = charts.style(slide.chart, orient="top")
    ui.chart(chart, width="stretch")  # as wide as the screen: read on a projector
    st.markdown(f"## {slide.variation} · {slide.assurance}")
    for sentence in slide.sentences or ["No special cause: the variation is what this process "
                                        "usually shows."]:
        if sentence.startswith("Earlier: "):
            st.markdown(ui.esc(sentence))  # history, smaller than what the chart shows now
        else:
            st.markdown(f"#### {ui.esc(sentence)}")
    left, right = st.columns(2)
    slug = "-".join(slide.title.split())[:60]
    # drawn when asked for, not on every screen (vl-convert takes a few tenths of a second)
    left.download_button("This chart as PNG", lambda: report.chart_image(chart, "png"),
                         file_name=f"{slug}.png", mime="image/png")
    right.download_button("This chart as SVG", lambda: report.chart_image(chart, "svg"),
                          file_name=f"{slug}.svg", mime="image/svg+xml")

st.divider()
st.subheader("Export the review pack")
kind = st.radio("Format", ["pdf", "pptx"], horizontal=True,
                format_func={"pdf": "PDF", "pptx": "PowerPoint"}.get)
every_chart = st.checkbox("Every chart, not only those with a signal now or a target at risk",
                          help="The summary at the front always lists every series.")
charted = len(rows) if every_chart else int(report.needs_a_chart(rows).sum())
st.caption(f"The pack: a summary of all {len(rows):,} series, then {charted:,} chart"
           f"{'s' if charted != 1 else ''}.")
big = charted > LARGE_PACK
if big:
    minutes = max(1, round(charted * SECONDS_PER_CHART / 60))
    st.warning(f"This pack would hold {charted:,} charts and take about {minutes} minutes to "
               "build. Choose an organisation above for a pack of its own charts.")
confirmed = not big or st.checkbox(f"Build all {charted:,} charts anyway")
if st.button("Build the pack", type="primary", disabled=not confirmed):
    bar, move = ui.progress_bar("Starting")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"review.{kind}"
        report.write_report(db, scope, out, organisation=chosen, date_from=date_from,
                            date_to=date_to, every_chart=every_chart, view=ui.readable(db),
                            progress=move)
        st.session_state["review_pack"] = (kind, out.read_bytes())
    bar.empty()
if "review_pack" in st.session_state:
    kind_built, data = st.session_state["review_pack"]
    st.download_button(f"Download the pack ({kind_built.upper()})", data,
                       file_name=f"review-{clock.today():%Y-%m-%d}.{kind_built}")
