/*
 * emit.c — the one generic mutation: validate, log, apply to entity timelines
 * and projections.  phoenix.emit, emit_batch, replay_dead_letters, the CSV
 * reader and the Kafka worker (emit_bulk) all funnel into emit_items().
 */
#include "postgres.h"


#include "common/guc.h"
#include "access/nbtree.h"
#include "access/toast_compression.h"
#include "access/toast_internals.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "timeline/catalog.h"
#include "common/compat.h"
#include "ingest/emit.h"
#include "ingest/eventlog.h"
#include "ingest/recurrence.h"
#include "json/jsonfast.h"
#include "json/jsonschema.h"
#include "common/phoenix.h"
#include "ingest/ingest_hooks.h"
#include "registry/registry.h"
#include "json/softparse.h"
#include "timeline/timeline.h"

/*
 * A chunk of EMIT_CHUNK events needs a few megabytes of memory.  Resetting
 * an ordinary context between chunks (or deleting it after each call) hands
 * them back to the C library and on to the kernel, and the next chunk faults
 * in freshly zeroed pages again: about one page fault per event, a fifth of
 * the cost of a bulk call.  So one chunk context with a large first block,
 * which every reset keeps, is made once per backend and reused by every
 * bulk call; a nested call (while it is in use) or one after an error (when
 * it went away with its parent) makes another.
 */
#define EMIT_CHUNK_KEEP		(8 * 1024 * 1024)

static MemoryContext spare_chunk_cxt = NULL;
/* The largest btree index entry (nbtree.h's BTMaxItemSize, for our page size). */
#define KEY_INDEX_MAX \
	MAXALIGN_DOWN((BLCKSZ - MAXALIGN(SizeOfPageHeaderData + 3 * sizeof(ItemIdData) + \
									 3 * sizeof(ItemPointerData)) - \
				   MAXALIGN(sizeof(BTPageOpaqueData))) / 3)

/* Longest caller-supplied event id. */
#define EVENT_ID_MAX		200


/*
 * emit_batch's elements on their way to emit_items(): a chunk at a time, in
 * a chunk context.
 */
#include "ingest/emit_int.h"

/* An item's state before a write attempt, restored when it is rolled back. */
typedef struct ItemSave
{
	EmitStatus	status;
	int64		position;
} ItemSave;

static void emit_chunk(EmitItem *items, int nitems, bool raise, EmitCounts *counts);
static void write_items(EmitItem *items, int nitems, TimestampTz received_at,
						IdRefuser conflict);
static void write_isolated(EmitItem *items, int nitems, TimestampTz received_at);
static void write_range(EmitItem *items, ItemSave *saved, int n, TimestampTz received_at);
static bool write_in_subxact(EmitItem *items, ItemSave *saved, int n, TimestampTz received_at,
							 ErrorData **edata);
static bool error_is_server_wide(ErrorData *edata);
static void refuse_unwritable(EmitItem *item, ErrorData *edata);
static const char *clipped(const char *s);
static bool prepare_item(EmitItem *item, const EmitItem *prev, bool raise, TimestampTz received_at);
static void refuse_duplicate_id(EmitItem *item, IdRefusal why, int64 existing_position);
static void refuse_duplicate_id_raise(EmitItem *item, IdRefusal why, int64 existing_position);
static bool effective_time(EmitItem *item, bool raise, TimestampTz received_at);
static bool entity_key(EmitItem *item, bool raise);
static bool recurrence_valid(EmitItem *item, bool raise, TimestampTz received_at);
static bool key_fits_index(const char *key);
static void build_assertions(EmitItem *items, int nitems, bool raise);
static void build_assertion(EmitItem *item);
static bool build_assertion_in_subxact(EmitItem *item, bool keep_error);
static void apply_to_timelines(EmitItem *items, int nitems);
static void feed_projections(EmitItem *items, int nitems, TimestampTz received_at);
static Oid	function_owner(Oid fn_oid);
static void emit_null_arguments(void) pg_attribute_noreturn();
static Datum emit_one(FunctionCallInfo fcinfo, Jsonb *payload);
static uint64 type_seed(const char *event_type);
static int64 payload_hash_seeded(uint64 seed, Jsonb *payload);
static void emit_error_context(void *arg);
static Datum counts_tuple(FunctionCallInfo fcinfo, EmitCounts counts);

PG_FUNCTION_INFO_V1(phoenix_emit);
PG_FUNCTION_INFO_V1(phoenix_emit_text);
PG_FUNCTION_INFO_V1(phoenix_emit_batch);
PG_FUNCTION_INFO_V1(phoenix_emit_batch_text);
PG_FUNCTION_INFO_V1(phoenix_replay_dead_letters);

/*
 * emit(event_type, payload, effective_at, event_id, source) → position.
 * Raises on any refusal; an idempotent repeat returns the original position.
 *
 * Like emit_batch it runs as the function's owner with search_path pinned
 * to pg_catalog, pg_temp, but it does so itself rather than as SECURITY
 * DEFINER ... SET search_path: for one event per statement the generic
 * path (a GUC nest level, setting and resetting search_path, a pass over
 * every GUC at function exit, and the search path recomputed at the next
 * name lookup) was 6% of the call.  The override search path serves every
 * name lookup made inside (SPI statements, plans made here); an error
 * unwinds both it and the user id with the (sub)transaction.
 */
