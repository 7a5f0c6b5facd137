-- The workspace's name; no row: the workspace id is no tenant of this Dify.
SELECT t.name FROM tenants t WHERE t.id = %(tenant_id)s
