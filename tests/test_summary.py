"""The Summary computes every series at once; it must say exactly what each chart says."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tracker import spc
from tracker.access.scope import Scope
from tracker.analysis import summary
from tracker.records import observations, repo
from tracker.reports import charts

pytestmark = pytest.mark.dates  # runs again at other dates in CI (tests/dates.md)

ADMIN = Scope.admin("test")


def reference_row(db, scope, org_id, measure_id) -> dict:
    """One series the way a chart computes it (outcome_frame, one series at a time)."""
    m = repo.list_measures(db).set_index("id").loc[measure_id]
    series = observations.load_results(db, scope, measure_id=measure_id, organisation_ids=[org_id])
    notes = observations.list_annotations(db, scope, measure_id, org_id)
    frame = charts.outcome_frame(series, m["data_kind"], improvement=m["direction"],
                                 phase_dates=list(notes.loc[notes["kind"] == "phase",
                                                            "on_date"]))
    present = frame.dropna(subset=["value"])
    latest = present.iloc[-1]
    if m["data_kind"] == "value":
        variation = spc.variation(frame)
        assurance = spc.assurance(frame, m["target"], m["direction"])
    else:
        variation = None if latest["trial"] else latest["point_type"]
        assurance = None if latest["trial"] else summary._attribute_assurance(
            latest, m["target"], m["direction"])
    signals = frame.attrs.get("signals", [])
    now = frame.attrs.get("signals_now", [])  # the latest-starting signal reaching the end
    return {"latest": float(latest["value"]), "points": len(present),
            "variation": summary.VARIATION_WORDS[variation],
            "assurance": summary.ASSURANCE_WORDS[assurance],
            "signal": now[-1] if now else (signals[-1] if signals else "")}


def add_neutral_measure(db) -> int:
    """A measure with no improvement direction and values that shift, so neutral signals."""
    mid = repo.add_measure(db, ADMIN, code="NEU", name="Calls answered", measure_type="process",
                           definition="Calls answered in the week.", unit="calls",
                           direction="neutral", target=None, data_kind="value",
                           frequency="week")
    orgs = repo.list_organisations(db, ADMIN)["id"].tolist()
    weeks = pd.date_range("2026-01-05", periods=30, freq="7D").date
    rng = np.random.default_rng(3)
    frames = [pd.DataFrame({"organisation_id": org, "measure_id": mid, "period": weeks,
                            "value": rng.normal(20 + 6 * (np.arange(30) > 18) * (i % 2), 1.5)})
              for i, org in enumerate(orgs)]
    observations.insert_results(db, ADMIN, pd.concat(frames), source="import")
    return mid


def test_batch_summary_matches_each_chart(demo_db):
    """Every row of the batch Summary against the chart's own calculation, on the demo with
    rebases for one organisation and for all, and a measure with no direction."""
    measures = repo.list_measures(demo_db).set_index("code")["id"]
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")["id"]
    some_day = demo_db.scalar("SELECT max(period) FROM result") - dt.timedelta(weeks=16)
    observations.add_annotation(demo_db, ADMIN, measure_id=int(measures["WAIT"]),
                        organisation_id=int(orgs["Peer Pathways (demo)"]), on_date=some_day,
                        kind="phase", text="Welcome call adopted")
    observations.add_annotation(demo_db, ADMIN, measure_id=int(measures["FIRST"]), organisation_id=None,
                        on_date=some_day - dt.timedelta(weeks=3), kind="phase",
                        text="New definition everywhere")
    add_neutral_measure(demo_db)
    table = summary.summary_table(demo_db, ADMIN)
    assert len(table) == 8 * 10
    assert {"Special cause: improvement", "Common cause"} <= set(table["variation"])
    assert table["variation"].str.startswith("Special cause: unusually").any()
    assert (table["signal"] != "").sum() > 20
    for row in table.itertuples():
        expected = reference_row(demo_db, ADMIN, row.organisation_id, row.measure_id)
        got = {"latest": row.latest, "points": row.points, "variation": row.variation,
               "assurance": row.assurance, "signal": row.signal}
        assert got == pytest.approx(expected), (row.organisation, row.measure)


def test_summary_for_some_organisations_and_a_partner(demo_db):
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")["id"]
    pp = int(orgs["Peer Pathways (demo)"])
    whole = summary.summary_table(demo_db, ADMIN)
    one = summary.summary_table(demo_db, ADMIN, organisation_ids=[pp])
    assert set(one["organisation"]) == {"Peer Pathways (demo)"}
    pd.testing.assert_frame_equal(
        one.reset_index(drop=True),
        whole[whole["organisation_id"] == pp].reset_index(drop=True))
    partner = Scope(actor="p", role="partner", organisation_id=pp,
                    organisation="Peer Pathways (demo)")
    other = int(orgs["Kindred Voices (demo)"])
    assert set(summary.summary_table(demo_db, partner)["organisation_id"]) == {pp}
    assert summary.summary_table(demo_db, partner, organisation_ids=[other]).empty


def test_explain_many_equals_explain_per_series():
    rng = np.random.default_rng(11)
    frames = []
    for k in range(40):
        values = rng.normal(10, 2, 60) + np.where(np.arange(60) > 30, rng.choice([-4, 0, 4]), 0)
        values[rng.random(60) < 0.05] = np.nan
        frames.append(pd.DataFrame({"series": k, "value": values,
                                    "period": pd.date_range("2025-01-06", periods=60,
                                                            freq="7D"),
                                    "direction": ["increase", "decrease", "neutral"][k % 3]}))
    long = pd.concat(frames, ignore_index=True)
    charted = spc.xmr_many(long, "series", "value", improvement="direction")
    many = spc.explain_many(charted, "series", improvement="direction")
    latest = spc.explain_many(charted, "series", improvement="direction", latest_only=True)
    assert len(many) > 40
    for k, group in charted.groupby("series"):
        one = spc.explain(group.reset_index(drop=True), group["period"],
                          improvement=group["direction"].iloc[0])
        mine = many[many["series"] == k].drop(columns="series").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, one, check_dtype=False)
        tail = latest[latest["series"] == k]["sentence"].tolist()
        assert tail == one["sentence"].tolist()[-1:]


def test_explain_many_refuses_series_out_of_order():
    frame = pd.DataFrame({"series": [1, 2, 1], "value": [1.0, 2, 3], "centre": 2.0,
                          **{c: False for c in spc.FLAG_COLUMNS}})
    with pytest.raises(spc.SPCError, match="together"):
        spc.explain_many(frame, "series", dates=None)


def test_attribute_many_equals_p_and_u_charts_with_laney():
    rng = np.random.default_rng(5)
    rows = []
    for k in range(12):
        den = rng.poisson(200, 40).astype(float) + 1
        num = rng.binomial(den.astype(int), 0.4 + 0.02 * (k % 3)).astype(float)
        num[rng.random(40) < 0.05] = np.nan
        rows.append(pd.DataFrame({"series": k, "numerator": num, "denominator": den,
                                  "kind": "proportion" if k % 2 else "rate"}))
    long = pd.concat(rows, ignore_index=True)
    for laney in (False, True):
        many = spc.attribute_many(long, "series", kind="kind", laney=laney)
        for k, group in many.groupby("series"):
            chart = spc.p_chart if k % 2 else spc.u_chart
            one = chart(group["numerator"], group["denominator"], laney=laney)
            for column in ("value", "centre", "lower", "upper", "outside", "sigma"):
                np.testing.assert_allclose(group[column].to_numpy(dtype=float),
                                           one[column].to_numpy(dtype=float), equal_nan=True)
