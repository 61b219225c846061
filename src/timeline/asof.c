/*
 * asof.c — the hash as-of join: phoenix.asof_join(entity, query, known_at)
 * and the compact in-memory as-of index behind it.
 *
 * Joining N rows to an entity "as of each row's time" with an index probe per
 * row costs N random index descents.  Instead, we stream every version of the
 * entity once into memory and stream the rows through it: one hash probe and
 * one search among the key's versions each.  Both passes use DestReceivers:
 * the versions stream into the index, the query's rows are read from a
 * portal a few hundred at a time and returned as they are joined, so
 * nothing is materialized (asof_scan.c returns them from a custom scan).
 *
 * At a million rows against a million versions the join is bound by cache
 * and TLB misses, not instructions, so the index is laid out to need few:
 *  - a key's versions live in one contiguous block, beside the key bytes
 *    (header, key, valid_from[], valid_to[], attribute Datums, nulls), so a
 *    probe touches the bucket and one block, whose lines are adjacent;
 *  - buckets are 8 bytes (hash, block offset), open addressing;
 *  - by-reference attribute values are copied into large arena chunks (no
 *    palloc per version), deduplicated through a small per-attribute cache:
 *    attribute values repeat (departments, sites, rooms, and every attribute
 *    a later version did not change), so the values the output copies stay
 *    in cache;
 *  - rows are probed in batches of ASOF_BATCH: the batch's buckets and then
 *    its blocks are prefetched before they are used, so the misses of a
 *    batch overlap instead of following each other.
 * Output rows keep the query's order.
 */
#include "postgres.h"
#include <sys/mman.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "timeline/asof.h"
#include "timeline/catalog.h"
#include "common/phoenix.h"

#define ASOF_BATCH		32		/* rows probed together */
#define ASOF_ROWBUF		(64 * 1024) /* by-reference query values of a batch */
#define ASOF_CHUNK		(1024 * 1024)	/* attribute value arena chunk */
#define ASOF_DEDUP		4096	/* dedup cache slots per attribute (power of 2) */
#define ASOF_AHEAD		8		/* versions prefetched ahead while laying out */
#define ASOF_HUGE_PAGE	((Size) 2 * 1024 * 1024)
#define ASOF_FETCH		(8 * ASOF_BATCH)	/* query rows read from the portal at once */

#if defined(__GNUC__) || defined(__clang__)
#define asof_prefetch(p) __builtin_prefetch(p)
#else
#define asof_prefetch(p) ((void) 0)
#endif

/* 8-byte words a byte count occupies */
#define WORDS(n)		(((uint64) (n) + 7) / 8)

/*
 * A bucket: the key's hash, and `ref`: 0 when empty, else the key's id + 1
 * while loading, the offset of its block (in words) once laid out.
 */
typedef struct AsofBucket
{
	uint32		hash;
	uint32		ref;
} AsofBucket;

/* The first word of a block; the rest is described by AsofBlockView. */
typedef struct AsofBlockHeader
{
	uint32		n;				/* versions */
	uint32		keylen;
} AsofBlockHeader;

/* A block's parts, decoded from its header. */
typedef struct AsofBlockView
{
	uint32		n;
	uint32		keylen;
	const char *key;
	TimestampTz *from;			/* n, ascending */
	TimestampTz *to;			/* n */
	Datum	   *values;			/* n * natts */
	bool	   *isnull;			/* n * natts */
} AsofBlockView;

/* A key while loading (one struct: interning a key touches one line). */
typedef struct AsofKeyInfo
{
	uint64		off;			/* in keybytes; once laid out, of its block */
	uint32		len;
	uint32		n;				/* versions */
} AsofKeyInfo;

/* Dedup cache slot: a copy of a by-reference value in the arena. */
typedef struct AsofDedup
{
	uint32		hash;
	Size		size;
	Pointer		copy;
} AsofDedup;

struct AsofIndex
{
	PhxEntity  *entity;
	MemoryContext cxt;
	int			natts;
	AsofBucket *buckets;
	uint32		mask;			/* buckets - 1 (a power of two minus one) */
	uint32		nkeys;
	uint64	   *blocks;			/* word 0 unused: ref 0 means empty */

	/* while loading: keys by id, versions in scan order */
	char	   *keybytes;
	Size		keyused,
				keycap;
	AsofKeyInfo *keys;			/* by key id */
	uint32		keyidcap;
	uint32		lastkid;		/* versions usually arrive grouped by key */
	uint32	   *vkid;
	TimestampTz *vfrom;
	TimestampTz *vto;
	Datum	   *vvalues;
	bool	   *visnull;
	uint64		nver,
				vercap;
	char	   *stage;			/* the memory of the five arrays above */

	/* by-reference attribute values */
	char	   *arena;
	Size		arenaleft;
	AsofDedup  *dedup;			/* natts * ASOF_DEDUP */
};

/*
 * DestReceiver that loads versions into the index.  History rows of one key
 * are rarely adjacent, so each row's key costs a random bucket access: keys
 * wait in a batch (copied into keybuf) whose buckets are prefetched, and get
 * their ids when the batch is full.
 */
