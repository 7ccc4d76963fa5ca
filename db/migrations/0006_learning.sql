-- 0006: learning and its safe sharing (issue 10).

-- The lab team's synthesis of an idea, versioned: every save adds a row with the next version
-- number, so earlier versions stay readable; the newest version is the idea's synthesis.
CREATE SEQUENCE seq_synthesis START 1;

CREATE TABLE synthesis (
    id                 INTEGER PRIMARY KEY DEFAULT nextval('seq_synthesis'),
    idea_id            INTEGER NOT NULL REFERENCES idea (id),
    version            INTEGER NOT NULL,
    key_learning       VARCHAR NOT NULL,
    worked_when        VARCHAR,
    did_not_work_when  VARCHAR,
    recommendation     VARCHAR NOT NULL CHECK (recommendation IN ('spread', 'test_further', 'stop')),
    reason             VARCHAR NOT NULL,
    reviewed_by        VARCHAR,
    reviewed_on        DATE,
    written_by         VARCHAR NOT NULL,
    written_at         TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (idea_id, version)
);

-- What an organisation agreed to: to be named to other partners, to be named in public
-- reports. No row means neither (both are off by default). A table of its own: DuckDB cannot
-- alter the organisation table, which others reference.
CREATE TABLE organisation_consent (
    organisation_id    INTEGER PRIMARY KEY REFERENCES organisation (id),
    named_to_partners  BOOLEAN NOT NULL DEFAULT FALSE,
    named_in_public    BOOLEAN NOT NULL DEFAULT FALSE,
    recorded_by        VARCHAR NOT NULL,
    recorded_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Which of a cycle's notes the lab team marked shareable: with the other partners, or in
-- public reports (which includes the partners). No row, or 'lab', means the lab team only.
CREATE TABLE excerpt_share (
    cycle_id   INTEGER NOT NULL REFERENCES cycle (id),
    field      VARCHAR NOT NULL CHECK (field IN ('prediction', 'scale', 'observations',
                                                 'study_notes', 'learning', 'next_steps')),
    audience   VARCHAR NOT NULL CHECK (audience IN ('lab', 'partners', 'public')),
    marked_by  VARCHAR NOT NULL,
    marked_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (cycle_id, field)
);

-- The smallest count (of people: a numerator or denominator) that may leave the lab; NHS
-- statistics suppress small numbers. Set per challenge; 5 when no row.
CREATE TABLE disclosure_settings (
    challenge_id  INTEGER PRIMARY KEY REFERENCES challenge (id),
    min_count     INTEGER NOT NULL DEFAULT 5 CHECK (min_count BETWEEN 1 AND 1000)
);
