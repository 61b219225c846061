/*
 * owner.h — running a fixed piece of Phoenix's own work as the extension
 * owner, with name lookups pinned to pg_catalog (then pg_temp).
 *
 * For the narrow paths where Phoenix must read or write its own catalogs
 * whatever the caller may read: the entity, event type and projection caches
 * a reader's first phoenix.get() fills, and checks that must see every
 * catalog row.  Only fixed, parameterised SQL and C code run inside; nothing
 * a caller supplies.  An error unwinds both the user id and the search path
 * with the (sub)transaction.
 */
#ifndef PHOENIX_OWNER_H
#define PHOENIX_OWNER_H

#include "postgres.h"

#include "common/compat.h"

typedef struct PhxAsOwner
{
	Oid			save_userid;
	int			save_sec;
	PhxPinnedPath pinned;
} PhxAsOwner;

/* The extension's owner: the owner of schema phoenix. */
extern Oid	phx_extension_owner(void);
extern Oid	phx_namespace_owner(Oid nsp);
extern void phx_as_owner_begin(PhxAsOwner *as);
extern void phx_as_owner_end(PhxAsOwner *as);
extern void phx_grant_runtime_privileges(const char *object, char kind);

#endif							/* PHOENIX_OWNER_H */
