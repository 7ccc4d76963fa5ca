"""What is new since a date, for the reader it is for: cycles started, decisions taken,
signals on the charts and the lab team's syntheses. The Overview shows it; the digest writes
the same as HTML or markdown for the lab to e-mail each month.

Scoped like everything else: a partner sees its own organisation's cycles, decisions and
signals, and the syntheses of the ideas it tests; the lab team and viewers see everything.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2
import pandas as pd

from tracker import clock, text, vocab
from tracker.access.scope import Scope
from tracker.analysis import summary
from tracker.errors import InputError
from tracker.learning import learning_record, syntheses
from tracker.records import reader_view, repo
from tracker.storage.db import Database

COLUMNS = ["when", "what", "idea", "organisation", "text"]
WHAT = {"cycle": "Cycle started", "decision": "Decision", "signal": "Signal",
        "synthesis": "Learning written"}


def whats_new(db: Database, scope: Scope, since: dt.date,
              view: reader_view.ReaderView | None = None,
              points: pd.DataFrame | None = None) -> pd.DataFrame:
    """Events since `since` (inclusive), newest first, every text as this reader may read it
    (`view`, built here unless given). `points` is `signal_points` for this reader, if kept
    from before: it does not depend on the date, and computing it charts every series."""
    challenge = repo.get_challenge(db, scope.challenge_id)
    if challenge is None:
        return pd.DataFrame(columns=COLUMNS)
    since_ts = pd.Timestamp(since)
    view = view or learning_record.reader_texts(db, scope, challenge)
    reader = view.audience
    cycles = reader_view.readable_cycles(db, view, repo.list_cycles(db, scope, challenge["id"]))
    rows = []
    for c in cycles[pd.to_datetime(cycles["start_date"]) >= since_ts].itertuples():
        rows.append((c.start_date, "cycle", c.idea, c.organisation,
                     f"Cycle {c.cycle_no} of '{c.idea}' started at {c.organisation}"
                     + (f" ({c.scale})." if isinstance(c.scale, str) and c.scale else ".")))
    decided = cycles[cycles["decision"].notna()
                     & (pd.to_datetime(cycles["end_date"]) >= since_ts)]
    for c in decided.itertuples():
        words = vocab.DECISIONS.get(c.decision, c.decision)
        rows.append((c.end_date, "decision", c.idea, c.organisation,
                     f"{c.organisation} decided to {words.lower()} '{c.idea}' after cycle "
                     f"{c.cycle_no}"
                     + (f": {c.next_steps}" if isinstance(c.next_steps, str) else ".")))
    rows += _signals(db, scope, since_ts, view.measures.set_index("id")["name"],
                     signal_points(db, scope) if points is None else points)
    readable = learning_record.ideas_for(db, scope, challenge["id"], view.ideas)
    written = syntheses.syntheses(db, readable["id"].tolist())
    titles = view.ideas.set_index("id")["title"]
    for s in written[pd.to_datetime(written["written_at"]) >= since_ts].itertuples():
        key = reader.passage(s.key_learning, f"The key learning of '{titles[s.idea_id]}'")
        rows.append((pd.Timestamp(s.written_at).date(), "synthesis", titles[s.idea_id], "",
                     f"The lab team wrote up '{titles[s.idea_id]}': "
                     f"{syntheses.RECOMMENDATIONS[s.recommendation].lower()}."
                     + (f" {key}" if key else "")))
    out = pd.DataFrame(rows, columns=["when", "kind", "idea", "organisation", "text"])
    out["when"] = pd.to_datetime(out["when"]).dt.date
    out["what"] = out["kind"].map(WHAT)
    order = {"synthesis": 0, "decision": 1, "signal": 2, "cycle": 3}
    out["order"] = out["kind"].map(order)
    out = out.sort_values(["when", "order"], ascending=[False, True])
    return out[COLUMNS].reset_index(drop=True)


SIGNAL_COLUMNS = ["organisation_id", "measure_id", "period", "point_type"]


def signal_points(db: Database, scope: Scope) -> pd.DataFrame:
    """Every special cause point (improvement or concern, not on trial limits) of the series
    this reader may see, whatever the date: what `whats_new` looks through for the signals
    since a date. The app keeps it per reader and change of the data, so that a sign-in, whose
    date is the person's last visit, does not chart every series again."""
    values, attributes = summary.charted_series(db, scope)
    keep = [*SIGNAL_COLUMNS, "trial"]
    frames = [f[keep] for f in (values, attributes) if not f.empty]
    if not frames:
        return pd.DataFrame(columns=SIGNAL_COLUMNS)
    charted = pd.concat(frames, ignore_index=True)
    charted = charted[charted["point_type"].isin(["improvement", "concern"])
                      & ~charted["trial"].astype(bool)]
    return charted[SIGNAL_COLUMNS].reset_index(drop=True)


