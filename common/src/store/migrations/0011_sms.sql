-- Version 11: codes by SMS. A phone number per user (E.164), factors of kind 'sms' (the number
-- in `address`), and a count of the codes sent to each user in a day (SMS bombing is bounded).
ALTER TABLE users ADD COLUMN phone TEXT;

-- SQLite cannot change a CHECK constraint: the table is rebuilt with the same columns in the
-- same order (the migration runs with foreign keys off, and checks them before committing).
CREATE TEMP TABLE factors_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'factors';
CREATE TABLE factors_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('totp', 'email', 'fido2', 'sms')),
    label       TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'active')),
    preferred   INTEGER NOT NULL DEFAULT 0 CHECK (preferred IN (0, 1)),
    created_at  INTEGER NOT NULL,
    algorithm   TEXT    CHECK (algorithm IN ('sha1', 'sha256', 'sha512')),
    digits      INTEGER CHECK (digits BETWEEN 6 AND 8),
    period      INTEGER CHECK (period > 0),
    window      INTEGER CHECK (window >= 0),
    secret      BLOB,
    last_step   INTEGER,
    address     TEXT,       -- e-mail factors: the address; sms factors: the number
    fido_transport TEXT CHECK (fido_transport IN ('local', 'ssh')),
    fido_credential_id BLOB,
    fido_alg INTEGER CHECK (fido_alg IN (-7, -8)),
    fido_public_key BLOB,
    fido_rp_id TEXT,
    fido_presence INTEGER CHECK (fido_presence IN (0, 1)),
    fido_uv TEXT CHECK (fido_uv IN ('required', 'preferred', 'discouraged')),
    fido_pin INTEGER CHECK (fido_pin IN (0, 1)),
    fido_resident INTEGER CHECK (fido_resident IN (0, 1)),
    fido_backup INTEGER CHECK (fido_backup BETWEEN 0 AND 3),
    fido_sign_count INTEGER CHECK (fido_sign_count BETWEEN 0 AND 4294967295),
    fido_origin TEXT CHECK (fido_origin IN ('enrolled', 'pam_u2f'))
);
INSERT INTO factors_new SELECT * FROM factors;
DROP TABLE factors;
ALTER TABLE factors_new RENAME TO factors;
CREATE INDEX factors_user ON factors(user_id);
-- Ids are never reused (a sealed secret and the audit rows name them).
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM temp.factors_seq), 0))
 WHERE name = 'factors';
DROP TABLE temp.factors_seq;

-- Codes sent to a user (by e-mail or SMS) since `since`; the window restarts a day later.
CREATE TABLE code_sends (
    user_id  INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    since    INTEGER NOT NULL,
    sends    INTEGER NOT NULL
);
