-- 0003: what the red team's findings needed (issue 12).
-- A session version per account: a password reset, a role change or disabling the account
-- raises it, and every open session of that account, which carries the version it signed in
-- with, ends on its next run.
ALTER TABLE account ADD COLUMN session_version INTEGER NOT NULL DEFAULT 0;

-- Failed sign-ins per client (the address a request came from): delays that grow are applied
-- to a client before any account is locked, so guesses from one place cannot keep the real
-- user out from another.
CREATE TABLE login_throttle (
    client        VARCHAR PRIMARY KEY,
    failures      INTEGER NOT NULL,
    last_failure  TIMESTAMP NOT NULL
);

-- Settings of a challenge that later issues add to (the challenge table itself is referenced
-- by keys, so DuckDB cannot alter it): the disclosure threshold is the fewest organisations an
-- unnamed aggregate ("All other partners") may hold before it is shown.
CREATE TABLE challenge_settings (
    challenge_id        INTEGER PRIMARY KEY REFERENCES challenge (id),
    min_aggregate_orgs  INTEGER NOT NULL DEFAULT 3 CHECK (min_aggregate_orgs >= 2)
);
