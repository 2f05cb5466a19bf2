-- first_actual_seq is the seq at which the model first learned an actual for the item. Only
-- estimates issued before it are scored: a later one, made after a correction or a retried
-- actual, had the item itself among its analogies. Filled from the event log.

ALTER TABLE items ADD COLUMN first_actual_seq bigint;

UPDATE items i SET first_actual_seq = f.seq
FROM (
    SELECT tenant_id, data->>'id' AS item_id, min(seq) AS seq FROM events
    WHERE kind = 'actual' OR (kind = 'item' AND data ? 'actual')
    GROUP BY tenant_id, data->>'id'
) f
WHERE i.tenant_id = f.tenant_id AND i.item_id = f.item_id AND i.actual IS NOT NULL;

UPDATE items SET first_actual_seq = actual_seq
WHERE actual IS NOT NULL AND first_actual_seq IS NULL;
