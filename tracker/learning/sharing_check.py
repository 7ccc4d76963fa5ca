"""Tell the writer: when a lab admin or a partner saves text that some readers will not see,
say which readers and why, at the moment of saving ("names Hillview Surgery, which has not
agreed to be named to partners"). The text is saved all the same: the lab team reads
everything; what leaves the lab is decided when each output is built (`disclosure`), and this
only says beforehand what that will be.
"""

from __future__ import annotations

from tracker.access import sensitive
from tracker.records import reader_view
from tracker.storage.db import Database

READERS = ("viewers", "partners", "the public")


def warnings(db: Database, texts: dict[str, str | None]) -> list[str]:
    """One sentence per text (keyed by its label, "Key learning") that some readers will not
    see, saying who and why; none when every reader may read it."""
    texts = {label: t for label, t in texts.items() if isinstance(t, str) and t.strip()}
    if not texts:
        return []
    consents = reader_view.consents(db)
    people = reader_view.people_not_to_name(db)
    not_to_partners = consents.loc[~consents["named_to_partners"].astype(bool), "name"].tolist()
    not_in_public = consents.loc[~consents["named_in_public"].astype(bool), "name"].tolist()
    finders = {"viewers": sensitive.Finder([], people),
               "partners": sensitive.Finder(not_to_partners, people),
               "the public": sensitive.Finder(not_in_public, people)}
    out = []
    for label, text in texts.items():
        found = {reader: finder.find(text) for reader, finder in finders.items()}
        readers = [r for r in READERS if found[r]]
        if not readers:
            continue
        reasons = []
        for what, name in dict.fromkeys(found["the public"]):
            if what == "organisation":
                to = "to partners or in public" if name in not_to_partners else "in public"
                reasons.append(f"names {name}, which has not agreed to be named {to}")
            elif what == "person":
                reasons.append(f"names {name}, who has not agreed to be named in shared "
                               "learning" if "@" not in name else "holds an e-mail address")
            elif what == "e-mail address":
                reasons.append("holds an e-mail address")
            else:
                reasons.append("holds a phone number")
        reasons = list(dict.fromkeys(reasons))
        who = readers[0] if len(readers) == 1 else \
            ", ".join(readers[:-1]) + " and " + readers[-1]
        out.append(f"{label} {'; '.join(reasons)}: {who} will not see it. It is saved, and "
                   "the lab team reads it; edit it if it is meant to be shared.")
    return out
