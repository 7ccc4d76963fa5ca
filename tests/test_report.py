"""The review pack: PDF and PowerPoint, from the data layer and the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import warm_start
from conftest import ROOT
from pptx import Presentation
from pypdf import PdfReader

from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.records import repo
from tracker.reports import drawing, report

ADMIN = Scope.admin("tester")
PP = "Peer Pathways (demo)"


def test_pdf_pack_for_one_organisation(demo_db, tmp_path):
    out = report.write_report(demo_db, ADMIN, tmp_path / "pack.pdf", organisation=PP,
                              every_chart=True)
    reader = PdfReader(out)
    pages = len(reader.pages)
    # the summary, the partners' progress scores, then one page per measure at Peer Pathways
    assert pages == 1 + 1 + 9
    assert "IHI progress score by month" in reader.pages[1].extract_text()
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("pdftoppm is missing: install Debian's poppler-utils")
        pytest.skip("pdftoppm not installed (apt-get install poppler-utils)")
    subprocess.run([pdftoppm, "-r", "30", "-png", str(out), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) == pages


def test_pptx_pack_has_a_summary_then_one_slide_per_chart(demo_db, tmp_path):
    out = report.write_report(demo_db, ADMIN, tmp_path / "pack.pptx", organisation=PP,
                              every_chart=True)
    deck = Presentation(out)
    titles = [s.shapes.title.text for s in deck.slides]
    assert titles[0].endswith(": summary") and len(titles) == 11
    assert titles[1].endswith(": partners' progress (IHI score)")  # the latest scores
    assert all(t.endswith(f"— {PP}") for t in titles[2:])
    assert any("Days waited for a first session" in t for t in titles)
    pictures = [sh for s in list(deck.slides)[2:] for sh in s.shapes if sh.shape_type == 13]
    assert len(pictures) == 9 * 3  # each chart with its variation and assurance icons


def test_long_names_in_the_pptx_summary_are_set_like_the_others(demo_db, tmp_path):
    """Issue 22: a long organisation name is not set smaller than the rest of the summary;
    every row holds two lines, and everything stays on the slide."""
    from pptx.util import Inches

    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")
    long_name = "The Riverside and Eastfield Community Peer Support Partnership Trust (demo)"
    row = orgs.loc[PP]
    repo.update_organisation(demo_db, ADMIN, int(row["id"]), name=long_name, kind=row["kind"],
                             region=row["region"])
    deck = Presentation(report.write_report(demo_db, ADMIN, tmp_path / "long.pptx",
                                            organisation=long_name))
    summary = deck.slides[0]
    cells = [p for sh in summary.shapes if sh.has_text_frame and sh.top > Inches(1.4)
             and sh.top < Inches(7) for p in sh.text_frame.paragraphs
             if p.font.size is not None and not p.text.startswith("V: variation")]
    assert any(long_name in p.text for p in cells)
    assert {p.font.size.pt for p in cells} == {report.SUMMARY_PT}
    assert all(sh.top + sh.height <= deck.slide_height for sh in summary.shapes)


def test_libreoffice_opens_the_pptx(demo_db, tmp_path):
    """A standard viewer opens the deck: LibreOffice turns every slide into a PDF page, and
    the icons are pictures on the slides (two per chart, two per summary row)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        if os.environ.get("REQUIRE_OFFICE") == "1":
            pytest.fail("REQUIRE_OFFICE=1 but LibreOffice is missing: apt-get install "
                        "libreoffice-impress")
        pytest.skip("LibreOffice not installed (apt-get install libreoffice-impress)")
    out = report.write_report(demo_db, ADMIN, tmp_path / "pack.pptx", organisation=PP,
                              every_chart=True)
    deck = Presentation(out)
    pictures = [sum(sh.shape_type == 13 for sh in s.shapes) for s in deck.slides]
    # icons on the summary; the progress scores; then each chart and its two icons
    assert pictures == [2 * 9] + [1] + [3] * 9
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(out)],
                   check=True, capture_output=True, timeout=240)
    assert len(PdfReader(tmp_path / "pack.pdf").pages) == len(deck.slides) == 11


