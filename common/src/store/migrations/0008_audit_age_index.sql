-- Version 8: retention by age looks rows up by their time (rows dated in the future, written
-- while the clock was ahead, no longer hide the old ones behind them), and rows of floods by
-- theirs (pruned first under [audit] max_rows; counted per minute to cap the rows a flood
-- starts). One pass over the table, once, at the upgrade.
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_flood_at ON audit(at) WHERE flood IS NOT NULL;
