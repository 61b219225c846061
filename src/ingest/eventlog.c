/*
 * eventlog.c — writes to phoenix.event_log, phoenix.event_ids and
 * phoenix.dead_letters: one prepared, set-based statement (unnest of arrays)
 * per batch, and log partitions created on demand.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "ingest/eventid.h"
#include "ingest/eventlog.h"
#include "ingest/ingest_hooks.h"
#include "common/relcache.h"
#include "common/phoenix.h"
#include "common/plan.h"
#include "common/rowwriter.h"
#include "registry/registry.h"
#include "json/softparse.h"

/* Event ids are hashed by value; longer ids are refused before they get here. */
#define EVENT_ID_KEYSIZE	256

/* One column of a set-based statement, collected item by item. */
typedef struct ColumnArray
{
	Oid			elemtype;
	int			n;
	Datum	   *values;
	bool	   *nulls;
} ColumnArray;

/* A text datum made once for a string that most rows of a batch share. */
typedef struct SharedText
{
	const char *str;
	Datum		datum;
} SharedText;

/* A pending item's id, for sorting the items by id. */
typedef struct IdOrder
{
	const char *id;
	int			len;
	int			index;			/* of the item */
} IdOrder;

/* Where a relation's columns are (column_attnos), kept per backend. */
typedef struct AttnoCache
{
	Oid			relid;			/* InvalidOid: not filled */
	int			attno[9];
} AttnoCache;

typedef struct SeenId
{
	char		event_id[EVENT_ID_KEYSIZE];
	int64		position;
	int64		payload_hash;
} SeenId;

static Oid	log_relid = InvalidOid;
static Oid	position_seq_relid = InvalidOid;
static Oid	ids_relid = InvalidOid;
static bool partition_known = false;
static Oid	partition_relid = InvalidOid;	/* the month partition of [from, to) */
static TimestampTz partition_from;
static TimestampTz partition_to;

/* column positions of phoenix.event_ids and of the current log partition */
static AttnoCache ids_attnos = {InvalidOid};
static AttnoCache log_attnos = {InvalidOid};

/* The columns Phoenix fills in a log partition and in phoenix.event_ids. */
static const char *const log_columns[9] = {"position", "event_id", "event_type", "schema_version",
"payload", "effective_at", "received_at", "source", "source_position"};
static const char *const id_columns[3] = {"event_id", "position", "payload_hash"};

static SPIPlanPtr plan_append = NULL;
static SPIPlanPtr plan_claim = NULL;
static SPIPlanPtr plan_lookup_ids = NULL;
static SPIPlanPtr plan_logged_event = NULL;
static SPIPlanPtr plan_generated_event = NULL;
static SPIPlanPtr plan_dead_letter = NULL;
static SPIPlanPtr plan_replay_failed = NULL;
static SPIPlanPtr plan_replay_done = NULL;

static void eventlog_relcache_callback(Datum arg, Oid relid);
static Oid	phoenix_relid(const char *relname);
static Oid	ids_oid(void);
static Oid	position_seq_oid(void);
static void month_bounds(TimestampTz ts, int months_ahead, TimestampTz *from, TimestampTz *to, char **name);
static void create_partition_if_missing(TimestampTz ts, int months_ahead);
static SPIPlanPtr prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, const Oid *argtypes);
static void column_init(ColumnArray *col, Oid elemtype, int capacity);
static void column_add(ColumnArray *col, Datum value, bool isnull);
static void column_add_text(ColumnArray *col, const char *s);
static Datum column_array(ColumnArray *col);
static char *dead_letter_raw(EmitItem *item);
static char *dead_letter_reason(EmitItem *item);
static int	cmp_int64(const void *a, const void *b);
static void append_direct(Relation rel, EmitItem *items, int nitems, TimestampTz received_at);
static void column_attnos(Relation rel, const char *const *names, int n, int *attno);
static const int *cached_attnos(Relation rel, AttnoCache *cache, const char *const *names, int n);
static Datum shared_text(SharedText *cache, const char *str);
static TupleTableSlot *new_row_slot(Relation rel, TupleDesc *shared);
static bool writes_directly(Relation rel, int ncols);
static void insert_slots(Relation rel, TupleTableSlot **slots, int nslots, bool *collided);
static void drop_slots(TupleTableSlot **slots, int nslots);
static int	cmp_id_order(const void *a, const void *b);
static bool to_claim(const EmitItem *item);
static void resolve_generated_ids(EmitItem *items, int nitems, IdRefuser refuse);
static bool same_event(EmitItem *item, const char *event_type, Jsonb *payload);
static bool same_as_logged(EmitItem *item, int64 position, EmitItem **batch, int nbatch);
static void claim_ids_slowly(EmitItem **items, int nitems,
							 IdRefuser refuse);
static void append_via_sql(EmitItem *items, int nitems, TimestampTz received_at);

/*
 * Make sure the month partition holding received_at exists (and the next
 * month's, so that writers rarely meet a month boundary unprepared).  The
 * answer is cached per backend until the log's relcache entry is invalidated
 * (e.g. a partition was dropped), so this is a range check per batch.
 */
