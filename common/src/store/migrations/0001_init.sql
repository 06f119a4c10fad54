-- Tessera schema, version 1.
-- Times are Unix seconds. Secrets are sealed (AEAD) or hashed; nothing here is usable alone.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    email         TEXT,
    password_hash TEXT,               -- Argon2id PHC string (RADIUS first factor), or NULL
    created_at    INTEGER NOT NULL
);

CREATE TABLE factors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('totp', 'email', 'fido2')),
    label       TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'active')),
    preferred   INTEGER NOT NULL DEFAULT 0 CHECK (preferred IN (0, 1)),
    created_at  INTEGER NOT NULL,
    -- TOTP
    algorithm   TEXT    CHECK (algorithm IN ('sha1', 'sha256', 'sha512')),
    digits      INTEGER CHECK (digits BETWEEN 6 AND 8),
    period      INTEGER CHECK (period > 0),
    window      INTEGER CHECK (window >= 0),   -- NULL: the configured window
    secret      BLOB,                          -- sealed: version || nonce || ciphertext
    last_step   INTEGER                        -- replay guard: last accepted time step
);
CREATE INDEX factors_user ON factors(user_id);

CREATE TABLE recovery_batches (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    salt        BLOB    NOT NULL,
    m_cost      INTEGER NOT NULL,
    t_cost      INTEGER NOT NULL,
    p_cost      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    origin      TEXT    NOT NULL DEFAULT 'generated'
);

CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES recovery_batches(user_id) ON DELETE CASCADE,
    hash        BLOB    NOT NULL,
    used_at     INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

CREATE TABLE lockout (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,            -- NULL: not locked by failures
    admin_locked  INTEGER NOT NULL DEFAULT 0 CHECK (admin_locked IN (0, 1)),
    last_failure  INTEGER
);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    user     TEXT    NOT NULL,
    service  TEXT    NOT NULL,
    source   TEXT,
    result   TEXT    NOT NULL,
    method   TEXT,
    detail   TEXT
);
CREATE INDEX audit_user ON audit(user, id);
