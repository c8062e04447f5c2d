-- The registry's schema as the hand-rolled DDL left it, for both dialects; the certificates,
-- whose binary column differs, are 0002 in ../sqlite and ../postgres. Every statement creates
-- only what is missing, so a database made before migrations adopts this file unchanged;
-- later changes go in new files.

CREATE TABLE IF NOT EXISTS member_classes (
    code TEXT PRIMARY KEY, description TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS members (
    id TEXT PRIMARY KEY, class TEXT NOT NULL REFERENCES member_classes(code),
    name TEXT NOT NULL, created_at BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS subsystems (
    id TEXT PRIMARY KEY, member_id TEXT NOT NULL REFERENCES members(id),
    created_at BIGINT NOT NULL);

-- ledger_key: the gateway's evidence-ledger note verifier key (C2SP vkey text).
CREATE TABLE IF NOT EXISTS gateways (
    id TEXT PRIMARY KEY, member_id TEXT NOT NULL REFERENCES members(id),
    address TEXT NOT NULL, created_at BIGINT NOT NULL, ledger_key TEXT);

CREATE TABLE IF NOT EXISTS gateway_clients (
    gateway_id TEXT NOT NULL REFERENCES gateways(id), client_id TEXT NOT NULL,
    PRIMARY KEY (gateway_id, client_id));

-- portal: the service's myGov portal listing, as JSON (korpu_conf::PortalListing).
CREATE TABLE IF NOT EXISTS services (
    id TEXT PRIMARY KEY, subsystem_id TEXT NOT NULL REFERENCES subsystems(id),
    version TEXT, title TEXT NOT NULL, openapi TEXT, subject_in TEXT, subject_name TEXT,
    purpose_required BIGINT NOT NULL, created_at BIGINT NOT NULL, portal TEXT);

CREATE TABLE IF NOT EXISTS access_rights (
    client_id TEXT NOT NULL, service_id TEXT NOT NULL REFERENCES services(id),
    created_at BIGINT NOT NULL, PRIMARY KEY (client_id, service_id));

CREATE TABLE IF NOT EXISTS admin_tokens (
    token_sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS conf_versions (
    version BIGINT PRIMARY KEY, content_sha256 TEXT NOT NULL, issued_at BIGINT NOT NULL);