void
eventlog_ensure_partition(TimestampTz received_at)
{
	char	   *name;
	TimestampTz from,
				to;
	Oid			part,
				log;

	if (partition_known && received_at >= partition_from && received_at < partition_to)
		return;
	create_partition_if_missing(received_at, 0);
	create_partition_if_missing(received_at, 1);
	month_bounds(received_at, 0, &from, &to, &name);
	/*
	 * Catalog lookups may process invalidations, whose callback resets this
	 * cache: look everything up first, then fill it in one go.
	 */
	part = phoenix_relid(name);
	log = phoenix_relid("event_log");
	partition_from = from;
	partition_to = to;
	partition_relid = part;
	log_relid = log;
	partition_known = true;
}

int64
eventlog_next_position(void)
{
	return nextval_internal(position_seq_oid(), true);
}

void
eventlog_number_items(EmitItem *items, int nitems, TimestampTz received_at)
{
	bool		checked = false;
	Oid			seq = position_seq_oid();
	int			i;

	for (i = 0; i < nitems; i++)
	{
		EmitItem   *item = &items[i];

		if (item->status != EMIT_PENDING)
			continue;
		item->position = nextval_internal(seq, !checked);
		checked = true;
		if (item->id_generated && item->event_id == NULL)
		{
			item->event_id = eventid_generated(item->position, received_at);
			item->id_in_log = item->event_id != NULL;
			if (item->event_id == NULL)
				item->event_id = eventid_claimed();
		}
	}
}

/*
 * Claim the ids of the pending items.  The items are sorted by id: repeats
 * within the batch become neighbours (the first in input order leads its
 * group), and the new ids are inserted in the order of the unique index,
 * so consecutive insertions descend to the same or adjacent leaf pages,
 * still in the CPU's cache, instead of wandering over the whole index.
 * Their index entries are checked without waiting or raising
 * (UNIQUE_CHECK_PARTIAL): the descent that inserts is also the lookup.  The
 * few that may collide (an id seen in an earlier batch, or being inserted
 * by a concurrent transaction) have their row deleted again and are settled
 * by claim_ids_slowly, whose INSERT ... ON CONFLICT waits for concurrent
 * inserters like any other.
 */
void
eventlog_claim_ids(EmitItem *items, int nitems, IdRefuser refuse)
{
	Relation	rel;
	const int  *attno;
	IdOrder    *order = palloc(sizeof(IdOrder) * Max(nitems, 1));
	int		   *leader = palloc(sizeof(int) * Max(nitems, 1));	/* per item */
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * Max(nitems, 1));
	int		   *slot_item = palloc(sizeof(int) * Max(nitems, 1));
	bool	   *collided;
	bool	   *settle;
	int			npending = 0;
	int			nslots = 0;
	int			nsettle = 0;
	TupleDesc	shared = NULL;
	int			i,
				k;

	Oid			ids;

	resolve_generated_ids(items, nitems, refuse);
	for (i = 0; i < nitems && !to_claim(&items[i]); i++)
		;
	if (i == nitems)
		return;					/* every id names its position: nothing to claim */
	ids = ids_oid();
	if (pg_class_aclcheck(ids, GetUserId(), ACL_INSERT | ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, "event_ids");
	rel = table_open(ids, RowExclusiveLock);
	if (!writes_directly(rel, lengthof(id_columns)))
	{
		/* triggers or columns of the owner's: every id as an INSERT claims it */
		EmitItem  **list = palloc(sizeof(EmitItem *) * Max(nitems, 1));
		int			n = 0;

		table_close(rel, NoLock);
		for (i = 0; i < nitems; i++)
			if (to_claim(&items[i]))
				list[n++] = &items[i];
		if (n > 0)
			claim_ids_slowly(list, n, refuse);
		return;
	}
	for (i = 0; i < nitems; i++)
	{
		if (!to_claim(&items[i]))
			continue;
		order[npending].id = items[i].event_id;
		order[npending].len = strlen(items[i].event_id);
		order[npending].index = i;
		npending++;
	}
	if (npending == 0)
	{
		table_close(rel, NoLock);
		return;
	}
	qsort(order, npending, sizeof(IdOrder), cmp_id_order);

	attno = cached_attnos(rel, &ids_attnos, id_columns, lengthof(id_columns));
	for (k = 0; k < npending; k++)
	{
		EmitItem   *item = &items[order[k].index];
		TupleTableSlot *slot;

		if (k > 0 && order[k - 1].len == order[k].len &&
			memcmp(order[k - 1].id, order[k].id, order[k].len) == 0)
		{
			/* a repeat within the batch: decided below */
			leader[order[k].index] = leader[order[k - 1].index];
			continue;
		}
		leader[order[k].index] = order[k].index;
		slot = new_row_slot(rel, &shared);
		slot->tts_values[attno[0]] = PointerGetDatum(cstring_to_text_with_len(order[k].id, order[k].len));
		slot->tts_values[attno[1]] = Int64GetDatum(item->position);
		slot->tts_values[attno[2]] = Int64GetDatum(item->payload_hash);
		slot->tts_isnull[attno[0]] = slot->tts_isnull[attno[1]] = slot->tts_isnull[attno[2]] = false;
		ExecStoreVirtualTuple(slot);
		slot_item[nslots] = order[k].index;
		slots[nslots++] = slot;
	}
	collided = palloc0(sizeof(bool) * nitems);	/* per leading item */
	settle = palloc0(sizeof(bool) * nitems);
	{
		bool	   *slot_collided = palloc0(sizeof(bool) * nslots);

		insert_slots(rel, slots, nslots, slot_collided);
		for (k = 0; k < nslots; k++)
		{
			if (!slot_collided[k])
				continue;
			collided[slot_item[k]] = true;
			/* our row must be visible to us to be deleted */
			if (nsettle++ == 0)
				CommandCounterIncrement();
			simple_heap_delete(rel, &slots[k]->tts_tid);
		}
	}
	drop_slots(slots, nslots);
	table_close(rel, NoLock);

	/*
	 * Each item is now new (its row stays), a repeat of a new id of this
	 * batch (same or other payload), or to be settled against what exists:
	 * a leader that collided, and the repeats of such an id.
	 */
	nsettle = 0;
	for (i = 0; i < nitems; i++)
	{
		EmitItem   *first;

		if (!to_claim(&items[i]))
			continue;
		first = &items[leader[i]];
		if (collided[leader[i]])
		{
			settle[i] = true;
			nsettle++;
		}
		else if (leader[i] == i)
			continue;
		else if (first->payload_hash == items[i].payload_hash ||
				 same_event(&items[i], first->type->name, first->payload))
		{
			items[i].status = EMIT_DUPLICATE;
			items[i].position = first->position;
		}
		else
			refuse(&items[i], ID_USED_FOR_ANOTHER_PAYLOAD, first->position);
	}
	if (nsettle > 0)
	{
		EmitItem  **list = palloc(sizeof(EmitItem *) * nsettle);
		int			n = 0;

		for (i = 0; i < nitems; i++)
			if (settle[i])
				list[n++] = &items[i];
		claim_ids_slowly(list, n, refuse);
	}
}

