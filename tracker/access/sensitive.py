"""Finding, in text that leaves the lab, what may not be named there: organisations and people
by name, and any e-mail address or UK phone number, through disguise.

Text is compared on a folded form, never as typed:
- NFKC (a full-width "＠" is "@", a no-break space a space), accents dropped, case folded;
- invisible and soft characters removed (zero-width spaces and joiners, soft hyphens, the
  byte-order mark: every format character), so "Hill\\u200bview" is "hillview";
- look-alike characters folded to one skeleton (a Cyrillic "е" is a Latin "e"), with the
  confusables table `tracker.text.name_key` uses;
- possessives dropped ("Hillview's", "Hillview’s");
- any run of spaces, tabs, line breaks, hyphens, underscores and other punctuation read as one
  space, so a name is a run of words: "Hillview\\nSurgery", "S. Kowalski", "sarah  kowalski".

A name is found as whole words: an organisation's full name (without a suffix such as
"(demo)") and each of its distinctive words ("Hillview" of "Hillview Surgery"; not "Surgery");
a person's full name, initial and surname ("S Kowalski"), and surname ("Dr Kowalski").
E-mail addresses are found after undoing the usual obfuscations (" @ ", "(at)", "[at]",
"[dot]", "mailto:"), whoever's they are; so are UK phone numbers.

It only finds. `tracker.access.disclosure` decides what a reader may read and says what was
withheld.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from tracker.text import _representatives

# Words too common to identify an organisation or a person on their own: kinds of
# organisation, places' generic words, and the words of this domain.
GENERIC = frozenset({
    "a", "alliance", "an", "and", "arthritis", "association", "associations", "asthma", "at",
    "authority", "board", "borough", "by", "cancer", "care", "carer", "carers", "center",
    "central", "centre", "centres", "charities", "charity", "cic", "city", "clinic", "clinics",
    "collective", "communities", "community", "condition", "conditions", "copd", "council",
    "county", "court", "dementia", "demo", "diabetes", "district", "east", "eastern",
    "experience", "families", "family", "for", "foundation", "friendly", "friends", "gp",
    "greater", "green", "group", "groups", "health", "healthcare", "heart", "hill", "home",
    "homes", "hospital", "hospitals", "house", "housing", "icb", "in", "integrated", "kidney",
    "lab", "lane", "limited", "lived", "local", "long", "lower", "ltd", "lung", "medical",
    "medicine", "mental", "network", "networks", "new", "nhs", "north", "northern", "of", "old",
    "on", "organisation", "organization", "our", "pain", "park", "partnership", "partnerships",
    "pathway", "pathways", "pcn", "peer", "peers", "people", "place", "practice", "practices",
    "primary", "project", "projects", "recovery", "road", "royal", "saint", "service", "services",
    "society", "south", "southern", "st", "street", "stroke", "support", "supporters",
    "surgeries", "surgery", "teaching", "team", "term", "test", "the", "to", "together", "trust",
    "trustees", "university", "upper", "view", "voice", "voices", "volunteer", "volunteers",
    "way", "ways", "wellbeing", "west", "western", "with", "your"
})
TITLES = frozenset({"dr", "mr", "mrs", "ms", "mx", "miss", "prof", "professor", "rev", "sir", "dame", "cllr"})

_INVISIBLE = {"Cf", "Cc", "Co", "Cn", "Mn", "Me"}  # format, control, private, unassigned, marks
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019\u02bc\u2032\uff07`´]s\b")
_WORD = re.compile(r"[0-9a-z]+")
_SUFFIX = re.compile(r"\s*\([^)]*\)\s*$")

# e-mail obfuscations, undone before looking for an address
_AT = re.compile(r"\s*(?:[\(\[\{<]\s*(?:at|@)\s*[\)\]\}>]|\s@\s|@)\s*")
_SPOKEN_AT = re.compile(r"(?<=[0-9a-z])\s+at\s+(?=[0-9a-z-]+(?:\.[0-9a-z]|\s*[\(\[\{<]?\s*dot\b))")
_DOT = re.compile(r"\s*(?:[\(\[\{<]\s*dot\s*[\)\]\}>]|\s+dot\s+)\s*")
_EMAIL = re.compile(r"[0-9a-z!#$%&'*+/=?^_`{|}~.-]+@[0-9a-z-]+(?:\.[0-9a-z-]+)+")
_SPACED_DOT = re.compile(r"(?<=[0-9a-z-])\s*\.\s*(?=[0-9a-z-])")
# UK phone numbers: 0 or +44 (0), then 9 or 10 more digits in any grouping
_PHONE = re.compile(r"(?<![\d])(?:\+\s*44\s*(?:\(\s*0\s*\)\s*)?|\(?0)[\d\s().-]{8,16}\d(?![\d])")


def fold(text: str) -> str:
    """The text as it is compared: see the module's description. Not for showing."""
    text = unicodedata.normalize("NFKC", str(text))
    text = unicodedata.normalize("NFKD", text)  # accents apart, to drop with the marks
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE)
    reps = _representatives()
    text = "".join(ch if ch.isascii() else reps.get(ch, ch) for ch in text.casefold())
    text = unicodedata.normalize("NFKC", text).casefold()
    return _POSSESSIVE.sub("", text)


