"""The controlled words of the tracker, with the labels people read."""

ORG_KINDS = {
    "nhs_trust": "NHS trust",
    "gp_practice": "GP practice",
    "charity": "Charity",
    "housing_association": "Housing association",
    "community_group": "Community group",
    "local_authority": "Local authority",
    "other": "Other",
}

MEASURE_TYPES = {
    "outcome": "Outcome (does it help people?)",
    "process": "Process (are the steps working?)",
    "balancing": "Balancing (is anything getting worse elsewhere?)",
}

DIRECTIONS = {
    "increase": "Higher is better",
    "decrease": "Lower is better",
    "neutral": "Neither",
}

DATA_KINDS = {
    "value": "A measured value or count (XmR chart)",
    "proportion": "A proportion: numerator / denominator (p chart)",
    "rate": "A rate per unit of exposure (u chart)",
}

FREQUENCIES = {"week": "Weekly", "month": "Monthly"}

STAGES = {
    "plan": "Plan",
    "do": "Do",
    "study": "Study",
    "act": "Act",
    "done": "Done",
}

DECISIONS = {"adopt": "Adopt", "adapt": "Adapt", "abandon": "Abandon"}

IDEA_STATUSES = {
    "proposed": "Proposed",
    "testing": "Testing",
    "adopted": "Adopted",
    "adapted": "Adapted",
    "abandoned": "Abandoned",
}

DRIVER_LEVELS = {"primary": "Primary driver", "secondary": "Secondary driver"}

# What the measures an idea targets show after its first cycle at an organisation (portfolio).
OUTCOMES = {
    "improved": "Improvement seen",
    "concern": "Concern seen",
    "none": "No signal yet",
    "too_few": "Too few points to tell",
    "untargeted": "No measure targeted",
}
OUTCOME_MARKS = {"improved": "▲", "concern": "▼", "none": "–", "too_few": "…",
                 "untargeted": "?"}


def unit_for(value, unit: str) -> str:
    """The unit as it reads after a number: "1 volunteer", "2 volunteers" (only a plain
    English plural ending in s is made singular; "people", "%" and "days" per 100 stay)."""
    text = str(unit or "")
    if value == 1 and " " not in text and len(text) > 3 and text.endswith("s") and \
            not text.endswith("ss"):
        return text[:-1]
    return text
