/*
 * timeline.c — the one timeline engine: assertions in, bitemporal versions out.
 *
 * Every write (put, retract, entity events from emit/CSV/Kafka, forget) is an
 * assertion about one key.  The new assertion is always the most recently
 * recorded one, so it wins wherever it covers; everywhere else the timeline
 * stays as it was.  Applying it therefore needs only:
 *   1. its coverage per attribute: [valid_from, valid_to) when bounded, or
 *      [valid_from, next open assertion of that attribute) when open;
 *   2. the current versions of the key touching that window (adjacent ones
 *      too, so equal neighbours coalesce);
 * from which we compute the new versions over the window, diff them against
 * the old ones, close the superseded versions in recorded time (never update
 * them otherwise) and insert the new ones.  The elementary windows whose
 * values changed go to the cascade.
 *
 * Reads and writes of the history table go straight to its btree and through
 * a RowWriter (rowwriter.h: constraints, indexes with the exclusion check,
 * triggers), not through SQL statements: a put writes four or five rows, and
 * starting an executor per row cost more than the rows.  The assertion log
 * is written the same way; only the rare lookup of later open assertions is
 * a prepared statement.
 *
 * Concurrency: writers of one key serialize on a transaction-scoped advisory
 * lock (our own lock-tag space, so user advisory locks never collide); the
 * history table's exclusion constraint is the backstop that makes overlapping
 * current versions impossible whatever writes them.
 *
 * Memory: everything is palloc'd in the caller's (SPI) context.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/hash.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "common/compat.h"
#include "common/phoenix.h"
#include "common/plan.h"
#include "common/rowwriter.h"
#include "timeline/timeline.h"

static void
changed_unregistered(PhxEntity *entity, const char *key, List *changes)
{
	elog(ERROR, "phoenix: no handler is registered for timeline changes (the cascade)");
}

static void
scrub_assertion_unregistered(PhxEntity *entity, const char *key, TimelineAssertion *assertion)
{
	elog(ERROR, "phoenix: no handler is registered for assertion scrubbing (forget)");
}

static timeline_changed_hook_type changed_hook = changed_unregistered;
static timeline_scrub_assertion_hook_type scrub_assertion_hook = scrub_assertion_unregistered;

void
timeline_register_changed_hook(timeline_changed_hook_type hook)
{
	changed_hook = hook;
}

void
timeline_register_scrub_assertion_hook(timeline_scrub_assertion_hook_type hook)
{
	scrub_assertion_hook = hook;
}

/* field4 of our advisory lock tags: keeps clear of pg_advisory_lock's 1 and 2 */
#define PHOENIX_LOCKTAG_TIMELINE	0x5048
#define PHOENIX_LOCKTAG_ENTITY		0x5049
#define PHOENIX_LOCKTAG_WRITERS		0x504B

/*
 * Key locks one transaction takes on one entity before it locks the whole
 * entity instead.  Every key lock is an entry in the shared lock table,
 * which holds about max_locks_per_transaction × max_connections entries for
 * all sessions together (6,400 by default): a bulk load of ten thousand
 * employees in one transaction would run out of it.
 */
#define TIMELINE_MAX_KEY_LOCKS		1000

/*
 * How many key locks this transaction has taken, per entity (a short list:
 * few entities are written in one transaction).  Belongs to the transaction
 * entity_locks_lxid.
 */
typedef struct EntityLocks
{
	int32		entity_id;
	int			nkeys;
	int			next_try;		/* key count at which to try escalating */
} EntityLocks;

static LocalTransactionId entity_locks_lxid = InvalidLocalTransactionId;
static EntityLocks entity_locks[16];
static int	n_entity_locks = 0;

/* One version of a key: a valid-time period and a value per attribute. */
typedef struct Version
{
	TimestampTz from;
	TimestampTz to;
	TimestampTz recorded_from;
	ItemPointerData ctid;		/* of the stored row; invalid for new ones */
	HeapTuple	tuple;			/* the stored row as read; NULL for new ones */
	Datum	   *values;
	bool	   *isnull;
} Version;

