-- Version 5: good sources and checks in flight for the throttle.

-- A source the name logged in from: until then exempt from the name's overall throttle.
ALTER TABLE throttle ADD COLUMN good_until INTEGER;
-- Password checks counted before their Argon2 work and not settled yet (a crash leaves them;
-- they stop counting after two minutes).
ALTER TABLE throttle ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE throttle ADD COLUMN pending_at INTEGER;
