-- A table, as a crate's first migration writes it: only what is missing is created.
CREATE TABLE IF NOT EXISTS things (id TEXT PRIMARY KEY, colour TEXT);