def _signals(db: Database, scope: Scope, since: pd.Timestamp, measures: pd.Series,
             points: pd.DataFrame) -> list[tuple]:
    """One row per series with special cause points since the date: the first such point."""
    charted = points[pd.to_datetime(points["period"]) >= since]
    if charted.empty:
        return []
    found = charted.sort_values("period").groupby(
        ["organisation_id", "measure_id", "point_type"], as_index=False).agg(
        period=("period", "last"), points=("period", "size"))
    orgs = repo.list_organisations(db, scope).set_index("id")["name"]
    rows = []
    for s in found.itertuples():
        org = orgs.get(s.organisation_id, "")
        kind = "improvement" if s.point_type == "improvement" else "concern"
        rows.append((pd.Timestamp(s.period).date(), "signal", "", org,
                     f"{measures.get(s.measure_id, '')} at {org}: special cause {kind} at "
                     f"{s.points} point{'s' if s.points != 1 else ''} since "
                     f"{since:%d %b %Y}, the latest in the week of "
                     f"{pd.Timestamp(s.period):%d %b %Y}."))
    return rows


# --------------------------------------------------------------------------- the digest

_TEMPLATE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{ title }}</title>
<style>body{font-family:Arial,Helvetica,sans-serif;color:#212b32;max-width:900px;margin:2em auto;
line-height:1.45} h1{color:#003087} h2{color:#005eb8;margin-top:1.5em}
li{margin:.3em 0} .muted{color:#4c6272}</style></head><body>
<h1>{{ title }}</h1><p class="muted">{{ subtitle }}</p>
{% if not sections %}<p>Nothing new since {{ since }}.</p>{% endif %}
{% for heading, items in sections %}<h2>{{ heading }}</h2><ul>
{% for item in items %}<li><strong>{{ item.when }}</strong>: {{ item.text }}</li>{% endfor %}
</ul>{% endfor %}</body></html>""")


def digest(db: Database, scope: Scope, since: dt.date, out: Path) -> Path:
    """What's new since the date, for this reader, as .html or .md."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".md"):
        raise InputError(f"The digest is written as .html or .md, not "
                         f"'{out.suffix or 'no extension'}'.")
    if since > clock.today():
        raise InputError(f"--since {since:%Y-%m-%d} is in the future; give a past date.")
    challenge = repo.get_challenge(db, scope.challenge_id)
    if challenge is None:
        raise InputError("There is no challenge yet, so there is nothing new.")
    view = learning_record.reader_texts(db, scope, challenge)
    events = whats_new(db, scope, since, view)
    title = f"What's new since {since:%d %B %Y}: {view.challenge['title']}"
    for_whom = scope.organisation if scope.is_partner else "the lab team"
    subtitle = f"For {for_whom}. Made on {clock.today():%d %B %Y} by the improvement lab tracker."
    sections = []
    for kind, heading in (("Learning written", "Learning written up"),
                          ("Decision", "Decisions"), ("Signal", "Signals on the charts"),
                          ("Cycle started", "Cycles started")):
        items = events[events["what"] == kind]
        if len(items):
            sections.append((heading, [{"when": f"{w:%d %b %Y}", "text": t}
                                       for w, t in zip(items["when"], items["text"],
                                                       strict=True)]))
    if suffix == ".html":
        out.write_text(_TEMPLATE.render(title=title, subtitle=subtitle, sections=sections,
                                        since=f"{since:%d %B %Y}"), encoding="utf-8")
        return out
    lines = [f"# {text.markdown_text(title)}", "", text.markdown_text(subtitle), ""]
    if not sections:
        lines.append(f"Nothing new since {since:%d %B %Y}.")
    for heading, items in sections:
        lines += [f"## {heading}", ""]
        lines += [f"- **{i['when']}**: {text.markdown_text(i['text'])}" for i in items]
        lines.append("")
    out.write_text("\n".join(lines), encoding="utf-8")
    return out
