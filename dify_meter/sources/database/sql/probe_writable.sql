-- The tables of Dify's schema (the one holding `messages`) that this role could change in any way.
SELECT t.relname AS table_name
FROM pg_class t
WHERE t.relnamespace = COALESCE((SELECT relnamespace FROM pg_class WHERE oid = to_regclass('messages')),
                                'public'::regnamespace)
  AND t.relkind IN ('r', 'p')
  AND (has_table_privilege(t.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
       OR has_any_column_privilege(t.oid, 'INSERT, UPDATE'))
ORDER BY t.relname
