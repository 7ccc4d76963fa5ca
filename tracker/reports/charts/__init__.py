"""Chart builders: pure functions from DataFrames to Altair charts.

Pages only place these charts; the review pack renders the same objects. Every chart names its
axes and units, and every colour is backed by text or shape, so it reads on a projector and for
people who cannot tell the colours apart.


One module per kind of chart: `style` (shared), `diagram`, `cycles`, `spc_charts`, `funnel`,
`portfolio_charts` and `community`; every builder is importable from here. `text_alternative`
gives any chart's sentence and data table, for readers who cannot see it; `vega_lite` its
Vega-Lite specification (for the reports, made without Altair's global settings)."""

from __future__ import annotations

from tracker.reports.charts.community import (
    KIND_COLOURS,
    collaboration_map,
    community_chart,
    progress_heatmap,
)
from tracker.reports.charts.cycles import (
    DECISION_MARKS,
    cycle_timeline,
    ideas_by_status,
    velocity_chart,
    weekly_velocity,
)
from tracker.reports.charts.diagram import (
    driver_diagram,
    driver_layout,
)
from tracker.reports.charts.funnel import (
    MAX_FUNNEL_LABELS,
    funnel_chart,
    funnel_frame,
    idea_panel,
    place_labels,
    small_multiples,
)
from tracker.reports.charts.portfolio_charts import (
    OUTCOME_COLOURS,
    idea_reach,
    portfolio_matrix,
)
from tracker.reports.charts.spc_charts import (
    POINT_CLASSES,
    cycle_keys,
    outcome_frame,
    period_axis,
    signals_in_time,
    spc_chart,
)
from tracker.reports.charts.spec import vega_lite
from tracker.reports.charts.style import (
    DECISION_COLOURS,
    FONT_SIZE,
    LEVEL_COLOURS,
    LINE,
    STATUS_COLOURS,
    style,
)
from tracker.reports.charts.text_alternative import text_alternative

__all__ = [
    "text_alternative",
    "vega_lite",
    "collaboration_map",
    "community_chart",
    "cycle_keys",
    "cycle_timeline",
    "DECISION_COLOURS",
    "DECISION_MARKS",
    "driver_diagram",
    "driver_layout",
    "FONT_SIZE",
    "funnel_chart",
    "funnel_frame",
    "idea_panel",
    "idea_reach",
    "ideas_by_status",
    "KIND_COLOURS",
    "LEVEL_COLOURS",
    "LINE",
    "MAX_FUNNEL_LABELS",
    "OUTCOME_COLOURS",
    "outcome_frame",
    "period_axis",
    "place_labels",
    "POINT_CLASSES",
    "portfolio_matrix",
    "progress_heatmap",
    "signals_in_time",
    "small_multiples",
    "spc_chart",
    "STATUS_COLOURS",
    "style",
    "velocity_chart",
    "weekly_velocity",
]
