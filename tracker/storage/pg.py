"""PostgreSQL, the second engine (docs/postgresql.md): `TRACKER_DB=postgresql://...`
(tracker.storage.engines.open_database).

The data layer is written in SQL both engines read. This module lets the same SQL run on
PostgreSQL through psycopg 3, by a documented translation rather than a second copy:

Queries (`translate_query`):
- `?` placeholders become `%s`; `$name` placeholders become `%(name)s`; a literal `%` becomes
  `%%` (psycopg reads every `%` of a query that has parameters);
- nothing else: DuckDB-only syntax (`GROUP BY ALL`, `QUALIFY`) is left only in an upload's
  staging queries (tracker.intake.ingest), which always run in DuckDB (in memory, on PostgreSQL).

Migrations (`translate_migration`), applied to each numbered file before it runs:
- `DOUBLE` becomes `DOUBLE PRECISION`; `BLOB` (an attachment's content) becomes `BYTEA`;
- `day(x)` becomes `EXTRACT(DAY FROM x)`;
- the `current_result` view's `QUALIFY row_number() ... = 1` becomes `DISTINCT ON`;
- a line that begins `-- postgresql: ` is a statement for PostgreSQL only (the unique indexes
  of 0009): DuckDB reads it as a comment, this runs it.
"""

from __future__ import annotations

import datetime as dt
import re

_CURRENT_RESULT = re.compile(
    r"SELECT r\.\*\s+FROM result r\s+JOIN upload_batch b ON b\.id = r\.batch_id\s+"
    r"WHERE b\.undone_at IS NULL\s+QUALIFY row_number\(\) OVER \(PARTITION BY "
    r"r\.organisation_id, r\.measure_id, r\.period\s+ORDER BY r\.id DESC\) = 1;")
_CURRENT_RESULT_PG = (
    "SELECT DISTINCT ON (r.organisation_id, r.measure_id, r.period) r.*\n"
    "FROM result r JOIN upload_batch b ON b.id = r.batch_id WHERE b.undone_at IS NULL\n"
    "ORDER BY r.organisation_id, r.measure_id, r.period, r.id DESC;")


def redacted(url: str) -> str:
    """A PostgreSQL address fit to print: any password in it replaced by ***."""
    url = re.sub(r"(://[^:/@?]*:)[^@/?]*@", r"\1***@", str(url))
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def translate_migration(sql: str) -> str:
    """A migration in DuckDB's dialect, as PostgreSQL reads it (the rules above)."""
    sql = re.sub(r"^-- postgresql: ", "", sql, flags=re.MULTILINE)
    sql = re.sub(r"\bDOUBLE\b(?! PRECISION)", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
    sql = _CURRENT_RESULT.sub(_CURRENT_RESULT_PG, sql)
    return re.sub(r"\bday\((\w+)\)", r"EXTRACT(DAY FROM \1)", sql)


def translate_query(sql: str) -> str:
    """A query with DuckDB's placeholders, as psycopg reads it. Quoted text is kept as it is
    (but for `%`), so a `?` inside a string literal stays a question mark."""
    out, i, n = [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # an escaped quote
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i:end + 1].replace("%", "%%"))
            i = end + 1
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "$" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            m = re.match(r"\$([A-Za-z_]\w*)", sql[i:])
            out.append(f"%({m.group(1)})s")
            i += len(m.group(0))
        elif ch == "%":
            out.append("%%")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------- the engine

import contextlib  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pandas as pd  # noqa: E402

from tracker.errors import ConcurrentChange  # noqa: E402


