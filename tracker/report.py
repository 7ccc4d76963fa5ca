"""The leadership review pack: a summary, then one chart per measure and organisation with
its signals in words. PDF (vl-convert + pypdf) or PowerPoint (python-pptx); no browser."""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import vl_convert as vlc

from tracker import charts, observations, repo, summary
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
    variation_icon: str = ""  # data URIs of the icons drawn by summary.variation_icon
    assurance_icon: str = ""


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
        everyone = orgs
        orgs = orgs[orgs["name"].map(repo._norm) == repo._norm(organisation)]
        if orgs.empty:
            from tracker.ingest import suggest

            raise InputError(f"No organisation called '{organisation}' is yours to report on."
                             + suggest(organisation, everyone["name"].tolist()))
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
    results = observations.load_results(db, scope, measure_id=measure_id, organisation_ids=[org_id])
    periods = pd.to_datetime(results["period"])
    keep = pd.Series(True, index=results.index)
    if date_from:
        keep &= periods >= pd.Timestamp(date_from)
    if date_to:
        keep &= periods <= pd.Timestamp(date_to)
    results = results[keep]
    if results.empty:
        return None
    notes = observations.list_annotations(db, scope, measure_id, org_id)
    frame = charts.outcome_frame(
        results, m["data_kind"], improvement=m["direction"],
        phase_dates=pd.to_datetime(notes.loc[notes["kind"] == "phase", "on_date"]).tolist())
    cycles = repo.list_cycles(db, scope, challenge["id"], organisation_id=org_id,
                              measure_id=measure_id)
    title = f"{m['name']} — {row.organisation}"
    chart = charts.spc_chart(frame, title=title, unit=m["unit"], target=m["target"],
                             cycles=cycles, notes=notes[notes["kind"] == "note"],
                             percent=m["data_kind"] == "proportion", width=1000, styled=False)
    now, earlier = charts.signals_in_time(frame)
    # what the latest points show first, then earlier signals as dated history
    sentences = [f"Now: {s}" for s in now] + [f"Earlier: {s}" for s in earlier][-(6 - len(now)):]
    return Slide(title=title, chart=chart, sentences=sentences[:6],
                 variation=row.variation, assurance=row.assurance,
                 variation_icon=row.variation_icon, assurance_icon=row.assurance_icon)


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


SUMMARY_ROWS = 40  # rows on the summary page of a PDF pack


def _notable_first(table: pd.DataFrame) -> pd.DataFrame:
    """Special causes first (improvement, then concern), then the rest, as listed."""
    order = np.select([table["improving"], table["concern"]], [0, 1], 2)
    return table.assign(_order=order).sort_values("_order", kind="stable") \
        .drop(columns="_order").reset_index(drop=True)


def _summary_chart(pack: Pack) -> alt.TopLevelMixin:
    rows = _notable_first(pack.summary).head(SUMMARY_ROWS)
    rows = rows.assign(
        line=rows["measure"].str.slice(0, 42) + " | " + rows["organisation"].str.slice(0, 42),
        words=rows["variation"] + " · " + rows["assurance"], y=range(len(rows)))
    base = alt.Chart(rows).encode(y=alt.Y("y:O", axis=None))
    icons = [base.mark_image(width=18, height=18).encode(x=alt.value(x), url=f"{column}:N")
             for x, column in ((9, "variation_icon"), (31, "assurance_icon"))]
    left = base.mark_text(align="left", fontSize=11).encode(x=alt.value(48), text="line:N")
    right = base.mark_text(align="left", fontSize=11).encode(x=alt.value(640), text="words:N")
    shown = (f" The first {SUMMARY_ROWS} of {len(pack.summary)} series, special causes "
             "first." if len(pack.summary) > SUMMARY_ROWS else "")
    return charts.style(alt.layer(*icons, left, right).properties(
        width=1040, height=max(60, 20 * len(rows)),
        title=alt.Title(pack.title, subtitle=[pack.subtitle, f"{len(pack.slides)} charts; "
                        f"{int(pack.summary['improving'].sum())} series show improvement, "
                        f"{int(pack.summary['concern'].sum())} concern.{shown}",
                        "Icons: variation (~ common cause, H / L high or low: blue "
                        "improvement, orange concern) and assurance (P passes, F fails, "
                        "? hit and miss)."])))


def _chart_with_text(slide: Slide) -> alt.TopLevelMixin:
    lines = [f"Variation: {slide.variation}. Assurance: {slide.assurance}."] + \
        (slide.sentences or ["No special cause: the variation is what this process usually "
                             "shows."])
    frame = pd.DataFrame({"t": lines, "y": range(len(lines)),
                          "v": [slide.variation_icon] + [None] * (len(lines) - 1),
                          "a": [slide.assurance_icon] + [None] * (len(lines) - 1)})
    base = alt.Chart(frame).encode(y=alt.Y("y:O", axis=None))
    text = base.mark_text(align="left", fontSize=13).encode(
        x=alt.value(56), text="t:N")
    icons = [base.transform_filter(f"isValid(datum.{c})").mark_image(width=22, height=22)
             .encode(x=alt.value(x), url=f"{c}:N") for x, c in ((11, "v"), (37, "a"))]
    return charts.style(alt.vconcat(slide.chart, alt.layer(*icons, text).properties(
        width=1000, height=24 * len(lines))), orient="top")


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


@lru_cache(maxsize=64)
def _icon_png(uri: str) -> bytes:
    """An icon's SVG (a data URI from summary.variation_icon) as a PNG, for PowerPoint."""
    return vlc.svg_to_png(base64.b64decode(uri.split(",", 1)[1]).decode(), scale=4)


