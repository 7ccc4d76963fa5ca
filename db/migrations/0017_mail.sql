-- 0017: mail that goes out (issue 24, item 5). What each person opted out of (no row: they
-- receive it); the lab admin's schedule and sender address; each run of a scheduled mail
-- (claimed once, so several app servers never send the same digest twice); and every
-- message sent or failed, by account (never the address or the text).
CREATE TABLE mail_preference (
    account_id  INTEGER NOT NULL,
    kind        VARCHAR NOT NULL CHECK (kind IN ('digest', 'reminder')),
    opted_out   BOOLEAN NOT NULL,
    changed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, kind)
);

CREATE TABLE mail_settings (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    digest_day        INTEGER CHECK (digest_day BETWEEN 1 AND 28),
    reminder_weekday  INTEGER CHECK (reminder_weekday BETWEEN 0 AND 6),
    sender            VARCHAR,
    changed_by        VARCHAR NOT NULL,
    changed_at        TIMESTAMP NOT NULL
);

CREATE TABLE mail_run (
    kind        VARCHAR NOT NULL,
    period      VARCHAR NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    sent        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, period)
);

CREATE SEQUENCE seq_mail_log START 1;

CREATE TABLE mail_log (
    id          INTEGER PRIMARY KEY DEFAULT nextval('seq_mail_log'),
    kind        VARCHAR NOT NULL,
    account_id  INTEGER NOT NULL,
    subject     VARCHAR NOT NULL,
    status      VARCHAR NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts    INTEGER NOT NULL,
    error       VARCHAR,
    sent_at     TIMESTAMP NOT NULL
);