typedef struct LoadReceiver
{
	DestReceiver pub;
	AsofIndex  *index;
	int			npending;
	Size		keyused;
	uint64		pver[ASOF_BATCH];	/* a version waiting for its key id */
	uint32		pkeyoff[ASOF_BATCH];	/* its key in keybuf */
	uint32		pkeylen[ASOF_BATCH];
	uint32		phash[ASOF_BATCH];
	char		keybuf[ASOF_ROWBUF];
} LoadReceiver;

/*
 * DestReceiver that joins query rows against the index, a batch at a time:
 * rows are copied (by-reference values into rowbuf, or batchcxt when they do
 * not fit) until ASOF_BATCH are waiting, then probed into the output rows
 * (out*), which the caller drains before fetching more query rows.
 */
typedef struct JoinReceiver
{
	DestReceiver pub;
	AsofIndex  *index;
	int			nq;				/* query columns */
	int			nout;			/* output columns: nq + natts */
	TupleDesc	querydesc;		/* a copy, in the join's context */
	MemoryContext batchcxt;
	char	   *rowbuf;
	Size		rowused;
	int			nbatch;
	Datum	   *bvalues;		/* ASOF_BATCH * nq */
	bool	   *bnulls;
	const char *bkey[ASOF_BATCH];
	int			bkeylen[ASOF_BATCH];
	uint32		bhash[ASOF_BATCH];
	bool		bprobe[ASOF_BATCH]; /* key and time not null */
	uint64	   *bblock[ASOF_BATCH]; /* candidate block (hash matched) */
	int			nrows;			/* output rows ready */
	Datum	   *outvalues;		/* ASOF_FETCH * nout */
	bool	   *outnulls;
} JoinReceiver;

/*
 * A join in progress: the index, the query's portal (read ASOF_FETCH rows at
 * a time into the receiver) and the output rows not yet returned.
 */
struct AsofJoin
{
	MemoryContext cxt;
	Portal		portal;
	bool		done;			/* the portal has no more rows */
	int			next;			/* next output row to return */
	JoinReceiver rcv;
};

PG_FUNCTION_INFO_V1(phoenix_asof_join);

static uint32 key_intern(AsofIndex *index, const char *key, uint32 keylen, uint32 hash);
static void buckets_grow(AsofIndex *index);
static void stage_grow(AsofIndex *index, uint64 cap);
static void *big_alloc(MemoryContext cxt, Size size);
static Datum value_copy(AsofIndex *index, int att, Datum value);
static void index_layout(AsofIndex *index);
static void block_sort(AsofIndex *index, AsofBlockView *b);
static inline void block_view(const AsofIndex *index, uint64 *block, AsofBlockView *b);
static inline uint64 *index_probe(const AsofIndex *index, const char *key, uint32 keylen, uint32 hash);
static inline int block_search(const AsofBlockView *b, TimestampTz at);
static bool load_receive(TupleTableSlot *slot, DestReceiver *self);
static void load_flush(LoadReceiver *rcv);
static void load_shutdown(DestReceiver *self);
static bool join_receive(TupleTableSlot *slot, DestReceiver *self);
static void join_check_shape(JoinReceiver *rcv, PhxEntity *entity, TupleDesc querydesc, TupleDesc outdesc);
static void join_flush(JoinReceiver *rcv);
static void join_shutdown(DestReceiver *self);
static void receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo);
static void receiver_noop(DestReceiver *self);

/*
 * How many versions to make room for at first: the planner's row count of
 * the history table (all recorded times: an upper bound), within reason.
 */
static uint64
stage_estimate(PhxEntity *entity)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(entity->history_relid));
	float4		reltuples = -1;

	if (HeapTupleIsValid(tup))
	{
		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;
		ReleaseSysCache(tup);
	}
	if (reltuples < 8192)
		return 8192;
	return (uint64) Min(reltuples * 1.05, 16.0 * 1024 * 1024);
}

/*
 * Build the index: one SPI scan of the history table whose rows go straight
 * into load_receive, then index_layout groups them into per-key blocks.
 * Everything lives in `cxt`; the loading arrays are freed at the end.
 */
AsofIndex *
asof_index_build(PhxEntity *entity, bool current, TimestampTz known_at, MemoryContext cxt)
{
	AsofIndex  *index = MemoryContextAllocZero(cxt, sizeof(AsofIndex));
	MemoryContext old = MemoryContextSwitchTo(cxt);
	StringInfoData sql;
	LoadReceiver *rcv = palloc0(sizeof(LoadReceiver));
	SPIExecuteOptions opts;
	ParamListInfo params = makeParamList(1);

	index->entity = entity;
	index->cxt = cxt;
	index->natts = entity->natts;
	index->mask = 1023;
	index->buckets = palloc0(sizeof(AsofBucket) * (index->mask + 1));
	index->lastkid = PG_UINT32_MAX;
	index->dedup = palloc0(sizeof(AsofDedup) * ASOF_DEDUP * Max(entity->natts, 1));
	MemoryContextSwitchTo(old);
	stage_grow(index, stage_estimate(entity));

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::text, valid_from, valid_to", quote_identifier(entity->key_name));
	for (int i = 0; i < entity->natts; i++)
		appendStringInfo(&sql, ", %s", quote_identifier(entity->atts[i].name));
	appendStringInfo(&sql, " FROM %s WHERE %s", entity->history_table,
					 current ? "recorded_to = 'infinity'"
					 : "recorded_from <= $1 AND recorded_to > $1");
	params->params[0].ptype = TIMESTAMPTZOID;
	params->params[0].value = TimestampTzGetDatum(known_at);
	params->params[0].isnull = current;
	params->params[0].pflags = PARAM_FLAG_CONST;

	rcv->pub.receiveSlot = load_receive;
	rcv->pub.rStartup = receiver_startup;
	rcv->pub.rShutdown = load_shutdown;
	rcv->pub.rDestroy = receiver_noop;
	rcv->pub.mydest = DestNone;
	rcv->index = index;
	memset(&opts, 0, sizeof(opts));
	opts.params = current ? NULL : params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) rcv;
	if (SPI_execute_extended(sql.data, &opts) < 0)
		elog(ERROR, "phoenix: loading versions of entity \"%s\" failed", entity->name);
	load_flush(rcv);
	pfree(rcv);
	index_layout(index);
	return index;
}

