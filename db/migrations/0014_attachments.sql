-- 0014: files attached to a cycle or an idea (issue 24, item 2). The content is stored here,
-- so backups, restores and migrate-to carry it (BLOB; BYTEA on PostgreSQL). What a file is
-- comes from its content (`kind`), never its name. Removing a file empties `content` and
-- keeps the row. `organisation_id`: the cycle's organisation (who may read it);
-- `uploader_organisation_id`: whose quota it counts against (NULL: the lab team's).
CREATE SEQUENCE seq_attachment START 1;

CREATE TABLE attachment (
    id                        INTEGER PRIMARY KEY DEFAULT nextval('seq_attachment'),
    about                     VARCHAR NOT NULL CHECK (about IN ('cycle', 'idea')),
    idea_id                   INTEGER REFERENCES idea (id),
    cycle_id                  INTEGER REFERENCES cycle (id),
    organisation_id           INTEGER REFERENCES organisation (id),
    kind                      VARCHAR NOT NULL CHECK (kind IN ('png', 'jpeg', 'webp', 'pdf', 'csv')),
    file_name                 VARCHAR NOT NULL,
    caption                   VARCHAR,
    content                   BLOB NOT NULL,
    bytes                     INTEGER NOT NULL,
    sha256                    VARCHAR NOT NULL,
    uploaded_by               VARCHAR NOT NULL,
    uploader_account_id       INTEGER,
    uploader_organisation_id  INTEGER,
    uploaded_at               TIMESTAMP NOT NULL,
    public                    BOOLEAN NOT NULL DEFAULT FALSE,
    removed_at                TIMESTAMP,
    removed_by                VARCHAR
);
CREATE INDEX attachment_of ON attachment (about, idea_id, cycle_id);
