"""The leadership review pack: a summary, then one chart per measure and organisation with
its signals in words. PDF (vl-convert + pypdf) or PowerPoint (python-pptx); no browser."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import altair as alt
import pandas as pd
import vl_convert as vlc

from tracker import charts, repo, summary
from tracker.auth import Scope
from tracker.db import Database
from tracker.errors import InputError

Progress = Callable[[float, str], None]


@dataclass
class Slide:
    title: str
    chart: alt.TopLevelMixin
    sentences: list[str] = field(default_factory=list)
    variation: str = ""
    assurance: str = ""


@dataclass
class Pack:
    title: str
    subtitle: str
    summary: pd.DataFrame
    slides: list[Slide]


def pack_rows(db: Database, scope: Scope, organisation: str | None = None,
              table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The summary rows (one per measure x organisation) the pack covers; `table` is the
    viewer's summary when the caller already has it."""
    orgs = repo.list_organisations(db, scope, include_retired=False)
    if organisation:
        orgs = orgs[orgs["name"].map(repo._norm) == repo._norm(organisation)]
        if orgs.empty:
            raise InputError(f"No organisation called '{organisation}' is yours to report on.")
    if table is None:  # only the series the pack covers
        table = summary.summary_table(db, scope, orgs["id"].tolist() if organisation else None)
    if table.empty:
        return table
    return table[table["organisation_id"].isin(orgs["id"])].reset_index(drop=True)


def build_slide(db: Database, scope: Scope, row, *, date_from: dt.date | None = None,
                date_to: dt.date | None = None) -> Slide | None:
    """One chart of the pack: a summary row's measure at its organisation, with the PDSA
    cycles that targeted it there, notes, rebases and its signals in words."""
    challenge = repo.get_challenge(db)
    measure_id, org_id = int(row.measure_id), int(row.organisation_id)
    m = repo.list_measures(db).set_index("id").loc[measure_id]
    results = repo.load_results(db, scope, measure_id=measure_id, organisation_ids=[org_id])
    periods = pd.to_datetime(results["period"])
    keep = pd.Series(True, index=results.index)
    if date_from:
        keep &= periods >= pd.Timestamp(date_from)
    if date_to:
        keep &= periods <= pd.Timestamp(date_to)
    results = results[keep]
    if results.empty:
        return None
    notes = repo.list_annotations(db, scope, measure_id, org_id)
    frame = charts.outcome_frame(
        results, m["data_kind"], improvement=m["direction"],
        phase_dates=pd.to_datetime(notes.loc[notes["kind"] == "phase", "on_date"]).tolist())
    cycles = repo.list_cycles(db, scope, challenge["id"], organisation_id=org_id,
                              measure_id=measure_id)
    title = f"{m['name']} — {row.organisation}"
    chart = charts.spc_chart(frame, title=title, unit=m["unit"], target=m["target"],
                             cycles=cycles, notes=notes[notes["kind"] == "note"],
                             percent=m["data_kind"] == "proportion", width=1000, styled=False)
    return Slide(title=title, chart=chart, sentences=frame.attrs.get("signals", [])[-6:],
                 variation=row.variation, assurance=row.assurance)


def build_pack(db: Database, scope: Scope, *, organisation: str | None = None,
               date_from: dt.date | None = None, date_to: dt.date | None = None,
               progress: Progress | None = None) -> Pack:
    """Everything the review shows, for the organisations the user may see (or one)."""
    step = progress or (lambda fraction, text: None)
    challenge = repo.get_challenge(db)
    if challenge is None:
        raise InputError("There is no challenge yet, so there is nothing to report.")
    table = pack_rows(db, scope, organisation)
    slides = []
    for i, row in enumerate(table.itertuples()):
        step(0.1 + 0.6 * i / max(len(table), 1), f"Chart {i + 1} of {len(table)}")
        slide = build_slide(db, scope, row, date_from=date_from, date_to=date_to)
        if slide is not None:
            slides.append(slide)
    return Pack(title=challenge["title"], subtitle=subtitle(organisation, date_from, date_to),
                summary=table, slides=slides)


def subtitle(organisation, date_from, date_to) -> str:
    span = ""
    if date_from or date_to:
        span = (f" · {date_from:%d %b %Y}" if date_from else " · start") + \
            (f" to {date_to:%d %b %Y}" if date_to else " to latest")
    return (organisation or "All organisations") + span + \
        f" · prepared {dt.date.today():%d %B %Y}"


