-- 0005: sign-in that survives a refresh or a new tab. After the sign-in form, the browser
-- is sent once through the tracker's /tracker/session route with a one-time ticket (valid
-- for a minute); the route sets an HttpOnly cookie holding a random session token. Only
-- hashes of the ticket and the token are stored. A session ends when it is idle too long,
-- when the person logs out (ended_at), or when the account's session version moves on
-- (password reset, role change, disabled).
CREATE SEQUENCE seq_web_session START 1;

CREATE TABLE web_session (
    id               INTEGER PRIMARY KEY DEFAULT nextval('seq_web_session'),
    -- no foreign key: DuckDB refuses any UPDATE of a row that another table references, and
    -- accounts are updated at every sign-in; the data layer writes only existing accounts
    account_id       INTEGER NOT NULL,
    session_version  INTEGER NOT NULL,
    ticket_hash      VARCHAR,
    ticket_expires   TIMESTAMP,
    token_hash       VARCHAR,
    created_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    last_seen        TIMESTAMP NOT NULL DEFAULT current_timestamp,
    ended_at         TIMESTAMP
);