static void lock_key(PhxEntity *entity, const char *key);
static EntityLocks *entity_locks_of(PhxEntity *entity);
static void entity_locktag(LOCKTAG *tag, PhxEntity *entity);
static void writers_locktag(LOCKTAG *tag);
static void prepare_plan(PhxEntity *entity);
static void coverage_ends(PhxEntity *entity, const char *key,
						  TimelineAssertion *a, TimestampTz *cover_to);
static RowWriter *open_history(PhxEntity *entity);
static List *load_versions(PhxEntity *entity, RowWriter *hist, const char *key,
						   TimestampTz from, TimestampTz to);
static int	cmp_version(const ListCell *a, const ListCell *b);
static int	collect_points(List *old, TimelineAssertion *a, TimestampTz *cover_to,
						   int natts, TimestampTz from, TimestampTz to, TimestampTz **points);
static Version *version_at(List *versions, TimestampTz t);
static bool values_equal(PhxEntity *entity, Datum *v1, bool *n1, Datum *v2, bool *n2);
static bool attr_equal(PhxAttribute *att, Datum a, Datum b);
static bool version_same(PhxEntity *entity, Version *a, Version *b);
static bool any_present(int natts, bool *isnull);
static void store_assertion(PhxEntity *entity, const char *key, TimelineAssertion *a,
							TimestampTz recorded_at);
static void close_versions(PhxEntity *entity, RowWriter *hist, List *closing,
						   TimestampTz recorded_at);
static void insert_version(PhxEntity *entity, RowWriter *hist, const char *key, Version *v,
						   TimestampTz recorded_at);
static int	cmp_timestamp(const void *a, const void *b);
static void attribute_input_error_context(void *arg);

TimelineAssertion *
timeline_new_assertion(PhxEntity *entity)
{
	TimelineAssertion *a = palloc0(sizeof(TimelineAssertion));
	int			n = Max(entity->natts, 1);

	a->is_open = true;
	a->valid_to = DT_NOEND;
	a->asserted = palloc0(sizeof(bool) * n);
	a->values = palloc0(sizeof(Datum) * n);
	a->isnull = palloc0(sizeof(bool) * n);
	for (int i = 0; i < entity->natts; i++)
		a->isnull[i] = true;
	return a;
}