Datum
phoenix_emit(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		emit_null_arguments();
	return emit_one(fcinfo, PG_GETARG_JSONB_P(1));
}

/*
 * emit(event_type, payload text, ...): the same for a payload sent as JSON
 * text, which is what a literal in a query resolves to (as for
 * emit_batch).  The text is read by jsonfast.c in one pass instead of by
 * jsonb_in (about a seventh of a single emit's cost); text it does not
 * handle goes to jsonb_in, which builds the same value or raises the error
 * the jsonb form's input would.
 */
Datum
phoenix_emit_text(PG_FUNCTION_ARGS)
{
	text	   *t;
	Jsonb	   *payload;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		emit_null_arguments();
	t = PG_GETARG_TEXT_PP(1);
	payload = jsonfast_jsonb(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if (payload == NULL)
		payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(t))));
	return emit_one(fcinfo, payload);
}

static void
emit_null_arguments(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("event type and payload must not be null")));
}

/* Both forms of emit, with the payload as jsonb. */
static Datum
emit_one(FunctionCallInfo fcinfo, Jsonb *payload)
{
	EmitItem	item;
	Oid			save_userid;
	int			save_sec_context;
	PhxPinnedPath pinned;

	memset(&item, 0, sizeof(item));
	item.event_type = phx_text_arg(fcinfo, 0);
	item.payload = payload;
	if (!PG_ARGISNULL(2))
	{
		item.has_effective_at = true;
		item.effective_at = PG_GETARG_TIMESTAMPTZ(2);
	}
	item.event_id = phx_text_arg(fcinfo, 3);
	item.source = PG_ARGISNULL(4) ? "emit" : phx_text_arg(fcinfo, 4);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(function_owner(fcinfo->flinfo->fn_oid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	pinned = phx_pin_search_path();
	SPI_connect();
	emit_items(&item, 1, true);
	SPI_finish();
	phx_unpin_search_path(pinned);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_INT64(item.position);
}

/*
 * emit_batch(events jsonb, source) → (accepted, rejected).  events is an
 * array of {"type", "payload", "event_id", "effective_at", "source"}; a
 * payload given as a JSON string is parsed as JSON text.  Elements that are
 * not even that shape are dead-lettered like any other bad event.
 */
Datum
phoenix_emit_batch(PG_FUNCTION_ARGS)
{
	Jsonb	   *events;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	BatchState	bs;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("events must not be null")));
	events = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(events) || JB_ROOT_IS_SCALAR(events))
		emit_batch_text_not_an_array();

	memset(&bs, 0, sizeof(bs));
	bs.source = PG_ARGISNULL(1) ? "emit_batch" : phx_text_arg(fcinfo, 1);
	SPI_connect();
	bs.chunk = palloc(sizeof(EmitItem) * EMIT_CHUNK);
	bs.chunk_cxt = emit_chunk_context(CurrentMemoryContext);
	it = JsonbIteratorInit(&events->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			emit_batch_add(&bs, &v);
	emit_batch_flush(&bs);
	emit_chunk_context_done(bs.chunk_cxt);
	SPI_finish();
	return counts_tuple(fcinfo, bs.counts);
}

/*
 * emit_batch(events text, source): the same, for a batch sent as JSON text
 * (what a literal in a query is).  Rather than becoming one jsonb value first
 * (a tree of every element in memory, then its binary form), the text is
 * read once, element after element, and a chunk's elements are emitted
 * while the reader moves on.  Elements of the usual shape are read by
 * jsonfast.c straight into their items (the payload built as jsonb_in
 * builds it, the envelope's fields taken as they come); any other element,
 * and any other batch, goes through the server's JSON parser, so every
 * element becomes exactly the item (or dead letter) of the jsonb form, and
 * malformed JSON is the error the jsonb form's input would raise.
 */
Datum
phoenix_emit_batch_text(PG_FUNCTION_ARGS)
{
	text	   *events;
	BatchState	bs;
	MemoryContext oldcxt;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("events must not be null")));
	events = PG_GETARG_TEXT_PP(0);
	memset(&bs, 0, sizeof(bs));
	bs.source = PG_ARGISNULL(1) ? "emit_batch" : phx_text_arg(fcinfo, 1);

	SPI_connect();
	bs.chunk = palloc(sizeof(EmitItem) * EMIT_CHUNK);
	bs.chunk_cxt = emit_chunk_context(CurrentMemoryContext);
	/* what the readers allocate lives until the chunk is emitted */
	oldcxt = MemoryContextSwitchTo(bs.chunk_cxt);
	if (!emit_batch_read_fast(&bs, events))
		emit_batch_not_an_array(events);
	MemoryContextSwitchTo(oldcxt);
	emit_batch_flush(&bs);
	emit_chunk_context_done(bs.chunk_cxt);
	SPI_finish();
	return counts_tuple(fcinfo, bs.counts);
}

