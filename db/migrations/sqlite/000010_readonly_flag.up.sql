-- Whether os-update_readonly_flag was ever called: Cinder shows the flag in the volume's metadata
-- ("readonly": "True"/"False") only once it has been set.
ALTER TABLE volumes ADD COLUMN read_only_set INTEGER NOT NULL DEFAULT 0;
