-- The manager that last raised a volume's fencing epoch: its own concurrent workflows on the
-- volume share the epoch (a cascade delete's snapshot and volume workflows must not fence each
-- other); another manager's claim raises it. epoch_claims counts claims, so the claim statement
-- always changes the row (MySQL reports unchanged rows as not affected).
ALTER TABLE volumes ADD COLUMN epoch_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE volumes ADD COLUMN epoch_claims INTEGER NOT NULL DEFAULT 0;
