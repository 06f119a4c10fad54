-- Version 4: canonical user names, escalating locks, the failed-attempts notice, and
-- first-factor throttling.

-- The canonical key of `name` (NFKC, case folded, invisible characters removed, trimmed),
-- filled in by the migration code; NULL for a user whose key another user already holds.
ALTER TABLE users ADD COLUMN name_key TEXT;

-- Locks since the last success (each lasts twice the one before), and wrong codes since the
-- last successful login (told at the next one).
ALTER TABLE lockout ADD COLUMN locks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lockout ADD COLUMN since_login INTEGER NOT NULL DEFAULT 0;

-- First-factor failures (RADIUS passwords, answers taken before the password is proven), per
-- canonical name (known or not) and source; source '' counts every source.
CREATE TABLE throttle (
    name_key     TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locks        INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    last_failure INTEGER,
    PRIMARY KEY (name_key, source)
) WITHOUT ROWID;
