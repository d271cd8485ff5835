-- The catalogue of the car extension in this database, one sorted line per
-- fact, with no OIDs: every object the extension owns (pg_depend 'e') with its
-- definition, comment and privileges, and the tables pg_dump keeps the rows of
-- (pg_extension_config_dump).  Two databases with the same lines hold the same
-- car.  test/upgrade.sh compares an updated database with a fresh one.
\pset format unaligned
\pset tuples_only on
WITH ext AS (
    SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'car'
), member AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
    SELECT c.oid::regclass::text AS name, c.* FROM pg_catalog.pg_class c
    WHERE c.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_class'::regclass)
), fn AS (
    SELECT p.oid::regprocedure::text AS name, p.* FROM pg_catalog.pg_proc p
    WHERE p.oid IN (SELECT objid FROM member WHERE classid = 'pg_catalog.pg_proc'::regclass)
), line AS (
    -- every member, as pg_describe_object names it
    SELECT 'member ' || pg_catalog.pg_describe_object(classid, objid, 0) FROM member
    -- relations: kind, options, row-level security, privileges, comment
    UNION ALL SELECT format('relation %s kind=%s options=%s rls=%s/%s acl=%s persistence=%s', name, relkind, reloptions,
                            relrowsecurity, relforcerowsecurity, relacl, relpersistence) FROM rel
    UNION ALL SELECT format('comment on %s: %s', name, pg_catalog.obj_description(oid, 'pg_class')) FROM rel
    UNION ALL SELECT format('view %s: %s', name, pg_catalog.pg_get_viewdef(oid)) FROM rel WHERE relkind IN ('v', 'm')
    UNION ALL SELECT format('partition key of %s: %s', name, pg_catalog.pg_get_partkeydef(oid)) FROM rel WHERE relkind = 'p'
    UNION ALL SELECT format('partition bound of %s: %s', name, pg_catalog.pg_get_expr(relpartbound, oid)) FROM rel WHERE relispartition
    -- columns
    UNION ALL SELECT format('column %s.%s %s notnull=%s default=%s identity=%s generated=%s storage=%s acl=%s comment=%s',
                            r.name, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
                            pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attstorage,
                            a.attacl, pg_catalog.col_description(r.oid, a.attnum))
              FROM rel r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
              LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
    -- column order (a column added by an update goes last; a fresh install must agree)
    UNION ALL SELECT format('columns of %s: %s', r.name, string_agg(a.attname::text, ', ' ORDER BY a.attnum))
              FROM rel r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
              WHERE r.relkind IN ('r', 'p', 'v') GROUP BY r.name
    -- constraints, indexes, triggers, policies
    UNION ALL SELECT format('constraint %s on %s: %s', co.conname, r.name, pg_catalog.pg_get_constraintdef(co.oid))
              FROM rel r JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid
    UNION ALL SELECT format('index %s', pg_catalog.pg_get_indexdef(i.indexrelid))
              FROM rel r JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
    UNION ALL SELECT format('trigger %s enabled=%s', pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled)
              FROM rel r JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL SELECT format('policy %s on %s: %s for %s to %s using %s check %s', po.polname, r.name, po.polpermissive,
                            po.polcmd, po.polroles::regrole[], pg_catalog.pg_get_expr(po.polqual, po.polrelid),
                            pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))
              FROM rel r JOIN pg_catalog.pg_policy po ON po.polrelid = r.oid
    -- sequences
    UNION ALL SELECT format('sequence %s %s start=%s inc=%s min=%s max=%s cycle=%s owned by %s', r.name,
                            pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                            s.seqcycle, (SELECT d.refobjid::regclass || '.' || a.attname FROM pg_catalog.pg_depend d
                                         JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = r.oid
                                         AND d.deptype = 'a'))
              FROM rel r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid
    -- functions: the whole definition, privileges, comment
    UNION ALL SELECT format('function %s acl=%s: %s', name, proacl, pg_catalog.pg_get_functiondef(oid))
              FROM fn WHERE prokind <> 'a'
    UNION ALL SELECT format('comment on function %s: %s', name, pg_catalog.obj_description(oid, 'pg_proc')) FROM fn
    -- the schema
    UNION ALL SELECT format('schema %s acl=%s comment=%s', nspname, nspacl, pg_catalog.obj_description(oid, 'pg_namespace'))
              FROM pg_catalog.pg_namespace WHERE nspname = 'car'
    -- what pg_dump keeps: config tables and their conditions
    UNION ALL SELECT format('pg_dump keeps the rows of %s %s', c.cfg::regclass, cond)
              FROM ext, unnest(ext.extconfig, ext.extcondition) AS c(cfg, cond)
    -- privileges as the extension's scripts left them (pg_dump dumps changes to these)
    UNION ALL SELECT format('initial privileges of %s: %s', pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
                            ip.initprivs)
              FROM pg_catalog.pg_init_privs ip JOIN member m ON m.classid = ip.classoid AND m.objid = ip.objoid
)
SELECT * FROM line AS l(t) ORDER BY t COLLATE "C";
