"""The data layer for the challenge, its driver diagram, change ideas, organisations,
measures and PDSA cycles. Results live in `observations`, uploads in
`tracker.intake.ingest`; the shared write helpers (checks, audit) in `tracker.storage.store`.

One module per entity (`challenges`, `ideas` with the drivers, `organisations`, `measures`,
`cycles`, `state`); callers reach them all through this module, `repo`.

Reads return DataFrames. Writes check their input first and raise `InputError` with every
problem in plain words (nothing is written then); otherwise they run in one transaction and
add a row to the append-only audit log, which no function here updates or deletes.
"""

from __future__ import annotations

from tracker.errors import InputError, PermissionDenied  # noqa: F401 - re-exported
from tracker.records.challenges import (  # noqa: F401 - the data layer's calls
    add_phase,
    challenge_progress,
    challenge_span,
    create_challenge,
    default_challenge_id,
    delete_phase,
    get_challenge,
    list_challenges,
    list_phases,
    set_disclosure_threshold,
    update_challenge,
)
from tracker.records.cycles import (  # noqa: F401 - the data layer's calls
    DUPLICATE_PLAN_MINUTES,
    get_cycle,
    list_cycles,
    plan_cycle,
    record_act,
    record_do,
    record_study,
)
from tracker.records.ideas import (  # noqa: F401 - the data layer's calls
    add_driver,
    add_idea,
    list_driver_links,
    list_drivers,
    list_idea_links,
    list_ideas,
    set_driver_retired,
    update_driver,
    update_idea,
)
from tracker.records.measures import (  # noqa: F401 - the data layer's calls
    add_measure,
    list_measures,
    set_measure_retired,
    update_measure,
)
from tracker.records.organisations import (  # noqa: F401 - the data layer's calls
    add_organisation,
    list_organisations,
    set_organisation_retired,
    update_organisation,
)
from tracker.records.state import (  # noqa: F401 - the data layer's calls
    data_version,
    is_empty,
    list_audit,
)
from tracker.storage.store import (  # noqa: F401 - the helpers other modules reach through repo
    MAX_LONG,
    MAX_SHORT,
    _audit,
    _Checks,
    _ids,
    _insert,
    _norm,
    _row,
    _unique_name,
    _update,
)