bool
asof_index_lookup(AsofIndex *index, const char *key, int keylen, TimestampTz at,
				  Datum **values, bool **isnull)
{
	uint64	   *block = index_probe(index, key, keylen,
									hash_bytes((const unsigned char *) key, keylen));
	AsofBlockView b;
	int			i;

	if (block == NULL)
		return false;
	block_view(index, block, &b);
	i = block_search(&b, at);
	if (i < 0)
		return false;
	*values = b.values + (Size) i * index->natts;
	*isnull = b.isnull + (Size) i * index->natts;
	return true;
}

/*
 * phoenix.asof_join(entity, query, known_at) → SETOF record
 *
 * The query's first two columns are the entity key (text) and a time
 * (timestamptz); each output row is the query row followed by the entity's
 * attributes as of that time (NULLs when the key did not exist then).
 *
 * Called as a function, the rows go into a tuplestore (a FunctionScan
 * materializes what it returns).  When the library is loaded at planning
 * time, asof_scan.c plans the call as a custom scan instead, which returns
 * the same rows from asof_join_next without materializing them.
 */
Datum
phoenix_asof_join(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AsofJoin   *join;
	Datum	   *values;
	bool	   *nulls;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		asof_join_null_argument();
	InitMaterializedSRF(fcinfo, 0);
	join = asof_join_begin(text_to_cstring(PG_GETARG_TEXT_PP(0)),
						   text_to_cstring(PG_GETARG_TEXT_PP(1)),
						   PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2),
						   rsinfo->setDesc, CurrentMemoryContext);
	while (asof_join_next(join, &values, &nulls))
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	asof_join_end(join);
	return (Datum) 0;
}

void
asof_join_null_argument(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("entity and query must not be null"),
			 errhint("Pass the entity's name and the text of a SELECT.")));
}

/*
 * Start a join: build the index (inside our own SPI connection) and open the
 * query as a portal, read later by asof_join_next outside SPI.  The portal
 * runs under the active snapshot, read-only; an error anywhere drops it with
 * the transaction, asof_join_end drops it otherwise.
 */
AsofJoin *
asof_join_begin(const char *entity_name, const char *query, bool current,
				TimestampTz known_at, TupleDesc outdesc, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "Phoenix as-of join",
											  ALLOCSET_DEFAULT_SIZES);
	AsofJoin   *join = MemoryContextAllocZero(cxt, sizeof(AsofJoin));
	JoinReceiver *rcv = &join->rcv;
	PhxEntity  *entity;
	SPIPlanPtr	plan;

	join->cxt = cxt;
	SPI_connect();
	entity = catalog_entity(entity_name, false);
	rcv->index = asof_index_build(entity, current, known_at, cxt);
	plan = SPI_prepare_cursor(query, 0, NULL, CURSOR_OPT_NO_SCROLL);
	if (plan == NULL || !SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of an as-of join must be a single SELECT returning rows")));
	join->portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	join_check_shape(rcv, entity, join->portal->tupDesc, outdesc);
	SPI_finish();

	rcv->pub.receiveSlot = join_receive;
	rcv->pub.rStartup = receiver_startup;
	rcv->pub.rShutdown = join_shutdown;
	rcv->pub.rDestroy = receiver_noop;
	rcv->pub.mydest = DestNone;
	rcv->batchcxt = AllocSetContextCreate(cxt, "Phoenix as-of join batch", ALLOCSET_DEFAULT_SIZES);
	return join;
}

/*
 * The next output row (*values, *nulls valid until the next call), or false
 * at the end.  Query rows are read ASOF_FETCH at a time; their by-reference
 * values stay in the batch memory until the rows made of them are returned.
 */
bool
asof_join_next(AsofJoin *join, Datum **values, bool **nulls)
{
	JoinReceiver *rcv = &join->rcv;

	while (join->next >= rcv->nrows)
	{
		if (join->done)
			return false;
		join->next = rcv->nrows = 0;
		rcv->rowused = 0;
		MemoryContextReset(rcv->batchcxt);
		join->done = PortalRunFetch(join->portal, FETCH_FORWARD, ASOF_FETCH,
									(DestReceiver *) rcv) < ASOF_FETCH;
	}
	*values = rcv->outvalues + (Size) join->next * rcv->nout;
	*nulls = rcv->outnulls + (Size) join->next * rcv->nout;
	join->next++;
	return true;
}

