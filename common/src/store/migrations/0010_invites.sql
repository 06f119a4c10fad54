-- Version 10: invitations to enroll at login (`tessera user invite`).
-- One per user: a new invitation replaces the previous one. The code is stored as
-- HMAC-SHA256(key-file-derived key, user id || code), never in clear.
CREATE TABLE invites (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    hash        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER              -- set once, by the enrollment it let in
);
