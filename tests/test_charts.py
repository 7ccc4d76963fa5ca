"""Chart builders give Vega-Lite specs with the expected layers."""

import json

import numpy as np
import pandas as pd

from tracker.reports import charts

WEEKS = pd.date_range("2026-01-05", periods=30, freq="7D")


def layers(chart):
    spec = chart.to_dict()
    return spec, spec["layer"]


def series(values):
    return pd.DataFrame({"period": WEEKS[: len(values)], "value": values,
                         "numerator": np.nan, "denominator": np.nan})


def test_xmr_chart_has_points_limits_target_cycles_and_gaps():
    values = [10.0, 12, 11, 13, 12, 11, np.nan, 12, 11, 13, 30, 12, 11, 12, 13, 12]
    frame = charts.outcome_frame(series(values), "value", improvement="increase")
    assert frame["segment"].nunique() == 2  # the missing week splits the line
    cycles = pd.DataFrame({"idea": ["Welcome call", "Reminder"], "cycle_no": [1, 2],
                           "start_date": [WEEKS[2], WEEKS[8]], "end_date": [WEEKS[3], WEEKS[9]],
                           "prediction": ["6 of 10", "7 of 10"], "decision": ["adapt", None]})
    spec, parts = layers(charts.spc_chart(frame, title="Referrals", unit="people", target=15,
                                          cycles=cycles))
    text = json.dumps(spec, ensure_ascii=False)
    marks = [p["mark"]["type"] if isinstance(p["mark"], dict) else p["mark"] for p in parts]
    assert marks.count("rect") == 1 and "point" in marks and marks.count("rule") >= 1
    assert '"A1"' in text and '"B2"' in text  # one band per cycle: idea letter, cycle number
    assert "A: Welcome call · B: Reminder" in text  # the key, in the subtitle
    assert "Target 15" in text and "Upper" in text and "Mean" in text and "Lower" in text
    point_layer = [p for p in parts if p["mark"]["type"] == "point"][0]
    tooltips = [t["title"] for t in point_layer["encoding"]["tooltip"]]
    assert "Signal" in tooltips
    assert "outside the limits, an improvement" in text  # the rule named in the tooltip data
    assert point_layer["encoding"]["shape"]["title"] == "Points"  # shape, not colour alone


def test_p_chart_and_trial_limits_are_labelled():
    data = pd.DataFrame({"period": WEEKS[:10], "value": np.nan,
                         "numerator": [5, 6, 4, 7, 5, 6, 5, 9, 6, 5],
                         "denominator": [10] * 10})
    frame = charts.outcome_frame(data, "proportion", improvement="increase")
    assert frame["trial"].all()
    spec, _ = layers(charts.spc_chart(frame, title="First session", unit="proportion",
                                      target=0.75, percent=True))
    assert "Trial limits" in json.dumps(spec["title"])
    assert "Target 75%" in json.dumps(spec)


def test_run_chart_option():
    frame = charts.outcome_frame(series([1, 9, 2, 8, 10, 10, 10, 10, 10, 10, 10, 10, 2, 1.0]),
                                 "value", improvement="increase", run_chart=True)
    assert frame["lower"].isna().all() and frame.attrs["signals"]


def test_summary_icons_carry_letters_not_only_colour():
    import base64

    from tracker.analysis import summary

    def svg(uri):
        return base64.b64decode(uri.split(",", 1)[1]).decode()

    assert ">H<" in svg(summary.variation_icon("improvement", "increase"))
    assert ">L<" in svg(summary.variation_icon("improvement", "decrease"))
    assert "#e46c0a" in svg(summary.variation_icon("concern", "increase"))
    assert ">P<" in svg(summary.assurance_icon("pass"))
    assert ">F<" in svg(summary.assurance_icon("fail"))
    assert ">?<" in svg(summary.assurance_icon("hit_and_miss"))


def test_funnel_limits_narrow_with_the_denominator():
    totals = pd.DataFrame({"organisation": ["Small", "Big", "Odd"],
                           "numerator": [8, 700, 300], "denominator": [10, 1000, 1000]})
    points, limits = charts.funnel_frame(totals)
    width = limits["upper95"] - limits["lower95"]
    assert width.iloc[0] > width.iloc[-1]
    positions = dict(zip(points["organisation"], points["position"], strict=True))
    assert positions["Small"] == "Within limits"
    assert positions["Odd"] == "Outside 99.8% limits"
    spec = charts.funnel_chart(totals, title="t").to_dict()
    assert "99.8% limits" in json.dumps(spec)


def test_small_multiples_one_panel_per_series():
    frame = charts.outcome_frame(series([10.0, 12, 11, 13, 12, 11, 12, 11, 13, 12, 11, 12, 13]),
                                 "value", improvement="increase")
    spec = charts.small_multiples([(f"Org {i}", frame) for i in range(4)], unit="people",
                                  columns=3).to_dict()
    assert len(spec["vconcat"]) == 2 and len(spec["vconcat"][0]["hconcat"]) == 3
    assert "Org 3" in json.dumps(spec)


def test_funnel_names_do_not_overlap():
    """Names of points close together are placed apart (right, left, above, below)."""
    px = np.array([100.0, 104, 108, 300])
    py = np.array([50.0, 52, 54, 200])
    widths = np.array([120.0, 120, 120, 60])
    spots = charts.place_labels(px, py, widths)
    boxes = []
    for (x, y, align), w in zip(spots, widths, strict=True):
        left = x if align == "left" else x - w
        boxes.append((left, y - 6.5, left + w, y + 6.5))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or a[0] >= b[2] or a[3] <= b[1] or a[1] >= b[3], (a, b)
    many = pd.DataFrame({"organisation": [f"Org {i}" for i in range(30)],
                         "numerator": [50 + i for i in range(30)], "denominator": 100})
    many.loc[0, "numerator"] = 95  # far outside
    spec = json.dumps(charts.funnel_chart(many, title="t").to_dict())
    assert "Named: the 11 of 30 organisations outside the 95% limits" in spec


def test_cycle_velocity_of_a_new_challenge_counts_in_whole_cycles():
    """A challenge with no cycles yet: the axis reads 0 and 1, not 0.000000."""
    import pandas as pd

    from tracker.reports.charts import velocity_chart

    weeks = pd.date_range("2026-09-07", periods=4, freq="W-MON")
    spec = velocity_chart(pd.DataFrame({"week": weeks, "Started": 0, "Completed": 0})).to_dict()
    y = spec["encoding"]["y"]
    assert y["axis"]["format"] == "d" and y["scale"]["domain"] == [0, 1]


def test_builders_leave_altair_s_checking_as_they_found_it():
    """Builders skip Altair's check of each object as it is made (`charts.quick`, most of a
    chart's build time) and put the setting back: the chart as a whole is still checked."""
    from altair.utils import schemapi

    frame = charts.outcome_frame(series([10.0, 12, 11, 13, 12]), "value", improvement="increase")
    assert schemapi.DEBUG_MODE
    chart = charts.spc_chart(frame, title="Referrals", unit="people")
    assert schemapi.DEBUG_MODE
    chart.to_dict()  # validated whole
