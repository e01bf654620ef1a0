"""Tenant schemas are created by one SECURITY DEFINER function, so the app
role needs no way to become the owner (docs/operations.md, Database roles).

`public.zentra_template_script` holds the template as one script: its DDL
(pg_dump of the template schema), the copy of its rows and its sequences,
with the target schema as a placeholder. Only the owner writes it
(`manage.py tenant_template`, tenants/services/template.py); the app role may
not even read it.

`public.zentra_schema_provision(target, template)` runs that script for a
new schema, as the owner, inside the caller's
transaction (a failed provisioning leaves no schema), after checking that
the script was made from the template as it is now. It then gives each
grantee the privileges the template grants it (schema, tables, sequences,
columns), so a new tenant schema is the template's copy in structure, rows
and privileges. The app role gets EXECUTE on it (db_roles), which is all it
can do as the owner: it cannot ALTER, DROP or disable a trigger of any
schema, and cannot change what the script does.
"""
from django.db import migrations

# tenants/services/template.py's SCHEMA_PLACEHOLDER, as it was when this ran.
PLACEHOLDER = "__zentra_clone_target__"
# A grantee in aclexplode's rows: 0 is PUBLIC.
WHO = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS who"

SQL = f"""
CREATE TABLE public.zentra_template_script (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    template_name text NOT NULL,
    template_oid oid NOT NULL,
    script text NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON public.zentra_template_script FROM PUBLIC;

CREATE FUNCTION public.zentra_schema_provision(target text, template text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET check_function_bodies = off
AS $fn$
DECLARE
    s record;
    tpl oid;
    g record;
BEGIN
    IF target IS NULL OR target !~ '^[a-z][a-z0-9_]{{1,62}}$' OR left(target, 3) = 'pg_'
       OR target IN ('public', 'information_schema', template) THEN
        RAISE EXCEPTION 'zentra: % is not a tenant schema name', target USING ERRCODE = 'invalid_schema_name';
    END IF;
    SELECT * INTO s FROM public.zentra_template_script WHERE id = 1 AND template_name = template;
    SELECT oid INTO tpl FROM pg_namespace WHERE nspname = template;
    IF NOT FOUND OR s.template_oid IS NULL OR tpl IS DISTINCT FROM s.template_oid THEN
        RAISE EXCEPTION 'zentra: the template script is missing or older than the template schema'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run manage.py tenant_template as the owner role.';
    END IF;
    -- The script is the owner's alone: whoever else could write it could
    -- run any DDL as the owner through this function.
    IF EXISTS (SELECT FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
               WHERE c.oid = 'public.zentra_template_script'::regclass AND a.grantee <> c.relowner
                 AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')) THEN
        RAISE EXCEPTION 'zentra: public.zentra_template_script is writable by a role other than its owner'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Run manage.py db_roles.';
    END IF;
    EXECUTE replace(s.script, '{PLACEHOLDER}', quote_ident(target));

    -- Privileges: exactly the template's. Tables the owner creates start
    -- with its default privileges; those are taken back first.
    FOR g IN
        SELECT c.relname, c.relkind, {WHO}
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE n.nspname = target AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE ALL ON %s %I.%I FROM %s',
                       CASE WHEN g.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, target, g.relname, g.who);
    END LOOP;
    FOR g IN
        SELECT a.privilege_type, {WHO}
        FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE n.oid = tpl AND a.grantee <> n.nspowner
    LOOP
        EXECUTE format('GRANT %s ON SCHEMA %I TO %s', g.privilege_type, target, g.who);
    END LOOP;
    FOR g IN
        SELECT c.relname, c.relkind, a.privilege_type, {WHO}
        FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.relnamespace = tpl AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON %s %I.%I TO %s', g.privilege_type,
                       CASE WHEN g.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, target, g.relname, g.who);
    END LOOP;
    FOR g IN
        SELECT c.relname, t.attname, a.privilege_type, {WHO}
        FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid
        CROSS JOIN LATERAL aclexplode(t.attacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.relnamespace = tpl AND t.attacl IS NOT NULL AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s (%I) ON %I.%I TO %s', g.privilege_type, g.attname, target, g.relname, g.who);
    END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION public.zentra_schema_provision(text, text) FROM PUBLIC;
"""

REVERSE = """
DROP FUNCTION IF EXISTS public.zentra_schema_provision(text, text);
DROP TABLE IF EXISTS public.zentra_template_script;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0002_tenant_limits"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
