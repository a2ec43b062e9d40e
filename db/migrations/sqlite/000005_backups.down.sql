DROP TABLE IF EXISTS backup_metadata;
DROP TABLE IF EXISTS backups;
