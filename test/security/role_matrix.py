#!/usr/bin/env python3
"""role_matrix.py — Phoenix's role table, checked against the database.

Used by test/shell/security_roles.sh.  Reads the role table (between the
`<!-- roles:begin -->` / `<!-- roles:end -->` markers of README.md, or of
docs/security.md while README has none), lists every object Phoenix created
(extension members and what was made at run time in its schemas), and

  sweep    compares each role's privileges on each object, from the
           catalogs (has_*_privilege, so PUBLIC and memberships count), with
           the table: nothing more, nothing less;
  fresh    for every function, table, view and sequence and every role,
           opens a NEW connection and tries the object as its first
           statement: allowed -> passes the privilege check; not allowed ->
           SQLSTATE 42501; writes (INSERT/UPDATE/DELETE/TRUNCATE, nextval,
           setval) are never allowed.

usage: role_matrix.py ROOT sweep|fresh reader=LOGIN writer=LOGIN admin=LOGIN login=LOGIN
Prints one line per failure and exits 1 if there is any.
"""
import concurrent.futures
import fnmatch
import os
import re
import subprocess
import sys

ROLES = ("reader", "writer", "admin")
PRIVS = {"rel": ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"),
         "seq": ("USAGE", "SELECT", "UPDATE"),
         "fn": ("EXECUTE",),
         "schema": ("USAGE", "CREATE"),
         "fdw": ("USAGE",)}


def role_table(root):
    """[(patterns, kind_hint, {role: privilege or None}), ...] and the default row."""
    text = None
    for name in ("README.md", "docs/security.md"):
        path = os.path.join(root, name)
        if os.path.exists(path):
            t = open(path, encoding="utf-8").read()
            m = re.search(r"<!-- roles:begin -->(.*?)<!-- roles:end -->", t, re.S)
            if m:
                text = m.group(1)
                break
    if text is None:
        sys.exit("no role table (<!-- roles:begin --> ... <!-- roles:end -->) in README.md or docs/security.md")
    rows, default = [], None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("objects", "") or set(cells[0]) <= set("-"):
            continue
        grants = {r: (None if c in ("—", "-", "") else c.upper()) for r, c in zip(ROLES, cells[1:])}
        names = re.findall(r"`([^`]+)`", cells[0])
        if cells[0].startswith("everything else"):
            default = (names, grants)
        elif cells[0].startswith("schemas"):
            rows.append(([("schema", n) for n in names], grants))
        else:
            rows.append(([("fn" if n.endswith("()") else "rel", n.rstrip("()")) for n in names], grants))
    if default is None:
        sys.exit("the role table has no 'everything else' row")
    return rows, default


def expected(rows, default, kind, name):
    """The table's grants for an object: exact names first, then patterns."""
    family = "fn" if kind == "fn" else ("schema" if kind == "schema" else "rel")
    for exact in (True, False):
        for patterns, grants in rows:
            for pkind, pat in patterns:
                if pkind != family and not (family == "rel" and pkind == "rel"):
                    continue
                if (pat == name) if exact else ("*" in pat and fnmatch.fnmatchcase(name, pat)):
                    return grants
    for pat in default[0]:
        if fnmatch.fnmatchcase(name, pat.rstrip("()")):
            return default[1]
    return None


def psql(login, *commands, first_error_only=False):
    """Run commands in one new connection; [(marker, sqlstate or None)]."""
    script = ["\\set VERBOSITY sqlstate", "\\set ON_ERROR_ROLLBACK on"]
    for i, c in enumerate(commands):
        script += ["\\warn @%d" % i, c.rstrip(";") + ";"]
    p = subprocess.run(["psql", "-X", "-q", "-At", "-U", login], input="\n".join(script) + "\n",
                       capture_output=True, text=True)
    states, cur = {}, None
    for line in p.stderr.splitlines():
        m = re.match(r"@(\d+)$", line)
        if m:
            cur = int(m.group(1))
            states[cur] = None
        else:
            m = re.match(r"(?:psql:.*?: )?(?:ERROR|FATAL):\s+([0-9A-Z]{5})", line)
            if m and cur is not None and states.get(cur) is None:
                states[cur] = m.group(1)
    return [states.get(i, "no-run") for i in range(len(commands))]