/*
 * replay_dead_letters(event_type, dead_letter_ids) → (replayed, rejected).
 * Re-emits pending dead letters (all, one type's, or the listed ones) with
 * their original id, source, position and effective time.  Accepted ones
 * are marked replayed; the others keep their row with the new reason.
 */
Datum
phoenix_replay_dead_letters(PG_FUNCTION_ARGS)
{
	Oid			argtypes[2] = {TEXTOID, INT8ARRAYOID};
	Datum		args[2];
	char		nulls[2];
	EmitItem   *items;
	EmitCounts	counts = {0, 0};
	uint64		i,
				n;

	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';

	SPI_connect();
	if (SPI_execute_with_args("SELECT dead_letter_id, event_type, event_id, raw, source, source_position, effective_at "
							  "FROM phoenix.dead_letters "
							  "WHERE replayed_at IS NULL AND replayable AND ($1 IS NULL OR event_type = $1) "
							  "AND ($2 IS NULL OR dead_letter_id = ANY ($2)) "
							  "ORDER BY dead_letter_id FOR UPDATE",
							  2, argtypes, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read phoenix.dead_letters");
	n = SPI_processed;
	items = palloc0(sizeof(EmitItem) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		eff;

		CHECK_FOR_INTERRUPTS();

		items[i].dead_letter_id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		items[i].event_type = SPI_getvalue(tup, td, 2);
		items[i].event_id = SPI_getvalue(tup, td, 3);
		items[i].raw = SPI_getvalue(tup, td, 4);
		items[i].raw_len = strlen(items[i].raw);
		items[i].source = SPI_getvalue(tup, td, 5);
		items[i].source_position = SPI_getvalue(tup, td, 6);
		eff = SPI_getbinval(tup, td, 7, &isnull);
		items[i].has_effective_at = !isnull;
		if (!isnull)
			items[i].effective_at = DatumGetTimestampTz(eff);
	}
	if (n > 0)
		counts = emit_items(items, (int) n, false);
	SPI_finish();
	return counts_tuple(fcinfo, counts);
}

/* The Kafka worker's (and any C caller's) entry: raw JSON text inputs. */
EmitCounts
emit_bulk(EmitInput *inputs, int ninputs)
{
	EmitItem   *items = palloc0(sizeof(EmitItem) * Max(ninputs, 1));
	EmitCounts	counts;
	int			i;

	for (i = 0; i < ninputs; i++)
	{
		items[i].event_type = inputs[i].event_type;
		items[i].raw = inputs[i].raw;
		items[i].raw_len = inputs[i].raw ? inputs[i].raw_len : 0;
		items[i].event_id = inputs[i].event_id;
		items[i].source = inputs[i].source;
		items[i].source_position = inputs[i].source_position;
		items[i].has_effective_at = inputs[i].has_effective_at;
		items[i].effective_at = inputs[i].effective_at;
	}
	counts = emit_items(items, ninputs, false);
	for (i = 0; i < ninputs; i++)
		inputs[i].rejected = items[i].status == EMIT_REJECTED;
	pfree(items);
	return counts;
}

MemoryContext
emit_chunk_context(MemoryContext parent)
{
	MemoryContext cxt = spare_chunk_cxt;

	if (cxt == NULL)
		return AllocSetContextCreate(parent, "phoenix emit chunk",
									 EMIT_CHUNK_KEEP, ALLOCSET_DEFAULT_INITSIZE, ALLOCSET_DEFAULT_MAXSIZE);
	spare_chunk_cxt = NULL;
	MemoryContextSetParent(cxt, parent);
	return cxt;
}

void
emit_chunk_context_done(MemoryContext cxt)
{
	MemoryContextReset(cxt);
	if (spare_chunk_cxt != NULL)
	{
		MemoryContextDelete(cxt);
		return;
	}
	MemoryContextSetParent(cxt, TopMemoryContext);
	spare_chunk_cxt = cxt;
}

char *
emit_source_position(const char *what, uint64 n)
{
	size_t		len = strlen(what);
	char	   *s = palloc(len + 1 + MAXINT8LEN + 1);

	memcpy(s, what, len);
	s[len] = ' ';
	s[len + 1 + pg_ulltoa_n(n, s + len + 1)] = '\0';
	return s;
}

/*
 * Type and payload decide whether a repeat of an id is the same event: a
 * hash of the payload's jsonb bytes, seeded with the type.  Equal payloads
 * have equal bytes except for numbers written with other digits (1.0, 1):
 * when hashes differ, eventlog.c compares the payloads themselves.  (Hashing
 * the bytes costs a tenth of hashing the jsonb value by value.)
 */
int64
emit_payload_hash(const char *event_type, Jsonb *payload)
{
	return payload_hash_seeded(type_seed(event_type), payload);
}

/* The seed of a type's payload hashes. */
static uint64
type_seed(const char *event_type)
{
	return hash_bytes((const unsigned char *) event_type, strlen(event_type));
}

static int64
payload_hash_seeded(uint64 seed, Jsonb *payload)
{
	return (int64) hash_bytes_extended((const unsigned char *) VARDATA_ANY(payload),
									   VARSIZE_ANY_EXHDR(payload), seed);
}

/*
 * The engine: items are handled EMIT_CHUNK at a time, each chunk with a few
 * set-based statements, in a memory context reset between chunks.
 */
EmitCounts
emit_items(EmitItem *items, int nitems, bool raise)
{
	EmitCounts	counts = {0, 0};
	MemoryContext chunk_cxt;
	int			off;

	/* one chunk: the caller's context is as short-lived as ours would be */
	if (nitems <= EMIT_CHUNK)
	{
		emit_chunk(items, nitems, raise, &counts);
		return counts;
	}
	chunk_cxt = emit_chunk_context(CurrentMemoryContext);
	for (off = 0; off < nitems; off += EMIT_CHUNK)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(chunk_cxt);

		emit_chunk(items + off, Min(EMIT_CHUNK, nitems - off), raise, &counts);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(chunk_cxt);
		CHECK_FOR_INTERRUPTS();
	}
	emit_chunk_context_done(chunk_cxt);
	return counts;
}

/*
 * One chunk: validate every item (no side effects yet), convert entity
 * events, number them, then write them: claim their ids, log them, apply
 * entity events and feed projections.  Bulk callers write with per-element
 * isolation (write_isolated); a single emit (raise) simply raises.
 */
static void
emit_chunk(EmitItem *items, int nitems, bool raise, EmitCounts *counts)
{
	TimestampTz received_at = GetCurrentTransactionStartTimestamp();
	int			i;

	eventlog_ensure_partition(received_at);
	for (i = 0; i < nitems; i++)
	{
		prepare_item(&items[i], i > 0 ? &items[i - 1] : NULL, raise, received_at);
		CHECK_FOR_INTERRUPTS();
	}
	build_assertions(items, nitems, raise);
	eventlog_number_items(items, nitems, received_at);
	if (raise)
		write_items(items, nitems, received_at, refuse_duplicate_id_raise);
	else
	{
		write_isolated(items, nitems, received_at);
		eventlog_record_outcomes(items, nitems);
	}
	for (i = 0; i < nitems; i++)
	{
		if (items[i].status == EMIT_REJECTED)
			counts->rejected++;
		else
			counts->accepted++;
	}
}

/*
 * The writes of the pending items: claim their ids (repeats become
 * EMIT_DUPLICATE, conflicts are refused through `conflict`), append them to
 * the log, apply entity events to their timelines and feed projections.
 */
static void
write_items(EmitItem *items, int nitems, TimestampTz received_at,
			IdRefuser conflict)
{
	eventlog_claim_ids(items, nitems, conflict);
	eventlog_append(items, nitems, received_at);
	apply_to_timelines(items, nitems);
	feed_projections(items, nitems, received_at);
}

/*
 * Per-element isolation, the one mechanism behind every bulk path (emit_batch
 * in both forms, ingest_csv, replay_dead_letters and, through emit_bulk, the
 * Kafka worker).  What can be checked before writing was checked by
 * prepare_item and build_assertions; what cannot (a key too large for some
 * index, a value a projection's column cannot hold, a trigger's error,
 * anything nobody has thought of) shows only when the rows are written.  So
 * the chunk is written in one subtransaction -- the fast path, one
 * subtransaction per EMIT_CHUNK events -- and when that fails, it is rolled
 * back and split in halves, each written in its own subtransaction, down to
 * the single events that fail on their own: those are refused with their
 * error's message and SQLSTATE (and dead-lettered by the caller), their
 * neighbours written.  One bad event in a chunk of 1,024 costs about 20
 * subtransactions, not 1,024.  Items keep their input order (the first half
 * is written before the second), so repeats of an id are judged as in one
 * statement.  Errors that are not the event's doing (error_is_server_wide:
 * cancel, shutdown, out of memory or disk, deadlock, privileges) are
 * raised again and abort the whole call: then nothing of it is applied.
 */
static void
write_isolated(EmitItem *items, int nitems, TimestampTz received_at)
{
	ItemSave   *saved = palloc(sizeof(ItemSave) * Max(nitems, 1));
	int			i;

	for (i = 0; i < nitems; i++)
	{
		saved[i].status = items[i].status;
		saved[i].position = items[i].position;
	}
	write_range(items, saved, nitems, received_at);
	pfree(saved);
}

/* Write items[0..n) in a subtransaction; on failure split, or refuse one. */
static void
write_range(EmitItem *items, ItemSave *saved, int n, TimestampTz received_at)
{
	ErrorData  *edata = NULL;
	int			pending = 0;
	int			last = -1;
	int			i;

	for (i = 0; i < n; i++)
		if (saved[i].status == EMIT_PENDING)
		{
			pending++;
			last = i;
		}
	if (pending == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	if (write_in_subxact(items, saved, n, received_at, &edata))
		return;
	if (pending > 1)
	{
		write_range(items, saved, n / 2, received_at);
		write_range(items + n / 2, saved + n / 2, n - n / 2, received_at);
		return;
	}
	refuse_unwritable(&items[last], edata);
}

/*
 * One attempt: true when the items were written (subtransaction committed);
 * false, with the items as they were before and *edata the error, when it
 * was rolled back.  Errors that are not the items' doing are raised again.
 */
static bool
write_in_subxact(EmitItem *items, ItemSave *saved, int n, TimestampTz received_at, ErrorData **edata)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;
	int			i;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		write_items(items, n, received_at, refuse_duplicate_id);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		*edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	if (ok)
	{
		/* what this range wrote is seen by the next range's statements */
		CommandCounterIncrement();
		return true;
	}
	if (error_is_server_wide(*edata))
		ReThrowError(*edata);
	for (i = 0; i < n; i++)
	{
		if (saved[i].status != EMIT_PENDING)
			continue;
		items[i].status = EMIT_PENDING;
		items[i].position = saved[i].position;
		items[i].reason = NULL;
		items[i].hint = NULL;
		items[i].sqlerrcode = 0;
	}
	return false;
}

/*
 * Errors that say nothing about the event being written: the server or the
 * session cannot go on (resources, operator intervention, system errors,
 * corrupted data), the transaction must be retried (deadlock,
 * serialization, lock timeout), or the caller may not do this at all
 * (privileges, read-only transaction).  These abort the call; every other
 * error (data exceptions, program limits such as index row size, integrity
 * violations, a trigger's or derived column's error, internal errors) is
 * the event's, which is refused.
 */
static bool
error_is_server_wide(ErrorData *edata)
{
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_TO_CATEGORY(ERRCODE_CONNECTION_EXCEPTION):
		case ERRCODE_TO_CATEGORY(ERRCODE_INVALID_TRANSACTION_STATE):
		case ERRCODE_TO_CATEGORY(ERRCODE_TRANSACTION_ROLLBACK):
		case ERRCODE_TO_CATEGORY(ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION):
		case ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES):
		case ERRCODE_TO_CATEGORY(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE):
		case ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION):
		case ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR):
		case ERRCODE_TO_CATEGORY(ERRCODE_CONFIG_FILE_ERROR):
			return true;
		default:
			return edata->sqlerrcode == ERRCODE_DATA_CORRUPTED ||
				edata->sqlerrcode == ERRCODE_INDEX_CORRUPTED;
	}
}

