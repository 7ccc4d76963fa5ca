-- 0001: the foundation schema.
--
-- Notes that shape this file (DuckDB 2.0):
-- * Keys are explicit integers from named sequences (portable to PostgreSQL), never DuckDB row ids.
-- * A row that another table references cannot have an indexed column updated (DuckDB runs such an
--   update as delete + insert and the foreign key check refuses it). So names and codes carry no
--   UNIQUE index: the data layer enforces their (case-insensitive) uniqueness under its write lock.
-- * Results are append-only. A newer row for the same organisation, measure and period supersedes
--   an older one; an undone batch's rows stop counting. The view current_result shows what counts.

CREATE SEQUENCE seq_challenge START 1;
CREATE SEQUENCE seq_phase START 1;
CREATE SEQUENCE seq_driver START 1;
CREATE SEQUENCE seq_idea START 1;
CREATE SEQUENCE seq_organisation START 1;
CREATE SEQUENCE seq_measure START 1;
CREATE SEQUENCE seq_cycle START 1;
CREATE SEQUENCE seq_batch START 1;
CREATE SEQUENCE seq_result START 1;
CREATE SEQUENCE seq_annotation START 1;
CREATE SEQUENCE seq_audit START 1;

CREATE TABLE challenge (
    id          INTEGER PRIMARY KEY DEFAULT nextval('seq_challenge'),
    title       VARCHAR NOT NULL,
    question    VARCHAR NOT NULL,
    aim         VARCHAR NOT NULL,
    start_date  DATE NOT NULL,
    end_date    DATE NOT NULL,
    is_demo     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    CHECK (end_date > start_date)
);

-- Phases of the challenge: discovery, developing and testing ideas, sharing what was learned.
CREATE TABLE challenge_phase (
    id            INTEGER PRIMARY KEY DEFAULT nextval('seq_phase'),
    challenge_id  INTEGER NOT NULL REFERENCES challenge (id),
    name          VARCHAR NOT NULL,
    start_date    DATE NOT NULL,
    end_date      DATE NOT NULL,
    CHECK (end_date >= start_date)
);

CREATE TABLE measure (
    id              INTEGER PRIMARY KEY DEFAULT nextval('seq_measure'),
    code            VARCHAR NOT NULL,
    name            VARCHAR NOT NULL,
    measure_type    VARCHAR NOT NULL CHECK (measure_type IN ('outcome', 'process', 'balancing')),
    definition      VARCHAR NOT NULL,
    numerator       VARCHAR,
    denominator     VARCHAR,
    unit            VARCHAR NOT NULL,
    direction       VARCHAR NOT NULL CHECK (direction IN ('increase', 'decrease', 'neutral')),
    target          DOUBLE,
    data_kind       VARCHAR NOT NULL CHECK (data_kind IN ('value', 'proportion', 'rate')),
    frequency       VARCHAR NOT NULL CHECK (frequency IN ('week', 'month')),
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    retired_at      TIMESTAMP
);

-- Driver diagram: aim -> primary drivers -> secondary drivers -> change ideas.
CREATE TABLE driver (
    id            INTEGER PRIMARY KEY DEFAULT nextval('seq_driver'),
    challenge_id  INTEGER NOT NULL REFERENCES challenge (id),
    level         VARCHAR NOT NULL CHECK (level IN ('primary', 'secondary')),
    name          VARCHAR NOT NULL,
    description   VARCHAR,
    measure_id    INTEGER REFERENCES measure (id),
    position      INTEGER NOT NULL DEFAULT 0,
    retired_at    TIMESTAMP
);

-- Many-to-many: which primary drivers a secondary driver serves.
CREATE TABLE driver_link (
    primary_id    INTEGER NOT NULL REFERENCES driver (id),
    secondary_id  INTEGER NOT NULL REFERENCES driver (id),
    PRIMARY KEY (primary_id, secondary_id)
);

