/*
 * asof.c — the hash as-of join: phoenix.asof_join(entity, query) and the
 * in-memory as-of index behind it.
 *
 * Joining N rows to an entity "as of each row's time" with an index probe per
 * row costs N random index descents.  Instead, we stream every version of the
 * entity once into a hash table (key → versions sorted by valid_from) and
 * stream the rows through it: one hash probe and one binary search each.
 * Both passes use DestReceivers, so nothing is materialized twice.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "asof.h"
#include "catalog.h"
#include "phoenix.h"

/* All versions of one key. */
typedef struct AsofKey
{
	uint32		hash;
	int			keylen;
	char	   *key;
	int			nversions;
	int			capacity;
	bool		sorted;
	AsofVersion *versions;
} AsofKey;

/* A bucket keeps the hash beside the pointer: probes that miss never touch the key. */
typedef struct AsofBucket
{
	uint32		hash;
	AsofKey    *key;
} AsofBucket;

/* Open addressing, linear probing; nbuckets is a power of two. */
struct AsofIndex
{
	PhxEntity  *entity;
	MemoryContext cxt;
	AsofBucket *buckets;
	uint32		nbuckets;
	uint32		nkeys;
	AsofKey    *last;			/* versions usually arrive grouped by key */
};

/* DestReceiver that loads versions into the index. */
typedef struct LoadReceiver
{
	DestReceiver pub;
	AsofIndex  *index;
} LoadReceiver;

/* DestReceiver that joins query rows against the index into a tuplestore. */
typedef struct JoinReceiver
{
	DestReceiver pub;
	AsofIndex  *index;
	Tuplestorestate *out;
	TupleDesc	outdesc;
	TupleDesc	querydesc;
	Datum	   *values;
	bool	   *nulls;
} JoinReceiver;

PG_FUNCTION_INFO_V1(phoenix_asof_join);

static AsofKey *index_find(AsofIndex *index, const char *key, int keylen, uint32 hash, bool create);
static bool load_receive(TupleTableSlot *slot, DestReceiver *self);
static bool join_receive(TupleTableSlot *slot, DestReceiver *self);
static void join_startup(DestReceiver *self, int operation, TupleDesc typeinfo);
static void receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo);
static void receiver_noop(DestReceiver *self);
static int	cmp_version(const void *a, const void *b);

AsofIndex *
asof_index_build(PhxEntity *entity, bool current, TimestampTz known_at, MemoryContext cxt)
{
	AsofIndex  *index = MemoryContextAllocZero(cxt, sizeof(AsofIndex));
	StringInfoData sql;
	LoadReceiver rcv;
	SPIExecuteOptions opts;
	ParamListInfo params = makeParamList(1);

	index->entity = entity;
	index->cxt = cxt;
	index->nbuckets = 1024;
	index->buckets = MemoryContextAllocZero(cxt, sizeof(AsofBucket) * index->nbuckets);

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

	memset(&rcv, 0, sizeof(rcv));
	rcv.pub.receiveSlot = load_receive;
	rcv.pub.rStartup = receiver_startup;
	rcv.pub.rShutdown = receiver_noop;
	rcv.pub.rDestroy = receiver_noop;
	rcv.pub.mydest = DestNone;
	rcv.index = index;
	memset(&opts, 0, sizeof(opts));
	opts.params = current ? NULL : params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &rcv;
	if (SPI_execute_extended(sql.data, &opts) < 0)
		elog(ERROR, "phoenix: loading versions of entity \"%s\" failed", entity->name);
	return index;
}

AsofVersion *
asof_index_lookup(AsofIndex *index, const char *key, int keylen, TimestampTz at)
{
	AsofKey    *k = index_find(index, key, keylen,
							   hash_bytes((const unsigned char *) key, keylen), false);
	int			lo,
				hi;

	if (k == NULL || k->nversions == 0)
		return NULL;
	if (!k->sorted)
	{
		qsort(k->versions, k->nversions, sizeof(AsofVersion), cmp_version);
		k->sorted = true;
	}
	/* the last version with valid_from <= at */
	lo = 0;
	hi = k->nversions - 1;
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (k->versions[mid].valid_from <= at)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (k->versions[lo].valid_from > at || k->versions[lo].valid_to <= at)
		return NULL;
	return &k->versions[lo];
}

