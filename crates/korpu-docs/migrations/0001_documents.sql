-- Document metadata, attachments and signed receipts, as the hand-rolled DDL left them. The
-- same SQL serves SQLite and PostgreSQL (binary values are base64 text). Every statement
-- creates only what is missing, so a database made before migrations adopts this file
-- unchanged; later changes go in new files.

CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, box TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    title TEXT NOT NULL, doc_type TEXT NOT NULL, register_no TEXT NOT NULL,
    deadline BIGINT, reply_to TEXT, thread_id TEXT NOT NULL, retention TEXT NOT NULL,
    expires_at BIGINT, hold BIGINT NOT NULL, status TEXT NOT NULL,
    container_sha256 TEXT NOT NULL, signed_container_sha256 TEXT,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS documents_box ON documents (box, created_at, id);

CREATE INDEX IF NOT EXISTS documents_thread ON documents (thread_id);

CREATE TABLE IF NOT EXISTS attachments (
    doc_id TEXT NOT NULL REFERENCES documents(id), idx BIGINT NOT NULL, name TEXT NOT NULL,
    mime_type TEXT NOT NULL, sha256 TEXT NOT NULL, size BIGINT NOT NULL,
    PRIMARY KEY (doc_id, idx));

CREATE INDEX IF NOT EXISTS attachments_sha ON attachments (sha256);

CREATE TABLE IF NOT EXISTS receipts (
    doc_id TEXT NOT NULL REFERENCES documents(id), status TEXT NOT NULL,
    by_subsystem TEXT NOT NULL, at BIGINT NOT NULL, receipt TEXT NOT NULL,
    signature TEXT NOT NULL, PRIMARY KEY (doc_id, status));
