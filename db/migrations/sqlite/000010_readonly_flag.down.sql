ALTER TABLE volumes DROP COLUMN read_only_set;