List *
timeline_apply(PhxEntity *entity, const char *key, TimelineAssertion *a)
{
	int			natts = entity->natts;
	TimestampTz *cover_to = palloc(sizeof(TimestampTz) * Max(natts, 1));
	TimestampTz win_from = a->valid_from,
				win_to = a->valid_from;
	TimestampTz *points;
	int			npoints;
	List	   *old_versions;
	List	   *new_versions = NIL;
	List	   *closing = NIL;
	List	   *changes = NIL;
	TimestampTz recorded_at = GetCurrentTransactionStartTimestamp();
	bool		any_asserted = false;
	RowWriter  *hist;
	ListCell   *lc;

	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key of entity \"%s\" must not be null", entity->name)));
	if (TIMESTAMP_NOT_FINITE(a->valid_from) && a->valid_from == DT_NOEND)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_from of entity \"%s\" key \"%s\" must not be infinity",
						entity->name, key)));
	if (!a->is_open && a->valid_from >= a->valid_to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_from must be earlier than valid_to for entity \"%s\" key \"%s\"",
						entity->name, key),
				 errdetail("Periods are half-open [valid_from, valid_to).")));
	for (int i = 0; i < natts; i++)
		any_asserted |= a->asserted[i];
	if (!any_asserted)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("assertion about entity \"%s\" key \"%s\" names no attribute",
						entity->name, key)));

	prepare_plan(entity);
	lock_key(entity, key);
	/* a forgotten key's PII is pseudonymised before anything is stored */
	scrub_assertion_hook(entity, key, a);

	/* 1. coverage of each asserted attribute, and the window they span */
	coverage_ends(entity, key, a, cover_to);
	for (int i = 0; i < natts; i++)
		if (a->asserted[i] && cover_to[i] > win_to)
			win_to = cover_to[i];

	/*
	 * From here on we read and write the history directly, as one SQL
	 * statement would: our earlier writes visible (CommandCounterIncrement),
	 * and, holding the key's lock, a snapshot that sees every writer of the
	 * key that committed before us.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	hist = open_history(entity);

	/* 2. current versions touching [win_from, win_to], adjacent ones included */
	old_versions = load_versions(entity, hist, key, win_from, win_to);
	foreach(lc, old_versions)
	{
		Version    *v = lfirst(lc);

		if (v->from < win_from)
			win_from = v->from;
		if (v->to > win_to)
			win_to = v->to;
		if (v->recorded_from > recorded_at)
			recorded_at = v->recorded_from; /* never close before it began */
	}

	/* 3. elementary segments; new values = old values overridden by the assertion */
	npoints = collect_points(old_versions, a, cover_to, natts, win_from, win_to, &points);
	for (int p = 0; p + 1 < npoints; p++)
	{
		TimestampTz seg_from = points[p],
					seg_to = points[p + 1];
		Version    *old = version_at(old_versions, seg_from);
		Datum	   *nv = palloc(sizeof(Datum) * Max(natts, 1));
		bool	   *nn = palloc(sizeof(bool) * Max(natts, 1));
		bool		new_exists;
		Version    *last;

		for (int i = 0; i < natts; i++)
		{
			if (a->asserted[i] && a->valid_from <= seg_from && seg_from < cover_to[i])
			{
				nv[i] = a->values[i];
				nn[i] = a->isnull[i];
			}
			else if (old)
			{
				nv[i] = old->values[i];
				nn[i] = old->isnull[i];
			}
			else
			{
				nv[i] = (Datum) 0;
				nn[i] = true;
			}
		}
		new_exists = any_present(natts, nn);

		/* report the change of this segment */
		if ((old != NULL) != new_exists ||
			(old && !values_equal(entity, old->values, old->isnull, nv, nn)))
		{
			TimelineChange *c = palloc0(sizeof(TimelineChange));

			c->valid_from = seg_from;
			c->valid_to = seg_to;
			c->old_exists = old != NULL;
			c->new_exists = new_exists;
			c->old_values = palloc0(sizeof(Datum) * Max(natts, 1));
			c->old_isnull = palloc0(sizeof(bool) * Max(natts, 1));
			c->changed = palloc0(sizeof(bool) * Max(natts, 1));
			for (int i = 0; i < natts; i++)
			{
				c->old_values[i] = old ? old->values[i] : (Datum) 0;
				c->old_isnull[i] = old ? old->isnull[i] : true;
				c->changed[i] = c->old_isnull[i] != nn[i] ||
					(!nn[i] && !attr_equal(&entity->atts[i], c->old_values[i], nv[i]));
			}
			c->new_values = nv;
			c->new_isnull = nn;
			changes = lappend(changes, c);
		}

		if (!new_exists)
			continue;			/* a gap: the key is absent here */
		last = new_versions ? llast(new_versions) : NULL;
		if (last && last->to == seg_from &&
			values_equal(entity, last->values, last->isnull, nv, nn))
		{
			last->to = seg_to;	/* coalesce equal neighbours */
			continue;
		}
		last = palloc0(sizeof(Version));
		last->from = seg_from;
		last->to = seg_to;
		ItemPointerSetInvalid(&last->ctid);
		last->values = nv;
		last->isnull = nn;
		new_versions = lappend(new_versions, last);
	}

	/* 4. record the assertion even when it changes nothing: it is history */
	store_assertion(entity, key, a, recorded_at);
	if (changes == NIL)
	{
		rowwriter_close(hist);
		PopActiveSnapshot();
		return NIL;
	}

	/* 5. diff: unchanged versions stay; the rest are closed or inserted */
	foreach(lc, old_versions)
	{
		Version    *ov = lfirst(lc);
		bool		kept = false;
		ListCell   *lc2;

		foreach(lc2, new_versions)
		{
			Version    *nv = lfirst(lc2);

			if (!ItemPointerIsValid(&nv->ctid) && version_same(entity, ov, nv))
			{
				nv->ctid = ov->ctid;	/* mark as already stored */
				kept = true;
				break;
			}
		}
		if (!kept)
			closing = lappend(closing, ov);
	}
	close_versions(entity, hist, closing, recorded_at);
	foreach(lc, new_versions)
	{
		Version    *nv = lfirst(lc);

		if (!ItemPointerIsValid(&nv->ctid))
			insert_version(entity, hist, key, nv, recorded_at);
	}
	rowwriter_close(hist);
	PopActiveSnapshot();

	changed_hook(entity, key, changes);
	return changes;
}

