-- Version 2: e-mailed one-time codes.

ALTER TABLE factors ADD COLUMN address TEXT;   -- e-mail factors: where codes go

-- At most one outstanding code per user: a new send replaces the previous code.
CREATE TABLE email_codes (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    factor_id   INTEGER NOT NULL REFERENCES factors(id) ON DELETE CASCADE,
    hash        BLOB    NOT NULL,   -- HMAC-SHA256(key-file-derived key, user id || code)
    sent_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    tries_left  INTEGER NOT NULL
);
