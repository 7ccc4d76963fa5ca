-- 0015: the community's voice (issue 24, item 3): a contributor role, and ideas sent in.
--
-- A contributor (a person with lived experience, a community member) reads what the public
-- report shows, sends ideas and comments on ideas: the role joins the account table's check.
-- A CHECK cannot be changed in place on DuckDB, and no table references `account`, so the
-- table is made again with the wider check and its rows copied (ids, sequence and all).
CREATE TABLE account_next (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_account'),
    username         VARCHAR NOT NULL,
    email            VARCHAR,
    role             VARCHAR NOT NULL
                     CHECK (role IN ('admin', 'partner', 'viewer', 'contributor')),
    organisation_id  INTEGER REFERENCES organisation (id),
    password_hash    VARCHAR,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until     TIMESTAMP,
    disabled_at      TIMESTAMP,
    last_login_at    TIMESTAMP,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    session_version  INTEGER NOT NULL DEFAULT 0,
    CHECK ((role = 'partner') = (organisation_id IS NOT NULL))
);
INSERT INTO account_next (id, username, email, role, organisation_id, password_hash,
                          failed_attempts, locked_until, disabled_at, last_login_at,
                          created_at, session_version)
SELECT id, username, email, role, organisation_id, password_hash, failed_attempts,
       locked_until, disabled_at, last_login_at, created_at, session_version FROM account;
DROP TABLE account;
ALTER TABLE account_next RENAME TO account;
-- postgresql: CREATE UNIQUE INDEX account_username_unique ON account (lower(username));
-- postgresql: CREATE UNIQUE INDEX account_email_unique ON account (lower(email)) WHERE email IS NOT NULL;

-- An idea anyone signed in sends to the lab team, and what the lab did with it: accepted (it
-- became `idea_id`), merged into an existing idea (`idea_id`), parked, or declined (with a
-- reason the sender reads). `sender_role` and `sender_organisation_id` say where it came
-- from ("sent in by a partner organisation", "by a contributor").
CREATE SEQUENCE seq_idea_submission START 1;

CREATE TABLE idea_submission (
    id                      INTEGER PRIMARY KEY DEFAULT nextval('seq_idea_submission'),
    challenge_id            INTEGER NOT NULL REFERENCES challenge (id),
    problem                 VARCHAR NOT NULL,
    who_for                 VARCHAR NOT NULL,
    what_to_try             VARCHAR NOT NULL,
    came_from               VARCHAR,
    driver_id               INTEGER REFERENCES driver (id),
    sent_by                 VARCHAR NOT NULL,
    sender_account_id       INTEGER,
    sender_role             VARCHAR NOT NULL,
    sender_organisation_id  INTEGER,
    sent_at                 TIMESTAMP NOT NULL,
    status                  VARCHAR NOT NULL DEFAULT 'sent'
                            CHECK (status IN ('sent', 'accepted', 'merged', 'parked', 'declined')),
    reason                  VARCHAR,
    idea_id                 INTEGER REFERENCES idea (id),
    decided_by              VARCHAR,
    decided_at              TIMESTAMP
);
