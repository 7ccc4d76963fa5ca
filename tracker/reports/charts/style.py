"""What every chart shares: the font size, the colours of decisions, statuses and driver levels,
and `style` (legend, fonts, no border) for a projector."""

from __future__ import annotations

import copy
import functools
import textwrap
import threading

import altair as alt
from altair.utils.schemapi import debug_mode

FONT_SIZE = 13
DECISION_COLOURS = {
    "Adopt": "#007f3b",
    "Adapt": "#ffb81c",
    "Abandon": "#d5281b",
    "In progress": "#768692",
}
STATUS_COLOURS = {
    "Proposed": "#aeb7bd",
    "Testing": "#330072",  # NHS purple: not the secondary drivers' blue
    "Adopted": "#007f3b",
    "Adapted": "#ffb81c",
    "Abandoned": "#d5281b",
}
LINE = 15 / 64  # a line of diagram text, in rows of the diagram
LEVEL_COLOURS = {"Aim": "#003087", "Primary driver": "#005eb8", "Secondary driver": "#41b6e6"}


_building = threading.RLock()


def quick(builder):
    """A chart builder run without Altair checking each object against the schema as it is
    made (its "debug mode", most of the time a chart took to build): every chart every page
    shows is checked whole against the Vega-Lite schema by the tests (`valid_charts` in
    tests/test_app.py), not on each run of a page. The mode is Altair's global, so builders
    take turns (a lock) and it is restored after each."""
    @functools.wraps(builder)
    def build(*args, **kwargs):
        with _building, debug_mode(False):
            return builder(*args, **kwargs)
    return build


@quick
def style(chart: alt.TopLevelMixin, **legend) -> alt.TopLevelMixin:
    """Projector-friendly type sizes; `legend` adds legend settings such as orient.

    One Config set on a shallow copy: each `configure_*` call deep-copies the chart, data
    included, which cost a review pack a tenth of a second per chart."""
    return shallow_copy(chart, config=alt.Config(
        axis=alt.AxisConfig(labelFontSize=FONT_SIZE, titleFontSize=FONT_SIZE + 1),
        legend=alt.LegendConfig(labelFontSize=FONT_SIZE, titleFontSize=FONT_SIZE, **legend),
        title=alt.TitleConfig(fontSize=FONT_SIZE + 3, subtitleFontSize=FONT_SIZE - 1,
                              anchor="start"),
        view=alt.ViewConfig(strokeWidth=0)))


def shallow_copy(thing, **changes):
    """A copy of an Altair object with some attributes changed, made without building and
    validating it again (as Altair's own `copy` does: most of the time a chart took)."""
    out = copy.copy(thing)
    object.__setattr__(out, "_kwds", {**thing._kwds, **changes})
    return out


def _wrap(text: str, width: int, lines: int = 3) -> str:
    wrapped = textwrap.wrap(str(text), width=width)
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    return "\n".join(wrapped) or " "
