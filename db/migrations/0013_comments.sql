-- 0013: discussion (issue 24, item 1). A comment is about one thing: an idea, a cycle, an
-- idea's learning record, or one measure's chart at one organisation. `organisation_id` is
-- the organisation the thing belongs to (a cycle's, a chart's), which decides who may read
-- it; `author_organisation_id` is the writer's (NULL: the lab team).
--
-- Deleting a comment clears its text and keeps the row (so replies keep their place and the
-- audit log its entry); the audit log never holds a comment's text. No foreign key points at
-- `comment`: DuckDB could then not clear a deleted comment's text.
CREATE SEQUENCE seq_comment START 1;

CREATE TABLE comment (
    id                      INTEGER PRIMARY KEY DEFAULT nextval('seq_comment'),
    about                   VARCHAR NOT NULL CHECK (about IN ('idea', 'cycle', 'learning', 'chart')),
    idea_id                 INTEGER REFERENCES idea (id),
    cycle_id                INTEGER REFERENCES cycle (id),
    measure_id              INTEGER REFERENCES measure (id),
    organisation_id         INTEGER REFERENCES organisation (id),
    reply_to                INTEGER,
    author                  VARCHAR NOT NULL,
    author_account_id       INTEGER,
    -- the writer's role when they wrote: 'admin' is the lab team
    author_role             VARCHAR NOT NULL DEFAULT 'admin',
    author_organisation_id  INTEGER,
    body                    VARCHAR,
    written_at              TIMESTAMP NOT NULL,
    edited_at               TIMESTAMP,
    deleted_at              TIMESTAMP,
    deleted_by              VARCHAR
);
CREATE INDEX comment_thread ON comment (about, idea_id, cycle_id, measure_id, organisation_id);

-- Who a comment names with @username (and so is told, under "For you").
CREATE TABLE comment_mention (
    comment_id  INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    PRIMARY KEY (comment_id, account_id)
);
