-- The estimate ledger takes a row per issued estimate, written by COPY in batches. Its
-- foreign key on tenants made PostgreSQL look up and key-share-lock the tenant row once per
-- estimate: about half the database's CPU per estimate. Ledger rows name a tenant whose
-- API key the coordinator has just verified, so the check is dropped; deleting a tenant
-- still deletes its estimates, by the trigger below instead of ON DELETE CASCADE.

ALTER TABLE estimates DROP CONSTRAINT IF EXISTS estimates_tenant_id_fkey;

CREATE FUNCTION delete_tenant_estimates() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM estimates WHERE tenant_id = OLD.id;
    RETURN OLD;
END;
$$;

CREATE TRIGGER tenants_delete_estimates AFTER DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION delete_tenant_estimates();