CREATE TABLE idea (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_idea'),
    challenge_id     INTEGER NOT NULL REFERENCES challenge (id),
    title            VARCHAR NOT NULL,
    description      VARCHAR,
    -- NULL: the status is derived from the idea's cycles; otherwise set by the lab team.
    status_override  VARCHAR CHECK (status_override IN
                       ('proposed', 'testing', 'adopted', 'adapted', 'abandoned')),
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Many-to-many: which drivers (usually secondary) an idea acts on.
CREATE TABLE idea_driver (
    idea_id    INTEGER NOT NULL REFERENCES idea (id),
    driver_id  INTEGER NOT NULL REFERENCES driver (id),
    PRIMARY KEY (idea_id, driver_id)
);

CREATE TABLE organisation (
    id             INTEGER PRIMARY KEY DEFAULT nextval('seq_organisation'),
    name           VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL CHECK (kind IN ('nhs_trust', 'gp_practice', 'charity',
                       'housing_association', 'community_group', 'local_authority', 'other')),
    region         VARCHAR,
    contact_name   VARCHAR,
    contact_email  VARCHAR,
    created_at     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    retired_at     TIMESTAMP
);

-- One PDSA cycle: one small test of one idea at one organisation.
CREATE TABLE cycle (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_cycle'),
    idea_id          INTEGER NOT NULL REFERENCES idea (id),
    organisation_id  INTEGER NOT NULL REFERENCES organisation (id),
    -- Place in the idea's ramp: 1 for the first cycle of the idea, then 2, 3, ...
    cycle_no         INTEGER NOT NULL,
    builds_on_id     INTEGER REFERENCES cycle (id),
    stage            VARCHAR NOT NULL DEFAULT 'plan' CHECK (stage IN ('plan', 'do', 'study', 'act', 'done')),
    -- Plan
    objective        VARCHAR NOT NULL,
    question         VARCHAR NOT NULL,
    prediction       VARCHAR NOT NULL,
    plan_who         VARCHAR,
    plan_where       VARCHAR,
    data_collection  VARCHAR,
    scale            VARCHAR,
    start_date       DATE NOT NULL,
    end_date         DATE NOT NULL,
    -- Do
    do_notes         VARCHAR,
    went_as_planned  BOOLEAN,
    observations     VARCHAR,
    -- Study
    study_notes      VARCHAR,
    learning         VARCHAR,
    -- Act
    decision         VARCHAR CHECK (decision IN ('adopt', 'adapt', 'abandon')),
    next_steps       VARCHAR,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    CHECK (end_date >= start_date),
    CHECK (length(trim(prediction)) > 0)
);

-- The measures a cycle is expected to move.
CREATE TABLE cycle_measure (
    cycle_id    INTEGER NOT NULL REFERENCES cycle (id),
    measure_id  INTEGER NOT NULL REFERENCES measure (id),
    PRIMARY KEY (cycle_id, measure_id)
);

CREATE TABLE upload_batch (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_batch'),
    organisation_id  INTEGER REFERENCES organisation (id),
    source           VARCHAR NOT NULL CHECK (source IN ('upload', 'demo', 'form', 'import')),
    file_name        VARCHAR,
    sha256           VARCHAR,
    uploaded_by      VARCHAR NOT NULL,
    uploaded_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    rows_new         INTEGER NOT NULL DEFAULT 0,
    rows_updated     INTEGER NOT NULL DEFAULT 0,
    rows_unchanged   INTEGER NOT NULL DEFAULT 0,
    undone_at        TIMESTAMP,
    undone_by        VARCHAR
);

-- The one high-volume table (millions of rows) carries no index and no foreign keys: in
-- DuckDB they cost about 2 s per million rows inserted, 20 times the insert itself. Every row
-- comes through the upload validation, which resolves its organisation, measure and batch
-- from those tables in the same transaction, and nothing that a result refers to is ever
-- deleted (organisations and measures are retired). Ids come from the sequence.
CREATE TABLE result (
    id               BIGINT NOT NULL DEFAULT nextval('seq_result'),
    organisation_id  INTEGER NOT NULL,
    measure_id       INTEGER NOT NULL,
    period           DATE NOT NULL,
    value            DOUBLE,
    numerator        DOUBLE,
    denominator      DOUBLE,
    note             VARCHAR,
    batch_id         INTEGER NOT NULL,
    recorded_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    CHECK (value IS NOT NULL OR (numerator IS NOT NULL AND denominator IS NOT NULL))
);

-- What counts now: the newest row of each (organisation, measure, period) from a batch that was
-- not undone. Older rows stay as history.
CREATE VIEW current_result AS
SELECT r.*
FROM result r
JOIN upload_batch b ON b.id = r.batch_id
WHERE b.undone_at IS NULL
QUALIFY row_number() OVER (PARTITION BY r.organisation_id, r.measure_id, r.period
                           ORDER BY r.id DESC) = 1;

-- Dated notes and rebase dates on charts. organisation_id NULL: applies to every organisation.
CREATE TABLE annotation (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_annotation'),
    measure_id       INTEGER REFERENCES measure (id),
    organisation_id  INTEGER REFERENCES organisation (id),
    on_date          DATE NOT NULL,
    kind             VARCHAR NOT NULL CHECK (kind IN ('note', 'phase')),
    text             VARCHAR NOT NULL,
    created_by       VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Append-only: the data layer only ever inserts here.
CREATE TABLE audit_log (
    id         BIGINT PRIMARY KEY DEFAULT nextval('seq_audit'),
    happened_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    actor      VARCHAR NOT NULL,
    action     VARCHAR NOT NULL,
    entity     VARCHAR NOT NULL,
    entity_id  BIGINT,
    before     JSON,
    after      JSON
);