/* Drop the portal and every byte of the join. */
void
asof_join_end(AsofJoin *join)
{
	if (join->portal != NULL)
		SPI_cursor_close(join->portal);
	MemoryContextDelete(join->cxt);
}

/* ---------- loading ---------- */

/* The id of a key, adding it when new. */
static uint32
key_intern(AsofIndex *index, const char *key, uint32 keylen, uint32 hash)
{
	uint32		i;
	uint32		kid;

	for (i = hash & index->mask; index->buckets[i].ref != 0; i = (i + 1) & index->mask)
	{
		kid = index->buckets[i].ref - 1;
		if (index->buckets[i].hash == hash && index->keys[kid].len == keylen &&
			memcmp(index->keybytes + index->keys[kid].off, key, keylen) == 0)
			return kid;
	}

	kid = index->nkeys;
	if (kid == PG_UINT32_MAX - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("entity \"%s\" has too many keys for an as-of join", index->entity->name)));
	if (kid == index->keyidcap)
	{
		MemoryContext old = MemoryContextSwitchTo(index->cxt);

		index->keyidcap = Max(1024, index->keyidcap * 2);
		index->keys = index->keys ? repalloc_huge(index->keys, sizeof(AsofKeyInfo) * index->keyidcap)
			: palloc(sizeof(AsofKeyInfo) * index->keyidcap);
		MemoryContextSwitchTo(old);
	}
	if (index->keyused + keylen > index->keycap)
	{
		index->keycap = Max(Max(64 * 1024, index->keycap * 2), index->keyused + keylen);
		index->keybytes = index->keybytes ? repalloc_huge(index->keybytes, index->keycap)
			: MemoryContextAllocHuge(index->cxt, index->keycap);
	}
	if (keylen > 0)
		memcpy(index->keybytes + index->keyused, key, keylen);
	index->keys[kid].off = index->keyused;
	index->keys[kid].len = keylen;
	index->keys[kid].n = 0;
	index->keyused += keylen;
	index->buckets[i].hash = hash;
	index->buckets[i].ref = kid + 1;
	index->nkeys++;
	if ((uint64) index->nkeys * 2 > (uint64) index->mask + 1)
		buckets_grow(index);
	return kid;
}

/* Double the buckets (load factor stays <= 1/2), rehashing from the stored hashes. */
static void
buckets_grow(AsofIndex *index)
{
	AsofBucket *old = index->buckets;
	uint32		oldn = index->mask + 1;

	if (oldn >= (PG_UINT32_MAX / 2) + 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("entity \"%s\" has too many keys for an as-of join", index->entity->name)));
	index->mask = oldn * 2 - 1;
	index->buckets = MemoryContextAllocHuge(index->cxt, sizeof(AsofBucket) * (Size) oldn * 2);
	memset(index->buckets, 0, sizeof(AsofBucket) * (Size) oldn * 2);
	for (uint32 b = 0; b < oldn; b++)
		if (old[b].ref != 0)
		{
			uint32		j = old[b].hash & index->mask;

			while (index->buckets[j].ref != 0)
				j = (j + 1) & index->mask;
			index->buckets[j] = old[b];
		}
	pfree(old);
}

/*
 * Room for `cap` versions in the loading arrays: one allocation, cut in five
 * (huge pages where the kernel gives them: a page fault per 4 kB of a
 * million versions costs more than filling them).
 */
static void
stage_grow(AsofIndex *index, uint64 cap)
{
	int			natts = Max(index->natts, 1);
	Size		per = 2 * sizeof(TimestampTz) + (sizeof(Datum) + sizeof(bool)) * natts + sizeof(uint32);
	char	   *old = index->stage;
	char	   *p;

	if (cap > MaxAllocHugeSize / per)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("entity \"%s\" has too many versions for an as-of join", index->entity->name)));
	p = index->stage = big_alloc(index->cxt, per * cap);
	/* the 8-byte arrays first: each part stays 8-byte aligned */
#define STAGE_PART(field, size) \
	do { \
		if (old) memcpy(p, index->field, (size) * index->nver); \
		index->field = (void *) p; \
		p += (size) * cap; \
	} while (0)
	STAGE_PART(vfrom, sizeof(TimestampTz));
	STAGE_PART(vto, sizeof(TimestampTz));
	STAGE_PART(vvalues, sizeof(Datum) * natts);
	STAGE_PART(vkid, sizeof(uint32));
	STAGE_PART(visnull, sizeof(bool) * natts);
#undef STAGE_PART
	index->vercap = cap;
	if (old)
		pfree(old);
}

/*
 * A copy of a by-reference attribute value in the arena, shared with an
 * equal value seen before when the attribute's dedup cache still holds it.
 */