class Cursor:
    """DuckDB's cursor calls the data layer makes, on a psycopg connection."""

    def __init__(self, connection):
        self._connection = connection
        self._cursor = connection.cursor()

    def execute(self, sql: str, params=None):
        query = translate_query(sql)
        if params is not None and not isinstance(params, dict):
            params = list(params)
        stripped = sql.strip().upper()
        if stripped in ("BEGIN TRANSACTION", "BEGIN"):
            self._cursor.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
            return self
        self._cursor.execute(query, params or None)
        return self

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self):
        return self._cursor.fetchall()

    def fetchmany(self, size: int):
        return self._cursor.fetchmany(size)

    @property
    def description(self):
        return self._cursor.description

    def df(self) -> pd.DataFrame:
        """As DuckDB's df(): dates and timestamps as datetime64 columns."""
        columns = [d.name for d in self._cursor.description or []]
        frame = pd.DataFrame(self._cursor.fetchall(), columns=columns)
        for col in frame.columns:
            sample = frame[col].dropna()
            if len(sample) and isinstance(sample.iloc[0], (dt.date, dt.datetime)):
                frame[col] = pd.to_datetime(frame[col])
        return frame

    def close(self) -> None:
        self._cursor.close()

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """DuckDB reads a DataFrame as a table by its name; here it is copied into a temporary
        table of this connection with COPY (fast, one round trip per block of rows)."""
        columns = ", ".join(f'"{col}" {_pg_type(frame[col])}' for col in frame.columns)
        self._cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
        self._cursor.execute(f'CREATE TEMP TABLE "{name}" ({columns})')
        self.copy_rows(name, list(frame.columns),
                       ([None if _missing(v) else v for v in row]
                        for row in frame.itertuples(index=False, name=None)))

    def copy_rows(self, table: str, columns: list[str], rows) -> int:
        """COPY the rows (sequences of values in the order of `columns`) into `table`;
        how many went in. Names are the tracker's own, never user input."""
        names = ", ".join(f'"{col}"' for col in columns)
        count = 0
        with self._cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def unregister(self, name: str) -> None:
        """Drop the table `register` made. In a transaction that has already failed (a lost
        serialization race) there is nothing to do: the rollback drops it, and trying would
        hide the failure behind "current transaction is aborted"."""
        from psycopg.pq import TransactionStatus

        if self._connection.info.transaction_status == TransactionStatus.INERROR:
            return
        self._cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def _missing(value) -> bool:
    try:
        return value is None or value is pd.NA or value is pd.NaT or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _pg_type(column: pd.Series) -> str:
    kind = column.dtype.kind
    if kind == "b":
        return "BOOLEAN"
    if kind in "iu":
        return "BIGINT"
    if kind == "f":
        return "DOUBLE PRECISION"
    if kind == "M":
        return "TIMESTAMP"
    sample = column.dropna()
    if len(sample) and all(type(v).__name__ == "date" for v in sample.head(50)):
        return "DATE"
    return "TEXT"


def _configure(connection) -> None:
    """Answer as DuckDB does: JSON columns as their text (the audit log's before/after)."""
    from psycopg.types.json import set_json_loads

    set_json_loads(lambda data: data if isinstance(data, str) else data.decode("utf-8"),
                   connection)


RACE = ("Someone else was changing the same records at the same moment, so nothing was "
        "saved. Please try again.")

# The unique indexes of migration 0009, by what a person calls the name they guard.
UNIQUE_NAMES = {
    "organisation_name_unique": "An organisation with that name",
    "measure_code_unique": "A measure with that short code",
    "measure_name_unique": "A measure with that name",
    "idea_title_unique": "A change idea with that title",
    "driver_name_unique": "A driver with that name",
    "account_username_unique": "An account with that username",
    "account_email_unique": "An account with that e-mail address",
}


def pool_size() -> int:
    """Connections each app server (or command line) may hold: TRACKER_PG_POOL, default 20.
    A write waiting for its turn holds one, so a server needs room for its waiting uploads
    and for the pages and sign-ins beside them; 3 servers × 20 stay within PostgreSQL's
    default of 100 connections."""
    try:
        return max(4, int(os.environ.get("TRACKER_PG_POOL", "20")))
    except ValueError:
        return 20


