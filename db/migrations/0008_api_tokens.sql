-- 0008: tokens for the results API (issue 14). A partner organisation's own system posts its
-- results file with a token the lab admin made for that organisation. Only the SHA-256 hash
-- of a token is stored; its first characters (`shown`) let people tell tokens apart. A token
-- is never deleted: it is revoked, with who and when.
CREATE SEQUENCE seq_api_token START 1;

CREATE TABLE api_token (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_api_token'),
    organisation_id  INTEGER NOT NULL REFERENCES organisation (id),
    label            VARCHAR NOT NULL,
    token_hash       VARCHAR NOT NULL UNIQUE,
    shown            VARCHAR NOT NULL,
    created_by       VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    revoked_by       VARCHAR,
    revoked_at       TIMESTAMP
);

-- When each token was last used: a side table, so a use never rewrites the token's row.
CREATE TABLE api_token_use (
    token_id      INTEGER PRIMARY KEY REFERENCES api_token (id),
    last_used_at  TIMESTAMP NOT NULL,
    uses          INTEGER NOT NULL
);
