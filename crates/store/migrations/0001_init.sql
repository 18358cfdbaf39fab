-- One schema for SQLite and PostgreSQL: TEXT ids (UUIDs), BIGINT millisecond timestamps and 0/1
-- flags, so the same SQL texts run on both. Uniqueness lives in constraints, never in code.

CREATE TABLE revision (
    id BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);

CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE role_permissions (
    role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    username_norm TEXT NOT NULL,
    email TEXT NOT NULL,
    email_norm TEXT NOT NULL,
    full_name TEXT,
    disabled BIGINT NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT users_username_unique UNIQUE (username_norm),
    CONSTRAINT users_email_unique UNIQUE (email_norm)
);
CREATE INDEX users_by_created ON users (created_at, id);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_by_role ON user_roles (role);

CREATE TABLE user_permissions (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE items (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX items_by_created ON items (created_at, id);
CREATE INDEX items_by_owner ON items (owner_id);

-- Signing keys. `generation` makes two instances that start at once on an empty database agree on
-- one key: the second insert of generation 1 fails on the constraint and that instance re-reads.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    generation BIGINT NOT NULL,
    private_pem TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    CONSTRAINT signing_keys_generation_unique UNIQUE (alg, generation)
);

-- The built-in roles (API.md); editable afterwards.
INSERT INTO roles (name, created_at) VALUES ('admin', 0), ('moderator', 0), ('user', 0), ('guest', 0);
INSERT INTO role_permissions (role, permission) VALUES
    ('admin', '*'),
    ('moderator', 'items:*'),
    ('moderator', 'users:read'),
    ('user', 'items:read'),
    ('user', 'items:write'),
    ('guest', 'items:read');