class PostgresDatabase:
    """The `Database` interface on PostgreSQL: a connection per unit of work from a pool,
    autocommit outside explicit transactions, uniqueness by the database's constraints."""

    engine = "postgresql"

    def __init__(self, url: str):
        import psycopg
        from psycopg_pool import ConnectionPool

        self.url = url
        self.path = redacted(url)  # shown in messages; not a file
        self._psycopg = psycopg
        try:  # a server that is not there is said at once, in words, not after a pool wait
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            from tracker.storage.base import DatabaseError

            detail = " ".join(line.strip() for line in str(exc).splitlines()) or "no answer"
            raise DatabaseError(f"Cannot reach the PostgreSQL database at {self.path}: "
                                f"{detail}") from None
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size(), open=True,
                                    kwargs={"autocommit": True}, configure=_configure)
        self.daily_backups = None
        self._held = threading.local()  # the write locks this thread holds (_write_lock)
        with self._pool.connection() as connection:
            migrate(connection)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Cursor]:
        with self._pool.connection() as connection:
            cur = Cursor(connection)
            try:
                yield cur
            finally:
                cur.close()

    def read(self, sql: str, params=None) -> pd.DataFrame:
        with self.cursor() as cur:
            return cur.execute(sql, params).df()

    def scalar(self, sql: str, params=None):
        with self.cursor() as cur:
            row = cur.execute(sql, params).fetchone()
            return None if row is None else row[0]

    @contextlib.contextmanager
    def transaction(self, cursor: Cursor | None = None, *, lock: str = "data"):
        """One SERIALIZABLE transaction: commits at the end of the block, rolls back on any
        exception; a lost race or a clash at a unique index becomes ConcurrentChange.

        It first takes its write lock ("data" or "accounts", as on the embedded file), but
        held in PostgreSQL (an advisory lock), so it spans every app server and command line
        on the database: the tracker's own writes of one kind take turns instead of aborting
        one another under load, and a sign-in ("accounts") never waits behind an upload
        ("data"). The lock is taken before BEGIN, so the transaction's snapshot sees the
        previous holder's work. Correctness does not rest on it: SERIALIZABLE and the
        database's constraints hold against any other writer."""
        from tracker.storage.base import explicit

        try:
            with contextlib.ExitStack() as stack:
                cur = cursor if cursor is not None else stack.enter_context(self.cursor())
                stack.enter_context(self._write_lock(cur, lock))
                with explicit(cur):
                    yield cur
        except (self._psycopg.errors.SerializationFailure,
                self._psycopg.errors.DeadlockDetected) as exc:
            raise ConcurrentChange(RACE) from exc
        except self._psycopg.errors.UniqueViolation as exc:
            label = UNIQUE_NAMES.get(getattr(exc.diag, "constraint_name", None) or "")
            if label is None:
                raise
            raise ConcurrentChange(
                f"{label} was saved by someone else at the same moment, so nothing was saved. "
                "Reload the page to see theirs, or choose another.") from exc

    @contextlib.contextmanager
    def _write_lock(self, cur: Cursor, name: str):
        """The advisory lock `name` on the cursor's connection, unless this thread holds it
        already (a transaction within a transaction, as the embedded file's RLock allows)."""
        held = self._held.__dict__.setdefault("names", set())
        if name in held:
            yield
            return
        cur.execute("SELECT pg_advisory_lock(hashtext(?))", [f"tracker: {name}"])
        held.add(name)
        try:
            yield
        finally:
            held.discard(name)
            with contextlib.suppress(self._psycopg.Error):  # a lost connection frees it
                cur.execute("SELECT pg_advisory_unlock(hashtext(?))", [f"tracker: {name}"])

    def checkpoint(self) -> None:
        """PostgreSQL writes its own checkpoints."""

    def compact(self, tables: tuple[str, ...] = ("participant",)) -> None:
        """After an erase: rewrite the tables (VACUUM FULL: the old row versions go with the
        old files) and refresh their statistics (ANALYZE: pg_stats kept the erased values in
        its most common values and histograms), then ask for a checkpoint so that the
        write-ahead log segments holding them can be recycled (it needs the pg_checkpoint
        role; without it PostgreSQL recycles them at its next checkpoint)."""
        with self.cursor() as cur:
            for table in tables:
                cur.execute(f'VACUUM (FULL, ANALYZE) "{table}"')
            with contextlib.suppress(self._psycopg.Error):
                cur.execute("CHECKPOINT")


def migrate(connection) -> list[int]:
    """The numbered migrations, translated (above), one transaction each, recorded in
    schema_migrations as on the embedded file."""
    from tracker.storage.base import migration_files

    # Several app servers may start at once on a new database: one migrates, the others wait
    # for it and then find nothing left to do.
    connection.execute("SELECT pg_advisory_lock(hashtext('tracker: migrations'))")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER"
                           " PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL"
                           " DEFAULT current_timestamp)")
        done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, path in migration_files():
            if version in done:
                continue
            with connection.transaction():
                connection.execute(translate_migration(path.read_text(encoding="utf-8")))
                connection.execute("INSERT INTO schema_migrations (version, name) VALUES"
                                   " (%s, %s)", [version, name])
            applied.append(version)
        return applied
    finally:
        connection.execute("SELECT pg_advisory_unlock(hashtext('tracker: migrations'))")
