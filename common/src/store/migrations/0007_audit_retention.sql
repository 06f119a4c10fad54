-- Floods of refusals anyone can cause (unknown names, throttled ones) fold into one row per
-- source per minute: `flood` is a 16-byte hash of the fold key (NULL for every other row, so
-- the partial index costs nothing for them) and `count` how many events the row stands for.
ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN flood BLOB;
CREATE UNIQUE INDEX audit_flood ON audit(flood) WHERE flood IS NOT NULL;