/* A name quoted in a reason, shortened when it is absurdly long. */
static const char *
clipped(const char *s)
{
	size_t		len = strlen(s);

	if (len <= 200)
		return s;
	return psprintf("%.*s... (%zu bytes)", pg_mbcliplen(s, (int) len, 100), s, len);
}

/* An event whose own writes failed: refused with the error it met. */
static void
refuse_unwritable(EmitItem *item, ErrorData *edata)
{
	const char *context = edata->context;
	int			ctxlen = 0;

	/* the innermost context line says where (e.g. which projection) */
	if (context)
		ctxlen = strcspn(context, "\n");
	emit_refuse(item, false, edata->sqlerrcode,
		   edata->hint ? edata->hint :
		   "Fix the value (or what it is written to), then replay the dead letter with phoenix.replay_dead_letters.",
		   "event of type \"%s\" could not be written: %s%s%s%s%.*s%s",
		   item->type->name, edata->message,
		   edata->detail ? " " : "", edata->detail ? edata->detail : "",
		   ctxlen ? " (" : "", ctxlen, context ? context : "", ctxlen ? ")" : "");
}

/*
 * Everything about one item that needs no database write: its type, payload
 * (parsed softly), size, schema validation, effective time, entity key and
 * event id.  On failure the item is refused (or, with raise, ERROR).  `prev`
 * is the chunk's previous item (or NULL), whose type entry stays valid for
 * the chunk, as every item's does.
 */