def catalog(login):
    sql = r"""
SET search_path = pg_catalog;
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'phoenix'),
nsp AS (SELECT oid FROM pg_namespace WHERE nspname IN ('phoenix', 'phoenix_entity', 'reporting')),
rels AS (
  SELECT c.oid FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM nsp)
     AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  UNION SELECT d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e'
     AND d.classid = 'pg_class'::regclass),
fns AS (
  SELECT p.oid FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM nsp)
  UNION SELECT d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e'
     AND d.classid = 'pg_proc'::regclass)
SELECT CASE c.relkind WHEN 'S' THEN 'seq' ELSE 'rel' END, c.oid::regclass::text, c.relkind::text,
       (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
           AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1)
  FROM pg_class c WHERE c.oid IN (SELECT oid FROM rels)
UNION ALL
SELECT 'fn', p.oid::regprocedure::text,
       CASE WHEN p.prorettype IN ('trigger'::regtype, 'fdw_handler'::regtype, 'internal'::regtype,
                                  'event_trigger'::regtype) THEN 'internal'
            WHEN p.proretset OR (SELECT t.typrelid FROM pg_type t WHERE t.oid = p.prorettype) <> 0 OR p.prorettype = 'record'::regtype
            THEN 'set' ELSE 'scalar' END,
       ''
  FROM pg_proc p WHERE p.oid IN (SELECT oid FROM fns)
UNION ALL
SELECT 'schema', n.nspname::text, '', '' FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM nsp)
UNION ALL
SELECT 'fdw', w.fdwname::text, '', '' FROM pg_foreign_data_wrapper w
 WHERE w.oid IN (SELECT d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
    out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-U", login, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [tuple(l.split("\t")) for l in out.splitlines() if l]


def has_privileges(owner, logins, objects):
    """{(kind, name, role): set of privileges} from the catalogs."""
    checks = []
    for kind, name, _, _ in objects:
        fn = {"rel": "has_table_privilege", "seq": "has_sequence_privilege", "fn": "has_function_privilege",
              "schema": "has_schema_privilege", "fdw": "has_foreign_data_wrapper_privilege"}[kind]
        for role, login in logins.items():
            for priv in PRIVS[kind]:
                checks.append("SELECT %s, %s, %s, %s FROM (SELECT %s(%s, %s, %s) AS ok) x WHERE ok" % (
                    lit(kind), lit(name), lit(role), lit(priv), fn, lit(login), lit(name), lit(priv)))
    result = {}
    for i in range(0, len(checks), 400):
        out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-U", owner, "-c",
                              " UNION ALL ".join(checks[i:i + 400])],
                             check=True, capture_output=True, text=True).stdout
        for l in out.splitlines():
            kind, name, role, priv = l.split("\t")
            result.setdefault((kind, name, role), set()).add(priv)
    return result


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def want(grants, role):
    """The privileges a role should hold, from its table cell; login: none."""
    if role == "login" or grants is None:
        return set()
    g = grants.get(role)
    return {g} if g else set()


def sweep(root, logins):
    rows, default = role_table(root)
    objects = catalog("postgres")
    actual = has_privileges("postgres", logins, objects)
    failures = []
    for kind, name, _, _ in objects:
        base = name.split("(")[0]
        grants = expected(rows, default, kind, base)
        if grants is None:
            failures.append("%s %s is not in the role table" % (kind, name))
            continue
        for role in logins:
            got = actual.get((kind, name, role), set())
            if got != want(grants, role):
                failures.append("%s %s: %s holds %s, the table says %s" % (
                    kind, name, role, sorted(got) or "nothing", sorted(want(grants, role)) or "nothing"))
    return failures, len(objects)


def fresh(root, logins):
    rows, default = role_table(root)
    objects = catalog("postgres")
    jobs = []
    for kind, name, detail, column in objects:
        if kind in ("schema", "fdw") or detail == "internal":
            continue			# the sweep covers them; they cannot be called or read
        grants = expected(rows, default, kind, name.split("(")[0])
        if grants is None:
            continue			# reported by the sweep
        for role, login in logins.items():
            jobs.append((kind, name, detail, column, role, login, want(grants, role)))
    # connections are independent: a few at a time
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda j: probe(*j), jobs))
    failures = [f for r in results for f in r[0]]
    return failures, sum(r[1] for r in results)


def probe(kind, name, detail, column, role, login, allowed):
    """One object, one role, one new connection: (failures, probes)."""
    failures = []
    if kind == "fn":
        args = name[name.index("(") + 1:-1]
        # scalar subqueries: a strict function of constant NULLs would be folded
        # away by the planner, and with it the EXECUTE check
        nulls = ", ".join("(SELECT NULL::%s)" % a.strip() for a in split_args(args)) if args else ""
        fn = name.split("(")[0]
        call = ("SELECT count(*) FROM %s(%s)" if detail == "set" else "SELECT %s(%s)") % (fn, nulls)
        # BEGIN reads no catalog: the call is the session's first real statement
        states = psql(login, "BEGIN", call, "ROLLBACK")[1:2]
        checks = [("EXECUTE", states[0])]
    else:
        sel = "SELECT 1 FROM %s LIMIT 0" % name if kind == "rel" else "SELECT last_value FROM %s" % name
        if kind == "seq":
            writes = [("USAGE/nextval", "SELECT nextval(%s)" % lit(name)),
                      ("UPDATE/setval", "SELECT setval(%s, 1000000000)" % lit(name))]
        else:
            col = '"%s"' % column.replace('"', '""')
            writes = [("INSERT", "INSERT INTO %s DEFAULT VALUES" % name),
                      ("UPDATE", "UPDATE %s SET %s = %s WHERE false" % (name, col, col)),
                      ("DELETE", "DELETE FROM %s WHERE false" % name)]
            if detail in ("r", "p"):
                writes.append(("TRUNCATE", "TRUNCATE %s" % name))
        states = psql(login, sel, "BEGIN", *[w[1] for w in writes], "ROLLBACK")
        checks = [("SELECT", states[0])] + [(w[0], states[2 + i]) for i, w in enumerate(writes)]
    for priv, state in checks:
        ok_allowed = priv.split("/")[0] in allowed
        if state == "no-run":
            failures.append("%s %s as %s: %s did not run" % (kind, name, role, priv))
        elif ok_allowed and state == "42501":
            failures.append("%s %s as %s: %s refused (42501) but the table allows it" % (kind, name, role, priv))
        elif not ok_allowed and state is None:
            failures.append("%s %s as %s: %s succeeded but the table does not allow it" % (kind, name, role, priv))
        elif not ok_allowed and state != "42501" and not (kind == "rel" and detail == "v" and priv != "SELECT"):
            failures.append("%s %s as %s: %s failed with %s, expected 42501" % (kind, name, role, priv, state))
    return failures, len(checks)


def split_args(args):
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    out.append(cur)
    return [a for a in out if a.strip()]


def main():
    root, mode = sys.argv[1], sys.argv[2]
    logins = dict(a.split("=", 1) for a in sys.argv[3:])
    failures, n = (sweep if mode == "sweep" else fresh)(root, logins)
    for f in failures:
        print(f)
    print("%s: %d %s, %d failures" % (mode, n, "objects" if mode == "sweep" else "probes", len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
