-- Model snapshots: a tenant's refitted model as of an event-log prefix, so that a node
-- taking the tenant over loads it and replays only the events after `seq` (instead of
-- the whole log). A snapshot is stored in parts (each under one message frame); the
-- coordinator writes all parts of one snapshot in one transaction, so readers never see
-- half of one.

CREATE TABLE model_snapshots (
    tenant_id   text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    parts       integer NOT NULL CHECK (parts > 0),
    size        bigint NOT NULL,
    digest      bytea NOT NULL,           -- blake2b-256 of the whole snapshot
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE model_snapshot_parts (
    tenant_id   text NOT NULL,
    seq         bigint NOT NULL,
    part        integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq, part),
    FOREIGN KEY (tenant_id, seq) REFERENCES model_snapshots (tenant_id, seq) ON DELETE CASCADE
);

-- Parts are msgpack of floating-point arrays, which barely compress: store them as they are
-- (no pglz on every write and read).
ALTER TABLE model_snapshot_parts ALTER COLUMN data SET STORAGE EXTERNAL;