static Datum
value_copy(AsofIndex *index, int att, Datum value)
{
	PhxAttribute *a = &index->entity->atts[att];
	Size		size;
	uint32		hash;
	AsofDedup  *slot;
	Pointer		copy;

	if (a->typlen == -1 && VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(value)))
		return datumCopy(value, false, -1); /* not from a table scan; flattened */
	size = datumGetSize(value, false, a->typlen);
	hash = hash_bytes((const unsigned char *) DatumGetPointer(value), size);
	slot = &index->dedup[att * ASOF_DEDUP + (hash & (ASOF_DEDUP - 1))];
	if (slot->copy != NULL && slot->hash == hash && slot->size == size &&
		memcmp(slot->copy, DatumGetPointer(value), size) == 0)
		return PointerGetDatum(slot->copy);

	if (size > ASOF_CHUNK / 4)
		copy = MemoryContextAllocHuge(index->cxt, size);
	else
	{
		if (MAXALIGN(size) > index->arenaleft)
		{
			index->arena = MemoryContextAlloc(index->cxt, ASOF_CHUNK);
			index->arenaleft = ASOF_CHUNK;
		}
		copy = index->arena;
		index->arena += MAXALIGN(size);
		index->arenaleft -= MAXALIGN(size);
	}
	memcpy(copy, DatumGetPointer(value), size);
	slot->hash = hash;
	slot->size = size;
	slot->copy = copy;
	return PointerGetDatum(copy);
}

/*
 * One version: (key, valid_from, valid_to, attributes...).  Stored at once;
 * its key id is filled in by load_flush.
 */
static bool
load_receive(TupleTableSlot *slot, DestReceiver *self)
{
	LoadReceiver *rcv = (LoadReceiver *) self;
	AsofIndex  *index = rcv->index;
	int			natts = index->natts;
	text	   *keytext;
	const char *key;
	uint32		keylen;
	uint32		hash;
	uint64		v;

	slot_getallattrs(slot);
	if (index->nver == index->vercap)
		stage_grow(index, index->vercap * 2);
	v = index->nver++;
	index->vfrom[v] = DatumGetTimestampTz(slot->tts_values[1]);
	index->vto[v] = DatumGetTimestampTz(slot->tts_values[2]);
	for (int i = 0; i < natts; i++)
	{
		bool		isnull = slot->tts_isnull[3 + i];
		Datum		d = slot->tts_values[3 + i];

		index->visnull[v * natts + i] = isnull;
		index->vvalues[v * natts + i] = isnull ? (Datum) 0 :
			index->entity->atts[i].typbyval ? d : value_copy(index, i, d);
	}

	keytext = DatumGetTextPP(slot->tts_values[0]);
	key = VARDATA_ANY(keytext);
	keylen = VARSIZE_ANY_EXHDR(keytext);
	hash = hash_bytes((const unsigned char *) key, keylen);
	if (rcv->keyused + keylen > ASOF_ROWBUF)
		load_flush(rcv);
	if (keylen > ASOF_ROWBUF)
	{
		/* a huge key: no batching */
		uint32		kid = key_intern(index, key, keylen, hash);

		index->vkid[v] = kid;
		index->keys[kid].n++;
		return true;
	}
	asof_prefetch(&index->buckets[hash & index->mask]);
	memcpy(rcv->keybuf + rcv->keyused, key, keylen);
	rcv->pver[rcv->npending] = v;
	rcv->pkeyoff[rcv->npending] = rcv->keyused;
	rcv->pkeylen[rcv->npending] = keylen;
	rcv->phash[rcv->npending] = hash;
	rcv->keyused += keylen;
	if (++rcv->npending == ASOF_BATCH)
		load_flush(rcv);
	return true;
}

/* Give the waiting versions their key ids (a run of one key looks it up once). */
static void
load_flush(LoadReceiver *rcv)
{
	AsofIndex  *index = rcv->index;

	for (int p = 0; p < rcv->npending; p++)
	{
		const char *key = rcv->keybuf + rcv->pkeyoff[p];
		uint32		keylen = rcv->pkeylen[p];
		uint32		kid = index->lastkid;
		bool		same;

		if (p > 0)
			same = keylen == rcv->pkeylen[p - 1] &&
				memcmp(key, rcv->keybuf + rcv->pkeyoff[p - 1], keylen) == 0;
		else
			same = kid != PG_UINT32_MAX && index->keys[kid].len == keylen &&
				memcmp(index->keybytes + index->keys[kid].off, key, keylen) == 0;
		if (!same)
			kid = index->lastkid = key_intern(index, key, keylen, rcv->phash[p]);
		index->vkid[rcv->pver[p]] = kid;
		index->keys[kid].n++;
	}
	rcv->npending = 0;
	rcv->keyused = 0;
}

static void
load_shutdown(DestReceiver *self)
{
	load_flush((LoadReceiver *) self);
}

/* The parts of the block at `block`. */
static inline void
block_view(const AsofIndex *index, uint64 *block, AsofBlockView *b)
{
	const AsofBlockHeader *h = (const AsofBlockHeader *) block;
	uint64	   *p = block + 1;

	b->n = h->n;
	b->keylen = h->keylen;
	b->key = (const char *) p;
	p += WORDS(b->keylen);
	b->from = (TimestampTz *) p;
	b->to = b->from + b->n;
	b->values = (Datum *) (b->to + b->n);
	b->isnull = (bool *) (b->values + (Size) b->n * index->natts);
}

/*
 * A large allocation in `cxt`, with the kernel asked to back its 2 MB-aligned
 * interior with transparent huge pages (where THP is in "madvise" mode):
 * the index's arrays are written once at random and read at random, so 4 kB
 * pages cost a page fault per 4 kB and a TLB miss per probe.  Freed by pfree.
 */