def test_a_partner_pack_names_no_other_organisation(demo_db, tmp_path):
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")["id"]
    partner = Scope(actor="pp_user", role="partner", organisation_id=int(orgs[PP]),
                    organisation=PP)
    out = report.write_report(demo_db, partner, tmp_path / "p.pptx")
    text = " ".join(shape.text_frame.text for s in Presentation(out).slides
                    for shape in s.shapes if shape.has_text_frame)
    table = " ".join(c.text for s in Presentation(out).slides for sh in s.shapes
                     if sh.has_table for r in sh.table.rows for c in r.cells)
    for other in orgs.index:
        if other != PP:
            assert other not in text and other not in table
    with pytest.raises(InputError, match="yours to report on"):
        report.write_report(demo_db, partner, tmp_path / "x.pdf",
                            organisation="Riverside Medical Practice (demo)")


def test_report_command(demo_path, tmp_path):
    def run(*args):
        return warm_start.run([sys.executable, "-m", "tracker", "report", "--db",
                               str(demo_path), *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)

    done = run("--out", str(tmp_path / "r.pptx"), "--org", PP, "--from", "2026-03-01")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.pptx").exists()
    wrong = run("--out", str(tmp_path / "r.docx"))
    assert wrong.returncode == 1 and ".pdf or .pptx" in wrong.stderr
    unknown = run("--out", str(tmp_path / "r.pdf"), "--org", "Nowhere")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


def test_the_full_pack_summary_lists_every_series_and_charts_what_needs_seeing(demo_db,
                                                                            tmp_path):
    """Issue 13, item 11: every series in the summary (several pages or slides, special
    causes first, names never cut), then only the charts with a signal now or a target at
    risk."""
    rows = report.pack_rows(demo_db, ADMIN)
    needed = int(report.needs_a_chart(rows).sum())
    assert 0 < needed < len(rows) == 72
    pack = report.build_pack(demo_db, ADMIN)  # once, written as PDF and as PowerPoint
    reader = PdfReader(report.write_pdf(pack, tmp_path / "all.pdf"))
    summary_pages = -(-len(rows) // report.SUMMARY_ROWS)
    assert len(reader.pages) == summary_pages + 1 + needed  # + the progress scores
    text = " ".join(reader.pages[i].extract_text() for i in range(summary_pages))
    for r in rows.itertuples():
        assert r.measure[:30] in text
    assert "the other" in text and "are in the summary" in text
    deck = Presentation(report.write_pptx(pack, tmp_path / "all.pptx"))
    slides = list(deck.slides)
    summary_slides = -(-len(rows) // report.PPTX_ROWS)
    assert len(slides) == summary_slides + 1 + needed
    summary_text = [sh.text_frame.text for s in slides[:summary_slides] for sh in s.shapes
                    if sh.has_text_frame]
    for r in rows.itertuples():  # every name whole, in a box of its own
        assert r.measure in summary_text and r.organisation in summary_text
    first_rows = report._notable_first(rows).head(3)
    assert first_rows["improving"].all()  # special causes first


def test_parallel_rendering_gives_the_same_images_as_one_process(monkeypatch):
    import altair as alt
    import pandas as pd

    # the suite draws in its own processes (conftest); here, two worker processes, and
    # nothing drawn before
    monkeypatch.setenv(drawing.RENDER_PROCESSES, "2")
    monkeypatch.setattr(drawing, "_drawn", type(drawing._drawn)())
    monkeypatch.delenv(drawing.CHART_CACHE, raising=False)  # nor the suite's shared folder
    specs = [alt.Chart(pd.DataFrame({"x": [1, 2, k]})).mark_point().encode(x="x:Q").to_dict()
             for k in range(drawing.PARALLEL_FROM)]
    parallel = drawing.render(specs, "svg")
    assert parallel == [drawing.draw_one((s, "svg")) for s in specs]


def test_a_chart_s_spec_is_the_same_and_ignores_altair_s_global_data_setting(demo_db):
    """The reports write each chart's data themselves (`charts.vega_lite`): the same
    specification Altair writes, but never through Altair's data transformer, a setting
    global to the process that Streamlit switches to its own (data by reference) while it
    draws a chart on someone's page. A report built at that moment drew blank charts."""
    import json

    import altair as alt

    from tracker.learning import learning_record
    from tracker.reports import charts

    pack = report.build_pack(demo_db, ADMIN, organisation=PP)
    built = [s.chart for s in pack.slides[:4]] + report._summary_pages(pack)
    scope = ADMIN.viewing(repo.get_challenge(demo_db))
    for idea_id in repo.list_ideas(demo_db, scope.challenge_id)["id"][:3]:
        rec = learning_record.record(demo_db, scope, int(idea_id), public=True)
        built += [charts.idea_panel(title, frame, cycles, unit=e.unit, target=e.target)
                  for e in rec.evidence for title, frame, cycles in e.panels]
    assert len(built) > 8
    for chart in built:
        assert json.dumps(charts.vega_lite(chart), sort_keys=True) == json.dumps(
            chart.to_dict(validate=False), sort_keys=True)
    alt.data_transformers.register("by_reference", lambda data: {"name": "elsewhere"})
    before = alt.data_transformers.active
    alt.data_transformers.enable("by_reference")  # as Streamlit does while drawing a chart
    try:
        assert charts.vega_lite(built[0])["datasets"]  # the rows are in the spec
        image = report.chart_image(built[0], "svg").decode("utf-8")
    finally:
        alt.data_transformers.enable(before)
    assert image == report.chart_image(built[0], "svg").decode("utf-8")
    assert "Mean" in image or "Median" in image  # its centre line is drawn and named


def test_a_chart_that_cannot_be_drawn_stops_the_report_in_words_and_ends_the_workers(
        monkeypatch):
    import altair as alt
    import pandas as pd

    monkeypatch.setenv(drawing.RENDER_PROCESSES, "2")
    monkeypatch.setattr(drawing, "_drawn", type(drawing._drawn)())
    monkeypatch.delenv(drawing.CHART_CACHE, raising=False)  # nor the suite's shared folder
    good = [alt.Chart(pd.DataFrame({"x": [k]})).mark_point().encode(x="x:Q").to_dict()
            for k in range(drawing.PARALLEL_FROM)]
    bad = {"mark": "point", "encoding": {"x": {"field": "x", "type": "no-such-type"}}}
    with drawing.Drawing("svg", expected=len(good) + 1) as drawn:
        for spec in [*good[:3], bad, *good[3:]]:
            drawn.add(spec)
        workers = [w.proc for w in drawn._workers]
        assert workers
        with pytest.raises(RuntimeError, match="Drawing a chart failed"):
            drawn.images()
    assert all(proc.poll() is not None for proc in workers)  # none left running


def test_charts_drawn_by_one_process_are_found_by_another_in_the_shared_folder(
        monkeypatch, tmp_path):
    """TRACKER_CHART_CACHE: a chart drawn once is not drawn again by another process (an app
    server, the command line) or after a restart; each file is private to the tracker's user,
    named by the chart's digest, and a folder that cannot be written only costs drawing."""
    import stat

    import altair as alt
    import pandas as pd

    folder = tmp_path / "charts"
    monkeypatch.setenv(drawing.CHART_CACHE, str(folder))
    monkeypatch.setattr(drawing, "_drawn", type(drawing._drawn)())
    specs = [alt.Chart(pd.DataFrame({"x": [k, k + 1]})).mark_point().encode(x="x:Q").to_dict()
             for k in range(3)]
    first = drawing.render(specs, "svg")
    files = sorted(folder.iterdir())
    assert len(files) == 3 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert {f.name for f in files} == {f"{drawing.spec_key(s, 'svg')[1]}.svg" for s in specs}

    monkeypatch.setattr(drawing, "_drawn", type(drawing._drawn)())  # another process's memory

    def never(job):
        raise AssertionError("drawn again")
    monkeypatch.setattr(drawing, "draw_one", never)
    assert drawing.render(specs, "svg") == first  # every one from the folder

    monkeypatch.setattr(drawing, "draw_one", drawing.render_worker.draw)
    monkeypatch.setattr(drawing, "_drawn", type(drawing._drawn)())
    (tmp_path / "a file").write_text("not a folder")
    monkeypatch.setenv(drawing.CHART_CACHE, str(tmp_path / "a file"))
    assert drawing.render(specs, "svg") == first  # drawn again, nothing kept, no error
    # the folder is kept under its size: the oldest charts go first
    monkeypatch.setenv(drawing.CHART_CACHE, str(folder))
    monkeypatch.setattr(drawing, "FOLDER_KEPT_BYTES", sum(len(i) for i in first[1:]))
    monkeypatch.setattr(drawing, "TIDY_EVERY", 1)
    oldest = folder / f"{drawing.spec_key(specs[0], 'svg')[1]}.svg"
    os.utime(oldest, (1, 1))
    newest = {**specs[0], "description": "one more"}
    drawing.render([newest], "svg")
    assert not oldest.exists() and (folder / f"{drawing.spec_key(newest, 'svg')[1]}.svg").exists()
    assert sum(f.stat().st_size for f in folder.iterdir()) <= drawing.FOLDER_KEPT_BYTES
