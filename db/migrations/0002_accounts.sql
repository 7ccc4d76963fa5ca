-- 0002: accounts and roles. With no account, the tracker runs in local mode (one user, the
-- lab admin); creating the first account (an admin) switches login on.
-- Usernames carry no UNIQUE index (see 0001): the data layer enforces case-insensitive
-- uniqueness under its write lock.

CREATE SEQUENCE seq_account START 1;

CREATE TABLE account (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_account'),
    username         VARCHAR NOT NULL,
    email            VARCHAR,
    role             VARCHAR NOT NULL CHECK (role IN ('admin', 'partner', 'viewer')),
    organisation_id  INTEGER REFERENCES organisation (id),
    -- argon2id hash; NULL for an account that signs in only through single sign-on
    password_hash    VARCHAR,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until     TIMESTAMP,
    disabled_at      TIMESTAMP,
    last_login_at    TIMESTAMP,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    CHECK ((role = 'partner') = (organisation_id IS NOT NULL))
);
