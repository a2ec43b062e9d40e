DROP TABLE IF EXISTS services;
DROP TABLE IF EXISTS volume_type_encryption;
DROP TABLE IF EXISTS volume_type_projects;
DROP TABLE IF EXISTS qos_spec_keys;
DROP TABLE IF EXISTS qos_specs;
