-- Each column the source reads: is its table there, is the column there, may this role SELECT it.
-- Catalog reads only: they need no privilege on Dify's tables.
SELECT wanted.table_name, wanted.column_name, a.attnum IS NOT NULL AS column_present,
       COALESCE(a.attnum IS NOT NULL AND has_column_privilege(t.oid, a.attnum, 'SELECT'), false) AS readable
FROM unnest(%(tables)s::text[], %(columns)s::text[]) WITH ORDINALITY AS wanted(table_name, column_name, position)
LEFT JOIN pg_class t ON t.oid = to_regclass(quote_ident(wanted.table_name))
LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = wanted.column_name AND NOT a.attisdropped
ORDER BY wanted.position
