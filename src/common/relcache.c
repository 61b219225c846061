/*
 * relcache.c — one relcache callback for all of Phoenix.
 *
 * Each subsystem caches OIDs and relcache-derived facts and forgets them on
 * an invalidation.  PostgreSQL keeps a fixed array of ten such callbacks per
 * backend for every library loaded into it; registering each subsystem's
 * own would take most of them.  So subsystems register here (at load time,
 * from _PG_init) and a single PostgreSQL callback calls them in order.
 */
#include "postgres.h"

#include "common/relcache.h"

#define PHOENIX_RELCACHE_CALLBACKS 16

typedef struct RelcacheListener
{
	RelcacheCallbackFunction func;
	Datum		arg;
} RelcacheListener;

static RelcacheListener listeners[PHOENIX_RELCACHE_CALLBACKS];
static int	nlisteners = 0;

static void
relcache_dispatch(Datum arg, Oid relid)
{
	for (int i = 0; i < nlisteners; i++)
		listeners[i].func(listeners[i].arg, relid);
}

void
phoenix_relcache_callback(RelcacheCallbackFunction func, Datum arg)
{
	if (nlisteners >= PHOENIX_RELCACHE_CALLBACKS)
		elog(FATAL, "out of phoenix relcache callback slots");
	if (nlisteners == 0)
		CacheRegisterRelcacheCallback(relcache_dispatch, (Datum) 0);
	listeners[nlisteners].func = func;
	listeners[nlisteners].arg = arg;
	nlisteners++;
}
