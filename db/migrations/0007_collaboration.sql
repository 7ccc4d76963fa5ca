-- 0007: the people who take part, the lab's events and each partner's progress (issue 11).

-- A participant of the challenge: a person, so the most sensitive row in the tracker. Never
-- deleted: retired when they leave, erased on request (personal fields replaced by "erased",
-- links kept so the counts stay true). No unique index on a column that may change: DuckDB
-- refuses to update an indexed column of a row that other tables reference.
CREATE SEQUENCE seq_participant START 1;

CREATE TABLE participant (
    id                      INTEGER PRIMARY KEY DEFAULT nextval('seq_participant'),
    challenge_id            INTEGER NOT NULL REFERENCES challenge (id),
    name                    VARCHAR NOT NULL,
    taking_part             VARCHAR NOT NULL CHECK (taking_part IN (
                                'lived_experience', 'carer', 'clinician', 'peer_supporter',
                                'charity_staff', 'housing_staff', 'commissioner', 'researcher',
                                'designer', 'other')),
    organisation_id         INTEGER REFERENCES organisation (id),
    region                  VARCHAR,
    email                   VARCHAR,
    joined_on               DATE NOT NULL DEFAULT current_date,
    -- two consents, each with who recorded it and when (both off until recorded)
    may_contact             BOOLEAN NOT NULL DEFAULT FALSE,
    may_contact_recorded_by VARCHAR,
    may_contact_recorded_at TIMESTAMP,
    may_name                BOOLEAN NOT NULL DEFAULT FALSE,
    may_name_recorded_by    VARCHAR,
    may_name_recorded_at    TIMESTAMP,
    created_at              TIMESTAMP NOT NULL DEFAULT current_timestamp,
    retired_at              TIMESTAMP,
    erased_at               TIMESTAMP
);

CREATE TABLE participant_idea (
    participant_id  INTEGER NOT NULL REFERENCES participant (id),
    idea_id         INTEGER NOT NULL REFERENCES idea (id),
    PRIMARY KEY (participant_id, idea_id)
);

CREATE TABLE participant_cycle (
    participant_id  INTEGER NOT NULL REFERENCES participant (id),
    cycle_id        INTEGER NOT NULL REFERENCES cycle (id),
    PRIMARY KEY (participant_id, cycle_id)
);

-- Workshops and meetings of the challenge, and who came.
CREATE SEQUENCE seq_event START 1;

CREATE TABLE lab_event (
    id            INTEGER PRIMARY KEY DEFAULT nextval('seq_event'),
    challenge_id  INTEGER NOT NULL REFERENCES challenge (id),
    on_date       DATE NOT NULL,
    name          VARCHAR NOT NULL,
    phase_id      INTEGER REFERENCES challenge_phase (id),
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE event_attendance (
    event_id        INTEGER NOT NULL REFERENCES lab_event (id),
    participant_id  INTEGER NOT NULL REFERENCES participant (id),
    PRIMARY KEY (event_id, participant_id)
);

-- The IHI progress score of each partner organisation, month by month. Append-only: a new
-- score for the same month supersedes the earlier one, which stays as history.
CREATE SEQUENCE seq_progress START 1;

CREATE TABLE progress_score (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_progress'),
    organisation_id  INTEGER NOT NULL REFERENCES organisation (id),
    month            DATE NOT NULL CHECK (day(month) = 1),
    score            DOUBLE NOT NULL CHECK (score IN (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0,
                                                      4.5, 5.0)),
    comment          VARCHAR,
    scored_by        VARCHAR NOT NULL,
    scored_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- What the lab team did with a "who should talk" suggestion (a suggestion is computed from the
-- data; its key names the organisations and the idea it is about).
CREATE TABLE suggestion_status (
    suggestion_key  VARCHAR PRIMARY KEY,
    status          VARCHAR NOT NULL CHECK (status IN ('open', 'done', 'not_useful')),
    marked_by       VARCHAR NOT NULL,
    marked_at       TIMESTAMP NOT NULL DEFAULT current_timestamp
);
