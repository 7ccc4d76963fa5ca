"""Moving a lab from its embedded file onto PostgreSQL: `python -m tracker migrate-to URL`.

The target must be an empty PostgreSQL database (the tracker's migrations are applied to it
first, by the same runner the app uses). Every table of the file is copied with its ids, in
the order its foreign keys need, in one transaction: either the whole lab arrives or nothing
does. The sequences then continue after the highest id each table holds (and after every id
the file ever handed out), so new rows never reuse an old number. Last, every table is read
back from PostgreSQL and compared with the file, row by row; the command says which table
differs if one ever does (and the lab stays on its file, which the move never changes).
"""

from __future__ import annotations

import graphlib
import itertools
import re
from dataclasses import dataclass, field

from tracker.errors import InputError

BLOCK = 5_000  # rows read from the file at a time


@dataclass
class Moved:
    url: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _file_tables(source) -> list[str]:
    return list(source.read(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' "
        "ORDER BY table_name")["table_name"])


def _columns(source, table: str) -> list[str]:
    return list(source.read(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = ? ORDER BY ordinal_position", [table])["column_name"])


def _versions(database) -> list[int]:
    return sorted(int(v) for v in database.read(
        "SELECT version FROM schema_migrations")["version"])


def _in_key_order(target, tables: list[str]) -> list[str]:
    """The tables, each after every table its foreign keys point to."""
    edges = target.read(
        "SELECT cl.relname AS child, pa.relname AS parent FROM pg_constraint c "
        "JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pa ON pa.oid = c.confrelid "
        "WHERE c.contype = 'f'")
    graph = {t: set() for t in tables}
    for child, parent in zip(edges["child"], edges["parent"], strict=True):
        if child in graph and parent in graph and child != parent:
            graph[child].add(parent)
    return list(graphlib.TopologicalSorter(graph).static_order())


def _rows(source, table: str, columns: list[str]):
    names = ", ".join(f'"{c}"' for c in columns)
    with source.cursor() as cur:
        cur.execute(f'SELECT {names} FROM "{table}"')
        while block := cur.fetchmany(BLOCK):
            yield from block


def _ordered(database, table: str, columns: list[str]):
    """Every row of `table`, by its id (a table without one: sorted here, as it is small)."""
    names = ", ".join(f'"{c}"' for c in columns)
    with database.cursor() as cur:
        if "id" in columns:
            cur.execute(f'SELECT {names} FROM "{table}" ORDER BY id')
            while block := cur.fetchmany(BLOCK):
                yield from (tuple(row) for row in block)
        else:
            yield from sorted((tuple(row) for row in
                               cur.execute(f'SELECT {names} FROM "{table}"').fetchall()),
                              key=repr)


def _identical(source, target, table: str, columns: list[str]) -> bool:
    """Whether the table holds the same rows on both sides (read in step, a block at a time,
    so a lab of millions of results is compared without holding it all)."""
    missing = object()
    return all(a == b for a, b in itertools.zip_longest(
        _ordered(source, table, columns), _ordered(target, table, columns), fillvalue=missing))


def _sequences(source) -> dict[str, int]:
    """Each of the file's sequences and the last number it handed out."""
    with source.cursor() as cur:
        found = cur.execute("SELECT sequence_name, last_value FROM duckdb_sequences() "
                            "WHERE last_value IS NOT NULL").fetchall()
    return {str(name): int(value) for name, value in found}


def _id_sequences(target) -> dict[tuple[str, str], str]:
    """(table, column) -> the sequence its default draws from, on the target."""
    found = target.read(
        "SELECT table_name, column_name, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'")
    out = {}
    for table, column, default in zip(found["table_name"], found["column_name"],
                                      found["column_default"], strict=True):
        m = re.match(r"nextval\('([^']+)'", default)
        if m:
            out[(table, column)] = m.group(1).strip('"')
    return out


def migrate_to(source, url: str, progress=None) -> Moved:
    """Copy the lab in `source` (an open embedded Database) into the empty PostgreSQL
    database at `url`, check it, and say what moved."""
    from tracker.storage.pg import PostgresDatabase, redacted

    say = progress or (lambda text: None)
    shown = redacted(url)
    tables = _file_tables(source)
    target = PostgresDatabase(url)  # applies the migrations to an empty database
    try:
        if _versions(target) != _versions(source):
            raise InputError(
                f"The PostgreSQL database at {shown} has migrations {_versions(target)} and the "
                f"file {source.path} has {_versions(source)}; they must match. Run this "
                "command with the same version of the tracker that the file was last opened "
                "with. Nothing was changed.")
        present = set(target.read(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )["table_name"])
        missing = [t for t in tables if t not in present]
        if missing:
            raise InputError(f"The PostgreSQL database lacks the tables {', '.join(missing)}"
                             ". Nothing was changed.")
        holding = {t: n for t in tables
                   if (n := int(target.scalar(f'SELECT count(*) FROM "{t}"')))}
        if holding:
            listed = ", ".join(f"{t} ({n:,} rows)" for t, n in sorted(holding.items()))
            raise InputError(
                f"The PostgreSQL database at {shown} already holds data: {listed}. The move "
                "fills an empty database only, so that no lab's data is ever mixed with "
                "another's: create a new database (createdb) and name it instead. Nothing was "
                "changed.")
        moved = Moved(shown)
        with target.transaction() as cur:
            for table in _in_key_order(target, tables):
                columns = _columns(source, table)
                moved.rows[table] = cur.copy_rows(table, columns, _rows(source, table, columns))
                say(f"{table}: {moved.rows[table]:,} row" + ("" if moved.rows[table] == 1 else "s"))
            last = _sequences(source)
            for (table, column), sequence in _id_sequences(target).items():
                highest = cur.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()[0]
                value = max(int(highest or 0), last.get(sequence, 0))
                if value > 0:
                    cur.execute("SELECT setval(?, ?)", [sequence, value])
        differ = [t for t in tables if not _identical(source, target, t, _columns(source, t))]
        if differ:
            raise InputError(
                f"After the copy, these tables differ between the file and PostgreSQL: "
                f"{', '.join(differ)}. Keep using the file (it was not changed); empty the "
                "PostgreSQL database and report this.")
        return moved
    finally:
        target.close()
