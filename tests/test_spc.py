"""tracker.spc: hand-computed cases for every rule and edge, and properties (hypothesis)."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker import spc

NAN = float("nan")


def rules(frame):
    return frame["rule"].tolist()


# --------------------------------------------------------------------------- limits


def test_limits_by_hand():
    values = [2, 4, 6, 4] * 3 + [2]  # 13 points, every moving range is 2
    f = spc.xmr(values)
    mean = 50 / 13
    assert f["centre"].iloc[0] == pytest.approx(mean)
    assert f["upper"].iloc[0] == pytest.approx(mean + 2.66 * 2)
    assert f["lower"].iloc[0] == pytest.approx(mean - 2.66 * 2)
    assert f["near_upper"].iloc[0] == pytest.approx(mean + 1.7733 * 2, abs=1e-4)
    assert not f["trial"].any()
    assert set(f["point_type"]) == {"common_cause"}


def test_screening_drops_big_moving_ranges_once():
    values = [10, 11] * 6 + [30, 11, 10, 11]  # the jump to 30 gives two moving ranges of 19
    mr = np.abs(np.diff(values))
    first = mr.mean()
    kept = mr[mr < 3.267 * first]
    f = spc.xmr(values)
    assert kept.size == mr.size - 2
    assert f["upper"].iloc[0] == pytest.approx(np.mean(values) + 2.66 * kept.mean())
    unscreened = spc.xmr(values, screen=False)
    assert unscreened["upper"].iloc[0] == pytest.approx(np.mean(values) + 2.66 * first)
    assert f["rule"].iloc[12] == "outside_limits"


def test_trial_limits_below_13_points():
    assert spc.xmr(list(range(12)))["trial"].all()
    assert not spc.xmr(list(range(13)) + [0])["trial"].any()


def test_constant_series_does_not_divide_by_zero():
    f = spc.xmr([5.0] * 20)
    assert (f["upper"] == 5).all() and (f["lower"] == 5).all()
    assert set(f["point_type"]) == {"common_cause"}
    g = spc.xmr([5.0] * 20 + [6.0])
    assert g["rule"].iloc[-1] == "outside_limits"
    assert np.isfinite(g[["centre", "lower", "upper"]].to_numpy()).all()


def test_a_phase_of_one_point():
    f = spc.xmr([1, 3] * 6 + [40], phases=[12])
    last = f.iloc[-1]
    assert last["phase"] == 1 and last["trial"] and last["centre"] == 40
    assert math.isnan(last["upper"]) and last["rule"] is None
    assert last["point_type"] == "common_cause"


# --------------------------------------------------------------------------- the four rules


def test_outside_limits():
    f = spc.xmr([4, 6] * 7 + [20])
    assert rules(f)[-1] == "outside_limits"
    assert f["point_type"].iloc[-1] == "improvement"
    assert spc.xmr([4, 6] * 7 + [20], improvement="decrease")["point_type"].iloc[-1] == "concern"
    assert spc.xmr([4, 6] * 7 + [20], improvement="neutral")["point_type"].iloc[-1] == \
        "neutral_high"


TREND = [3.5, 4, 4.5, 5.2, 5.5, 6, 6.5]  # crosses the mean: no shift


def around(middle):
    return [0, 10] * 6 + middle + [0, 10] * 3


def test_trend_of_seven_flags_all_seven():
    f = spc.xmr(around(TREND))
    assert rules(f)[12:19] == ["trend"] * 7
    assert rules(f)[:12] == [None] * 12 and rules(f)[19:] == [None] * 6
    assert set(f["point_type"].iloc[12:19]) == {"improvement"}


def test_six_rising_points_are_no_trend():
    f = spc.xmr(around(TREND[1:]))
    assert "trend" not in rules(f)


def test_an_equal_neighbour_breaks_a_trend():
    broken = [3.5, 4, 4.5, 4.5, 5.5, 6, 6.5]
    assert "trend" not in rules(spc.xmr(around(broken)))


def test_falling_trend_is_a_concern_when_higher_is_better():
    f = spc.xmr(around(TREND[::-1]))
    assert rules(f)[12:19] == ["trend"] * 7
    assert set(f["point_type"].iloc[12:19]) == {"concern"}


def test_shift_of_seven_and_a_point_on_the_mean_breaks_it():
    f = spc.xmr([10, 0] * 7 + [6] * 7 + [4] * 7)  # mean exactly 5
    assert f["centre"].iloc[0] == 5
    assert rules(f)[14:21] == ["shift"] * 7 and rules(f)[21:] == ["shift"] * 7
    assert set(f["point_type"].iloc[14:21]) == {"improvement"}
    assert set(f["point_type"].iloc[21:]) == {"concern"}
    g = spc.xmr([10, 0] * 7 + [6, 6, 6, 5, 6, 6, 6] + [4] * 6)  # mean 5; the 5 breaks the run
    assert g["centre"].iloc[0] == 5
    assert "shift" not in rules(g)


def test_six_on_one_side_is_no_shift():
    f = spc.xmr([10, 0] * 7 + [6] * 6 + [4] * 6)
    assert f["centre"].iloc[0] == 5
    assert "shift" not in rules(f)


BASE = [4, 6] * 6  # baseline: mean 5, every moving range 2: limits 5 ± 5.32, near 5 ± 3.55


def test_two_in_three_by_hand():
    f = spc.xmr(BASE + [9, 5.5, 9, 5], baseline=12)
    assert f["upper"].iloc[0] == pytest.approx(10.32)
    assert rules(f)[12:] == ["two_in_three", None, "two_in_three", None]


def test_two_in_three_across_the_mean_is_nothing():
    f = spc.xmr(BASE + [9, 4, 9, 5], baseline=12)
    assert rules(f)[12:] == [None] * 4


def test_two_in_three_mdc2023_counts_points_beyond_the_limits_ptd_does_not():
    values = BASE + [11, 5.5, 9, 5]
    mdc = spc.xmr(values, baseline=12)
    ptd = spc.xmr(values, baseline=12, two_in_three="ptd")
    assert rules(mdc)[12:] == ["outside_limits", None, "two_in_three", None]
    assert rules(ptd)[12:] == ["outside_limits", None, None, None]
    assert mdc["in_two_in_three"].iloc[12]  # 11 counts towards 2 of 3, but outside wins


def test_priority_and_improvement_wins():
    # A falling trend of 7 that sits above the mean is also a shift above the mean:
    # the rule is "trend" (higher priority) but, higher being better, it is an improvement.
    values = [0, 10] * 7 + [9, 8.5, 8, 7.5, 7, 6.5, 6] + [0, 10] * 3
    f = spc.xmr(values)
    assert rules(f)[14:21] == ["trend"] * 7
    assert f["in_shift"].iloc[14:21].all() and f["in_trend_down"].iloc[14:21].all()
    assert set(f["point_type"].iloc[14:21]) == {"improvement"}
    assert set(spc.xmr(values, improvement="decrease")["point_type"].iloc[14:21]) == \
        {"improvement"}


# --------------------------------------------------------------------------- phases, baselines


def test_phases_have_their_own_limits_and_rules_do_not_cross_them():
    values = [4, 6] * 6 + [5, 6, 7, 6] + [24, 26] * 6 + [25, 26, 27, 26]
    f = spc.xmr(values, phases=[16])
    assert f["phase"].tolist() == [0] * 16 + [1] * 16
    assert f["centre"].iloc[0] == pytest.approx(np.mean(values[:16]))
    assert f["centre"].iloc[-1] == pytest.approx(np.mean(values[16:]))
    assert "outside_limits" not in rules(f)
    # the last 3 points of phase 0 and the first 4 of phase 1 are not a shift together
    g = spc.xmr([0, 10] * 6 + [6, 6, 6] + [6, 6, 6, 6] + [0, 10] * 6, phases=[15])
    assert "shift" not in rules(g)


def test_baseline_freezes_limits():
    values = BASE + [5, 6, 4, 5, 30]
    f = spc.xmr(values, baseline=12)
    assert (f["centre"] == 5).all()
    assert f["used_for_limits"].tolist() == [True] * 12 + [False] * 5
    assert rules(f)[-1] == "outside_limits"
    unfrozen = spc.xmr(values)
    assert unfrozen["centre"].iloc[0] != 5


def test_baseline_and_phases_together():
    values = BASE + [5] * 3 + [20, 22] * 6 + [21, 50]
    f = spc.xmr(values, phases=[15], baseline=12)
    assert f["centre"].iloc[0] == 5 and f["centre"].iloc[-1] == 21
    assert rules(f)[-1] == "outside_limits"


def test_impossible_requests_are_refused_in_words():
    with pytest.raises(spc.SPCError, match="at least 12"):
        spc.xmr(range(20), baseline=8)
    with pytest.raises(spc.SPCError, match="improvement"):
        spc.xmr(range(20), improvement="up")
    with pytest.raises(spc.SPCError, match="phase starts"):
        spc.xmr(range(5), phases=[9])
    with pytest.raises(spc.SPCError, match="infinite"):
        spc.xmr([1, 2, float("inf")])
    with pytest.raises(spc.SPCError, match="numbers"):
        spc.xmr(["a", "b"])


# --------------------------------------------------------------------------- missing values


def test_missing_values_are_gaps_not_zeros():
    values = [10, 0] * 7 + [6, 6, 6, NAN, 6, 6, 6, 6] + [0, 10] * 3
    f = spc.xmr(values)
    assert f["value"].isna().sum() == 1
    gap = f.iloc[17]
    assert gap["rule"] is None and gap["point_type"] is None
    assert not math.isnan(gap["centre"])  # the centre line carries on across the gap
    assert rules(f)[14:17] == ["shift"] * 3 and rules(f)[18:22] == ["shift"] * 4
    # the gap neither breaks nor extends: 3 + 3 around a gap is no shift
    g = spc.xmr([10, 0] * 7 + [6, 6, 6, NAN, 6, 6, 6] + [0, 10] * 3)
    assert "shift" not in rules(g)
    assert f["centre"].iloc[0] == pytest.approx(np.nanmean(values))


# --------------------------------------------------------------------------- icons


def test_variation_and_assurance():
    calm = [48, 52] * 8  # mean 50, limits 50 ± 10.64
    assert spc.variation(spc.xmr(calm)) == "common_cause"
    assert spc.assurance(spc.xmr(calm), 70, "increase") == "fail"
    assert spc.assurance(spc.xmr(calm), 30, "increase") == "pass"
    assert spc.assurance(spc.xmr(calm), 50, "increase") == "hit_and_miss"
    assert spc.assurance(spc.xmr(calm), 70, "decrease") == "pass"
    assert spc.assurance(spc.xmr(calm), 30, "decrease") == "fail"
    assert spc.assurance(spc.xmr(calm), None, "increase") is None
    assert spc.assurance(spc.xmr(calm), 70, "neutral") is None
    assert spc.assurance(spc.xmr(calm, target=70, improvement="increase")) == "fail"
    assert spc.variation(spc.xmr(calm + [80])) == "improvement"
    assert spc.variation(spc.xmr(calm + [80], improvement="decrease")) == "concern"
    # icons are withheld while the latest phase has trial limits
    rebased = spc.xmr(calm + [60, 62, 61], phases=[16])
    assert spc.variation(rebased) is None and spc.assurance(rebased, 70, "increase") is None


def test_assurance_uses_the_latest_phase():
    values = [48, 52] * 8 + [78, 82] * 8
    f = spc.xmr(values, phases=[16])
    assert spc.assurance(f, 65, "increase") == "pass"  # phase 1 limits: 80 ± 10.64
    assert spc.assurance(f, 70, "increase") == "hit_and_miss"


# --------------------------------------------------------------------------- run charts

ANHOEJ = {10: (6, 2), 12: (7, 3), 16: (7, 4), 20: (7, 6), 24: (8, 8), 30: (8, 10),
          50: (9, 19), 100: (10, 41)}


@pytest.mark.parametrize("n", sorted(ANHOEJ))
def test_anhoej_critical_values(n):
    assert (spc.longest_run_maximum(n), spc.crossings_minimum(n)) == ANHOEJ[n]


def test_run_chart_by_hand():
    values = [1, 9, 2, 8, 3, 5, 7, 4, 6, 5.0]  # median 5: two points on it are not useful
    r = spc.run_chart(values)
    assert r.median == 5 and r.n_useful == 8
    assert r.crossings == 7 and r.longest_run == 1 and not r.signal
    assert r.points["useful"].tolist() == [True] * 5 + [False] + [True] * 3 + [False]


def test_anhoej_long_run_and_too_few_crossings():
    values = [1, 2] * 3 + [10] * 8 + [1, 2] * 3  # 20 points, median 2
    r = spc.run_chart(values)
    # points equal to the median (the 2s) are not useful
    assert r.n_useful == 14 and r.longest_run == 8 and r.longest_run_max == 7
    assert r.signal and r.points["long_run"].sum() == 8
    assert any("unusually long run" in s for s in spc.explain_run_chart(r))


def test_run_chart_gaps_neither_break_nor_extend():
    a = spc.run_chart([1, 9, 1, 9, 8, 8, NAN, 8, 1, 9, 1, 9])
    b = spc.run_chart([1, 9, 1, 9, 8, 8, 8, 1, 9, 1, 9])
    assert (a.longest_run, a.crossings, a.n_useful) == (b.longest_run, b.crossings, b.n_useful)


def test_ihi_shift_and_trend_with_ties():
    r = spc.run_chart([5, 1, 9, 2, 8, 1, 2, 2, 3, 4, 5.5, 9, 1, 9], rules="ihi")
    assert r.trend
    assert r.points["trend"].tolist()[5:11] == [True] * 6  # 1,2,2,3,4,5.5: the tie stays in
    calm = spc.run_chart([1, 9, 2, 8, 3, 7, 4, 6, 1, 9], rules="ihi")
    assert not calm.trend and not calm.shift
    shifted = spc.run_chart([1, 9, 2, 8] + [10] * 6 + [1, 2], rules="ihi")
    assert shifted.shift and shifted.signal


def test_ihi_runs_limits_exact():
    # 5 points above and 5 below the median: fewer than 3 or more than 9 runs is a signal
    assert spc._runs_limits(5, 5) == (3, 9)
    few = spc.run_chart([1, 2, 3, 4, 5, 10, 11, 12, 13, 14], rules="ihi")
    assert few.runs == 2 and few.signal


# --------------------------------------------------------------------------- p and u charts


def test_p_chart_against_the_formula():
    num, den = [5, 8, 3, 10, 6], [50, 60, 40, 80, 55]
    p = spc.p_chart(num, den)
    pbar = 32 / 285
    for i, n in enumerate(den):
        s = math.sqrt(pbar * (1 - pbar) / n)
        assert p["value"].iloc[i] == pytest.approx(num[i] / n)
        assert p["centre"].iloc[i] == pytest.approx(pbar)
        assert p["upper"].iloc[i] == pytest.approx(pbar + 3 * s)
        assert p["lower"].iloc[i] == pytest.approx(max(pbar - 3 * s, 0))
    assert not p["outside"].any()


def test_p_chart_clips_to_zero_and_one():
    p = spc.p_chart([1, 9, 10], [10, 10, 10])
    assert (p["upper"] <= 1).all() and (p["lower"] >= 0).all()


def test_laney_p_prime_by_hand():
    num = [300, 320, 280, 350, 310, 330]
    den = [1000, 1100, 950, 1050, 1000, 1020]
    pbar = sum(num) / sum(den)
    sig = [math.sqrt(pbar * (1 - pbar) / n) for n in den]
    z = [(a / n - pbar) / s for a, n, s in zip(num, den, sig, strict=True)]
    mr = [abs(z[i] - z[i - 1]) for i in range(1, len(z))]
    amr = sum(mr) / len(mr)
    kept = [m for m in mr if m < 3.267 * amr]
    sigma_z = (sum(kept) / len(kept)) / 1.128
    p = spc.p_chart(num, den, laney=True)
    for i in range(len(num)):
        assert p["upper"].iloc[i] == pytest.approx(pbar + 3 * sig[i] * sigma_z)
        assert p["lower"].iloc[i] == pytest.approx(pbar - 3 * sig[i] * sigma_z)


def test_u_chart_against_the_formula():
    counts, exposure = [4, 7, 2, 9], [1.5, 2.0, 1.2, 2.5]
    u = spc.u_chart(counts, exposure)
    ubar = 22 / 7.2
    for i, n in enumerate(exposure):
        assert u["upper"].iloc[i] == pytest.approx(ubar + 3 * math.sqrt(ubar / n))
        assert u["lower"].iloc[i] == pytest.approx(max(ubar - 3 * math.sqrt(ubar / n), 0))
    assert (spc.u_chart(counts, exposure, laney=True)["lower"] >= 0).all()


def test_attribute_chart_errors_and_gaps():
    with pytest.raises(spc.SPCError, match="denominator at position 1 is 0"):
        spc.p_chart([1, 2], [10, 0])
    with pytest.raises(spc.SPCError, match="give one of each"):
        spc.p_chart([1, 2, 3], [10, 10])
    with pytest.raises(spc.SPCError, match="above its denominator"):
        spc.p_chart([11], [10])
    with pytest.raises(spc.SPCError, match="exposure at position 0"):
        spc.u_chart([1], [0])
    gap = spc.p_chart([1, NAN, 3], [10, NAN, 10])
    assert math.isnan(gap["value"].iloc[1]) and not gap["outside"].iloc[1]
    assert gap["centre"].iloc[0] == pytest.approx(0.2)


# --------------------------------------------------------------------------- explanations


def test_explain_names_rule_dates_and_direction():
    values = [10, 0] * 7 + [6] * 7 + [0, 10] * 3
    dates = pd.date_range("2025-01-06", periods=len(values), freq="7D")
    signals = spc.explain(spc.xmr(values), dates)
    shift = signals[signals["rule"] == "shift"].iloc[0]
    assert shift["sentence"] == ("7 points above the mean from 14 April to 26 May 2025: "
                                 "a shift, an improvement.")
    sentences = spc.point_sentences(spc.xmr(values), dates)
    assert sentences.iloc[14].startswith("7 points above the mean") and sentences.iloc[0] == ""


def test_explain_across_years_and_without_dates():
    f = spc.xmr([4, 6] * 7 + [20], improvement="decrease")
    assert spc.explain(f)["sentence"].iloc[0] == (
        "1 point above the upper process limit at point 15: outside the limits, a concern.")
    assert spc.describe_span(pd.Timestamp("2024-12-30"), pd.Timestamp("2025-01-06"), 0, 1) == \
        "from 30 December 2024 to 6 January 2025"


# --------------------------------------------------------------------------- properties

series = st.lists(st.integers(-50, 50), min_size=2, max_size=60)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(series)
def test_limits_are_symmetric_and_contain_the_mean(values):
    f = spc.xmr(values)
    assert np.allclose(f["upper"] - f["centre"], f["centre"] - f["lower"])
    assert (f["lower"] <= f["centre"] + 1e-9).all() and (f["centre"] <= f["upper"] + 1e-9).all()


@SETTINGS
@given(series, st.integers(-1000, 1000))
def test_adding_a_constant_changes_no_rule(values, constant):
    a, b = spc.xmr(values), spc.xmr([v + constant for v in values])
    assert rules(a) == rules(b)
    assert a["point_type"].tolist() == b["point_type"].tolist()
    assert np.allclose(b["centre"], a["centre"] + constant)


@SETTINGS
@given(series, st.sampled_from([0.25, 0.5, 2, 4, 1024]))
def test_scaling_by_a_positive_factor_changes_no_rule(values, factor):
    # powers of two keep the arithmetic exact, so no tie can flip by rounding
    assert rules(spc.xmr(values)) == rules(spc.xmr([v * factor for v in values]))


@SETTINGS
@given(series)
def test_reversing_the_direction_swaps_improvement_and_concern(values):
    up = spc.xmr(values, improvement="increase")["point_type"]
    down = spc.xmr(values, improvement="decrease")["point_type"]
    swap = {"improvement": "concern", "concern": "improvement", "common_cause": "common_cause"}
    for u, d, f in zip(up, down, spc.xmr(values).itertuples(), strict=True):
        high = f.in_outside and f.value > f.centre or f.in_trend_up or (
            (f.in_two_in_three or f.in_shift) and f.value > f.centre)
        low = f.in_outside and f.value < f.centre or f.in_trend_down or (
            (f.in_two_in_three or f.in_shift) and f.value < f.centre)
        if high and low:  # improvement wins both ways
            assert u == d == "improvement"
        else:
            assert d == swap[u]


@SETTINGS
@given(st.lists(st.tuples(st.lists(st.one_of(st.integers(0, 30), st.just(None)), min_size=1,
                                   max_size=40),
                          st.sampled_from(["increase", "decrease", "neutral"]),
                          st.integers(0, 39)), min_size=1, max_size=6),
       st.sampled_from([None, 12]), st.sampled_from(["mdc2023", "ptd"]))
def test_batch_equals_single_series(groups, baseline, variant):
    rows, expected = [], []
    for g, (vals, direction, phase_at) in enumerate(groups):
        values = [NAN if v is None else float(v) for v in vals]
        phases = [phase_at] if 0 < phase_at < len(values) else []
        expected.append(spc.xmr(values, improvement=direction, phases=phases,
                                baseline=baseline, two_in_three=variant))
        for i, v in enumerate(values):
            rows.append({"series": f"s{g}", "t": i, "y": v, "dir": direction,
                         "rebase": i in phases})
    frame = pd.DataFrame(rows).sample(frac=1, random_state=1)  # any input order
    out = spc.xmr_many(frame, "series", "y", improvement="dir", phase_start="rebase",
                       baseline=baseline, two_in_three=variant, sort_by="t")
    assert out.index.equals(frame.index)
    for g, single in enumerate(expected):
        got = out[out["series"] == f"s{g}"].sort_values("t")
        for column in ("centre", "lower", "upper", "mr"):
            assert np.allclose(got[column], single[column], equal_nan=True), column
        for column in ("rule", "point_type", "phase", "trial", "used_for_limits",
                       *spc.FLAG_COLUMNS):
            assert got[column].tolist() == single[column].tolist(), column


def test_batch_is_much_faster_than_a_loop_in_the_same_process():
    """A ratio, not a wall-clock limit: guards against the batch path becoming a loop."""
    import time

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"s": np.repeat(np.arange(300), 50), "t": np.tile(np.arange(50), 300),
                          "y": rng.normal(0, 1, 15_000)})
    started = time.perf_counter()
    spc.xmr_many(frame, "s", "y", sort_by="t")
    batch = time.perf_counter() - started
    started = time.perf_counter()
    for _, group in frame.groupby("s"):
        spc.xmr(group["y"].to_numpy())
    loop = time.perf_counter() - started
    assert loop / batch > 5


def test_unknown_directions_are_named():
    frame = pd.DataFrame({"s": [1, 1, 2, 2], "v": [1.0, 2, 3, 4],
                          "d": ["increase", "increase", "upwards", None]})
    with pytest.raises(spc.SPCError, match=r"unknown directions: \['\(blank\)', 'upwards'\]"):
        spc.xmr_many(frame, "s", "v", improvement="d")
    frame["d"] = frame["d"].fillna("neutral").astype("category")
    with pytest.raises(spc.SPCError, match="upwards"):
        spc.xmr_many(frame, "s", "v", improvement="d")


def test_explain_many_prefers_the_signal_that_reaches_the_latest_point():
    """A shift still going on at the end, and a single point outside the limits that started
    later but is over: `latest_only` keeps the later start; with `prefer_now`, the shift,
    which is what the chart shows now."""
    values = [10, 10.4, 9.7, 10.2, 9.9, 10.1, 9.8, 10.3, 10, 9.6, 10.2, 9.9, 10.1, 10,
              9.8, 10.2, 10, 9.9, 10.1, 10, 13, 13.2, 12.8, 13.1, 12.9, 30, 13, 13.1, 12.9, 13]
    charted = spc.xmr(values, improvement="increase", screen=False).assign(
        series=0, period=pd.date_range("2026-01-05", periods=len(values), freq="7D"))
    latest = spc.explain_many(charted, "series", improvement="increase", latest_only=True)
    now = spc.explain_many(charted, "series", improvement="increase", latest_only=True,
                           prefer_now=True)
    assert latest["rule"].iloc[0] == "outside_limits" and latest["last"].iloc[0] == 25
    assert now["rule"].iloc[0] == "shift" and now["last"].iloc[0] == len(values) - 1