void
timeline_values_from_jsonb(PhxEntity *entity, Jsonb *attributes, TimelineAssertion *a)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			attno = -1;

	if (!JB_ROOT_IS_OBJECT(attributes) || JB_ROOT_IS_SCALAR(attributes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attributes of entity \"%s\" must be a JSON object", entity->name),
				 errhint("Pass e.g. '{\"%s\": ...}'.",
						 entity->natts > 0 ? entity->atts[0].name : "attribute")));
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *name = pnstrdup(v.val.string.val, v.val.string.len);

			attno = catalog_attribute_index(entity, name);
			if (attno < 0)
			{
				if (strcmp(name, entity->key_name) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("\"%s\" is the key of entity \"%s\", not an attribute",
									name, entity->name),
							 errhint("Pass the key as the key argument.")));
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("entity \"%s\" has no attribute \"%s\"", entity->name, name),
						 errhint("phoenix.entity_catalog lists the attributes of each entity.")));
			}
		}
		else if (tok == WJB_VALUE)
		{
			a->asserted[attno] = true;
			a->values[attno] = timeline_datum_from_jsonb(entity, attno, &v, &a->isnull[attno]);
		}
	}
}

Datum
timeline_datum_from_jsonb(PhxEntity *entity, int attno, JsonbValue *v, bool *isnull)
{
	PhxAttribute *att = &entity->atts[attno];
	char	   *text;

	*isnull = false;
	switch (v->type)
	{
		case jbvNull:
			*isnull = true;
			return (Datum) 0;
		case jbvString:
			text = pnstrdup(v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			text = DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
			break;
		case jbvBool:
			text = v->val.boolean ? "true" : "false";
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("attribute \"%s\" of entity \"%s\" takes a %s, not a JSON object or array",
							att->name, entity->name, format_type_be(att->typid))));
	}
	if (att->typid == BOOLOID && v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("attribute \"%s\" of entity \"%s\" takes a boolean, not \"%s\"",
						att->name, entity->name, text)));
	if (att->typid != TEXTOID && v->type == jbvBool && att->typid != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("attribute \"%s\" of entity \"%s\" takes a %s, not a boolean",
						att->name, entity->name, format_type_be(att->typid))));
	{
		ErrorContextCallback errcb;
		const char *names[2] = {att->name, entity->name};
		Datum		result;

		errcb.callback = attribute_input_error_context;
		errcb.arg = names;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		result = OidInputFunctionCall(att->typinput, text, att->typioparam, att->typmod);
		error_context_stack = errcb.previous;
		return result;
	}
}

/* Names the attribute in errors raised by a type's input function. */
static void
attribute_input_error_context(void *arg)
{
	const char **names = (const char **) arg;

	errcontext("attribute \"%s\" of entity \"%s\"", names[0], names[1]);
}

void
timeline_lock_key(PhxEntity *entity, const char *key)
{
	lock_key(entity, key);
}

/* ---------- steps ---------- */

/*
 * Writers of a key hold its lock (exclusive) to the end of the transaction,
 * and, taken first, the entity's lock in RowExclusiveLock mode, which
 * writers share.  A transaction that has locked TIMELINE_MAX_KEY_LOCKS keys
 * of one entity tries to take the entity lock in ExclusiveLock mode instead
 * (lock escalation): then it needs no more key locks, and new writers of
 * the entity wait for it.  It only tries, never waits: another transaction
 * holding the entity lock may be waiting for one of our keys, and waiting
 * for it would be a deadlock.  It tries again after as many keys more.
 *
 * The locks are asked for on every call: when this transaction holds them
 * already, that is a lookup in the backend's own lock table, and a
 * subtransaction rolled back (an emit_batch item dead-lettered, a savepoint)
 * may have released them.  The key count only decides when to try; after
 * such a rollback it counts high, which tries early, never wrongly.
 */
