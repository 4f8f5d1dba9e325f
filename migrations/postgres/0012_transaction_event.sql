-- Each recorded payment remembers the webhook event that first recorded it (keep in step with
-- the other backend's 0012), so a commission entry links to its event. Payments recorded before
-- this migration are matched to the earliest processed event whose payload names them; one
-- whose payload was pruned, or holds a NUL escape PostgreSQL cannot read, stays without an event.
ALTER TABLE transactions ADD COLUMN event_row TEXT;
UPDATE transactions SET event_row = f.id
FROM (
    SELECT w.org_id, w.id, CASE WHEN w.outcome = 'processed' AND w.payload <> '' AND strpos(w.payload, '\u0000') = 0 THEN w.payload::json #>> '{content,transaction,id}' END AS txn,
           ROW_NUMBER() OVER (
               PARTITION BY w.org_id, CASE WHEN w.outcome = 'processed' AND w.payload <> '' AND strpos(w.payload, '\u0000') = 0 THEN w.payload::json #>> '{content,transaction,id}' END
               ORDER BY w.received_at, w.id) AS n
    FROM webhook_events w
    WHERE w.outcome = 'processed' AND w.payload <> '' AND strpos(w.payload, '\u0000') = 0
) f
WHERE f.n = 1 AND f.txn IS NOT NULL AND f.org_id = transactions.org_id
  AND f.txn = transactions.chargebee_id AND transactions.recorded;
