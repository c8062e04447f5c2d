-- Sessions, sign-ins in progress, applications, consents and notifications, as the
-- hand-rolled DDL left them. The same SQL serves SQLite and PostgreSQL. Every statement
-- creates only what is missing, so a database made before migrations adopts this file
-- unchanged; later changes go in new files.

CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY, citizen TEXT NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL,
    csrf TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS logins (
    state TEXT PRIMARY KEY, nonce TEXT NOT NULL, verifier TEXT NOT NULL, next TEXT NOT NULL,
    created_at BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS applications (
    id TEXT PRIMARY KEY, citizen TEXT NOT NULL, email TEXT NOT NULL, service TEXT NOT NULL,
    agency_ref TEXT NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS applications_citizen ON applications (citizen, created_at);

CREATE TABLE IF NOT EXISTS application_events (
    application_id TEXT NOT NULL REFERENCES applications(id), seq BIGINT NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL, at BIGINT NOT NULL,
    PRIMARY KEY (application_id, seq));

CREATE TABLE IF NOT EXISTS consents (
    id TEXT PRIMARY KEY, citizen TEXT NOT NULL, client TEXT NOT NULL, purpose TEXT NOT NULL,
    items TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    revoked_at BIGINT);

CREATE INDEX IF NOT EXISTS consents_citizen ON consents (citizen, created_at);

CREATE TABLE IF NOT EXISTS consent_history (
    consent_id TEXT NOT NULL REFERENCES consents(id), action TEXT NOT NULL, at BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY, citizen TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    link TEXT NOT NULL, created_at BIGINT NOT NULL, read_at BIGINT);

CREATE INDEX IF NOT EXISTS notifications_citizen ON notifications (citizen, created_at);