static void
lock_key(PhxEntity *entity, const char *key)
{
	LOCKTAG		tag;
	EntityLocks *el = entity_locks_of(entity);

	timeline_join_writers();
	entity_locktag(&tag, entity);
	if (el->nkeys >= el->next_try)
	{
		if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
			return;				/* the whole entity is ours */
		el->next_try = el->nkeys + TIMELINE_MAX_KEY_LOCKS;
	}
	/*
	 * Having waited for it, a projection created meanwhile must be known
	 * before this write cascades (see timeline_keep_writers_out).
	 */
	if (LockAcquire(&tag, RowExclusiveLock, false, false) == LOCKACQUIRE_OK)
		AcceptInvalidationMessages();
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) entity->id,
						 hash_bytes((const unsigned char *) key, strlen(key)), PHOENIX_LOCKTAG_TIMELINE);
	if (LockAcquire(&tag, ExclusiveLock, false, false) == LOCKACQUIRE_OK)
		el->nkeys++;
}

/* The lock of every writer of `entity` (see lock_key). */
static void
entity_locktag(LOCKTAG *tag, PhxEntity *entity)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) entity->id, 0, PHOENIX_LOCKTAG_ENTITY);
}

/* The lock of every writer of the database (see timeline_join_writers). */
static void
writers_locktag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, 0, 0, PHOENIX_LOCKTAG_WRITERS);
}

/*
 * Asked for on every write: when held already, a lookup in the backend's
 * own lock table (a rolled-back subtransaction may have released it, along
 * with every lock taken after it).
 */
void
timeline_join_writers(void)
{
	LOCKTAG		tag;

	writers_locktag(&tag);
	(void) LockAcquire(&tag, RowExclusiveLock, false, false);
}

void
timeline_pause_writers(void)
{
	LOCKTAG		tag;

	writers_locktag(&tag);
	(void) LockAcquire(&tag, ShareLock, false, false);
}

void
timeline_resume_writers(void)
{
	LOCKTAG		tag;

	writers_locktag(&tag);
	LockRelease(&tag, ShareLock, false);
}

void
timeline_keep_writers_out(PhxEntity *entity)
{
	LOCKTAG		tag;

	entity_locktag(&tag, entity);
	(void) LockAcquire(&tag, ShareLock, false, false);
}

/* This transaction's lock bookkeeping for `entity`. */
static EntityLocks *
entity_locks_of(PhxEntity *entity)
{
	if (entity_locks_lxid != phx_local_xid())
	{
		entity_locks_lxid = phx_local_xid();
		n_entity_locks = 0;
	}
	for (int i = 0; i < n_entity_locks; i++)
		if (entity_locks[i].entity_id == entity->id)
			return &entity_locks[i];
	if (n_entity_locks == lengthof(entity_locks))
	{
		/* more entities than slots: forget the first (it locks keys again) */
		memmove(&entity_locks[0], &entity_locks[1], sizeof(EntityLocks) * (n_entity_locks - 1));
		n_entity_locks--;
	}
	entity_locks[n_entity_locks].entity_id = entity->id;
	entity_locks[n_entity_locks].nkeys = 0;
	entity_locks[n_entity_locks].next_try = TIMELINE_MAX_KEY_LOCKS;
	return &entity_locks[n_entity_locks++];
}

/*
 * Where each asserted attribute's coverage ends.  Bounded: valid_to.  Open:
 * the effective time of the next open assertion (strictly later) that
 * speaks for the same attribute — bounded assertions never cut open ones.
 */
