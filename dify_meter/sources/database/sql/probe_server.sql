-- Who and what the connection is: server version, replica or primary, the role and whether it is a superuser.
SELECT current_setting('server_version') AS server_version, pg_is_in_recovery() AS in_recovery,
       current_user AS role, r.rolsuper AS superuser
FROM pg_roles r
WHERE r.rolname = current_user