def words(text: str) -> list[str]:
    """The folded text as words: every run of other characters is one break."""
    return _WORD.findall(fold(text))


def _starts(said: list[str]) -> dict[str, list[int]]:
    """Where each word of the text stands: a run of words is looked for only where its
    first word is (a text is read against every name a reader may not meet)."""
    at: dict[str, list[int]] = {}
    for i, word in enumerate(said):
        at.setdefault(word, []).append(i)
    return at


def _contains(said: list[str], starts: dict[str, list[int]], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return n > 0 and any(tuple(said[i:i + n]) == needle for i in starts.get(needle[0], ()))


def emails(text: str) -> list[str]:
    """E-mail addresses in the text, obfuscated or not."""
    plain = fold(text).replace("mailto:", " ")
    plain = _SPOKEN_AT.sub("@", plain)
    plain = _SPACED_DOT.sub(".", _DOT.sub(".", _AT.sub("@", plain)))
    return [m.group(0) for m in _EMAIL.finditer(plain)
            if re.search(r"[0-9a-z]@", m.group(0)) and re.search(r"\.[a-z]{2,}$", m.group(0))]


def phones(text: str) -> list[str]:
    """UK phone numbers in the text (10 or 11 digits from a leading 0, or +44 and 9 or 10)."""
    found = []
    for m in _PHONE.finditer(fold(text)):
        digits = re.sub(r"\D", "", m.group(0))
        national = digits[2:] if digits.startswith("44") and m.group(0).lstrip().startswith("+") \
            else digits
        national = national[1:] if national.startswith("0") else national
        if 9 <= len(national) <= 10 and national[0] in "1235789":
            found.append(m.group(0).strip())
    return found


def organisation_forms(name: str) -> list[tuple[str, ...]]:
    """The runs of words that name an organisation: its full name without a suffix such as
    "(demo)", and each distinctive word of it (at least 4 letters, not a generic word)."""
    base = _SUFFIX.sub("", str(name))
    full = tuple(words(base))
    forms = {full} if full else set()
    forms.update((w,) for w in full if len(w) >= 4 and w not in GENERIC and not w.isdigit())
    return sorted(forms)


def person_forms(name: str) -> list[tuple[str, ...]]:
    """The runs of words that name a person: the full name without a suffix such as
    "(demo)", the initial and surname, and the surname (at least 3 letters)."""
    if "@" in str(name):
        return []  # an e-mail address: every one is found, whoever's it is
    parts = words(_SUFFIX.sub("", str(name)))
    while parts and parts[0] in TITLES:
        parts = parts[1:]
    if not parts:
        return []
    forms = {tuple(parts)}
    if len(parts) >= 2:
        surname = parts[-1]
        forms.add((parts[0][0], surname))
        if len(surname) >= 3 and surname not in GENERIC:
            forms.add((surname,))
    return sorted(forms)


@dataclass
class Finder:
    """What one reader may not meet in text: organisations and people by name (each with the
    name to say when it is found), and always any e-mail address or UK phone number."""

    organisations: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._forms: list[tuple[tuple[str, ...], str, str]] = []
        for name in self.organisations:
            self._forms += [(f, name, "organisation") for f in organisation_forms(name)]
        for name in self.people:
            self._forms += [(f, name, "person") for f in person_forms(name)]

    def find(self, text) -> list[tuple[str, str]]:
        """(what, name) for each thing found: ("organisation", "Hillview Surgery (demo)"),
        ("person", ...), ("e-mail address", ...), ("phone number", ...)."""
        if not isinstance(text, str) or not text.strip():
            return []
        found, seen = [], set()
        said = words(text)
        starts = _starts(said)
        for form, name, what in self._forms:
            if name not in seen and _contains(said, starts, form):
                seen.add(name)
                found.append((what, name))
        found += [("e-mail address", e) for e in emails(text)]
        found += [("phone number", p) for p in phones(text)]
        return found
