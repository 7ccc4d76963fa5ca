"""Rules for text that people type or upload: names, notes, headers.

- Names (organisations, measures, drivers, ideas, accounts) are normalised to NFKC (so a
  full-width "Ｐeer" becomes "Peer") and may not hold invisible characters: controls,
  zero-width characters, direction overrides and isolates (Unicode categories Cc and Cf).
- Two names are the same name when their *confusable keys* are equal: NFKC, case folded,
  then each character outside ASCII mapped by the Unicode confusables data (via the
  `confusable_homoglyphs` package) to one representative of the characters it can be
  mistaken for, spaces collapsed. "Peer Pathwаys" with a Cyrillic "а" has the key of "Peer
  Pathways"; ASCII characters keep their identity, so "Trust RJ1" and "Trust RJL" (two NHS
  organisation codes) stay two names.
- Longer text (notes, objectives, syntheses) may hold line breaks and tabs but no other
  control character and no direction override (the "Trojan Source" trick that shows text in
  another order than it is stored).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from importlib import resources

# Controls other than tab, line feed and carriage return; DEL; bidi embeddings, overrides
# and isolates. One pattern for Python, the same class in RE2 syntax for DuckDB.
_BIDI = "\u202a-\u202e\u2066-\u2069"
CONTROL = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f{_BIDI}]")
CONTROL_CLASS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x{202A}-\x{202E}\x{2066}-\x{2069}]"


def has_control(text: str) -> bool:
    return bool(CONTROL.search(text))


def invisible(text: str) -> list[str]:
    """The invisible characters in a name, as U+XXXX with their Unicode names."""
    found = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp"):
            label = f"U+{ord(ch):04X}"
            name = unicodedata.name(ch, "")
            found.append(f"{label} {name.lower()}" if name else label)
    return found


def normalise_name(text: str) -> str:
    """NFKC, and runs of white space as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


@functools.cache
def _representatives() -> dict[str, str]:
    """Each confusable character → the character every member of its group maps to (an
    ASCII one when the group has one, else the smallest)."""
    raw = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json")
                     .read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for char, glyphs in raw.items():
        group = [char] + [g["c"].strip("\u200e") for g in glyphs]
        group = [g for g in group if len(g) == 1]
        if len(char) != 1 or not group:
            continue
        ascii_ = sorted(g for g in group if g.isascii())
        out[char] = ascii_[0] if ascii_ else min(group)
    return out


def name_key(text: str) -> str:
    """The key two names are compared by: NFKC, case folded, confusables mapped to one
    representative, spaces collapsed. Not for showing: only for comparing."""
    reps = _representatives()
    base = normalise_name(str(text)).casefold()
    # Only characters outside ASCII are mapped: "Trust RJ1" and "Trust RJL" (NHS codes) stay
    # two names, while a Cyrillic "а" standing in for a Latin "a" does not make a new one.
    return "".join(ch if ch.isascii() else reps.get(ch, ch) for ch in base).casefold()


# Every ASCII punctuation character may be backslash-escaped in CommonMark, which then shows
# it as itself. Escaping all of them turns links, images, emphasis, headings, HTML, LaTeX and
# Streamlit's :colour[...] directives into plain characters.
_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
# GFM also turns bare addresses into links *after* parsing, in the text itself, where
# escapes are gone (http://..., www...., name@host.tld). An invisible WORD JOINER (U+2060)
# placed inside each such pattern stops it matching and changes nothing a reader sees.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto)(?=:)|(www)(?=\.)|(@)(?=[\w-])")
WORD_JOINER = "\u2060"


def escape_markdown(text) -> str:
    """User text made safe to place inside markdown: every punctuation mark escaped, bare
    addresses kept from becoming links, line breaks kept as line breaks. What it shows is
    exactly the text."""
    if text is None:
        return ""
    joined = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, str(text))
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", joined)
    return escaped.replace("\r\n", "\n").replace("\n", "  \n")


_MARKDOWN_MARKUP = re.compile(r"([\\`*_{}\[\]<>#|!~])")


def markdown_text(text) -> str:
    """User text for a markdown file people read as plain text too (the digest): only the
    characters that make markup are escaped, addresses are kept from becoming links, and
    line breaks become spaces, so a note cannot start a heading, a list or a link."""
    if text is None:
        return ""
    joined = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, str(text))
    return " ".join(_MARKDOWN_MARKUP.sub(r"\\\1", joined).split())


def shown(value) -> str | None:
    """A stored or withheld text as something to show: the text, or None where there is
    none (NULL, NaN from a table of text, a withheld passage, blank)."""
    return value if isinstance(value, str) and value.strip() else None


def day_written(text: str):
    """A day written YYYY-MM-DD or DD/MM/YYYY (what a list the lab imports may hold), as a
    date; None for anything else."""
    import datetime as dt

    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text[:10], pattern).date()
        except ValueError:
            continue
    return None


def no_such_day(text: str) -> str | None:
    """For a text written as a date (YYYY-MM-DD or DD/MM/YYYY) whose day does not exist
    (31/02/2026), a sentence saying so; None for anything else."""
    import calendar
    import re

    found = re.fullmatch(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*", str(text)) or \
        re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", str(text))
    if found is None:
        return None
    parts = [int(p) for p in found.groups()]
    year, month, day = parts if len(found.group(1)) == 4 else parts[::-1]
    if not 1 <= month <= 12:
        return f"there is no month {month}: months run from 1 to 12."
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return (f"{calendar.month_name[month]} {year} has no day {day} (it has {last} days): "
                "check the day and the month.")
    return None
