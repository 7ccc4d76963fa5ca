-- 0016: discovery insights (issue 24, item 4): what the discovery phase heard, and the
-- drivers and ideas it informs. A quote is shown only where the person agreed to be quoted
-- (`quote_consent`); an insight is retired, never deleted.
CREATE SEQUENCE seq_insight START 1;

CREATE TABLE insight (
    id             INTEGER PRIMARY KEY DEFAULT nextval('seq_insight'),
    challenge_id   INTEGER NOT NULL REFERENCES challenge (id),
    source         VARCHAR NOT NULL
                   CHECK (source IN ('interview', 'survey', 'workshop', 'literature', 'data')),
    heard_on       DATE NOT NULL,
    summary        VARCHAR NOT NULL,
    quote          VARCHAR,
    quote_consent  BOOLEAN NOT NULL DEFAULT FALSE,
    recorded_by    VARCHAR NOT NULL,
    recorded_at    TIMESTAMP NOT NULL,
    retired_at     TIMESTAMP
);

CREATE TABLE insight_driver (
    insight_id  INTEGER NOT NULL REFERENCES insight (id),
    driver_id   INTEGER NOT NULL REFERENCES driver (id),
    PRIMARY KEY (insight_id, driver_id)
);

CREATE TABLE insight_idea (
    insight_id  INTEGER NOT NULL REFERENCES insight (id),
    idea_id     INTEGER NOT NULL REFERENCES idea (id),
    PRIMARY KEY (insight_id, idea_id)
);