def _summary_chart(pack: Pack) -> alt.TopLevelMixin:
    rows = pack.summary.assign(
        line=lambda t: t["measure"].str.slice(0, 40) + " | " + t["organisation"].str.slice(0, 34),
        words=lambda t: t["variation"] + " · " + t["assurance"])
    rows = rows.reset_index(drop=True)
    rows["y"] = rows.index
    base = alt.Chart(rows.head(40)).encode(y=alt.Y("y:O", axis=None))
    left = base.mark_text(align="left", fontSize=11).encode(x=alt.value(0), text="line:N")
    right = base.mark_text(align="left", fontSize=11).encode(x=alt.value(560), text="words:N")
    return charts.style(alt.layer(left, right).properties(
        width=1000, height=max(60, 18 * min(len(rows), 40)),
        title=alt.Title(pack.title, subtitle=[pack.subtitle, f"{len(pack.slides)} charts; "
                        f"{int(pack.summary['improving'].sum())} series show improvement, "
                        f"{int(pack.summary['concern'].sum())} concern."])))


def _chart_with_text(slide: Slide) -> alt.TopLevelMixin:
    lines = [f"Variation: {slide.variation}. Assurance: {slide.assurance}."] + \
        (slide.sentences or ["No special cause: the variation is what this process usually "
                             "shows."])
    text = alt.Chart(pd.DataFrame({"t": lines, "y": range(len(lines))})).mark_text(
        align="left", fontSize=13).encode(y=alt.Y("y:O", axis=None), x=alt.value(0),
                                          text="t:N").properties(width=1000,
                                                                 height=22 * len(lines))
    return charts.style(alt.vconcat(slide.chart, text), orient="top")


def write_pdf(pack: Pack, path: Path, progress: Progress | None = None) -> Path:
    from pypdf import PdfReader, PdfWriter

    step = progress or (lambda fraction, text: None)
    writer = PdfWriter()
    pages = [_summary_chart(pack)] + [_chart_with_text(s) for s in pack.slides]
    for i, chart in enumerate(pages):
        step(0.7 + 0.3 * i / len(pages), f"Page {i + 1} of {len(pages)}")
        for page in PdfReader(io.BytesIO(vlc.vegalite_to_pdf(_spec(chart)))).pages:
            writer.add_page(page)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def write_pptx(pack: Pack, path: Path, progress: Progress | None = None) -> Path:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    step = progress or (lambda fraction, text: None)
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    blank = deck.slide_layouts[5]  # title only
    first = deck.slides.add_slide(blank)
    first.shapes.title.text = f"{pack.title}: summary"
    first.shapes.title.text_frame.paragraphs[0].font.size = Pt(30)
    rows = pack.summary.head(16)
    table = first.shapes.add_table(len(rows) + 1, 4, Inches(0.4), Inches(1.4), Inches(12.5),
                                   Inches(0.3) * (len(rows) + 1)).table
    for j, head in enumerate(["Measure", "Organisation", "Variation", "Assurance"]):
        table.cell(0, j).text = head
    for i, r in enumerate(rows.itertuples(), start=1):
        for j, value in enumerate([r.measure, r.organisation, r.variation, r.assurance]):
            cell = table.cell(i, j)
            cell.text = str(value)
            cell.text_frame.paragraphs[0].font.size = Pt(11)
    note = first.shapes.add_textbox(Inches(0.4), Inches(0.95), Inches(12.5), Inches(0.4))
    note.text_frame.text = pack.subtitle + (f" · first 16 of {len(pack.summary)} rows"
                                            if len(pack.summary) > 16 else "")
    for i, slide in enumerate(pack.slides):
        step(0.7 + 0.3 * i / max(len(pack.slides), 1), f"Slide {i + 2}")
        page = deck.slides.add_slide(blank)
        page.shapes.title.text = slide.title
        page.shapes.title.text_frame.paragraphs[0].font.size = Pt(26)
        png = chart_image(charts.style(slide.chart, orient="top"), "png")
        page.shapes.add_picture(io.BytesIO(png), Inches(0.4), Inches(1.3), width=Inches(8.6))
        box = page.shapes.add_textbox(Inches(9.2), Inches(1.3), Inches(3.9), Inches(5.5))
        frame = box.text_frame
        frame.word_wrap = True
        frame.text = f"Variation: {slide.variation}"
        for line in [f"Assurance: {slide.assurance}", *slide.sentences]:
            paragraph = frame.add_paragraph()
            paragraph.text = line
        for paragraph in frame.paragraphs:
            paragraph.font.size = Pt(14)
    deck.save(path)
    return path


def write_report(db: Database, scope: Scope, out: Path, **options) -> Path:
    progress = options.pop("progress", None)
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".pptx"):
        raise InputError(f"The report is written as .pdf or .pptx, not '{out.suffix}'.")
    pack = build_pack(db, scope, progress=progress, **options)
    return (write_pdf if suffix == ".pdf" else write_pptx)(pack, out, progress)


def _spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec to render. Not validated against the schema again (a third of the
    time it takes): every chart builder's output is validated by the tests."""
    return chart.to_dict(validate=False)


def chart_image(chart: alt.TopLevelMixin, kind: str) -> bytes:
    """One chart as PNG or SVG, without a browser."""
    spec = _spec(chart)
    return vlc.vegalite_to_png(spec, scale=2) if kind == "png" else \
        vlc.vegalite_to_svg(spec).encode("utf-8")
