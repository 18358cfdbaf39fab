-- Conditional policies: the document as it was PUT (JSON text), compiled by each process.
CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The audit trail. `id` is a UUIDv7 (time-ordered), so its text order is time order: pages are
-- read newest first by `id`. Never a secret: names, codes and addresses only.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    client_ip TEXT,
    request_id TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
