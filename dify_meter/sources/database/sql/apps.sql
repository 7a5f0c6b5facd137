-- The workspace's apps that the console lists (status normal, not universal), with the tenant's name.
SELECT t.name AS tenant_name, a.id::text AS app_id, a.name AS app_name, a.mode AS app_mode
FROM tenants t
LEFT JOIN apps a ON a.tenant_id = t.id AND a.status = 'normal' AND NOT a.is_universal
WHERE t.id = %(tenant_id)s
ORDER BY a.name, a.id
