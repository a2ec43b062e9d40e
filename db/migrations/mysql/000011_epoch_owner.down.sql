ALTER TABLE volumes DROP COLUMN epoch_claims;
ALTER TABLE volumes DROP COLUMN epoch_owner;