static bool
prepare_item(EmitItem *item, const EmitItem *prev, bool raise, TimestampTz received_at)
{
	PhxEventType *type;

	if (item->status != EMIT_PENDING)
		return false;
	if (item->event_type == NULL)
		return emit_refuse(item, raise, ERRCODE_INVALID_PARAMETER_VALUE,
					  "Give every event a \"type\".", "event has no type");
	/* a bulk input is mostly of one type: the previous item's, looked up once */
	if (prev && prev->type && prev->event_type &&
		(prev->event_type == item->event_type || strcmp(prev->event_type, item->event_type) == 0))
		type = prev->type;
	else
		type = registry_event_type(item->event_type, true);
	if (type == NULL)
		return emit_refuse(item, raise, ERRCODE_UNDEFINED_OBJECT,
					  raise ? "Register it with phoenix.create_event_type first." :
					  "Register it with phoenix.create_event_type, then replay the dead letters with phoenix.replay_dead_letters.",
					  "unknown event type \"%s\"", clipped(item->event_type));
	item->type = type;

	if (item->payload == NULL)
	{
		char	   *why;
		int			code;

		if (item->raw == NULL)
			return emit_refuse(item, raise, ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL,
						  "event of type \"%s\" has no payload", type->name);
		if (item->raw_len > emit_max_payload_bytes)
			return emit_refuse(item, raise, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
						  "Raise phoenix.max_payload_bytes, or keep large content outside the event.",
						  "payload of event type \"%s\" is %d bytes, more than phoenix.max_payload_bytes (%d)",
						  type->name, item->raw_len, emit_max_payload_bytes);
		item->payload = softparse_json(item->raw, item->raw_len, &why, &code);
		if (item->payload == NULL)
			return emit_refuse(item, raise, code, NULL,
						  "payload of event type \"%s\" is not valid JSON: %s", type->name, why);
	}
	else if (VARSIZE(item->payload) > emit_max_payload_bytes)
		return emit_refuse(item, raise, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
					  "Raise phoenix.max_payload_bytes, or keep large content outside the event.",
					  "payload of event type \"%s\" is %d bytes, more than phoenix.max_payload_bytes (%d)",
					  type->name, (int) VARSIZE(item->payload), emit_max_payload_bytes);

	if (!JB_ROOT_IS_OBJECT(item->payload) || JB_ROOT_IS_SCALAR(item->payload))
		return emit_refuse(item, raise, ERRCODE_PHOENIX_SCHEMA_VIOLATION, NULL,
					  "payload of event type \"%s\" must be a JSON object", type->name);
	{
		List	   *errors = NIL;

		if (!jsonschema_validate(type->schema, item->payload, &errors, 1))
		{
			JsonSchemaError *e = errors ? linitial(errors) : NULL;

			return emit_refuse(item, raise, ERRCODE_PHOENIX_SCHEMA_VIOLATION,
						  raise ? "Fix the payload, or register a new version of the schema." :
						  "Fix the producer, or register a new version of the schema and replay the dead letters.",
						  "payload does not match schema version %d of event type \"%s\": %s: %s (%s)",
						  type->version, type->name,
						  e ? e->path : "$", e ? e->message : "invalid", e ? e->keyword : "schema");
		}
	}
	if (!effective_time(item, raise, received_at))
		return false;
	if (type->entity && !entity_key(item, raise))
		return false;
	if (type->recurrence && !recurrence_valid(item, raise, received_at))
		return false;

	if (item->event_id)
	{
		size_t		len = strlen(item->event_id);

		if (len == 0 || len > EVENT_ID_MAX)
			return emit_refuse(item, raise, ERRCODE_INVALID_PARAMETER_VALUE, NULL,
						  "event_id of event type \"%s\" must have 1 to %d bytes", type->name, EVENT_ID_MAX);
		item->id_given = true;
	}
	else
		item->id_generated = true;	/* made when it is numbered: it names its position */
	/* a payload about a forgotten key loses its PII before anything keeps it */
	{
		Jsonb	   *scrubbed = ingest_scrub_payload(type->name, item->payload, item->effective_at);

		if (scrubbed)
			item->payload = scrubbed;
	}
	item->type_seed = prev && prev->type == type && prev->type_seed ? prev->type_seed : type_seed(type->name);
	item->payload_hash = payload_hash_seeded(item->type_seed, item->payload);
	if (item->source == NULL)
		item->source = "emit_bulk";
	return true;
}