/* A pending item whose id is claimed in phoenix.event_ids (not one naming its position). */
static bool
to_claim(const EmitItem *item)
{
	return item->status == EMIT_PENDING && !item->id_in_log;
}

/*
 * A producer's id of the form this database generates (eventid.h) is taken
 * only as a repeat of the logged event it names: read that event, by its
 * position, in the partition of its received millisecond.  Any other id of
 * that form is refused, since an id generated later could equal it.  (Such
 * ids are never claimed, so nothing concurrent can be claiming one.)
 */
static void
resolve_generated_ids(EmitItem *items, int nitems, IdRefuser refuse)
{
	static const Oid argtypes[3] = {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};

	for (int i = 0; i < nitems; i++)
	{
		EmitItem   *item = &items[i];
		int64		position;
		TimestampTz from;
		Datum		args[3];
		bool		isnull;

		if (!to_claim(item) || !eventid_is_generated_here(item->event_id, &position, &from))
			continue;
		args[0] = Int64GetDatum(position);
		args[1] = TimestampTzGetDatum(from);
		args[2] = TimestampTzGetDatum(from + 1000);
		prepare_once(&plan_generated_event,
					 "SELECT event_id, event_type, payload FROM phoenix.event_log "
					 "WHERE position OPERATOR(pg_catalog.=) $1 AND received_at OPERATOR(pg_catalog.>=) $2 "
					 "AND received_at OPERATOR(pg_catalog.<) $3", 3, argtypes);
		if (SPI_execute_plan(plan_generated_event, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read phoenix.event_log");
		if (SPI_processed == 1 &&
			strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), item->event_id) == 0)
		{
			if (same_event(item, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						   DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull))))
			{
				item->status = EMIT_DUPLICATE;
				item->position = position;
			}
			else
				refuse(item, ID_USED_FOR_ANOTHER_PAYLOAD, position);
		}
		else
			refuse(item, ID_GENERATED_FORM_NOT_LOGGED, position);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Byte-wise by id, as COLLATE "C" orders the index (a shorter id before
 * the longer ones it begins), then by input order.
 */