PPTX_ROWS = 14  # rows of the summary table on the first slide
SLIDE_SENTENCES = 4  # the latest signals beside a chart: more would run off the slide


def _short(words: str) -> str:
    """The icon's words cut to fit one line of a table cell."""
    return (words.removeprefix("Special cause: ").split(":")[0]
            .replace("Too few points (under 13)", "Too few points")
            .replace("No target or too few points", "–").replace("Consistently passes", "Passes")
            .replace("Consistently fails", "Fails").capitalize())


def write_pptx(pack: Pack, path: Path, progress: Progress | None = None) -> Path:
    from pptx import Presentation
    from pptx.enum.text import PP_ALIGN
    from pptx.util import Inches, Pt

    step = progress or (lambda fraction, text: None)
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    blank = deck.slide_layouts[5]  # title only

    def titled(text: str, size: int):
        page = deck.slides.add_slide(blank)
        title = page.shapes.title  # the layout's title box is sized for 4:3: make it 16:9
        title.left, title.top, title.width, title.height = \
            Inches(0.4), Inches(0.25), Inches(12.5), Inches(0.8)
        title.text = text
        title.text_frame.word_wrap = True
        paragraph = title.text_frame.paragraphs[0]
        paragraph.font.size = Pt(size)
        paragraph.alignment = PP_ALIGN.LEFT
        return page

    def icon(page, uri: str, left, top, size):
        if uri:
            page.shapes.add_picture(io.BytesIO(_icon_png(uri)), left, top, size, size)

    first = titled(f"{pack.title}: summary", 26)
    rows = _notable_first(pack.summary).head(PPTX_ROWS)
    note = first.shapes.add_textbox(Inches(0.4), Inches(1.0), Inches(12.5), Inches(0.4))
    note.text_frame.word_wrap = True
    note.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
    note.text_frame.paragraphs[0].text = pack.subtitle + (
        f" · the first {PPTX_ROWS} of {len(pack.summary)} series, special causes first"
        if len(pack.summary) > PPTX_ROWS else "")
    # Rows of text boxes and pictures at fixed places, not a table: a table row grows with
    # its text in each viewer differently, and the icons beside it would drift.
    row_h, top = Inches(0.36), Inches(1.5)
    columns = ((Inches(1.3), Inches(4.3), "Measure"), (Inches(5.7), Inches(3.3), "Organisation"),
               (Inches(9.1), Inches(1.9), "Variation"), (Inches(11.0), Inches(2.0), "Assurance"))

    def line(y, left, width, text, bold=False):
        box = first.shapes.add_textbox(left, y, width, row_h)
        box.text_frame.word_wrap = True  # (unwrapped boxes are centred by LibreOffice)
        box.text_frame.text = text
        paragraph = box.text_frame.paragraphs[0]
        paragraph.alignment = PP_ALIGN.LEFT
        paragraph.font.size, paragraph.font.bold = Pt(12), bold

    for left, width, head in ((Inches(0.4), Inches(0.5), "V"), (Inches(0.85), Inches(0.5), "A"),
                              *columns):
        line(top, left, width, head, bold=True)
    for i, r in enumerate(rows.itertuples(), start=1):
        y = top + row_h * i
        icon(first, r.variation_icon, Inches(0.45), y + Inches(0.04), Inches(0.28))
        icon(first, r.assurance_icon, Inches(0.9), y + Inches(0.04), Inches(0.28))
        for (left, width, _), value in zip(columns, (
                r.measure[:44], r.organisation[:36], _short(r.variation), _short(r.assurance)),
                strict=True):
            line(y, left, width, value)
    key = first.shapes.add_textbox(Inches(0.4), top + row_h * (len(rows) + 1) + Inches(0.1),
                                   Inches(12.5), Inches(0.4))
    key.text_frame.word_wrap = True
    key.text_frame.text = ("V: variation (~ common cause; H / L high or low: blue improvement, "
                           "orange concern). A: assurance (P passes, F fails, ? hit and miss).")
    key.text_frame.paragraphs[0].font.size = Pt(11)
    key.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT

    for i, slide in enumerate(pack.slides):
        step(0.7 + 0.3 * i / max(len(pack.slides), 1), f"Slide {i + 2}")
        page = titled(slide.title, 24)
        png = chart_image(charts.style(slide.chart, orient="top"), "png")
        page.shapes.add_picture(io.BytesIO(png), Inches(0.4), Inches(1.3), width=Inches(8.6))
        icon(page, slide.variation_icon, Inches(9.2), Inches(1.3), Inches(0.55))
        icon(page, slide.assurance_icon, Inches(9.85), Inches(1.3), Inches(0.55))
        box = page.shapes.add_textbox(Inches(9.2), Inches(1.95), Inches(3.9), Inches(5.0))
        frame = box.text_frame
        frame.word_wrap = True
        frame.text = f"Variation: {slide.variation}"
        latest = slide.sentences[:SLIDE_SENTENCES]  # "Now" first, then the latest history
        earlier = len(slide.sentences) - len(latest)
        lines = [f"Assurance: {slide.assurance}", *latest]
        if earlier:
            lines.append(f"({earlier} earlier signal{'s' if earlier > 1 else ''} in the PDF "
                         "pack and the app.)")
        for line in lines:
            paragraph = frame.add_paragraph()
            paragraph.text = line
            paragraph.space_before = Pt(4)
        for paragraph in frame.paragraphs:
            paragraph.font.size = Pt(13)
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