static void *
big_alloc(MemoryContext cxt, Size size)
{
	char	   *p = MemoryContextAllocHuge(cxt, size);

#ifdef MADV_HUGEPAGE
	if (size >= 2 * ASOF_HUGE_PAGE)
	{
		uintptr_t	start = TYPEALIGN(ASOF_HUGE_PAGE, (uintptr_t) p);
		uintptr_t	end = TYPEALIGN_DOWN(ASOF_HUGE_PAGE, (uintptr_t) p + size);

		if (end > start)
			(void) madvise((void *) start, end - start, MADV_HUGEPAGE);	/* only advice */
	}
#endif
	return p;
}

/* Where version i of key k's block keeps its valid_from (valid_to is n further). */
static inline TimestampTz *
version_from(const AsofIndex *index, uint32 k, uint32 i)
{
	return (TimestampTz *) (index->blocks + index->keys[k].off + 1 + WORDS(index->keys[k].len)) + i;
}

/* Words of a block of n versions of a key of keylen bytes. */
static uint64
block_words(uint32 keylen, uint32 n, int natts)
{
	return 1 + WORDS(keylen) + 2 * (uint64) n + (uint64) n * natts + WORDS((uint64) n * natts);
}

/*
 * Group the loaded versions into one block per key (a counting sort by key
 * id), sort each block by valid_from where the scan did not deliver it in
 * order, point the buckets at the blocks, and free the loading arrays.
 */
static void
index_layout(AsofIndex *index)
{
	int			natts = index->natts;
	uint64		total = 1;
	uint32	   *fill;

	/* keybytes holds the keys in id order, back to back: offsets are no longer needed */
	for (uint32 k = 0; k < index->nkeys; k++)
	{
		index->keys[k].off = total;	/* from here on: the block's offset */
		total += block_words(index->keys[k].len, index->keys[k].n, natts);
		if (total > PG_UINT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("entity \"%s\" has too many versions for an as-of join",
							index->entity->name)));
	}
	index->blocks = big_alloc(index->cxt, total * sizeof(uint64));
	index->blocks[0] = 0;

	/* headers and keys */
	{
		Size		src = 0;

		for (uint32 k = 0; k < index->nkeys; k++)
		{
			uint64	   *block = index->blocks + index->keys[k].off;
			AsofBlockHeader *h = (AsofBlockHeader *) block;

			h->n = index->keys[k].n;
			h->keylen = index->keys[k].len;
			if (h->keylen > 0)
				memcpy(block + 1, index->keybytes + src, h->keylen);
			src += h->keylen;
		}
	}

	/*
	 * Scatter the versions into their blocks, in scan order: random writes
	 * when keys interleave, so the key info and then the lines written are
	 * prefetched ahead.
	 */
	fill = MemoryContextAllocHuge(index->cxt, sizeof(uint32) * Max(index->nkeys, 1));
	memset(fill, 0, sizeof(uint32) * Max(index->nkeys, 1));
	for (uint64 v = 0; v < index->nver; v++)
	{
		uint32		k = index->vkid[v];
		uint32		i = fill[k]++;

		if (v + 2 * ASOF_AHEAD < index->nver)
		{
			asof_prefetch(&index->keys[index->vkid[v + 2 * ASOF_AHEAD]]);
			asof_prefetch(&fill[index->vkid[v + 2 * ASOF_AHEAD]]);
		}
		if (v + ASOF_AHEAD < index->nver)
		{
			uint32		k2 = index->vkid[v + ASOF_AHEAD];
			uint32		n2 = index->keys[k2].n;
			TimestampTz *base2 = version_from(index, k2, 0);

			asof_prefetch(base2 + fill[k2]);
			asof_prefetch(base2 + n2 + fill[k2]);
			asof_prefetch(base2 + 2 * (Size) n2 + (Size) fill[k2] * natts);
		}
		{
			uint32		n = index->keys[k].n;
			TimestampTz *base = version_from(index, k, 0);
			Datum	   *values = (Datum *) (base + 2 * (Size) n);
			bool	   *isnull = (bool *) (values + (Size) n * natts);

			base[i] = index->vfrom[v];
			base[n + i] = index->vto[v];
			memcpy(values + (Size) i * natts, index->vvalues + v * natts, sizeof(Datum) * natts);
			memcpy(isnull + (Size) i * natts, index->visnull + v * natts, sizeof(bool) * natts);
		}
	}
	for (uint32 k = 0; k < index->nkeys; k++)
	{
		AsofBlockView b;

		block_view(index, index->blocks + index->keys[k].off, &b);
		for (uint32 i = 1; i < b.n; i++)
			if (b.from[i - 1] > b.from[i])
			{
				block_sort(index, &b);
				break;
			}
	}
	for (uint32 i = 0; i <= index->mask; i++)
		if (index->buckets[i].ref != 0)
			index->buckets[i].ref = (uint32) index->keys[index->buckets[i].ref - 1].off;

	pfree(fill);
	pfree(index->stage);
	if (index->keybytes)
		pfree(index->keybytes);
	if (index->nkeys > 0)
	{
		pfree(index->keys);
	}
	pfree(index->dedup);
	index->vkid = NULL;
	index->keybytes = NULL;
	index->dedup = NULL;
}

