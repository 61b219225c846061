/*
 * compat.h — every PG_VERSION_NUM shim in one place.
 *
 * Phoenix targets PostgreSQL 15; when 16–18 follow, the differences between
 * server versions go here and nowhere else.
 */
#ifndef PHOENIX_COMPAT_H
#define PHOENIX_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "Phoenix requires PostgreSQL 15 or later"
#endif

/*
 * Pin name lookups to pg_catalog, then the session's temporary schema (as
 * search_path = pg_catalog, pg_temp does) for the duration of a C call, and
 * undo it.  An error unwinds either form with the (sub)transaction.
 * PostgreSQL 15 and 16 have override search paths, which cost nothing at
 * the next lookup; 17 removed them, so there the path is set the way
 * SECURITY DEFINER ... SET search_path sets it, in a GUC nest level.
 */
#if PG_VERSION_NUM < 170000
#include "catalog/namespace.h"
#include "catalog/pg_namespace_d.h"

typedef int PhxPinnedPath;

static inline PhxPinnedPath
phx_pin_search_path(void)
{
	OverrideSearchPath path;
	Oid			temp_nsp;
	Oid			temp_toast_nsp;

	GetTempNamespaceState(&temp_nsp, &temp_toast_nsp);
	path.schemas = list_make1_oid(PG_CATALOG_NAMESPACE);
	if (OidIsValid(temp_nsp))
		path.schemas = lappend_oid(path.schemas, temp_nsp);
	path.addCatalog = false;
	path.addTemp = false;
	path.generation = 0;
	PushOverrideSearchPath(&path);
	list_free(path.schemas);
	return 0;
}

static inline void
phx_unpin_search_path(PhxPinnedPath pinned)
{
	(void) pinned;
	PopOverrideSearchPath();
}
#else
#include "utils/guc.h"

typedef int PhxPinnedPath;

static inline PhxPinnedPath
phx_pin_search_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

static inline void
phx_unpin_search_path(PhxPinnedPath pinned)
{
	AtEOXact_GUC(true, pinned);
}
#endif

/* The backend's local transaction id (17 moved it into MyProc->vxid). */
#include "storage/proc.h"
#if PG_VERSION_NUM < 170000
#define phx_local_xid()	(MyProc->lxid)
#else
#define phx_local_xid()	(MyProc->vxid.lxid)
#endif

/*
 * Transactions ended so far, as snapshots count them (snapXactCompletionCount;
 * 17 renamed ShmemVariableCache), and whether this transaction holds a lock
 * of `mode` or stronger (17 added the argument).
 */
#include "access/transam.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
static inline uint64
phx_xact_completion_count(void)
{
	uint64		count;

	LWLockAcquire(ProcArrayLock, LW_SHARED);
#if PG_VERSION_NUM < 170000
	count = ShmemVariableCache->xactCompletionCount;
#else
	count = TransamVariables->xactCompletionCount;
#endif
	LWLockRelease(ProcArrayLock);
	return count;
}

static inline bool
phx_lock_held_or_stronger(const LOCKTAG *tag, LOCKMODE mode)
{
#if PG_VERSION_NUM < 170000
	for (LOCKMODE m = mode; m <= MaxLockMode; m++)
		if (LockHeldByMe(tag, m))
			return true;
	return false;
#else
	return LockHeldByMe(tag, mode, true);
#endif
}

/*
 * A relation's file, to tell whether a tid still names a row of the same
 * file (16 renamed RelFileNode to RelFileLocator).
 */
#if PG_VERSION_NUM < 160000
#include "storage/relfilenode.h"
typedef RelFileNode PhxRelFile;
#define phx_rel_file(rel)			((rel)->rd_node)
#define phx_rel_file_equal(a, b)	RelFileNodeEquals(a, b)
#else
#include "storage/relfilelocator.h"
typedef RelFileLocator PhxRelFile;
#define phx_rel_file(rel)			((rel)->rd_locator)
#define phx_rel_file_equal(a, b)	RelFileLocatorEquals(a, b)
#endif

#endif							/* PHOENIX_COMPAT_H */
