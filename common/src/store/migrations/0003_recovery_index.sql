-- Version 3: count a user's unused recovery codes from the index alone (every login reads it).

DROP INDEX recovery_codes_user;
CREATE INDEX recovery_codes_user ON recovery_codes(user_id, used_at);
