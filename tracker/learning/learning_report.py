"""The learning report: what the challenge learned, idea by idea under its drivers, with the
evidence in words and charts, what did not work and why, every measure's operational
definition and a note on method. One self-contained HTML file (charts as inline SVG; nothing
fetched, nothing run: it opens offline in any browser), or the same printed to PDF by
Chromium.

The public version applies disclosure control (`tracker.access.disclosure`) and says what it
withheld; only a lab admin may make the internal version.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import jinja2
import pandas as pd

from tracker import clock, vocab
from tracker.access.scope import Scope
from tracker.analysis import portfolio
from tracker.errors import InputError
from tracker.learning import learning_record, syntheses
from tracker.records import files, reader_view, repo
from tracker.reports import charts, drawing
from tracker.reports.charts.spec import vega_lite
from tracker.storage.db import Database
from tracker.text import shown

Progress = Callable[[float, str], None]
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "html"),
    autoescape=True,  # every value is text; only the tracker's own SVG charts go in as markup
    undefined=jinja2.StrictUndefined)

METHOD = [
    "Each chart is a statistical process control (SPC) chart, following NHS England's "
    "\"Making Data Count\": the dots are the organisation's results period by period, the solid "
    "line their mean and the dashed lines the limits within which results vary by chance alone "
    "(XmR charts for values, p charts for proportions, u charts for rates). Limits from fewer "
    "than 13 points are trial limits.",
    "A point is special cause (coloured blue for improvement, orange for concern) when it falls "
    "outside a limit, when 7 or more points in a row sit on one side of the mean, when 6 or more "
    "rise or fall in a row, or when 2 of 3 points lie close to a limit on the same side.",
    "Shaded bands are the idea's PDSA cycles at that organisation (letter = idea, number = its "
    "cycle). An idea \"showed improvement\" at an organisation when at least one point from the "
    "start of its first cycle there to 26 weeks after its last cycle there is special cause "
    "improvement, under limits from 13 or more points.",
    "A signal is evidence to discuss, not proof that the idea caused the change: other ideas, "
    "seasons and changes in who was referred can move a measure too, and the longer a series "
    "runs, the likelier a chance signal somewhere. No signal does not prove the idea failed: "
    "the measure may be too noisy or too slow to show it.",
]
PUBLIC_METHOD = (
    "This is the public version. Organisations appear by name only where they agreed to be "
    "named in public reports; otherwise by their kind and region. Notes from the PDSA cycles "
    "appear only where the lab team marked them public. Points of proportions, rates and counts "
    "of people based on fewer than {n} people are not shown (gaps in the line), and no person "
    "is named.")


def select_ideas(ideas: pd.DataFrame, wanted) -> pd.DataFrame:
    """The ideas asked for by title or number (all when none are asked for)."""
    if not wanted:
        return ideas
    keep, problems = [], []
    by_title = {repo._norm(t): i for t, i in zip(ideas["title"], ideas["id"], strict=True)}
    for item in wanted:
        text = str(item).strip()
        if text.isdigit() and int(text) in set(ideas["id"]):
            keep.append(int(text))
        elif repo._norm(text) in by_title:
            keep.append(by_title[repo._norm(text)])
        else:
            from tracker.intake.planning import suggest

            problems.append(f"No idea called '{text}' is in this challenge."
                            + suggest(text, ideas["title"].tolist()))
    if problems:
        raise InputError(problems)
    return ideas[ideas["id"].isin(keep)]


def build_html(db: Database, scope: Scope, *, public: bool, ideas=None,
               progress: Progress | None = None) -> str:
    """The whole report as one HTML document."""
    step = progress or (lambda fraction, text: None)
    if not public:
        scope.require_admin("make the internal learning report (anyone may make the public "
                            "version)")
    challenge = repo.get_challenge(db, scope.challenge_id)
    if challenge is None:
        raise InputError("There is no challenge yet, so there is no learning to report.")
    cid = challenge["id"]
    chosen = select_ideas(repo.list_ideas(db, cid), ideas)
    audience = learning_record.audience_for(db, scope, public=public)
    # every name and text of the challenge as this reader may read it: the report is built
    # from this, never from the tables
    view = reader_view.build(db, audience, challenge)
    outcomes = portfolio.measure_outcomes(db, learning_record.INTERNAL.viewing(challenge), cid)
    with drawing.Drawing("svg", expected=PANELS_PER_IDEA * len(chosen)) as drawn:
        records, owners = _gather(db, scope, chosen, view, public, audience, outcomes, drawn,
                                  step)
        svgs = drawn.images(lambda f, t: step(0.5 + 0.45 * f, t))
    diagram = None
    for owner, svg in zip(owners, svgs, strict=True):
        if owner is None:
            diagram = svg.decode("utf-8")
        else:
            owner.svgs.append(svg.decode("utf-8"))
    step(0.97, "Writing the report")
    images = _images(files.public_images(db, chosen["id"]), audience)
    return _render(view, records, diagram, public, images)


def _images(found: pd.DataFrame, audience) -> dict[int, list[dict]]:
    """The images the lab admin marked public, by idea, each as a data URI (the report is
    one file) with its caption as this reader may read it (withheld: none, and said)."""
    out: dict[int, list[dict]] = {}
    for row in found.itertuples():
        caption = audience.passage(row.caption, "An image's caption") if row.caption else None
        out.setdefault(int(row.idea_id), []).append({
            "src": f"data:{files.MIME[row.kind]};base64,"
                   + base64.b64encode(bytes(row.content)).decode("ascii"),
            "caption": caption or "",
            "alt": caption or "A photo from a test of this idea"})
    return out


PANELS_PER_IDEA = 3  # charts, about: enough ideas make it worth drawing in worker processes


def _gather(db, scope, chosen, view, public, audience, outcomes, drawn: drawing.Drawing,
            step) -> tuple[list, list]:
    """Each idea's learning record, its charts handed to `drawn` as soon as they are made (so
    the workers draw while the next record is gathered), the driver diagram first; and whose
    each chart is (None: the diagram)."""
    cid = view.challenge["id"]
    owners = []
    drivers = view.drivers
    active = drivers[drivers["retired_at"].isna()]
    if not active.empty:
        links = repo.list_driver_links(db, cid)
        idea_links = repo.list_idea_links(db, cid)
        drawn.add(vega_lite(charts.driver_diagram(
            view.challenge["aim"] or "The lab's aim", active, links, view.ideas,
            idea_links[idea_links["driver_id"].isin(active["id"])])))
        owners.append(None)
    records = []
    for n, idea_id in enumerate(chosen["id"]):
        step(0.05 + 0.45 * n / max(len(chosen), 1), f"Gathering idea {n + 1} of {len(chosen)}")
        rec = learning_record.record(db, scope, int(idea_id), public=public, audience=audience,
                                     outcomes=outcomes, view=view)
        records.append(rec)
        for evidence in rec.evidence:
            for title, frame, cycles in evidence.panels:
                drawn.add(vega_lite(charts.idea_panel(
                    title, frame, cycles, unit=evidence.unit, target=evidence.target,
                    percent=evidence.data_kind == "proportion")))
                owners.append(evidence)
    return records, owners


def _render(shared: reader_view.ReaderView, records, diagram, public, images=None) -> str:
    audience, challenge = shared.audience, shared.challenge
    ideas_view = [_idea_view(r, (images or {}).get(int(r.idea["id"]), [])) for r in records]
    drivers = shared.drivers.set_index("id")
    groups: dict = {}
    for rec, view in zip(records, ideas_view, strict=True):
        ids = [d for d in rec.idea["driver_ids"] if d in drivers.index
               and pd.isna(drivers.loc[d, "retired_at"])]
        key = min(ids, key=lambda d: (drivers.loc[d, "position"], d)) if ids else None
        groups.setdefault(key, []).append(view)
    ordered = []
    for key, views in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        if key is None:
            ordered.append({"heading": "Ideas not linked to a driver", "note": "", "ideas": views})
        else:
            d = drivers.loc[key]
            level = vocab.DRIVER_LEVELS.get(d["level"], d["level"])
            ordered.append({"heading": f"{level}: {d['name']}", "note": "", "ideas": views})
    not_worked = [{"title": v["title"], "why": v["not_worked_why"]} for v in ideas_view
                  if v["not_worked_why"]]
    measures = shared.measures[shared.measures["retired_at"].isna()]
    measure_rows = [{
        "name": m.name, "code": m.code,
        "type": vocab.MEASURE_TYPES.get(m.measure_type, m.measure_type),
        "definition": shown(m.definition) or "",
        "fraction": f"{m.numerator} / {m.denominator}" if shown(m.numerator)
        and shown(m.denominator) else "",
        "unit": m.unit, "direction": vocab.DIRECTIONS.get(m.direction, m.direction),
        "frequency": vocab.FREQUENCIES.get(m.frequency, m.frequency)}
        for m in measures.itertuples()]
    withheld = audience.withheld.sentences(audience.min_count) if public else []
    shareable = any(v["synthesis"] for v in ideas_view) or any(
        text for v in ideas_view for c in v["cycles"] for text in (c["prediction"], c["learned"])
        if text)
    nothing = None
    if public and not shareable:
        nothing = ("Nothing in this report has been written or marked for the public yet. To "
                   "share learning: write the lab team's synthesis of each idea (What we "
                   "learned), mark the cycle notes that may be published as Public, and record "
                   "which organisations agreed to be named in public reports (Organisations).")
    phases = shared.phases
    title = f"What we learned: {challenge['title']}"
    return _TEMPLATES.get_template("learning.html.j2").render(
        title=title, public=public,
        version_words="Public version: disclosure control applied" if public else
        "Internal version: for the lab team only, not for sharing",
        made_on=f"{clock.today():%d %B %Y}", is_demo=bool(challenge["is_demo"]),
        challenge={"question": challenge["question"], "aim": challenge["aim"],
                   "start": f"{challenge['start_date']:%d %B %Y}",
                   "end": f"{challenge['end_date']:%d %B %Y}"},
        phases=[{"name": p.name, "start": f"{pd.Timestamp(p.start_date):%d %b %Y}",
                 "end": f"{pd.Timestamp(p.end_date):%d %b %Y}"} for p in phases.itertuples()],
        withheld=withheld, nothing_shareable=nothing, diagram=diagram,
        ideas=[{"title": v["title"], "status": v["status"], "organisations": len(v["where"]),
                "cycles": len(v["cycles"]),
                "recommendation": (v["synthesis"] or {}).get("recommendation"),
                "key_learning": (v["synthesis"] or {}).get("key_learning")} for v in ideas_view],
        groups=ordered, not_worked=not_worked, measures=measure_rows,
        method=METHOD + ([PUBLIC_METHOD.format(n=audience.min_count)] if public else []))


def charts_note(evidence) -> str:
    """Said when not every organisation has a chart: too many to draw, or no results."""
    if evidence.organisations <= len(evidence.panels):
        return ""
    return (f"Charts of {len(evidence.panels)} of the {evidence.organisations} organisations "
            "(signals first; the others had no results or are too many to draw). The sentence "
            "above counts every one.")


def _idea_view(rec: learning_record.Record, images=()) -> dict:
    aud = rec.audience
    idea = rec.idea
    synthesis = None
    if rec.synthesis is not None:
        s = rec.synthesis
        reviewed = "Not reviewed yet."
        if pd.notna(s.get("reviewed_on")):
            who = f" by {s['reviewed_by']}" if aud.is_lab and s.get("reviewed_by") else ""
            reviewed = f"Reviewed{who} on {pd.Timestamp(s['reviewed_on']):%d %B %Y}."
        elif aud.is_lab and s.get("reviewed_by"):  # saved before the date was asked for
            reviewed = f"Reviewed by {s['reviewed_by']} (the date was not given)."
        if aud.is_lab:
            reviewed += (f" Version {s['version']}, written by {s['written_by']} on "
                         f"{pd.Timestamp(s['written_at']):%d %B %Y}.")
        synthesis = {
            "key_learning": s["key_learning"], "worked_when": s["worked_when"],
            "did_not_work_when": s["did_not_work_when"],
            "recommendation": syntheses.RECOMMENDATIONS.get(s["recommendation"]),
            "reason": s["reason"], "reviewed": reviewed, "code": s["recommendation"]}

    def note(c, field):  # withheld: left out (the box at the top says what and why)
        return c["notes"].get(field) or ""

    cycles = []
    for c in rec.cycles:
        learned = "\n".join(t for t in (note(c, "study_notes"), note(c, "learning"),
                                        note(c, "observations")) if t)
        decision = c["decision"] or c["stage"]
        steps = note(c, "next_steps")
        cycles.append({
            "cycle_no": c["cycle_no"], "organisation": c["organisation"],
            "start": f"{c['start']:%d %b %Y}", "end": f"{c['end']:%d %b %Y}",
            "prediction": note(c, "prediction"),
            "as_planned": {True: "Yes", False: "No", None: "Not yet recorded"}[
                c["went_as_planned"]],
            "learned": learned,
            "decision": decision + (f": {steps}" if steps else "")})
    why = None
    if synthesis and synthesis["code"] == "stop":
        why = synthesis["reason"] or synthesis["did_not_work_when"]
    elif idea["status"] == "abandoned":
        why = (synthesis or {}).get("reason") or "Abandoned after testing; the lab team has " \
                                                  "not written why yet."
    description = shown(idea.get("description"))  # checked for the reader by the view
    return {
        "title": idea["title"], "description": description,
        "status": vocab.IDEA_STATUSES.get(idea["status"], idea["status"]),
        "drivers": idea["drivers"], "synthesis": synthesis, "tested": rec.tested,
        "where": [w | {"first": f"{w['first']:%d %b %Y}", "last": f"{w['last']:%d %b %Y}"}
                  for w in rec.where.to_dict("records")], "cycles": cycles,
        "evidence": [{"verdict": e.verdict, "svgs": e.svgs,
                      "more": charts_note(e)}
                     for e in rec.evidence],
        "not_worked_why": why, "images": list(images)}


# --------------------------------------------------------------------------- files


def chromium() -> str | None:
    """The Chromium (or Chrome) that prints the report to PDF, if this machine has one."""
    named = os.environ.get("TRACKER_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: str, out: Path) -> Path:
    browser = chromium()
    if browser is None:
        raise InputError("Printing the report to PDF needs Chromium on this computer "
                         "(Debian: apt-get install chromium), which was not found. The HTML "
                         "version opens in any browser and prints to PDF from there.")
    with tempfile.TemporaryDirectory(prefix="tracker-pdf-") as work:
        page = Path(work) / "report.html"
        page.write_text(html, encoding="utf-8")
        target = Path(work) / "report.pdf"
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                   "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                   "--disable-background-networking", f"--user-data-dir={work}/profile",
                   "--no-pdf-header-footer", f"--print-to-pdf={target}", page.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              check=False)
        if not target.exists() or target.stat().st_size == 0:
            raise InputError("Chromium could not print the report to PDF: "
                             + (done.stderr.strip().splitlines() or ["no reason given"])[-1])
        shutil.move(str(target), out)
    return out


def write_learning_report(db: Database, scope: Scope, out: Path, *, public: bool,
                          ideas=None, progress: Progress | None = None) -> Path:
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise InputError(f"The learning report is written as .html or .pdf, not "
                         f"'{out.suffix or 'no extension'}'.")
    html = build_html(db, scope, public=public, ideas=ideas, progress=progress)
    if suffix == ".html":
        out.write_text(html, encoding="utf-8")
        return out
    return html_to_pdf(html, out)