/*
 * Refuse an item: with `raise` an ERROR, otherwise remember why so that it is
 * dead-lettered.  Returns false, for "return emit_refuse(...)".
 */
bool
emit_refuse(EmitItem *item, bool raise, int sqlerrcode, const char *hint, const char *fmt,...)
{
	va_list		ap;
	StringInfoData msg;

	initStringInfo(&msg);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&msg, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	if (raise)
		ereport(ERROR,
				(errcode(sqlerrcode),
				 errmsg_internal("%s", msg.data),
				 hint ? errhint("%s", hint) : 0));
	item->status = EMIT_REJECTED;
	item->sqlerrcode = sqlerrcode;
	item->reason = msg.data;
	item->hint = (char *) hint;
	return false;
}

/* An id that cannot be this item's (eventlog.h): refused, raised or not. */
static void
refuse_id(EmitItem *item, bool raise, IdRefusal why, int64 existing_position)
{
	if (why == ID_GENERATED_FORM_NOT_LOGGED)
		emit_refuse(item, raise, ERRCODE_INVALID_PARAMETER_VALUE,
					"Leave event_id out to have one generated, or send ids of your own form: "
					"version 8 UUIDs naming this database's node are the ids it generates.",
					"event_id \"%s\" of event type \"%s\" has the form of the ids this database generates, "
					"but names no logged event",
					item->event_id, item->event_type);
	else
		emit_refuse(item, raise, ERRCODE_PHOENIX_IDEMPOTENCY_CONFLICT,
					raise ? "Use a new event_id for a different event, or resend the original payload." : NULL,
					"event_id \"%s\" of event type \"%s\" was already used for another payload (position " INT64_FORMAT ")",
					item->event_id, item->event_type, existing_position);
}