/* Sort order of block_sort: (valid_from, position). */
typedef struct AsofSortItem
{
	TimestampTz from;
	uint32		pos;
} AsofSortItem;

static int
cmp_sort_item(const void *a, const void *b)
{
	const AsofSortItem *x = a;
	const AsofSortItem *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->pos < y->pos ? -1 : (x->pos > y->pos ? 1 : 0);
}

/* Sort one block's versions by valid_from (history not stored in that order). */
static void
block_sort(AsofIndex *index, AsofBlockView *b)
{
	int			natts = index->natts;
	AsofSortItem *items = palloc(sizeof(AsofSortItem) * b->n);
	TimestampTz *to = palloc(sizeof(TimestampTz) * b->n);
	Datum	   *values = palloc(sizeof(Datum) * Max((Size) b->n * natts, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max((Size) b->n * natts, 1));

	for (uint32 i = 0; i < b->n; i++)
	{
		items[i].from = b->from[i];
		items[i].pos = i;
	}
	qsort(items, b->n, sizeof(AsofSortItem), cmp_sort_item);
	memcpy(to, b->to, sizeof(TimestampTz) * b->n);
	memcpy(values, b->values, sizeof(Datum) * b->n * natts);
	memcpy(isnull, b->isnull, sizeof(bool) * b->n * natts);
	for (uint32 i = 0; i < b->n; i++)
	{
		uint32		p = items[i].pos;

		b->from[i] = items[i].from;
		b->to[i] = to[p];
		memcpy(b->values + (Size) i * natts, values + (Size) p * natts, sizeof(Datum) * natts);
		memcpy(b->isnull + (Size) i * natts, isnull + (Size) p * natts, sizeof(bool) * natts);
	}
	pfree(items);
	pfree(to);
	pfree(values);
	pfree(isnull);
}

/* ---------- probing ---------- */

/* The block of `key`, or NULL. */
static inline uint64 *
index_probe(const AsofIndex *index, const char *key, uint32 keylen, uint32 hash)
{
	for (uint32 i = hash & index->mask; index->buckets[i].ref != 0; i = (i + 1) & index->mask)
	{
		uint64	   *block = index->blocks + index->buckets[i].ref;
		const AsofBlockHeader *h = (const AsofBlockHeader *) block;

		if (index->buckets[i].hash == hash && h->keylen == keylen &&
			memcmp(block + 1, key, keylen) == 0)
			return block;
	}
	return NULL;
}

/* The version valid at `at` (the last with valid_from <= at, if it covers at), or -1. */
static inline int
block_search(const AsofBlockView *b, TimestampTz at)
{
	int			lo = 0,
				hi = (int) b->n - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (b->from[mid] <= at)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (b->n == 0 || b->from[lo] > at || b->to[lo] <= at)
		return -1;
	return lo;
}

/* ---------- receivers ---------- */

static void
receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
receiver_noop(DestReceiver *self)
{
}

/*
 * Check the query's shape against the column definition list, and size the
 * receiver's buffers for it (in the index's context).
 */
static void
join_check_shape(JoinReceiver *rcv, PhxEntity *entity, TupleDesc querydesc, TupleDesc outdesc)
{
	MemoryContext cxt = rcv->index->cxt;
	MemoryContext old;
	int			nq = querydesc->natts;

	if (nq < 2 || TupleDescAttr(querydesc, 0)->atttypid != TEXTOID ||
		TupleDescAttr(querydesc, 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query of an as-of join must start with a key (text) and a time (timestamptz)"),
				 errhint("E.g. SELECT employee_id, effective_at, ... FROM ...")));
	if (outdesc->natts != nq + entity->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list must have the query's %d columns and entity \"%s\"'s %d attributes",
						nq, entity->name, entity->natts)));
	for (int i = 0; i < outdesc->natts; i++)
	{
		Oid			want = i < nq ? TupleDescAttr(querydesc, i)->atttypid
			: entity->atts[i - nq].typid;

		if (TupleDescAttr(outdesc, i)->atttypid != want)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the column definition list must be of type %s",
							i + 1, format_type_be(want))));
	}
	old = MemoryContextSwitchTo(cxt);
	rcv->querydesc = CreateTupleDescCopy(querydesc);
	MemoryContextSwitchTo(old);
	rcv->nq = nq;
	rcv->nout = outdesc->natts;
	rcv->bvalues = MemoryContextAlloc(cxt, sizeof(Datum) * ASOF_BATCH * nq);
	rcv->bnulls = MemoryContextAlloc(cxt, sizeof(bool) * ASOF_BATCH * nq);
	rcv->rowbuf = MemoryContextAlloc(cxt, ASOF_ROWBUF);
	rcv->outvalues = MemoryContextAlloc(cxt, sizeof(Datum) * ASOF_FETCH * rcv->nout);
	rcv->outnulls = MemoryContextAlloc(cxt, sizeof(bool) * ASOF_FETCH * rcv->nout);
}

/*
 * A copy of a by-reference query value that lives until the rows read with
 * it are returned: in rowbuf, or in batchcxt when rowbuf is full or it is
 * large.
 */
