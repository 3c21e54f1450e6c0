-- Job queue: every job inserted into job_queue gets its claim-state row and a NOTIFY in the same
-- transaction, whoever inserts it (the queue module, the scan engine, plain SQL). Workers LISTEN
-- on `stella_jobs`; the payload is '<tenant_id> <kind>' so a worker wakes only for its own work.
-- NOTIFY is delivered at commit (never for a rolled-back enqueue) and identical payloads in one
-- transaction are folded into one notification. No index here: nothing in this file scans data.

CREATE FUNCTION stella_job_queue_init() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_queue_state (tenant_id, job_id, kind) VALUES (NEW.tenant_id, NEW.id, NEW.kind);
    PERFORM pg_notify('stella_jobs', NEW.tenant_id::text || ' ' || NEW.kind);
    RETURN NULL;
END $$;

CREATE TRIGGER job_queue_init AFTER INSERT ON job_queue
    FOR EACH ROW EXECUTE FUNCTION stella_job_queue_init();

COMMENT ON FUNCTION stella_job_queue_init() IS
    'creates the job_queue_state row of a new job and notifies stella_jobs (same transaction)';