static void
coverage_ends(PhxEntity *entity, const char *key, TimelineAssertion *a, TimestampTz *cover_to)
{
	Datum		args[3];
	int			missing = 0;

	for (int i = 0; i < entity->natts; i++)
	{
		cover_to[i] = a->is_open ? DT_NOEND : a->valid_to;
		if (a->asserted[i] && a->is_open)
			missing++;
	}
	if (missing == 0)
		return;

	args[0] = Int32GetDatum(entity->id);
	args[1] = CStringGetTextDatum(key);
	args[2] = TimestampTzGetDatum(a->valid_from);
	if (SPI_execute_plan(entity->plan_next_open, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: open assertion lookup failed");
	for (uint64 r = 0; r < SPI_processed && missing > 0; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;
		TimestampTz from = DatumGetTimestampTz(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		Jsonb	   *attrs = DatumGetJsonbP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

		for (int i = 0; i < entity->natts; i++)
		{
			JsonbValue	k;

			if (!a->asserted[i] || cover_to[i] != DT_NOEND)
				continue;
			k.type = jbvString;
			k.val.string.val = entity->atts[i].name;
			k.val.string.len = strlen(entity->atts[i].name);
			if (findJsonbValueFromContainer(&attrs->root, JB_FOBJECT, &k) != NULL)
			{
				cover_to[i] = from;
				missing--;
			}
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The history table, opened for writing the engine's columns: the key, the
 * attributes, then valid_from, valid_to, recorded_from, recorded_to.
 */
static RowWriter *
open_history(PhxEntity *entity)
{
	return rowwriter_open(entity->history_relid, entity->history_ncols, entity->history_cols,
						  entity->history_types, entity->history_what);
}

/*
 * The current versions of `key` with valid_from <= to and valid_to >= from,
 * sorted by valid_from: an index scan of the btree on (key, valid_from),
 * with the active snapshot.  Each keeps a copy of its row, for closing it.
 */
static List *
load_versions(PhxEntity *entity, RowWriter *hist, const char *key, TimestampTz from, TimestampTz to)
{
	TupleDesc	desc = RelationGetDescr(hist->rel);
	int			natts = entity->natts;
	AttrNumber	vf = hist->attnums[HISTORY_VALID_FROM(entity)],
				vt = hist->attnums[HISTORY_VALID_TO(entity)],
				rt = hist->attnums[HISTORY_RECORDED_TO(entity)];
	Datum	   *row = palloc(sizeof(Datum) * desc->natts);
	bool	   *rownull = palloc(sizeof(bool) * desc->natts);
	ScanKeyData keys[2];
	Oid			index = timeline_history_btree(entity, hist->rel, hist->attnums);
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *versions = NIL;

	ScanKeyInit(&keys[0], hist->attnums[HISTORY_KEY], BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(key));
	ScanKeyInit(&keys[1], vf, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
				TimestampTzGetDatum(to));
	scan = systable_beginscan(hist->rel, index, OidIsValid(index), GetActiveSnapshot(), 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Version    *v;

		heap_deform_tuple(tup, desc, row, rownull);
		if (rownull[rt - 1] || DatumGetTimestampTz(row[rt - 1]) != DT_NOEND ||
			DatumGetTimestampTz(row[vt - 1]) < from)
			continue;			/* closed in recorded time, or before the window */
		v = palloc0(sizeof(Version));
		v->tuple = heap_copytuple(tup);
		v->ctid = tup->t_self;
		heap_deform_tuple(v->tuple, desc, row, rownull);
		v->from = DatumGetTimestampTz(row[vf - 1]);
		v->to = DatumGetTimestampTz(row[vt - 1]);
		v->recorded_from = DatumGetTimestampTz(row[hist->attnums[HISTORY_RECORDED_FROM(entity)] - 1]);
		v->values = palloc(sizeof(Datum) * Max(natts, 1));
		v->isnull = palloc(sizeof(bool) * Max(natts, 1));
		for (int i = 0; i < natts; i++)
		{
			v->values[i] = row[hist->attnums[HISTORY_ATT(i)] - 1];
			v->isnull[i] = rownull[hist->attnums[HISTORY_ATT(i)] - 1];
		}
		versions = lappend(versions, v);
	}
	systable_endscan(scan);
	list_sort(versions, cmp_version);	/* a heap scan returns them unordered */
	return versions;
}

Oid
timeline_history_btree(PhxEntity *entity, Relation rel, const AttrNumber *attnums)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	if (!OidIsValid(entity->history_btree) || !list_member_oid(indexes, entity->history_btree))
	{
		entity->history_btree = InvalidOid;
		foreach(lc, indexes)
		{
			Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
			Form_pg_index form = index->rd_index;
			bool		fits = index->rd_rel->relam == BTREE_AM_OID && form->indisvalid &&
				form->indnkeyatts >= 2 &&
				form->indkey.values[0] == attnums[HISTORY_KEY] &&
				form->indkey.values[1] == attnums[HISTORY_VALID_FROM(entity)] &&
				index->rd_indcollation[0] == C_COLLATION_OID &&
				heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL);

			index_close(index, AccessShareLock);
			if (fits)
			{
				entity->history_btree = lfirst_oid(lc);
				break;
			}
		}
	}
	list_free(indexes);
	return entity->history_btree;
}

static int
cmp_version(const ListCell *a, const ListCell *b)
{
	TimestampTz x = ((Version *) lfirst(a))->from;
	TimestampTz y = ((Version *) lfirst(b))->from;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Sorted distinct boundaries within [from, to]. */
static int
collect_points(List *old, TimelineAssertion *a, TimestampTz *cover_to, int natts,
			   TimestampTz from, TimestampTz to, TimestampTz **points)
{
	int			cap = 2 * list_length(old) + natts + 3;
	TimestampTz *p = palloc(sizeof(TimestampTz) * cap);
	int			n = 0,
				m = 0;
	ListCell   *lc;

	p[n++] = from;
	p[n++] = to;
	p[n++] = a->valid_from;
	foreach(lc, old)
	{
		Version    *v = lfirst(lc);

		p[n++] = v->from;
		p[n++] = v->to;
	}
	for (int i = 0; i < natts; i++)
		if (a->asserted[i])
			p[n++] = cover_to[i];
	qsort(p, n, sizeof(TimestampTz), cmp_timestamp);
	for (int i = 0; i < n; i++)
		if ((m == 0 || p[i] != p[m - 1]) && p[i] >= from && p[i] <= to)
			p[m++] = p[i];
	*points = p;
	return m;
}

static Version *
version_at(List *versions, TimestampTz t)
{
	ListCell   *lc;

	foreach(lc, versions)
	{
		Version    *v = lfirst(lc);

		if (v->from <= t && t < v->to)
			return v;
	}
	return NULL;
}

static bool
values_equal(PhxEntity *entity, Datum *v1, bool *n1, Datum *v2, bool *n2)
{
	for (int i = 0; i < entity->natts; i++)
	{
		if (n1[i] != n2[i])
			return false;
		if (!n1[i] && !attr_equal(&entity->atts[i], v1[i], v2[i]))
			return false;
	}
	return true;
}

/*
 * Binary equality of two values of one attribute.  Varlenas are compared by
 * content: a value read back from the table may carry a short header where
 * the same value fresh from an input function has a 4-byte one.
 */
static bool
attr_equal(PhxAttribute *att, Datum a, Datum b)
{
	if (att->typlen == -1)
	{
		struct varlena *va = PG_DETOAST_DATUM_PACKED(a);
		struct varlena *vb = PG_DETOAST_DATUM_PACKED(b);

		return VARSIZE_ANY_EXHDR(va) == VARSIZE_ANY_EXHDR(vb) &&
			memcmp(VARDATA_ANY(va), VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(va)) == 0;
	}
	return datumIsEqual(a, b, att->typbyval, att->typlen);
}

static bool
version_same(PhxEntity *entity, Version *a, Version *b)
{
	return a->from == b->from && a->to == b->to &&
		values_equal(entity, a->values, a->isnull, b->values, b->isnull);
}

static bool
any_present(int natts, bool *isnull)
{
	for (int i = 0; i < natts; i++)
		if (!isnull[i])
			return true;
	return false;
}

static void
store_assertion(PhxEntity *entity, const char *key, TimelineAssertion *a, TimestampTz recorded_at)
{
	static const char *const assertion_cols[] = {"entity_id", "key", "valid_from", "valid_to",
	"is_open", "attributes", "origin", "recorded_at"};
	static const Oid assertion_types[] = {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	BOOLOID, JSONBOID, TEXTOID, TIMESTAMPTZOID};
	JsonbParseState *state = NULL;
	JsonbValue *res;
	Datum		values[8];
	bool		nulls[8] = {false};
	RowWriter  *w;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < entity->natts; i++)
	{
		JsonbValue	k,
					v;

		if (!a->asserted[i])
			continue;
		k.type = jbvString;
		k.val.string.val = entity->atts[i].name;
		k.val.string.len = strlen(entity->atts[i].name);
		pushJsonbValue(&state, WJB_KEY, &k);
		if (a->isnull[i])
			v.type = jbvNull;
		else
			timeline_jsonb_value(&entity->atts[i], a->values[i], &v);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);

	values[0] = Int32GetDatum(entity->id);
	values[1] = CStringGetTextDatum(key);
	values[2] = TimestampTzGetDatum(a->valid_from);
	values[3] = TimestampTzGetDatum(a->is_open ? DT_NOEND : a->valid_to);
	values[4] = BoolGetDatum(a->is_open);
	values[5] = JsonbPGetDatum(JsonbValueToJsonb(res));
	values[6] = a->origin ? CStringGetTextDatum(a->origin) : (Datum) 0;
	nulls[6] = a->origin == NULL;
	values[7] = TimestampTzGetDatum(recorded_at);
	w = rowwriter_open(entity->assertions_relid, lengthof(assertion_cols), assertion_cols,
					   assertion_types, "table phoenix.assertions");
	rowwriter_insert(w, values, nulls);
	rowwriter_close(w);
}

/* Close superseded versions in recorded time: recorded_to is all that changes. */
static void
close_versions(PhxEntity *entity, RowWriter *hist, List *closing, TimestampTz recorded_at)
{
	ListCell   *lc;

	foreach(lc, closing)
		rowwriter_update_column(hist, ((Version *) lfirst(lc))->tuple, HISTORY_RECORDED_TO(entity),
								TimestampTzGetDatum(recorded_at));
}

static void
insert_version(PhxEntity *entity, RowWriter *hist, const char *key, Version *v,
			   TimestampTz recorded_at)
{
	int			natts = entity->natts;
	Datum	   *values = palloc(sizeof(Datum) * (natts + 5));
	bool	   *nulls = palloc0(sizeof(bool) * (natts + 5));

	values[HISTORY_KEY] = CStringGetTextDatum(key);
	for (int i = 0; i < natts; i++)
	{
		values[1 + i] = v->values[i];
		nulls[1 + i] = v->isnull[i];
	}
	values[natts + 1] = TimestampTzGetDatum(v->from);
	values[natts + 2] = TimestampTzGetDatum(v->to);
	values[natts + 3] = TimestampTzGetDatum(recorded_at);
	values[natts + 4] = TimestampTzGetDatum(DT_NOEND);
	rowwriter_insert(hist, values, nulls);
}

/*
 * Prepare (once per cached entity) the lookup of later open assertions.  The
 * plan is kept in the entity cache and freed when it is dropped.
 */
static void
prepare_plan(PhxEntity *entity)
{
	if (entity->plan_next_open)
		return;
	entity->plan_next_open = phoenix_prepare_kept(
										 "SELECT valid_from, attributes FROM phoenix.assertions "
										 "WHERE entity_id = $1 AND key = $2 AND is_open AND valid_from > $3 "
										 "ORDER BY valid_from, assertion_id",
										 3, (Oid[]) {INT4OID, TEXTOID, TIMESTAMPTZOID}, "open assertion lookup");
}

static int
cmp_timestamp(const void *a, const void *b)
{
	TimestampTz x = *(const TimestampTz *) a;
	TimestampTz y = *(const TimestampTz *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* A typed value as JSON: booleans and numbers natively, the rest as text. */
void
timeline_jsonb_value(PhxAttribute *att, Datum value, JsonbValue *out)
{
	char		buf[MAXDATELEN + 1];

	switch (att->typid)
	{
		case BOOLOID:
			out->type = jbvBool;
			out->val.boolean = DatumGetBool(value);
			return;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
			out->type = jbvNumeric;
			out->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																   CStringGetDatum(OidOutputFunctionCall(att->typoutput, value)),
																   ObjectIdGetDatum(InvalidOid),
																   Int32GetDatum(-1)));
			return;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			out->type = jbvString;
			out->val.string.val = pstrdup(JsonEncodeDateTime(buf, value, att->typid, NULL));
			out->val.string.len = strlen(out->val.string.val);
			return;
		default:
			out->type = jbvString;
			out->val.string.val = OidOutputFunctionCall(att->typoutput, value);
			out->val.string.len = strlen(out->val.string.val);
			return;
	}
}