static Datum
batch_copy(JoinReceiver *rcv, Form_pg_attribute att, Datum value)
{
	Size		size;
	Pointer		copy;

	if (att->attlen == -1 && VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(value)))
	{
		MemoryContext old = MemoryContextSwitchTo(rcv->batchcxt);

		value = datumCopy(value, false, -1);
		MemoryContextSwitchTo(old);
		return value;
	}
	size = datumGetSize(value, false, att->attlen);
	if (rcv->rowused + MAXALIGN(size) <= ASOF_ROWBUF)
	{
		copy = rcv->rowbuf + rcv->rowused;
		rcv->rowused += MAXALIGN(size);
	}
	else
		copy = MemoryContextAlloc(rcv->batchcxt, size);
	memcpy(copy, DatumGetPointer(value), size);
	return PointerGetDatum(copy);
}

/*
 * Queue one row: copy it, hash its key and prefetch its bucket, so that when
 * the batch is full its buckets are (being) loaded.
 */
static bool
join_receive(TupleTableSlot *slot, DestReceiver *self)
{
	JoinReceiver *rcv = (JoinReceiver *) self;
	int			nq = rcv->nq;
	int			j = rcv->nbatch;
	Datum	   *values = rcv->bvalues + j * nq;
	bool	   *nulls = rcv->bnulls + j * nq;

	slot_getallattrs(slot);
	for (int i = 0; i < nq; i++)
	{
		Form_pg_attribute att = TupleDescAttr(rcv->querydesc, i);

		nulls[i] = slot->tts_isnull[i];
		values[i] = nulls[i] || att->attbyval ? slot->tts_values[i]
			: batch_copy(rcv, att, slot->tts_values[i]);
	}
	rcv->bprobe[j] = !nulls[0] && !nulls[1];
	if (rcv->bprobe[j])
	{
		struct varlena *key = (struct varlena *) DatumGetPointer(values[0]);

		if (VARATT_IS_EXTENDED(key) && !VARATT_IS_SHORT(key))
		{
			MemoryContext old = MemoryContextSwitchTo(rcv->batchcxt);

			key = pg_detoast_datum_packed(key);
			MemoryContextSwitchTo(old);
		}
		rcv->bkey[j] = VARDATA_ANY(key);
		rcv->bkeylen[j] = VARSIZE_ANY_EXHDR(key);
		rcv->bhash[j] = hash_bytes((const unsigned char *) rcv->bkey[j], rcv->bkeylen[j]);
		asof_prefetch(&rcv->index->buckets[rcv->bhash[j] & rcv->index->mask]);
	}
	if (++rcv->nbatch == ASOF_BATCH)
		join_flush(rcv);
	return true;
}

/*
 * Probe and emit the queued rows in two passes: the first follows each
 * row's bucket to its candidate block and prefetches the block, the second
 * checks the key, searches the block and writes the output row.
 */
static void
join_flush(JoinReceiver *rcv)
{
	AsofIndex  *index = rcv->index;
	int			nq = rcv->nq;
	int			natts = index->natts;

	CHECK_FOR_INTERRUPTS();
	for (int j = 0; j < rcv->nbatch; j++)
	{
		rcv->bblock[j] = NULL;
		if (!rcv->bprobe[j])
			continue;
		for (uint32 i = rcv->bhash[j] & index->mask; index->buckets[i].ref != 0;
			 i = (i + 1) & index->mask)
			if (index->buckets[i].hash == rcv->bhash[j])
			{
				uint64	   *block = index->blocks + index->buckets[i].ref;

				asof_prefetch(block);
				asof_prefetch(block + 8);
				asof_prefetch(block + 16);
				asof_prefetch(block + 24);
				rcv->bblock[j] = block;
				break;
			}
	}
	for (int j = 0; j < rcv->nbatch; j++)
	{
		uint64	   *block = rcv->bblock[j];
		int			v = -1;
		AsofBlockView b;
		Datum	   *values = rcv->outvalues + (Size) rcv->nrows * rcv->nout;
		bool	   *nulls = rcv->outnulls + (Size) rcv->nrows * rcv->nout;

		Assert(rcv->nrows < ASOF_FETCH);
		memcpy(values, rcv->bvalues + j * nq, sizeof(Datum) * nq);
		memcpy(nulls, rcv->bnulls + j * nq, sizeof(bool) * nq);
		if (block != NULL)
		{
			const AsofBlockHeader *h = (const AsofBlockHeader *) block;

			/* a hash collision: the full probe walks on past it */
			if (h->keylen != (uint32) rcv->bkeylen[j] ||
				memcmp(block + 1, rcv->bkey[j], rcv->bkeylen[j]) != 0)
				block = index_probe(index, rcv->bkey[j], rcv->bkeylen[j], rcv->bhash[j]);
		}
		if (block != NULL)
		{
			block_view(index, block, &b);
			v = block_search(&b, DatumGetTimestampTz(values[1]));
		}
		if (v >= 0)
		{
			memcpy(values + nq, b.values + (Size) v * natts, sizeof(Datum) * natts);
			memcpy(nulls + nq, b.isnull + (Size) v * natts, sizeof(bool) * natts);
		}
		else
			memset(nulls + nq, true, sizeof(bool) * natts);
		rcv->nrows++;
	}
	rcv->nbatch = 0;
}

static void
join_shutdown(DestReceiver *self)
{
	join_flush((JoinReceiver *) self);
}
