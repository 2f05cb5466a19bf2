-- Tenants, API keys, the per-tenant event log, idempotency keys, items, the estimate ledger.

CREATE TABLE tenants (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    -- Last sequence number handed out in this tenant's event log. Bumping it row-locks the
    -- tenant, so concurrent coordinators append in one total order without talking.
    head_seq    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL,           -- sha256 of the whole key; the key itself is never stored
    scopes      text[] NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE events (
    tenant_id   text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    kind        text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE idempotency_keys (
    tenant_id    text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE items (
    tenant_id    text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    item_id      text NOT NULL,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    features     jsonb NOT NULL DEFAULT '{}'::jsonb,
    actual       double precision,
    actual_seq   bigint,
    created_seq  bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, item_id)
);

CREATE TABLE estimates (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    item_id       text,
    quantiles     jsonb NOT NULL,
    p50           double precision NOT NULL,
    model_version text NOT NULL,
    seq           bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX estimates_tenant_item ON estimates (tenant_id, item_id);
