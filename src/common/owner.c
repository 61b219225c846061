/*
 * owner.c — run a narrow, fixed piece of Phoenix's work as the extension
 * owner (see owner.h).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "common/owner.h"
#include "common/phoenix.h"

/*
 * The owner of schema phoenix, which CREATE EXTENSION made for the role that
 * ran it.  Looked up each time (one syscache probe): nothing to invalidate
 * when the extension is dropped and made again by someone else.
 */
Oid
phx_extension_owner(void)
{
	return phx_namespace_owner(get_namespace_oid(PHOENIX_SCHEMA, false));
}

/* The owner of schema nsp. */
Oid
phx_namespace_owner(Oid nsp)
{
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Become the owner, as a SECURITY DEFINER function would (a local user id
 * change: SET ROLE and the like are refused meanwhile), and pin name
 * lookups: the caller's search_path must not choose which function or
 * operator the owner runs.
 */
void
phx_as_owner_begin(PhxAsOwner *as)
{
	GetUserIdAndSecContext(&as->save_userid, &as->save_sec);
	SetUserIdAndSecContext(phx_extension_owner(), as->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	as->pinned = phx_pin_search_path();
}

void
phx_as_owner_end(PhxAsOwner *as)
{
	phx_unpin_search_path(as->pinned);
	SetUserIdAndSecContext(as->save_userid, as->save_sec);
}

/*
 * The privileges of an object made at run time (a reporting table or view,
 * an entity's table, view or as-of function), declared once, in SQL
 * (phoenix.grant_runtime_privileges, 90_grants.sql).  object is a qualified,
 * quoted name; a function's with its argument types.  kind: 'r' relation,
 * 'f' function.  Called as the owner, inside an SPI connection.
 */
void
phx_grant_runtime_privileges(const char *object, char kind)
{
	Oid			argtypes[2] = {TEXTOID, CHAROID};
	Datum		values[2] = {CStringGetTextDatum(object), CharGetDatum(kind)};

	if (SPI_execute_with_args("SELECT phoenix.grant_runtime_privileges(CASE $2 WHEN 'f'"
							  " THEN $1::pg_catalog.regprocedure::pg_catalog.oid"
							  " ELSE $1::pg_catalog.regclass::pg_catalog.oid END, $2)",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not grant the privileges of %s", object);
}
