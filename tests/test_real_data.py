"""Real, public NHS data: A&E 4-hour performance of every type-1 department, April 2016 to
March 2019 (tests/data/ae_attendances.csv, Open Government Licence; see tests/data/README.md),
through the upload, the statistics and the
charts. 4-hour performance = 1 - breaches / attendances; target 95%; higher is better."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ROOT

from tracker.access.scope import Scope
from tracker.analysis import summary
from tracker.intake import ingest
from tracker.records import observations, repo
from tracker.reports import charts

DATA = ROOT / "tests" / "data" / "ae_attendances.csv"
ADMIN = Scope.admin("tester")


@pytest.fixture
def ae(db):
    raw = pd.read_csv(DATA, dtype={"type": str})
    type1 = raw[raw["type"] == "1"]
    repo.create_challenge(db, ADMIN, title="A&E four-hour standard", question="Q?",
                          aim="95% within four hours", start_date="2016-04-01",
                          end_date="2019-03-31")
    for code in sorted(type1["org_code"].unique()):
        repo.add_organisation(db, ADMIN, name=f"Trust {code}", kind="nhs_trust")
    repo.add_measure(db, ADMIN, code="AE4H", name="A&E within 4 hours (type 1)",
                     measure_type="outcome", definition="Attendances seen within 4 hours",
                     numerator="Attendances minus 4-hour breaches",
                     denominator="Type-1 attendances", unit="proportion",
                     direction="increase", target=0.95, data_kind="proportion",
                     frequency="month")
    upload = pd.DataFrame({
        "organisation": "Trust " + type1["org_code"], "measure": "AE4H",
        "period": type1["period"], "value": "",
        "numerator": type1["attendances"] - type1["breaches"],
        "denominator": type1["attendances"], "note": ""})
    report = ingest.commit(db, upload.to_csv(index=False).encode(), "ae.csv", ADMIN)
    assert report.ok, [str(e) for e in report.errors[:5]]
    return {"db": db, "rows": len(type1), "trusts": type1["org_code"].nunique()}


def test_real_ae_data_through_upload_summary_and_funnel(ae):
    db = ae["db"]
    assert len(observations.load_results(db, ADMIN)) == ae["rows"]
    table = summary.summary_table(db, ADMIN)
    assert len(table) == ae["trusts"]
    assert set(table["assurance"]) >= {"Consistently fails the target"}
    measure_id = int(repo.list_measures(db)["id"].iloc[0])
    totals = observations.proportion_totals(db, ADMIN, measure_id)
    points, limits = charts.funnel_frame(totals)
    assert len(points) == ae["trusts"] and (limits["upper998"] <= 1).all()
    assert (points["position"] != "Within limits").any()  # real trusts do differ
    series = observations.load_results(db, ADMIN, measure_id=measure_id).groupby("organisation_id")
    longest = max((group for _, group in series), key=len)  # real data: some trusts are partial
    frame = charts.outcome_frame(longest, "proportion", improvement="increase")
    assert len(frame) == 36 and frame["upper"].max() <= 1
    chart = charts.spc_chart(frame, title="A&E", unit="proportion", target=0.95, percent=True)
    assert "Target 95%" in str(chart.to_dict())