static void
refuse_duplicate_id(EmitItem *item, IdRefusal why, int64 existing_position)
{
	refuse_id(item, false, why, existing_position);
}

static void
refuse_duplicate_id_raise(EmitItem *item, IdRefusal why, int64 existing_position)
{
	refuse_id(item, true, why, existing_position);
}

/* effective_at argument, else the type's time_field, else received_at. */
static bool
effective_time(EmitItem *item, bool raise, TimestampTz received_at)
{
	PhxEventType *type = item->type;
	JsonbValue *v;

	if (item->has_effective_at)
	{
		if (TIMESTAMP_NOT_FINITE(item->effective_at))
		{
			emit_refuse(item, raise, ERRCODE_DATETIME_VALUE_OUT_OF_RANGE, NULL,
				   "effective time of an event of type \"%s\" must be finite", type->name);
			return false;
		}
		return true;
	}
	item->effective_at = received_at;
	if (type->time_field == NULL || (v = jsonfast_member(item->payload, type->time_field)) == NULL ||
		v->type == jbvNull)
		return true;
	if (v->type != jbvString)
	{
		emit_refuse(item, raise, ERRCODE_INVALID_DATETIME_FORMAT, NULL,
			   "time field \"%s\" of event type \"%s\" must be a date-time string",
			   type->time_field, type->name);
		return false;
	}
	{
		char	   *why;
		int			code;

		if (!softparse_timestamptz(v->val.string.val, v->val.string.len, &item->effective_at, &why, &code))
		{
			emit_refuse(item, raise, code, "Send RFC 3339 date-times, e.g. 2026-11-23T09:00:00Z.",
				   "time field \"%s\" of event type \"%s\": %s", type->time_field, type->name, why);
			return false;
		}
	}
	return true;
}

/* The entity key from the payload's key_field: a string or a number. */
static bool
entity_key(EmitItem *item, bool raise)
{
	PhxEventType *type = item->type;
	JsonbValue *v = jsonfast_member(item->payload, type->key_field);

	if (v == NULL || (v->type != jbvString && v->type != jbvNumeric))
	{
		emit_refuse(item, raise, ERRCODE_PHOENIX_SCHEMA_VIOLATION,
			   "Make the key field required and a string in the schema.",
			   "key field \"%s\" of event type \"%s\" (entity \"%s\") is missing or not a string",
			   type->key_field, type->name, type->entity);
		return false;
	}
	item->key = jsonfast_scalar_text(v);
	if (!key_fits_index(item->key))
	{
		emit_refuse(item, raise, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
			   "Entity keys are indexed: use a shorter identifier (or a hash of this one).",
			   "key of event type \"%s\" (entity \"%s\") is %zu bytes, too large for an index entry (at most %d bytes as stored)",
			   type->name, type->entity, strlen(item->key), (int) KEY_INDEX_MAX);
		return false;
	}
	return true;
}

/*
 * A booking series' recurrence (recurrence.h): libical reads its rule,
 * PostgreSQL knows its zone, its skipped dates are dates, and it cannot
 * give more occurrences than phoenix.series_max_occurrences.  Projections
 * expand it later; what they would refuse is refused here, with the reason.
 */
static bool
recurrence_valid(EmitItem *item, bool raise, TimestampTz received_at)
{
	Recurrence	r;
	char	   *why;
	int			code;
	const char *hint;

	if (recurrence_read(item->type->recurrence, item->payload, item->effective_at, item->event_id,
						received_at, &r, &why, &code, &hint))
		return true;
	return emit_refuse(item, raise, code, hint, "recurrence of event type \"%s\": %s", item->type->name, why);
}

/*
 * Could a key go into a btree index?  Only a key that is certainly too large
 * is refused: one whose stored form (compressed, as index_form_tuple would
 * compress it) alone exceeds the largest index entry.  Keys near the limit,
 * and the other indexed columns, are left to the write (and to per-element
 * isolation when it fails).  Short keys cost a strlen.
 */
static bool
key_fits_index(const char *key)
{
	size_t		len = strlen(key);
	text	   *t;
	Datum		compressed;
	Size		stored;

	if (len + VARHDRSZ + sizeof(IndexTupleData) <= KEY_INDEX_MAX)
		return true;
	t = cstring_to_text_with_len(key, (int) len);
	compressed = toast_compress_datum(PointerGetDatum(t), default_toast_compression);
	stored = DatumGetPointer(compressed) ? VARSIZE(DatumGetPointer(compressed)) : VARSIZE(t);
	return MAXALIGN(sizeof(IndexTupleData) + stored) <= KEY_INDEX_MAX;
}

/*
 * Turn entity events into open assertions.  Converting a payload value to
 * the attribute's type uses its input function, which can ERROR; the whole
 * chunk is converted in one subtransaction, and only if that fails is each
 * item redone in its own, to find and dead-letter the bad ones.  With raise
 * (a single event) the error simply propagates.
 */
