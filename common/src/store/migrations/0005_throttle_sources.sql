-- Version 5: good sources and checks in flight for the throttle.
--
-- The columns are added by the migration code, each only where it is missing:
--   good_until INTEGER                    a source the name logged in from: until then exempt
--                                         from the name's overall throttle
--   pending    INTEGER NOT NULL DEFAULT 0 password checks counted before their Argon2 work and
--   pending_at INTEGER                    not settled yet (a crash leaves them; they stop
--                                         counting after two minutes)
SELECT 1;
