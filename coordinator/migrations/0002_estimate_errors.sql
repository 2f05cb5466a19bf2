-- The estimate ledger learns each estimate's outcome: when an item's actual arrives, every
-- estimate issued for it records the actual, its absolute error and whether the 80% interval
-- held it. p10/p90 are kept as columns so accuracy queries need no JSON.

ALTER TABLE estimates
    ADD COLUMN p10 double precision,
    ADD COLUMN p90 double precision,
    ADD COLUMN actual double precision,
    ADD COLUMN abs_error double precision,
    ADD COLUMN covered80 boolean,
    ADD COLUMN resolved_at timestamptz;

UPDATE estimates SET p10 = (quantiles->>'0.1')::double precision,
                     p90 = (quantiles->>'0.9')::double precision;

ALTER TABLE items ADD COLUMN actual_at timestamptz;
UPDATE items SET actual_at = updated_at WHERE actual IS NOT NULL;

CREATE INDEX estimates_tenant_resolved ON estimates (tenant_id, resolved_at)
    WHERE resolved_at IS NOT NULL;
