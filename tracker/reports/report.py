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

from tracker import clock
from tracker.access.scope import Scope
from tracker.analysis import summary
from tracker.errors import InputError
from tracker.records import observations, reader_view, repo
from tracker.reports import charts, drawing
from tracker.reports.charts.spec import vega_lite
from tracker.storage.db import Database

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
    every_chart: bool = False
    progress: pd.DataFrame = field(default_factory=pd.DataFrame)  # IHI scores, last 6 months

    def progress_chart(self) -> alt.TopLevelMixin | None:
        """Each partner's progress score over the last months (a page of its own)."""
        if self.progress.empty:
            return None
        return charts.progress_heatmap(self.progress, width=700)

    @property
    def charts_note(self) -> str:
        shown = len(self.slides)
        if self.every_chart:
            return f"{shown} charts: every series."
        return (f"{shown} chart{'s' if shown != 1 else ''}: the series with a signal now or a "
                f"target at risk; the other {len(self.summary) - shown} are in the summary.")


def pack_rows(db: Database, scope: Scope, organisation: str | None = None,
              table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The summary rows (one per measure x organisation) the pack covers; `table` is the
    viewer's summary when the caller already has it."""
    orgs = repo.list_organisations(db, scope, include_retired=False)
    if organisation:
        everyone = orgs
        orgs = orgs[orgs["name"].map(repo._norm) == repo._norm(organisation)]
        if orgs.empty:
            from tracker.intake.planning import suggest

            raise InputError(f"No organisation called '{organisation}' is yours to report on."
                             + suggest(organisation, everyone["name"].tolist()))
    if table is None:  # only the series the pack covers
        table = summary.summary_table(db, scope, orgs["id"].tolist() if organisation else None)
    if table.empty:
        return table
    return table[table["organisation_id"].isin(orgs["id"])].reset_index(drop=True)


def build_slide(db: Database, scope: Scope, row, *, date_from: dt.date | None = None,
                date_to: dt.date | None = None,
                view: reader_view.ReaderView | None = None) -> Slide | None:
    """One chart of the pack: a summary row's measure at its organisation, with the PDSA
    cycles that targeted it there, notes, rebases and its signals in words. With `view` (the
    challenge's texts as the reader may read them), every name and note is taken from it."""
    challenge = repo.get_challenge(db, scope.challenge_id)
    measure_id, org_id = int(row.measure_id), int(row.organisation_id)
    measures = view.measures if view is not None else repo.list_measures(db)
    m = measures.set_index("id").loc[measure_id]
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
    if view is not None:
        cycles = reader_view.readable_cycles(db, view, cycles)
        notes = reader_view.chart_notes(view, notes)
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


def needs_a_chart(table: pd.DataFrame) -> pd.Series:
    """The series a board needs to see: a special cause now (improvement or concern), or a
    target at risk (the process consistently fails it, or hits and misses)."""
    return table["improving"] | table["concern"] | \
        table["assurance"].isin([summary.ASSURANCE_WORDS["fail"],
                                 summary.ASSURANCE_WORDS["hit_and_miss"]])


def build_pack(db: Database, scope: Scope, *, organisation: str | None = None,
               date_from: dt.date | None = None, date_to: dt.date | None = None,
               progress: Progress | None = None, every_chart: bool = False,
               view: reader_view.ReaderView | None = None) -> Pack:
    """Everything the review shows, for the organisations the user may see (or one): a
    summary of every series, then the charts of those with a signal now or a target at risk
    (or every chart, with `every_chart`), special causes first. With `view`, every name and
    note as the reader may read them (`reader_view`)."""
    scope.require_member("the review pack")
    step = progress or (lambda fraction, text: None)
    challenge = repo.get_challenge(db, scope.challenge_id)
    if challenge is None:
        raise InputError("There is no challenge yet, so there is nothing to report.")
    table = pack_rows(db, scope, organisation)
    table = _notable_first(table if view is None else reader_view.names(view, table))
    charted = table if every_chart or table.empty else table[needs_a_chart(table)]
    slides = []
    for i, row in enumerate(charted.itertuples()):
        step(0.05 + 0.25 * i / max(len(charted), 1), f"Chart {i + 1} of {len(charted)}")
        slide = build_slide(db, scope, row, date_from=date_from, date_to=date_to, view=view)
        if slide is not None:
            slides.append(slide)
    title = challenge["title"] if view is None else view.challenge["title"]
    return Pack(title=title, subtitle=subtitle(organisation, date_from, date_to),
                summary=table, slides=slides, every_chart=every_chart,
                progress=_recent_progress(db, scope, table))


PROGRESS_MONTHS = 6


def _recent_progress(db: Database, scope: Scope, table: pd.DataFrame) -> pd.DataFrame:
    """The partners' IHI progress scores of the last PROGRESS_MONTHS months, for the
    organisations the pack covers."""
    from tracker.records import progress

    scores = progress.scores(db, scope)
    if scores.empty:
        return scores
    if not table.empty:
        scores = scores[scores["organisation_id"].isin(table["organisation_id"])]
    months = sorted(pd.to_datetime(scores["month"]).unique())[-PROGRESS_MONTHS:]
    return scores[pd.to_datetime(scores["month"]).isin(months)].reset_index(drop=True)


def subtitle(organisation, date_from, date_to) -> str:
    span = ""
    if date_from or date_to:
        span = (f" · {date_from:%d %b %Y}" if date_from else " · start") + \
            (f" to {date_to:%d %b %Y}" if date_to else " to latest")
    return (organisation or "All organisations") + span + \
        f" · prepared {clock.today():%d %B %Y}"


SUMMARY_ROWS = 40  # rows on each summary page of a PDF pack


def _notable_first(table: pd.DataFrame) -> pd.DataFrame:
    """Special causes first (improvement, then concern), then targets at risk, then the
    rest, as listed."""
    if table.empty:
        return table
    order = np.select([table["improving"], table["concern"], needs_a_chart(table)], [0, 1, 2],
                      3)
    return table.assign(_order=order).sort_values("_order", kind="stable") \
        .drop(columns="_order").reset_index(drop=True)


def _summary_pages(pack: Pack) -> list[alt.TopLevelMixin]:
    """The summary of every series, SUMMARY_ROWS a page, special causes first."""
    table = pack.summary
    pages = max(1, -(-len(table) // SUMMARY_ROWS))
    out = []
    for number in range(pages):
        rows = table.iloc[number * SUMMARY_ROWS:(number + 1) * SUMMARY_ROWS]
        rows = rows.assign(
            line=rows["measure"].str.slice(0, 60) + " | " + rows["organisation"].str.slice(0, 50),
            words=rows["variation"] + " · " + rows["assurance"], y=range(len(rows)))
        base = alt.Chart(rows).encode(y=alt.Y("y:O", axis=None))
        icons = [base.mark_image(width=18, height=18).encode(x=alt.value(x), url=f"{column}:N")
                 for x, column in ((9, "variation_icon"), (31, "assurance_icon"))]
        left = base.mark_text(align="left", fontSize=11).encode(x=alt.value(48), text="line:N")
        right = base.mark_text(align="left", fontSize=11).encode(x=alt.value(700),
                                                                 text="words:N")
        page = f" Summary page {number + 1} of {pages}." if pages > 1 else ""
        out.append(charts.style(alt.layer(*icons, left, right).properties(
            width=1040, height=max(60, 20 * len(rows)),
            title=alt.Title(pack.title, subtitle=[
                pack.subtitle, f"{len(table)} series, special causes first; "
                f"{int(table['improving'].sum())} show improvement now, "
                f"{int(table['concern'].sum())} concern.{page}", pack.charts_note,
                "Icons: variation (~ common cause, H / L high or low: blue improvement, orange "
                "concern) and assurance (P passes, F fails, ? hit and miss)."]))))
    return out


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

    writer = PdfWriter()
    scored = [pack.progress_chart()] if not pack.progress.empty else []
    pages = _summary_pages(pack) + scored + [_chart_with_text(s) for s in pack.slides]
    for pdf in _images(pages, "pdf", progress):
        for page in PdfReader(io.BytesIO(pdf)).pages:
            writer.add_page(page)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


@lru_cache(maxsize=64)
def _icon_png(uri: str) -> bytes:
    """An icon's SVG (a data URI from summary.variation_icon) as a PNG, for PowerPoint."""
    return vlc.svg_to_png(base64.b64decode(uri.split(",", 1)[1]).decode(), scale=4)


PPTX_ROWS = 12  # rows of the summary on each summary slide
SUMMARY_PT = 11  # the summary's one type size: two lines of it fit a row
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

    # The summary of every series, PPTX_ROWS a slide. Rows of text boxes and pictures at
    # fixed places, not a table: a table row grows with its text in each viewer differently,
    # and the icons beside it would drift. Names are never cut: the boxes wrap, and every row
    # is tall enough for two lines at one type size (a long name is not set smaller).
    row_h, top = Inches(0.42), Inches(1.45)
    columns = ((Inches(1.3), Inches(4.6), "Measure"), (Inches(6.0), Inches(3.2), "Organisation"),
               (Inches(9.3), Inches(1.8), "Variation"), (Inches(11.15), Inches(1.9), "Assurance"))
    table = pack.summary
    pages = max(1, -(-len(table) // PPTX_ROWS))
    for number in range(pages):
        first = titled(f"{pack.title}: summary" + (f" ({number + 1} of {pages})"
                                                   if pages > 1 else ""), 26)
        rows = table.iloc[number * PPTX_ROWS:(number + 1) * PPTX_ROWS]
        note = first.shapes.add_textbox(Inches(0.4), Inches(1.0), Inches(12.5), Inches(0.4))
        note.text_frame.word_wrap = True
        note.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
        note.text_frame.paragraphs[0].text = (
            f"{pack.subtitle} · {len(table)} series, special causes first. "
            f"{pack.charts_note}")
        note.text_frame.paragraphs[0].font.size = Pt(12)

        def line(y, left, width, text, bold=False, page=first):
            box = page.shapes.add_textbox(left, y, width, row_h)
            box.text_frame.word_wrap = True  # (unwrapped boxes are centred by LibreOffice)
            box.text_frame.margin_top = box.text_frame.margin_bottom = 0
            box.text_frame.text = text
            paragraph = box.text_frame.paragraphs[0]
            paragraph.alignment = PP_ALIGN.LEFT
            paragraph.font.size, paragraph.font.bold = Pt(SUMMARY_PT), bold

        for left, width, head in ((Inches(0.4), Inches(0.5), "V"),
                                  (Inches(0.85), Inches(0.5), "A"), *columns):
            line(top, left, width, head, bold=True)
        for i, r in enumerate(rows.itertuples(), start=1):
            y = top + row_h * i
            icon(first, r.variation_icon, Inches(0.45), y + Inches(0.05), Inches(0.28))
            icon(first, r.assurance_icon, Inches(0.9), y + Inches(0.05), Inches(0.28))
            for (left, width, _), value in zip(columns, (
                    r.measure, r.organisation, _short(r.variation), _short(r.assurance)),
                    strict=True):
                line(y, left, width, value)
        key = first.shapes.add_textbox(Inches(0.4), top + row_h * (len(rows) + 1)
                                       + Inches(0.05), Inches(12.5), Inches(0.4))
        key.text_frame.word_wrap = True
        key.text_frame.text = ("V: variation (~ common cause; H / L high or low: blue "
                               "improvement, orange concern). A: assurance (P passes, "
                               "F fails, ? hit and miss).")
        key.text_frame.paragraphs[0].font.size = Pt(11)
        key.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT

    if not pack.progress.empty:  # the partners' progress scores, after the summary
        page = titled(f"{pack.title}: partners' progress (IHI score)", 24)
        picture = chart_image(pack.progress_chart(), "png")
        page.shapes.add_picture(io.BytesIO(picture), Inches(0.4), Inches(1.3),
                                height=Inches(5.6))
    images = _images((charts.style(s.chart, orient="top") for s in pack.slides), "png",
                     progress)
    for slide, png in zip(pack.slides, images, strict=True):
        page = titled(slide.title, 24)
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


def _images(pages, kind: str, progress: Progress | None = None) -> list[bytes]:
    """Charts as images, each drawn by a worker as soon as it is written out while the next
    is being written (`drawing.Drawing`)."""
    pages = list(pages)
    with drawing.Drawing(kind, expected=len(pages)) as drawn:
        for chart in pages:
            drawn.add(vega_lite(chart))
        return drawn.images(progress)


def chart_image(chart: alt.TopLevelMixin, kind: str) -> bytes:
    """One chart as PNG or SVG, without a browser."""
    return drawing.draw_one((vega_lite(chart), kind))