static void
build_assertions(EmitItem *items, int nitems, bool raise)
{
	int			i;
	int			nentity = 0;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	for (i = 0; i < nitems; i++)
		if (items[i].status == EMIT_PENDING && items[i].type->entity)
			nentity++;
	if (nentity == 0)
		return;
	if (raise)
	{
		for (i = 0; i < nitems; i++)
			if (items[i].status == EMIT_PENDING && items[i].type->entity)
				build_assertion(&items[i]);
		return;
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		for (i = 0; i < nitems; i++)
			if (items[i].status == EMIT_PENDING && items[i].type->entity)
				build_assertion(&items[i]);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	if (ok)
		return;

	/* the rare path: one subtransaction per entity event */
	for (i = 0; i < nitems; i++)
		if (items[i].status == EMIT_PENDING && items[i].type->entity)
			(void) build_assertion_in_subxact(&items[i], true);
}

/* Convert one item inside its own subtransaction; refuse it on ERROR. */
static bool
build_assertion_in_subxact(EmitItem *item, bool keep_error)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		build_assertion(item);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (keep_error)
			emit_refuse(item, false, edata->sqlerrcode, edata->hint,
				   "event of type \"%s\" for %s \"%s\": %s",
				   item->type->name, item->type->entity, item->key, edata->message);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return ok;
}

/* Fill item->assertion: the sets fields present in the payload, open from effective_at. */
static void
build_assertion(EmitItem *item)
{
	PhxEventType *type = item->type;
	PhxEntity  *entity = catalog_entity(type->entity, false);
	TimelineAssertion *a = timeline_new_assertion(entity);
	ErrorContextCallback errcallback;
	int			s;

	errcallback.callback = emit_error_context;
	errcallback.arg = item;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	a->is_open = true;
	a->valid_from = item->effective_at;
	for (s = 0; s < type->nsets; s++)
	{
		int			attno = catalog_attribute_index(entity, type->set_attributes[s]);
		JsonbValue *v;

		if (attno < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("entity \"%s\" has no attribute \"%s\" (set by event type \"%s\")",
							entity->name, type->set_attributes[s], type->name),
					 errhint("Register a new version of the event type that maps to existing attributes.")));
		v = jsonfast_member(item->payload, type->set_fields[s]);
		if (v == NULL)
			continue;
		a->asserted[attno] = true;
		a->values[attno] = timeline_datum_from_jsonb(entity, attno, v, &a->isnull[attno]);
	}
	error_context_stack = errcallback.previous;
	item->assertion = a;
}

/* Apply the accepted entity events' assertions, in input (recorded) order. */
static void
apply_to_timelines(EmitItem *items, int nitems)
{
	int			i;

	for (i = 0; i < nitems; i++)
	{
		EmitItem   *item = &items[i];
		ErrorContextCallback errcallback;
		bool		any = false;
		int			a;
		PhxEntity  *entity;

		if (item->status != EMIT_ACCEPTED || item->assertion == NULL)
			continue;
		entity = catalog_entity(item->type->entity, false);
		for (a = 0; a < entity->natts && !any; a++)
			any = item->assertion->asserted[a];
		if (!any)
			continue;
		item->assertion->origin = psprintf("event:" INT64_FORMAT, item->position);
		errcallback.callback = emit_error_context;
		errcallback.arg = item;
		errcallback.previous = error_context_stack;
		error_context_stack = &errcallback;
		timeline_apply(entity, item->key, item->assertion);
		error_context_stack = errcallback.previous;
	}
}

/* One ingest_events_logged call per event type present in the chunk. */
static void
feed_projections(EmitItem *items, int nitems, TimestampTz received_at)
{
	EmittedEvent *events = palloc(sizeof(EmittedEvent) * nitems);
	bool	   *done = palloc0(sizeof(bool) * nitems);
	int			i,
				j;

	for (i = 0; i < nitems; i++)
	{
		int			n = 0;

		if (done[i] || items[i].status != EMIT_ACCEPTED)
			continue;
		for (j = i; j < nitems; j++)
		{
			if (done[j] || items[j].status != EMIT_ACCEPTED || items[j].type != items[i].type)
				continue;
			done[j] = true;
			events[n].position = items[j].position;
			events[n].event_id = items[j].event_id;
			events[n].payload = items[j].payload;
			events[n].effective_at = items[j].effective_at;
			events[n].received_at = received_at;
			n++;
		}
		ingest_events_logged(items[i].type->name, n, events);
	}
}

/* The owner of function `fn_oid` (whose rights phoenix.emit uses). */
static Oid
function_owner(Oid fn_oid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Errors while applying an event name it. */
static void
emit_error_context(void *arg)
{
	EmitItem   *item = (EmitItem *) arg;

	errcontext("event of type \"%s\" for key \"%s\"%s%s",
			   item->type->name, item->key ? item->key : "?",
			   item->source_position ? " at " : "",
			   item->source_position ? item->source_position : "");
}

/* The (accepted, rejected) result row of the bulk functions. */
static Datum
counts_tuple(FunctionCallInfo fcinfo, EmitCounts counts)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(counts.accepted);
	values[1] = Int64GetDatum(counts.rejected);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}