/*
 * phoenix.asof_join(entity, query, known_at) → SETOF record
 *
 * The query's first two columns are the entity key (text) and a time
 * (timestamptz); each output row is the query row followed by the entity's
 * attributes as of that time (NULLs when the key did not exist then).
 */
Datum
phoenix_asof_join(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	char	   *query;
	PhxEntity  *entity;
	MemoryContext idxcxt;
	JoinReceiver rcv;
	SPIExecuteOptions opts;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("entity and query must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	entity = catalog_entity(name, false);
	idxcxt = AllocSetContextCreate(CurrentMemoryContext, "Phoenix as-of join",
								   ALLOCSET_DEFAULT_SIZES);

	memset(&rcv, 0, sizeof(rcv));
	rcv.index = asof_index_build(entity, PG_ARGISNULL(2),
								 PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2), idxcxt);
	rcv.pub.receiveSlot = join_receive;
	rcv.pub.rStartup = join_startup;
	rcv.pub.rShutdown = receiver_noop;
	rcv.pub.rDestroy = receiver_noop;
	rcv.pub.mydest = DestNone;
	rcv.out = rsinfo->setResult;
	rcv.outdesc = rsinfo->setDesc;
	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = (DestReceiver *) &rcv;
	if (SPI_execute_extended(query, &opts) < 0 || rcv.querydesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of an as-of join must be a single SELECT returning rows")));
	MemoryContextDelete(idxcxt);
	SPI_finish();
	return (Datum) 0;
}

/* ---------- the hash table ---------- */

static AsofKey *
index_find(AsofIndex *index, const char *key, int keylen, uint32 hash, bool create)
{
	uint32		mask = index->nbuckets - 1;
	uint32		i = hash & mask;
	AsofKey    *k;

	for (; index->buckets[i].key != NULL; i = (i + 1) & mask)
	{
		k = index->buckets[i].key;
		if (index->buckets[i].hash == hash && k->keylen == keylen &&
			memcmp(k->key, key, keylen) == 0)
			return k;
	}
	if (!create)
		return NULL;

	k = MemoryContextAllocZero(index->cxt, sizeof(AsofKey));
	k->hash = hash;
	k->keylen = keylen;
	k->key = MemoryContextAlloc(index->cxt, keylen);
	memcpy(k->key, key, keylen);
	index->buckets[i].hash = hash;
	index->buckets[i].key = k;
	if (++index->nkeys * 2 > index->nbuckets)
	{
		/* grow: rehash every key into twice the buckets */
		AsofBucket *old = index->buckets;
		uint32		oldn = index->nbuckets;

		index->nbuckets *= 2;
		mask = index->nbuckets - 1;
		index->buckets = MemoryContextAllocZero(index->cxt, sizeof(AsofBucket) * index->nbuckets);
		for (uint32 b = 0; b < oldn; b++)
			if (old[b].key)
			{
				uint32		j = old[b].hash & mask;

				while (index->buckets[j].key)
					j = (j + 1) & mask;
				index->buckets[j] = old[b];
			}
		pfree(old);
	}
	return k;
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

/* One version: (key, valid_from, valid_to, attributes...). */
static bool
load_receive(TupleTableSlot *slot, DestReceiver *self)
{
	AsofIndex  *index = ((LoadReceiver *) self)->index;
	PhxEntity  *entity = index->entity;
	MemoryContext old;
	text	   *keytext;
	AsofKey    *k;
	AsofVersion *v;
	int			natts = entity->natts;

	slot_getallattrs(slot);
	keytext = DatumGetTextPP(slot->tts_values[0]);
	k = index->last;
	if (k == NULL || k->keylen != VARSIZE_ANY_EXHDR(keytext) ||
		memcmp(k->key, VARDATA_ANY(keytext), k->keylen) != 0)
		k = index->last = index_find(index, VARDATA_ANY(keytext), VARSIZE_ANY_EXHDR(keytext),
									 hash_bytes((const unsigned char *) VARDATA_ANY(keytext),
												VARSIZE_ANY_EXHDR(keytext)), true);
	old = MemoryContextSwitchTo(index->cxt);
	if (k->nversions == k->capacity)
	{
		k->capacity = k->capacity ? k->capacity * 2 : 4;
		k->versions = k->versions ? repalloc(k->versions, sizeof(AsofVersion) * k->capacity)
			: palloc(sizeof(AsofVersion) * k->capacity);
	}
	v = &k->versions[k->nversions++];
	v->valid_from = DatumGetTimestampTz(slot->tts_values[1]);
	v->valid_to = DatumGetTimestampTz(slot->tts_values[2]);
	/* one chunk per version: fewer cache misses when the join reads it */
	v->values = palloc(MAXALIGN(sizeof(Datum) * Max(natts, 1)) + Max(natts, 1));
	v->isnull = (bool *) ((char *) v->values + MAXALIGN(sizeof(Datum) * Max(natts, 1)));
	for (int i = 0; i < natts; i++)
	{
		v->isnull[i] = slot->tts_isnull[3 + i];
		v->values[i] = v->isnull[i] ? (Datum) 0 :
			datumCopy(slot->tts_values[3 + i], entity->atts[i].typbyval, entity->atts[i].typlen);
	}
	k->sorted = k->nversions == 1 ||
		(k->sorted && k->versions[k->nversions - 2].valid_from <= v->valid_from);
	MemoryContextSwitchTo(old);
	return true;
}

/* Check the query's shape against the column definition list once. */
static void
join_startup(DestReceiver *self, int operation, TupleDesc querydesc)
{
	JoinReceiver *rcv = (JoinReceiver *) self;
	PhxEntity  *entity = rcv->index->entity;
	int			nq = querydesc->natts;

	if (nq < 2 || TupleDescAttr(querydesc, 0)->atttypid != TEXTOID ||
		TupleDescAttr(querydesc, 1)->atttypid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the query of an as-of join must start with a key (text) and a time (timestamptz)"),
				 errhint("E.g. SELECT employee_id, effective_at, ... FROM ...")));
	if (rcv->outdesc->natts != nq + entity->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list must have the query's %d columns and entity \"%s\"'s %d attributes",
						nq, entity->name, entity->natts)));
	for (int i = 0; i < rcv->outdesc->natts; i++)
	{
		Oid			want = i < nq ? TupleDescAttr(querydesc, i)->atttypid
			: entity->atts[i - nq].typid;

		if (TupleDescAttr(rcv->outdesc, i)->atttypid != want)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the column definition list must be of type %s",
							i + 1, format_type_be(want))));
	}
	rcv->querydesc = querydesc;
	rcv->values = palloc(sizeof(Datum) * rcv->outdesc->natts);
	rcv->nulls = palloc(sizeof(bool) * rcv->outdesc->natts);
}

