/*
 * eventid.c — the ids Phoenix makes for events that bring none (eventid.h).
 *
 * Layout of a generated id, as two 64-bit halves of the UUID:
 *   high: received millisecond since 1970 (48) | version 8 (4) | position bits 47..36 (12)
 *   low:  variant 0b10 (2) | position bits 35..0 (36) | node (26)
 * written as lowercase hex in the 8-4-4-4-12 form.
 */
#include "postgres.h"

#include <sys/time.h>

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "common/relcache.h"
#include "common/phoenix.h"
#include "ingest/eventid.h"

#define EVENTID_LEN			36
#define POSITION_BITS		48
#define NODE_BITS			26
#define NODE_MASK			((UINT64CONST(1) << NODE_BITS) - 1)
/* Unix epoch milliseconds of PostgreSQL's epoch (2000-01-01). */
#define PG_EPOCH_UNIX_MS	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000)

PG_FUNCTION_INFO_V1(phoenix_generated_id_nodes_changed);

/*
 * This database's nodes (phoenix.generated_id_nodes), read once per backend
 * and read again after the table changes (its trigger invalidates it) or is
 * replaced.  nodes[0] is the one new ids carry; all of them are reserved.
 */
static bool nodes_known = false;
static Oid	nodes_relid = InvalidOid;
static int	nnodes = 0;
static int32 *nodes = NULL;

static const char hex_digits[] = "0123456789abcdef";

/*
 * Without the table (before ALTER EXTENSION ... UPDATE made it), any
 * invalidation looks again: the update's own INSERT sends one for the new
 * table, whose OID nobody knew.
 */
static void
eventid_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == nodes_relid || !OidIsValid(nodes_relid))
		nodes_known = false;
}

void
eventid_init(void)
{
	phoenix_relcache_callback(eventid_relcache_callback, (Datum) 0);
}

/*
 * Read the nodes.  A missing table (an older version's objects, before
 * ALTER EXTENSION ... UPDATE) or an empty one leaves none: every id is then
 * claimed, as before this form existed.
 */
static void
load_nodes(void)
{
	Oid			nsp = get_namespace_oid(PHOENIX_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("generated_id_nodes", nsp) : InvalidOid;
	int32	   *found = NULL;
	int			n = 0;

	if (OidIsValid(relid))
	{
		if (SPI_execute("SELECT node FROM phoenix.generated_id_nodes ORDER BY node", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read phoenix.generated_id_nodes");
		found = MemoryContextAlloc(TopMemoryContext, sizeof(int32) * Max(SPI_processed, 1));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull && DatumGetInt32(d) >= 0 && (uint64) DatumGetInt32(d) <= NODE_MASK)
				found[n++] = DatumGetInt32(d);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (nodes)
		pfree(nodes);
	nodes = found;
	nnodes = n;
	nodes_relid = relid;
	nodes_known = true;
}

static void
ensure_nodes(void)
{
	if (!nodes_known)
		load_nodes();
}

static bool
node_is_ours(int32 node)
{
	for (int i = 0; i < nnodes; i++)
		if (nodes[i] == node)
			return true;
	return false;
}

static char *
format_uuid(uint64 high, uint64 low)
{
	char	   *out = palloc(EVENTID_LEN + 1);
	char	   *o = out;

	for (int i = 0; i < 32; i++)
	{
		uint64		half = i < 16 ? high : low;
		int			shift = 60 - 4 * (i % 16);

		if (i == 8 || i == 12 || i == 16 || i == 20)
			*o++ = '-';
		*o++ = hex_digits[(half >> shift) & 0x0f];
	}
	*o = '\0';
	return out;
}

/* Lowercase hex in the 8-4-4-4-12 form into two halves; false otherwise. */
static bool
parse_uuid(const char *id, uint64 *high, uint64 *low)
{
	uint64		half[2] = {0, 0};
	int			digit = 0;

	for (int i = 0; i < EVENTID_LEN; i++)
	{
		char		c = id[i];
		int			v;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return false;
		half[digit / 16] = (half[digit / 16] << 4) | (uint64) v;
		digit++;
	}
	if (id[EVENTID_LEN] != '\0')
		return false;
	*high = half[0];
	*low = half[1];
	return true;
}

char *
eventid_generated(int64 position, TimestampTz received_at)
{
	int64		ms = received_at / 1000 + PG_EPOCH_UNIX_MS;

	ensure_nodes();
	if (nnodes == 0 || position < 0 || position >= (INT64CONST(1) << POSITION_BITS) ||
		received_at < 0 || ms >= (INT64CONST(1) << 48))
		return NULL;
	return format_uuid(((uint64) ms << 16) | UINT64CONST(0x8000) | (((uint64) position >> 36) & 0x0fff),
					   (UINT64CONST(2) << 62) | (((uint64) position & UINT64CONST(0xfffffffff)) << NODE_BITS) |
					   ((uint64) nodes[0] & NODE_MASK));
}

bool
eventid_is_generated_here(const char *id, int64 *position, TimestampTz *received_from)
{
	uint64		high,
				low;
	int64		ms;

	if (strlen(id) != EVENTID_LEN || !parse_uuid(id, &high, &low))
		return false;
	if (((high >> 12) & 0x0f) != 8 || (low >> 62) != 2)
		return false;
	ensure_nodes();
	if (!node_is_ours((int32) (low & NODE_MASK)))
		return false;
	ms = (int64) (high >> 16);
	*position = (int64) (((high & 0x0fff) << 36) | ((low >> NODE_BITS) & UINT64CONST(0xfffffffff)));
	*received_from = (ms - PG_EPOCH_UNIX_MS) * 1000;
	return true;
}

/*
 * A version 7 UUID whose bits after the millisecond are a counter and then
 * a random value drawn once per backend, so that the ids one backend makes
 * ascend and go into the unique index of phoenix.event_ids at its right edge
 * (the B-tree's fast path for the rightmost leaf) instead of a random leaf.
 */
char *
eventid_claimed(void)
{
	static uint64 last_ms = 0;
	static uint32 counter = 0;
	static uint64 node = 0;
	static bool have_node = false;
	struct timeval tv;
	uint64		ms;

	if (!have_node)
	{
		if (!pg_strong_random(&node, sizeof(node)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random event id seed")));
		have_node = true;
	}
	gettimeofday(&tv, NULL);
	ms = (uint64) tv.tv_sec * 1000 + tv.tv_usec / 1000;
	if (ms > last_ms)
	{
		last_ms = ms;
		counter = 0;
	}
	else if (++counter >= (1U << 30))
	{
		/* a billion ids in one millisecond: borrow the next one */
		last_ms++;
		counter = 0;
	}
	/* 48 ms | 7 | 12 counter bits ; 0b10 | 18 counter bits | 44 random bits */
	return format_uuid(((last_ms & ((UINT64CONST(1) << 48) - 1)) << 16) | UINT64CONST(0x7000) |
					   ((counter >> 18) & 0x0fff),
					   (UINT64CONST(2) << 62) | ((uint64) (counter & 0x3ffff) << 44) |
					   (node & ((UINT64CONST(1) << 44) - 1)));
}

/*
 * Trigger of phoenix.generated_id_nodes: every backend reads the nodes
 * again after a change commits (a restore's rows, an edit).
 */
Datum
phoenix_generated_id_nodes_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("phoenix.generated_id_nodes_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
