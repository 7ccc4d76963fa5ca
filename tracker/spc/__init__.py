"""Statistical process control: run charts, XmR charts with the NHS "Making Data Count" rules,
p and u charts (with Laney's p′ and u′), phases and fixed baselines, in plain English.

The package's modules: `core` (constants, helpers), `xmr_engine`, `icons`, `run_charts`,
`attribute` (p and u) and `words` (plain English). Analysts import from `tracker.spc` as before:
every public name is here.

Pure functions of numbers: no database, no Streamlit. The XmR engine works on flat numpy
arrays cut into segments (one per series and phase), so `xmr` on one series and `xmr_many` on
ten thousand run the same code and give the same answers.

The rules and constants follow docs/domain.md and docs/spc.md. Deliberate choices, also stated in
docs/spc.md:
* Missing values (NaN) are gaps: they are not points, they neither break nor extend a run, and
  the moving range is taken between the points either side of the gap.
* A point flagged by rules in both directions (a downward trend above the mean) is an
  improvement, as in the NHS England Excel tool; NHSRplotthedots takes the direction of the
  highest-priority rule instead.
* `two_in_three="mdc2023"` (the default) counts points beyond the process limits towards
  "two out of three", as NHS England announced in November 2023; `"ptd"` counts only points
  between the near and process limits, as NHSRplotthedots 0.2.2 does.
* Variation and assurance icons are withheld (None) while the latest phase has trial limits
  (fewer than 13 points), as Making Data Count shows no icons before 13 points.
"""

from __future__ import annotations

from tracker.spc.attribute import (
    attribute_many,
    p_chart,
    u_chart,
)
from tracker.spc.core import (
    E2,
    FLAG_COLUMNS,
    IMPROVEMENT,
    MIN_BASELINE,
    MIN_POINTS_FOR_LIMITS,
    NEAR,
    POINT_TYPES,
    RULES,
    SCREEN,
    SPCError,
)
from tracker.spc.icons import (
    assurance,
    variation,
)
from tracker.spc.run_charts import (
    RunChart,
    _runs_limits,
    crossings_minimum,
    longest_run_maximum,
    run_chart,
)
from tracker.spc.words import (
    CLASS_WORDS,
    describe_span,
    explain,
    explain_many,
    explain_run_chart,
    outside_sentence,
    point_sentences,
    signal_sentence,
)
from tracker.spc.xmr_engine import (
    xmr,
    xmr_many,
)

__all__ = [
    "_runs_limits",
    "assurance",
    "attribute_many",
    "CLASS_WORDS",
    "crossings_minimum",
    "describe_span",
    "E2",
    "explain",
    "explain_many",
    "explain_run_chart",
    "FLAG_COLUMNS",
    "IMPROVEMENT",
    "longest_run_maximum",
    "MIN_BASELINE",
    "MIN_POINTS_FOR_LIMITS",
    "NEAR",
    "outside_sentence",
    "p_chart",
    "point_sentences",
    "POINT_TYPES",
    "RULES",
    "run_chart",
    "RunChart",
    "SCREEN",
    "signal_sentence",
    "SPCError",
    "u_chart",
    "variation",
    "xmr",
    "xmr_many",
]