static bool
join_receive(TupleTableSlot *slot, DestReceiver *self)
{
	JoinReceiver *rcv = (JoinReceiver *) self;
	PhxEntity  *entity = rcv->index->entity;
	int			nq = rcv->querydesc->natts;
	AsofVersion *v = NULL;

	CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	memcpy(rcv->values, slot->tts_values, sizeof(Datum) * nq);
	memcpy(rcv->nulls, slot->tts_isnull, sizeof(bool) * nq);
	if (!slot->tts_isnull[0] && !slot->tts_isnull[1])
	{
		text	   *key = DatumGetTextPP(slot->tts_values[0]);

		v = asof_index_lookup(rcv->index, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
							  DatumGetTimestampTz(slot->tts_values[1]));
	}
	for (int i = 0; i < entity->natts; i++)
	{
		rcv->values[nq + i] = v ? v->values[i] : (Datum) 0;
		rcv->nulls[nq + i] = v ? v->isnull[i] : true;
	}
	tuplestore_putvalues(rcv->out, rcv->outdesc, rcv->values, rcv->nulls);
	return true;
}

static int
cmp_version(const void *a, const void *b)
{
	TimestampTz x = ((const AsofVersion *) a)->valid_from;
	TimestampTz y = ((const AsofVersion *) b)->valid_from;

	return x < y ? -1 : (x > y ? 1 : 0);
}