static int
cmp_id_order(const void *a, const void *b)
{
	const IdOrder *x = (const IdOrder *) a;
	const IdOrder *y = (const IdOrder *) b;
	int			c = memcmp(x->id, y->id, Min(x->len, y->len));

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/*
 * Settle ids that may already exist: INSERT ... ON CONFLICT DO NOTHING
 * (which waits for a concurrent inserter of the same id), then look up the
 * ones that were not inserted and compare their payload hash.
 */
static void
claim_ids_slowly(EmitItem **items, int nitems, IdRefuser refuse)
{
	static const Oid argtypes[3] = {TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	ColumnArray ids,
				positions,
				hashes;
	Datum		args[3];
	int64	   *inserted;
	int			ninserted;
	HTAB	   *existing;
	HASHCTL		ctl;
	uint64		r;
	int			i;

	column_init(&ids, TEXTOID, nitems);
	column_init(&positions, INT8OID, nitems);
	column_init(&hashes, INT8OID, nitems);
	for (i = 0; i < nitems; i++)
	{
		column_add_text(&ids, items[i]->event_id);
		column_add(&positions, Int64GetDatum(items[i]->position), false);
		column_add(&hashes, Int64GetDatum(items[i]->payload_hash), false);
	}
	args[0] = column_array(&ids);
	args[1] = column_array(&positions);
	args[2] = column_array(&hashes);
	prepare_once(&plan_claim,
				 "INSERT INTO phoenix.event_ids (event_id, position, payload_hash) "
				 "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) "
				 "ON CONFLICT DO NOTHING RETURNING position", 3, argtypes);
	if (SPI_execute_plan(plan_claim, args, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert into phoenix.event_ids");
	/* which items were inserted: by position, since an id may repeat */
	ninserted = (int) SPI_processed;
	inserted = palloc(sizeof(int64) * Max(ninserted, 1));
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		inserted[r] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(inserted, ninserted, sizeof(int64), cmp_int64);

	prepare_once(&plan_lookup_ids,
				 "SELECT event_id, position, payload_hash FROM phoenix.event_ids "
				 "WHERE event_id OPERATOR(pg_catalog.=) ANY ($1)", 1, argtypes);
	if (SPI_execute_plan(plan_lookup_ids, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read phoenix.event_ids");
	ctl.keysize = EVENT_ID_KEYSIZE;
	ctl.entrysize = sizeof(SeenId);
	ctl.hcxt = CurrentMemoryContext;
	existing = hash_create("phoenix existing event ids", Max(nitems, 16), &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;
		SeenId	   *e = hash_search(existing, SPI_getvalue(tup, SPI_tuptable->tupdesc, 1), HASH_ENTER, NULL);

		e->position = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		e->payload_hash = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	for (i = 0; i < nitems; i++)
	{
		SeenId	   *e;

		if (bsearch(&items[i]->position, inserted, ninserted, sizeof(int64), cmp_int64) != NULL)
			continue;
		e = hash_search(existing, items[i]->event_id, HASH_FIND, NULL);
		if (e == NULL)
			elog(ERROR, "event id \"%s\" neither inserted nor found", items[i]->event_id);
		if (e->payload_hash == items[i]->payload_hash ||
			same_as_logged(items[i], e->position, items, nitems))
		{
			items[i]->status = EMIT_DUPLICATE;
			items[i]->position = e->position;
		}
		else
			refuse(items[i], ID_USED_FOR_ANOTHER_PAYLOAD, e->position);
	}
}

/*
 * Payload hashes are of the jsonb bytes (emit_payload_hash), which differ
 * for equal numbers written differently (1.0 and 1): when they differ, the
 * payloads themselves decide.  Same type and equal jsonb: the same event.
 */
static bool
same_event(EmitItem *item, const char *event_type, Jsonb *payload)
{
	return strcmp(item->type->name, event_type) == 0 &&
		DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(item->payload),
										 JsonbPGetDatum(payload)));
}

/*
 * Is `item` the event logged at `position`?  That event is either being
 * claimed by this very batch (not logged yet), or in the log.
 */
static bool
same_as_logged(EmitItem *item, int64 position, EmitItem **batch, int nbatch)
{
	static const Oid argtypes[1] = {INT8OID};
	Datum		arg = Int64GetDatum(position);
	bool		isnull;
	bool		same;
	int			i;

	for (i = 0; i < nbatch; i++)
		if (batch[i]->position == position && batch[i] != item)
			return same_event(item, batch[i]->type->name, batch[i]->payload);
	prepare_once(&plan_logged_event,
				 "SELECT event_type, payload FROM phoenix.event_log WHERE position OPERATOR(pg_catalog.=) $1",
				 1, argtypes);
	if (SPI_execute_plan(plan_logged_event, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read phoenix.event_log");
	same = SPI_processed == 1 &&
		same_event(item, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
				   DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
	SPI_freetuptable(SPI_tuptable);
	return same;
}

/*
 * Append the pending items to the log.  All of a batch shares received_at,
 * hence one partition (made sure of by eventlog_ensure_partition): the rows
 * go straight into it with heap_multi_insert and their index entries, as
 * COPY does, unless the partition has what only the executor handles
 * (writes_directly).  Privileges are checked on the log, as an INSERT would.
 */
void
eventlog_append(EmitItem *items, int nitems, TimestampTz received_at)
{
	Relation	rel;
	Oid			log,
				part;
	int			npending = 0;
	int			i;

	for (i = 0; i < nitems; i++)
		if (items[i].status == EMIT_PENDING)
			npending++;
	if (npending == 0)
		return;
	if (!partition_known || received_at < partition_from || received_at >= partition_to)
		eventlog_ensure_partition(received_at);
	/* our own copies: invalidations processed below reset the cache */
	log = log_relid;
	part = partition_relid;
	if (pg_class_aclcheck(log, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, "event_log");

	LockRelationOid(log, RowExclusiveLock);
	rel = table_open(part, RowExclusiveLock);
	if (!writes_directly(rel, lengthof(log_columns)))
		append_via_sql(items, nitems, received_at);
	else
		append_direct(rel, items, nitems, received_at);
	table_close(rel, NoLock);

	for (i = 0; i < nitems; i++)
		if (items[i].status == EMIT_PENDING)
			items[i].status = EMIT_ACCEPTED;
}

/*
 * Insert the pending items into partition `rel`.  Columns are matched by
 * name, so the partition's physical column order does not matter.
 */
static void
append_direct(Relation rel, EmitItem *items, int nitems, TimestampTz received_at)
{
	const int  *attno;
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * nitems);
	int			nslots = 0;
	TupleDesc	shared = NULL;
	SharedText	type_text = {NULL, 0},
				source_text = {NULL, 0};
	int			c,
				i;

	attno = cached_attnos(rel, &log_attnos, log_columns, lengthof(log_columns));
	for (i = 0; i < nitems; i++)
	{
		EmitItem   *item = &items[i];
		TupleTableSlot *slot;

		if (item->status != EMIT_PENDING)
			continue;
		slot = new_row_slot(rel, &shared);
		slot->tts_values[attno[0]] = Int64GetDatum(item->position);
		slot->tts_values[attno[1]] = CStringGetTextDatum(item->event_id);
		slot->tts_values[attno[2]] = shared_text(&type_text, item->type->name);
		slot->tts_values[attno[3]] = Int32GetDatum(item->type->version);
		slot->tts_values[attno[4]] = JsonbPGetDatum(item->payload);
		slot->tts_values[attno[5]] = TimestampTzGetDatum(item->effective_at);
		slot->tts_values[attno[6]] = TimestampTzGetDatum(received_at);
		for (c = 0; c < 7; c++)
			slot->tts_isnull[attno[c]] = false;
		if (item->source)
		{
			slot->tts_values[attno[7]] = shared_text(&source_text, item->source);
			slot->tts_isnull[attno[7]] = false;
		}
		if (item->source_position)
		{
			slot->tts_values[attno[8]] = CStringGetTextDatum(item->source_position);
			slot->tts_isnull[attno[8]] = false;
		}
		ExecStoreVirtualTuple(slot);
		slots[nslots++] = slot;
	}
	insert_slots(rel, slots, nslots, NULL);
	drop_slots(slots, nslots);
}

/*
 * `str` as text, reusing the datum of the previous call when the string is
 * the same (rows are formed by copying, so they may share it).
 */
static Datum
shared_text(SharedText *cache, const char *str)
{
	if (cache->str == NULL || (str != cache->str && strcmp(str, cache->str) != 0))
	{
		cache->str = str;
		cache->datum = CStringGetTextDatum(str);
	}
	return cache->datum;
}

/*
 * column_attnos of rel, remembered until rel's relcache entry is
 * invalidated (the name lookups were 2% of a single emit).
 */
static const int *
cached_attnos(Relation rel, AttnoCache *cache, const char *const *names, int n)
{
	Assert(n <= lengthof(cache->attno));
	if (cache->relid != RelationGetRelid(rel))
	{
		cache->relid = InvalidOid;
		column_attnos(rel, names, n, cache->attno);
		cache->relid = RelationGetRelid(rel);
	}
	return cache->attno;
}

/* attno[i] = index of the column named names[i] in rel's tuple descriptor. */
static void
column_attnos(Relation rel, const char *const *names, int n, int *attno)
{
	TupleDesc	td = RelationGetDescr(rel);
	int			c,
				i;

	for (c = 0; c < n; c++)
	{
		attno[c] = -1;
		for (i = 0; i < td->natts; i++)
			if (!TupleDescAttr(td, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(td, i)->attname), names[c]) == 0)
				attno[c] = i;
		if (attno[c] < 0)
			elog(ERROR, "relation %s has no column %s", RelationGetRelationName(rel), names[c]);
	}
}

/*
 * An empty row of rel (all NULL), to be filled and stored as virtual.  The
 * slots of one batch share a copy of the relation's descriptor: a copy is not
 * reference-counted, whereas thousands of references to the relcache's
 * descriptor would each be tracked by the resource owner.
 */
static TupleTableSlot *
new_row_slot(Relation rel, TupleDesc *shared)
{
	TupleTableSlot *slot;

	if (*shared == NULL)
		*shared = CreateTupleDescCopy(RelationGetDescr(rel));
	slot = MakeSingleTupleTableSlot(*shared, table_slot_callbacks(rel));
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * (*shared)->natts);
	return slot;
}

/*
 * Whether rows of rel that fill its `ncols` Phoenix columns can be written
 * as COPY writes them (insert_slots), and still go in as an INSERT would
 * put them: no insert trigger (which only the executor fires) and no column
 * besides Phoenix's (whose default or generation expression only an INSERT
 * computes).  An owner may add either to the log or to phoenix.event_ids;
 * those rows then go through SQL.  NOT NULL and CHECK constraints are
 * checked by rowwriter_multi_insert itself.
 */
static bool
writes_directly(Relation rel, int ncols)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;
	int			columns = 0;

	if (trig && (trig->trig_insert_after_row || trig->trig_insert_before_row ||
				 trig->trig_insert_after_statement || trig->trig_insert_before_statement))
		return false;
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			columns++;
	/* cached_attnos() finds each of Phoenix's columns, or raises */
	return columns == ncols && !(desc->constr && desc->constr->has_generated_stored);
}

/*
 * Insert filled slots into rel as COPY does (rowwriter_multi_insert), with a
 * bulk-write buffer ring when there are many, each row first checked against
 * rel's NOT NULL and CHECK constraints (there: a row that fails raises 23502
 * or 23514, and a bulk call refuses that event alone).  The caller drops the
 * slots.
 */
static void
insert_slots(Relation rel, TupleTableSlot **slots, int nslots, bool *collided)
{
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;

	if (nslots == 0)
		return;
	estate = CreateExecutorState();
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	/* a bulk-write buffer ring only pays for itself over many rows */
	bistate = nslots > 1 ? GetBulkInsertState() : NULL;
	/* no range table entry: constraint errors report what the user may see */
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	rowwriter_multi_insert(rri, estate, slots, nslots, bistate, collided, NULL);
	if (bistate)
		FreeBulkInsertState(bistate);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
}

static void
drop_slots(TupleTableSlot **slots, int nslots)
{
	int			i;

	for (i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
}

/*
 * The general path: one INSERT ... SELECT FROM unnest(...) through the
 * partitioned log, which fires whatever triggers the log has.
 */
static void
append_via_sql(EmitItem *items, int nitems, TimestampTz received_at)
{
	static const Oid argtypes[9] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID,
	JSONBARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID};
	ColumnArray cols[8];
	Datum		args[9];
	int			i;

	column_init(&cols[0], INT8OID, nitems);
	column_init(&cols[1], TEXTOID, nitems);
	column_init(&cols[2], TEXTOID, nitems);
	column_init(&cols[3], INT4OID, nitems);
	column_init(&cols[4], JSONBOID, nitems);
	column_init(&cols[5], TIMESTAMPTZOID, nitems);
	column_init(&cols[6], TEXTOID, nitems);
	column_init(&cols[7], TEXTOID, nitems);
	for (i = 0; i < nitems; i++)
	{
		EmitItem   *item = &items[i];

		if (item->status != EMIT_PENDING)
			continue;
		column_add(&cols[0], Int64GetDatum(item->position), false);
		column_add_text(&cols[1], item->event_id);
		column_add_text(&cols[2], item->event_type);
		column_add(&cols[3], Int32GetDatum(item->type->version), false);
		column_add(&cols[4], JsonbPGetDatum(item->payload), false);
		column_add(&cols[5], TimestampTzGetDatum(item->effective_at), false);
		column_add_text(&cols[6], item->source);
		column_add_text(&cols[7], item->source_position);
	}
	if (cols[0].n == 0)
		return;
	for (i = 0; i < 6; i++)
		args[i] = column_array(&cols[i]);
	args[6] = TimestampTzGetDatum(received_at);
	args[7] = column_array(&cols[6]);
	args[8] = column_array(&cols[7]);
	prepare_once(&plan_append,
				 "INSERT INTO phoenix.event_log (position, event_id, event_type, schema_version, payload, "
				 "effective_at, received_at, source, source_position) "
				 "SELECT u.p, u.i, u.t, u.v, u.j, u.e, $7, u.s, u.sp "
				 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($8), pg_catalog.unnest($9)) AS u(p, i, t, v, j, e, s, sp)",
				 9, argtypes);
	if (SPI_execute_plan(plan_append, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into phoenix.event_log");
}

/*
 * Dead letters for refused items (or, for replayed ones, an updated reason),
 * and the replayed mark for replayed items that made it.  Each is one
 * statement per batch.
 */
void
eventlog_record_outcomes(EmitItem *items, int nitems)
{
	static const Oid dl_types[9] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, BOOLARRAYOID};
	static const Oid failed_types[3] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	static const Oid done_types[2] = {INT8ARRAYOID, INT8ARRAYOID};
	ColumnArray dl[9];
	ColumnArray failed[3];
	ColumnArray done[2];
	Datum		args[9];
	int			i;

	for (i = 0; i < 7; i++)
		column_init(&dl[i], TEXTOID, nitems);
	column_init(&dl[7], TIMESTAMPTZOID, nitems);
	column_init(&dl[8], BOOLOID, nitems);
	column_init(&failed[0], INT8OID, nitems);
	column_init(&failed[1], TEXTOID, nitems);
	column_init(&failed[2], TEXTOID, nitems);
	column_init(&done[0], INT8OID, nitems);
	column_init(&done[1], INT8OID, nitems);

	for (i = 0; i < nitems; i++)
	{
		EmitItem   *item = &items[i];
		const char *state = item->status == EMIT_REJECTED ? unpack_sql_state(item->sqlerrcode) : NULL;

		if (item->status == EMIT_REJECTED && item->dead_letter_id > 0)
		{
			column_add(&failed[0], Int64GetDatum(item->dead_letter_id), false);
			column_add_text(&failed[1], dead_letter_reason(item));
			column_add_text(&failed[2], state);
		}
		else if (item->status == EMIT_REJECTED)
		{
			/*
			 * No event type is longer than NAMEDATALEN - 1 bytes; a longer
			 * one (the reason quotes it) would not fit the pending index.
			 */
			bool		type_fits = item->event_type == NULL || strlen(item->event_type) < NAMEDATALEN;

			column_add_text(&dl[0], type_fits ? item->event_type : NULL);
			column_add_text(&dl[1], item->id_generated ? NULL : item->event_id);
			column_add_text(&dl[2], dead_letter_raw(item));
			column_add_text(&dl[3], dead_letter_reason(item));
			column_add_text(&dl[4], state);
			column_add_text(&dl[5], item->source);
			column_add_text(&dl[6], item->source_position);
			column_add(&dl[7], TimestampTzGetDatum(item->effective_at), !item->has_effective_at);
			column_add(&dl[8], BoolGetDatum(!item->raw_not_payload && type_fits), false);
		}
		else if (item->dead_letter_id > 0)
		{
			column_add(&done[0], Int64GetDatum(item->dead_letter_id), false);
			column_add(&done[1], Int64GetDatum(item->position), false);
		}
	}

	if (dl[0].n > 0)
	{
		for (i = 0; i < 9; i++)
			args[i] = column_array(&dl[i]);
		prepare_once(&plan_dead_letter,
					 "INSERT INTO phoenix.dead_letters (event_type, event_id, raw, reason, sqlstate, "
					 "source, source_position, effective_at, replayable) "
					 "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9))", 9, dl_types);
		if (SPI_execute_plan(plan_dead_letter, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into phoenix.dead_letters");
	}
	if (failed[0].n > 0)
	{
		for (i = 0; i < 3; i++)
			args[i] = column_array(&failed[i]);
		prepare_once(&plan_replay_failed,
					 "UPDATE phoenix.dead_letters d SET reason = u.r, sqlstate = u.c, attempts = d.attempts + 1 "
					 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(id, r, c) "
					 "WHERE d.dead_letter_id OPERATOR(pg_catalog.=) u.id", 3, failed_types);
		if (SPI_execute_plan(plan_replay_failed, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update phoenix.dead_letters");
	}
	if (done[0].n > 0)
	{
		args[0] = column_array(&done[0]);
		args[1] = column_array(&done[1]);
		prepare_once(&plan_replay_done,
					 "UPDATE phoenix.dead_letters d SET replayed_at = pg_catalog.now(), replayed_position = u.p, "
					 "attempts = d.attempts + 1 "
					 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(id, p) "
					 "WHERE d.dead_letter_id OPERATOR(pg_catalog.=) u.id", 2, done_types);
		if (SPI_execute_plan(plan_replay_done, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update phoenix.dead_letters");
	}
}

void
EventlogInit(void)
{
	phoenix_relcache_callback(eventlog_relcache_callback, (Datum) 0);
	eventid_init();
}

/* The log (or everything) was invalidated: re-check partitions and OIDs. */
static void
eventlog_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == ids_attnos.relid)
		ids_attnos.relid = InvalidOid;
	if (relid == InvalidOid || relid == log_attnos.relid)
		log_attnos.relid = InvalidOid;
	if (relid == InvalidOid || relid == log_relid || relid == position_seq_relid ||
		relid == partition_relid || relid == ids_relid)
	{
		partition_known = false;
		partition_relid = InvalidOid;
		ids_relid = InvalidOid;
		log_relid = InvalidOid;
		position_seq_relid = InvalidOid;
	}
}

/*
 * The OIDs of the id table and the position sequence, looked up when not
 * cached.  Callers keep the value: the cache may be reset (by the relcache
 * callback) at any catalog access or lock acquisition, e.g. after an
 * autovacuum ANALYZE of the table.
 */
static Oid
ids_oid(void)
{
	Oid			relid = ids_relid;

	if (!OidIsValid(relid))
		ids_relid = relid = phoenix_relid("event_ids");
	return relid;
}

static Oid
position_seq_oid(void)
{
	Oid			relid = position_seq_relid;

	if (!OidIsValid(relid))
		position_seq_relid = relid = phoenix_relid("event_log_position_seq");
	return relid;
}

static Oid
phoenix_relid(const char *relname)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid(PHOENIX_SCHEMA, false));

	if (!OidIsValid(relid))
		elog(ERROR, "relation %s.%s is missing", PHOENIX_SCHEMA, relname);
	return relid;
}

/* [from, to) of the UTC month `months_ahead` after the one holding ts. */
static void
month_bounds(TimestampTz ts, int months_ahead, TimestampTz *from, TimestampTz *to, char **name)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_mon += months_ahead;
	while (tm.tm_mon > MONTHS_PER_YEAR)
	{
		tm.tm_mon -= MONTHS_PER_YEAR;
		tm.tm_year++;
	}
	if (name)
		*name = psprintf("event_log_p%04d%02d", tm.tm_year, tm.tm_mon);
	if (tm2timestamp(&tm, 0, NULL, from) != 0)
		elog(ERROR, "timestamp out of range");
	if (++tm.tm_mon > MONTHS_PER_YEAR)
	{
		tm.tm_mon = 1;
		tm.tm_year++;
	}
	if (tm2timestamp(&tm, 0, NULL, to) != 0)
		elog(ERROR, "timestamp out of range");
}

/*
 * Create phoenix.event_log_pYYYYMM unless it exists.  Creators are
 * serialized by a self-conflicting lock on the log, taken only when the
 * partition is missing, and re-check after getting it.  The DDL runs as the
 * log's owner: writers may insert into the log but not create tables in
 * the phoenix schema.
 */
static void
create_partition_if_missing(TimestampTz ts, int months_ahead)
{
	TimestampTz from,
				to;
	char	   *name;
	Oid			nsp = get_namespace_oid(PHOENIX_SCHEMA, false);
	Oid			save_userid;
	int			save_sec_context;
	HeapTuple	classtup;
	Oid			owner;
	Oid			log;
	char	   *sql;

	month_bounds(ts, months_ahead, &from, &to, &name);
	if (OidIsValid(get_relname_relid(name, nsp)))
		return;
	log = phoenix_relid("event_log");
	LockRelationOid(log, ShareUpdateExclusiveLock);
	if (OidIsValid(get_relname_relid(name, nsp)))
		return;

	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(log));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for relation %u", log);
	owner = ((Form_pg_class) GETSTRUCT(classtup))->relowner;
	ReleaseSysCache(classtup);

	sql = psprintf("CREATE TABLE %s.%s PARTITION OF %s.event_log FOR VALUES FROM (%s) TO (%s)",
				   PHOENIX_SCHEMA, quote_identifier(name), PHOENIX_SCHEMA,
				   quote_literal_cstr(timestamptz_to_str(from)),
				   quote_literal_cstr(timestamptz_to_str(to)));
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create event log partition %s", name);
	/* its own index, not one of the partitioned table (see 21_event_log.sql) */
	sql = psprintf("CREATE INDEX %s ON %s.%s (position) WITH (deduplicate_items = off)",
				   quote_identifier(psprintf("%s_position", name)), PHOENIX_SCHEMA, quote_identifier(name));
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not index event log partition %s", name);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

static SPIPlanPtr
prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, const Oid *argtypes)
{
	if (*plan == NULL)
		*plan = phoenix_prepare_kept(sql, nargs, (Oid *) argtypes, "an event log statement");
	return *plan;
}

static void
column_init(ColumnArray *col, Oid elemtype, int capacity)
{
	col->elemtype = elemtype;
	col->n = 0;
	col->values = palloc(sizeof(Datum) * Max(capacity, 1));
	col->nulls = palloc(sizeof(bool) * Max(capacity, 1));
}

static void
column_add(ColumnArray *col, Datum value, bool isnull)
{
	col->values[col->n] = value;
	col->nulls[col->n] = isnull;
	col->n++;
}

static void
column_add_text(ColumnArray *col, const char *s)
{
	column_add(col, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
}

/* A one-dimensional array of the collected values (NULLs allowed). */
static Datum
column_array(ColumnArray *col)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {col->n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(col->elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(col->values, col->nulls, 1, dims, lbs,
											  col->elemtype, typlen, typbyval, typalign));
}

/* What a dead letter keeps as raw: the input as received, made storable. */
static char *
dead_letter_raw(EmitItem *item)
{
	char	   *raw = "";
	char	   *scrubbed;

	if (item->raw)
		raw = softparse_sanitize(item->raw, item->raw_len, NULL);
	else if (item->payload)
		raw = JsonbToCString(NULL, &item->payload->root, VARSIZE(item->payload));
	/* refused input about a forgotten key keeps none of their PII */
	scrubbed = ingest_scrub_raw(item->event_type, raw);
	return scrubbed ? scrubbed : raw;
}

/* The refusal reason, which may quote a value, scrubbed likewise. */
static char *
dead_letter_reason(EmitItem *item)
{
	char	   *scrubbed = item->reason ? ingest_scrub_raw(NULL, item->reason) : NULL;

	return scrubbed ? scrubbed : item->reason;
}


static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}
