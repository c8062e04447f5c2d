-- Certificates the registry issued (sqlite: the DER as BLOB).
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, subject TEXT NOT NULL,
    not_before BIGINT NOT NULL, not_after BIGINT NOT NULL, der BLOB NOT NULL,
    revoked_at BIGINT, revocation_reason TEXT, created_at BIGINT NOT NULL);
