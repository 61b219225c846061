/*
 * projection.c — reporting tables fed by event types, enriched with entity
 * attributes as of each event's effective time (or as valid now).
 *
 * A projection is declared once (create_projection) and compiled into SQL:
 * a "row computation" that turns source rows (event id, times, mapped payload
 * columns) into full reporting rows by looking entity attributes up in the
 * history tables.  The same computation, over different sources, fills the
 * table on arrival (a batch of payloads), on rebuild (a range of the event
 * log) and in the cascade (rows read back from the table itself), so the three
 * can never disagree.  It comes in two variants: index lookups per row
 * (LATERAL … LIMIT 1, for small sets, prepared once per backend) and plain
 * range joins (for large sets, planned for the actual set).
 *
 * The compiled SQL is stored in phoenix.projections; every backend caches the
 * definitions and their prepared plans, dropped on a relcache invalidation of
 * phoenix.projections (sent by create/drop).
 */
#include "postgres.h"

#include "common/guc.h"
#include "common/relcache.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/backend_progress.h"

#include "projection/arrival.h"
#include "projection/cascade.h"
#include "projection/derive.h"
#include "timeline/catalog.h"
#include "json/jsonfast.h"
#include "common/phoenix.h"
#include "common/owner.h"
#include "common/plan.h"
#include "projection/projdef.h"
#include "projection/projection.h"
#include "projection/series.h"
#include "timeline/timeline.h"

/* Advisory-lock field4 that marks Phoenix's key locks in pg_locks. */
#define PROJ_LOCK_FIELD4	0x5058
/* ... and the lock of an event type's arrivals (see lock_source). */
#define PROJ_LOCK_SOURCE	0x504A

/*
 * Key locks are taken on a hash bucket of the key, so that a batch naming
 * thousands of keys takes at most this many locks per entity (the shared
 * lock table is small).  Two keys in one bucket only wait for each other.
 */
#define PROJ_LOCK_BUCKETS	256

/*
 * Log positions per statement when create_projection fills a new table:
 * each statement hashes the history tables afresh, so fewer, larger batches
 * (progress is still reported after each).
 */
#define PROJ_FILL_BATCH		250000

/* ---------- cache ---------- */
static List *proj_cache = NIL;
static bool proj_cache_valid = false;
static MemoryContext proj_cache_cxt = NULL;
static List *retired_cxts = NIL;
static List *retired_plans = NIL;
static Oid	projections_relid = InvalidOid;


/* Next time this backend looks at the due list (see maybe_apply_due). */
static TimestampTz next_due_check = 0;

PG_FUNCTION_INFO_V1(phoenix_create_projection);
PG_FUNCTION_INFO_V1(phoenix_drop_projection);
PG_FUNCTION_INFO_V1(phoenix_rebuild_projection);

static void proj_cache_inval_cb(Datum arg, Oid relid);
static void proj_xact_cb(XactEvent event, void *arg);
static void proj_cache_load(void);
static Projection *projection_or_error(const char *name);
static void apply_events(const char *event_type, int nevents, const EmittedEvent *events, bool rewritten);
static char *insert_sql(Projection *p, bool set_based, const char *src, bool upsert);
static char *fill_src(const char *tmpl, const char *src);
static void check_derived_once(Projection *p);
static int64 fill_from_log(Projection *p, int batch_size, bool report);
static int64 fill_in_c(Projection *p, int64 total, int batch_size, bool report);
static void fill_errcontext(void *arg);
static void lock_source(const char *event_type, LOCKMODE mode);
static void keep_writers_out(List *entities, const char *source);
static int	locktag_cmp(const void *a, const void *b);
static int	payload_key_bucket(const ProjStep *st, JsonbContainer *c);
static int	value_bucket(const char *value, size_t len);
static void locktag_of_bucket(LOCKTAG *tag, uint32 lock_class, int bucket);
static void maybe_apply_due(void);

/* definition helpers */
static void cache_mapped_and_derived(Projection *p, Jsonb *columns, Jsonb *derive);
static char *dep_filter(Projection *p, ProjStep *s, ProjDep dep, const char *alias);
static char *chain_filter(Projection *p, ProjStep *s, const char *alias);
static List *derive_column_refs(Jsonb *derive);
static bool derive_refs_walker(Node *node, List **refs);
static bool window_in_c_possible(Projection *p, ProjStep *s, List *derive_refs);

void
ProjectionInit(void)
{
	phoenix_relcache_callback(proj_cache_inval_cb, (Datum) 0);
	RegisterXactCallback(proj_xact_cb, NULL);
	/* logged events get their rows; changed timelines start the cascade */
	ingest_register_events_logged_hook(projection_on_events);
	timeline_register_changed_hook(cascade_timeline_changed);
}

/* ====================================================================== */
/* SQL-callable functions                                                 */
/* ====================================================================== */

/*
 * create_projection(name, source, columns, enrich, derive, schema, kind,
 * latest_key, fresh_for, horizon) → regclass.  Everything is validated before anything
 * is created, and it all happens in the caller's transaction: on any error,
 * nothing is left behind.
 */
Datum
phoenix_create_projection(PG_FUNCTION_ARGS)
{
	ProjDef    *def = palloc0(sizeof(ProjDef));
	char	   *schema;
	char	   *kind;
	Interval   *fresh_for = PG_ARGISNULL(8) ? NULL : PG_GETARG_INTERVAL_P(8);
	Interval   *horizon = PG_NARGS() > 9 && !PG_ARGISNULL(9) ? PG_GETARG_INTERVAL_P(9) : NULL;
	Jsonb	   *columns,
			   *enrich,
			   *derive,
			   *evschema;
	char	   *qtable;
	Projection *p;
	Oid			relid;

	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of create_projection must not be null", i + 1)));
	def->name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	def->source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	columns = PG_GETARG_JSONB_P(2);
	enrich = PG_GETARG_JSONB_P(3);
	derive = PG_GETARG_JSONB_P(4);
	schema = text_to_cstring(PG_GETARG_TEXT_PP(5));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(6));
	def->latest_key = PG_ARGISNULL(7) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(7));
	def->fillfactor = PG_NARGS() > 10 && !PG_ARGISNULL(10) ? PG_GETARG_INT32(10) : PROJ_DEFAULT_FILLFACTOR;
	if (def->fillfactor < 10 || def->fillfactor > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fillfactor %d of projection \"%s\" is out of range", def->fillfactor, def->name),
				 errhint("Give 10 to 100: %d (the default) when each key's events arrive among others', 50 when they arrive together.",
						 PROJ_DEFAULT_FILLFACTOR)));

	/* Room for the "_fresh" view and index name suffixes. */
	catalog_check_identifier(def->name, "projection", NAMEDATALEN - 16);
	if (get_namespace_oid(schema, true) == InvalidOid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" for projection \"%s\" does not exist", schema, def->name),
				 errhint("Create the schema first, or leave schema to its default \"reporting\".")));
	/*
	 * The owner writes the table inside emit: in a schema someone else owns,
	 * that someone could drop it and put a table of their own, with triggers,
	 * in its place.
	 */
	if (phx_namespace_owner(get_namespace_oid(schema, false)) != phx_extension_owner())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" for projection \"%s\" is not owned by Phoenix's owner", schema, def->name),
				 errdetail("Reporting tables are written with the extension owner's rights, so they live only in schemas that role owns."),
				 errhint("Leave schema to its default \"reporting\", or have the extension's owner create the schema.")));
	if (strcmp(kind, "latest") == 0)
		def->latest = true;
	else if (strcmp(kind, "events") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown kind \"%s\" for projection \"%s\"", kind, def->name),
				 errhint("kind is 'events' (one row per event) or 'latest' (one row per latest_key).")));
	if (def->latest && def->latest_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("projection \"%s\" of kind 'latest' needs latest_key", def->name),
				 errhint("Name the mapped column that identifies what the latest row is about, e.g. latest_key => 'employee_id'.")));
	if (!def->latest && def->latest_key != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("latest_key is only for projections of kind 'latest' (projection \"%s\")", def->name)));

	/* the fill must see what committed while it waited for writers (below) */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("create_projection cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("It fills the new table from the log after concurrent writers finish, which needs a new snapshot."),
				 errhint("Run it in a READ COMMITTED transaction (the default).")));
	SPI_connect();
	if (projection_lookup(def->name) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("projection \"%s\" already exists", def->name),
				 errhint("Drop it with phoenix.drop_projection() first, or choose another name.")));
	qtable = psprintf("%s.%s", quote_identifier(schema), quote_identifier(def->name));
	if (OidIsValid(get_relname_relid(def->name, get_namespace_oid(schema, false))))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation %s already exists, cannot create projection \"%s\"", qtable, def->name)));

	evschema = projdef_source_schema(def->source);
	series_horizon_check(def, horizon);
	projdef_parse_columns(def, columns, evschema);
	projdef_parse_enrich(def, enrich);
	projdef_resolve_steps(def);
	if (def->latest)
	{
		DefColumn  *k = projdef_find_column(def, def->latest_key);

		if (k == NULL || k->step >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("latest_key \"%s\" of projection \"%s\" is not a mapped column",
							def->latest_key, def->name),
					 errhint("latest_key names one of the keys of columns.")));
	}
	projdef_parse_derive(def, derive);
	projdef_analyze_derive(def);

	{
		List	   *entities = NIL;
		ListCell   *lc;

		foreach(lc, def->steps)
			entities = lappend(entities, ((DefStep *) lfirst(lc))->entity);
		keep_writers_out(entities, def->source);
	}
	projdef_create_table(def, schema, fresh_for, qtable);
	projdef_store_definition(def, schema, fresh_for, columns, enrich, derive);
	relid = RangeVarGetRelid(makeRangeVar(schema, def->name, -1), NoLock, false);

	/* The new definition is visible to this backend right away. */
	CacheInvalidateRelcacheByRelid(projections_relid);
	proj_cache_valid = false;
	p = projection_lookup(def->name);
	if (p == NULL)
		elog(ERROR, "projection \"%s\" vanished while being created", def->name);
	fill_from_log(p, PROJ_FILL_BATCH, false);
	projdef_create_indexes(def, qtable);
	SPI_finish();
	PG_RETURN_OID(relid);
}

/* drop_projection(name): the table (and its _fresh view) and the catalog rows. */
Datum
phoenix_drop_projection(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Projection *p;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	SPI_connect();
	p = projection_or_error(name);
	{
		List	   *entities = NIL;

		for (int i = 0; i < p->nsteps; i++)
		{
			PhxEntity  *e = catalog_entity(p->steps[i].entity, true);

			if (e)
				entities = lappend(entities, e);
		}
		keep_writers_out(entities, p->source);
	}
	/* the cache may have been rebuilt while we waited (a concurrent drop) */
	p = projection_or_error(name);
	SPI_execute(psprintf("DROP TABLE IF EXISTS %s CASCADE", p->table), false, 0);
	values[0] = Int32GetDatum(p->id);
	SPI_execute_with_args("DELETE FROM phoenix.projections WHERE projection_id = $1",
						  1, argtypes, values, NULL, false, 0);
	CacheInvalidateRelcacheByRelid(projections_relid);
	proj_cache_valid = false;
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * rebuild_projection(name, batch_size) → rows.  Recomputes the table from the
 * event log in one transaction.  Writers of the table wait (SHARE ROW
 * EXCLUSIVE) while readers keep reading the old rows until commit.
 */
Datum
phoenix_rebuild_projection(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			batch = PG_GETARG_INT32(1);
	Projection *p;
	int64		rows;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be positive, not %d", batch)));
	SPI_connect();
	p = projection_or_error(name);
	SPI_execute(psprintf("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", p->table), false, 0);
	SPI_execute(psprintf("DELETE FROM %s", p->table), false, 0);
	rows = fill_from_log(p, batch, true);
	values[0] = Int32GetDatum(p->id);
	SPI_execute_with_args("UPDATE phoenix.projections SET rebuilt_at = now() WHERE projection_id = $1",
						  1, argtypes, values, NULL, false, 0);
	SPI_finish();
	PG_RETURN_INT64(rows);
}

/* ====================================================================== */
/* Arrival of events                                                      */
/* ====================================================================== */

/*
 * New events of one type (just logged: no projection has their rows yet):
 * one INSERT per projection fed by the type.  Kind 'latest' replaces the
 * key's row when the event is at least as recent.
 */
void
projection_on_events(const char *event_type, int nevents, const EmittedEvent *events)
{
	apply_events(event_type, nevents, events, false);
}

/*
 * Logged events whose payloads were rewritten (forget): their rows are
 * recomputed and replace the old ones (INSERT … ON CONFLICT DO UPDATE).
 */
void
projection_on_rewritten_events(const char *event_type, int nevents, const EmittedEvent *events)
{
	apply_events(event_type, nevents, events, true);
}

/*
 * One INSERT per projection fed by the type.  Small batches use a prepared
 * lookup plan; large ones a statement planned for the set.  New events of
 * kind 'events' need no conflict handling (event ids are unique in the log,
 * and emit hands over only events it has just logged), which spares the
 * speculative probe of the primary key per row.  Before the rows are
 * computed, the entity keys the payloads name are locked in share mode, so
 * that a concurrent change of one of those keys either is visible to our
 * statement or waits for our commit and then finds our rows (see cascade.c).
 */
static void
apply_events(const char *event_type, int nevents, const EmittedEvent *events, bool rewritten)
{
	List	   *all;
	ListCell   *lc;
	Datum	   *ids = NULL,
			   *eff = NULL,
			   *rec = NULL,
			   *pay = NULL;
	Datum		args[4];
	Oid			argtypes[4] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, JSONBARRAYOID};
	bool		built = false;

	if (nevents <= 0)
		return;
	lock_source(event_type, RowExclusiveLock);
	SPI_connect();
	maybe_apply_due();
	all = projection_cache_all();
	foreach(lc, all)
	{
		Projection *p = lfirst(lc);
		int			ret;
		bool		upsert;

		if (strcmp(p->source, event_type) != 0)
			continue;
		upsert = rewritten || p->latest;
		projection_lock_payload_keys(p, nevents, events);
		if (p->recurring)
		{
			series_apply(p, nevents, events, rewritten);
			continue;
		}
		if (!upsert && projection_rows_in_c && nevents < projection_set_based_threshold &&
			arrival_insert(p, nevents, events))
			continue;
		if (!built)
		{
			ids = palloc(sizeof(Datum) * nevents);
			eff = palloc(sizeof(Datum) * nevents);
			rec = palloc(sizeof(Datum) * nevents);
			pay = palloc(sizeof(Datum) * nevents);
			for (int i = 0; i < nevents; i++)
			{
				ids[i] = CStringGetTextDatum(events[i].event_id ? events[i].event_id
											 : psprintf(INT64_FORMAT, events[i].position));
				eff[i] = TimestampTzGetDatum(events[i].effective_at);
				rec[i] = TimestampTzGetDatum(events[i].received_at);
				pay[i] = JsonbPGetDatum(events[i].payload);
			}
			args[0] = PointerGetDatum(construct_array(ids, nevents, TEXTOID, -1, false, TYPALIGN_INT));
			args[1] = PointerGetDatum(construct_array(eff, nevents, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[2] = PointerGetDatum(construct_array(rec, nevents, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[3] = PointerGetDatum(construct_array(pay, nevents, JSONBOID, -1, false, TYPALIGN_INT));
			built = true;
		}
		if (nevents < projection_set_based_threshold)
		{
			SPIPlanPtr *plan = upsert ? &p->upsert_plan : &p->insert_plan;

			if (*plan == NULL)
				*plan = phoenix_prepare_kept(insert_sql(p, false, p->payload_src, upsert), 4, argtypes,
											 psprintf("the insert of projection \"%s\"", p->name));
			ret = projection_execute_lookups(*plan, args, 0);
		}
		else
			ret = SPI_execute_with_args(insert_sql(p, true, p->payload_src, upsert), 4, argtypes,
										args, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "projection \"%s\": insert failed: %s", p->name, SPI_result_code_string(ret));
	}
	SPI_finish();
}

/*
 * Until this transaction commits, other sessions do not know the new
 * projection (create_projection), or still know the dropped one
 * (drop_projection): their writes of its entities would not cascade into
 * it or would cascade into a table that is gone, their events of its source
 * would not reach it or would look for it.  So wait for the writers in
 * progress (a fill then sees their work) and keep new ones waiting until the
 * commit (then they know).  Every writer joins the writers first, so once
 * they are paused nobody holds these locks: taking them never waits while
 * holding some (see timeline_pause_writers).  Taken before anything is
 * written, so that no writer in progress waits for what this transaction
 * wrote (the index a by-match adds to a history table).
 */
static void
keep_writers_out(List *entities, const char *source)
{
	ListCell   *lc;

	timeline_pause_writers();
	foreach(lc, entities)
		timeline_keep_writers_out(lfirst(lc));
	lock_source(source, ShareLock);
	timeline_resume_writers();
}

/*
 * Arrivals of an event type hold its source lock in RowExclusiveLock mode
 * (shared among them) before they look for projections to feed;
 * create_projection holds it in ShareLock mode from before its fill to its
 * commit.  So either an arrival's events are committed before the fill
 * reads the log, or the arrival waits for the new projection, and (having
 * waited) reads the catalog again and feeds it: no event is missed.
 */
static void
lock_source(const char *event_type, LOCKMODE mode)
{
	LOCKTAG		tag;

	if (mode == RowExclusiveLock)
		timeline_join_writers();
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId,
						 hash_bytes((const unsigned char *) event_type, strlen(event_type)), 0,
						 PROJ_LOCK_SOURCE);
	if (LockAcquire(&tag, mode, false, false) == LOCKACQUIRE_OK)
		AcceptInvalidationMessages();
}

/*
 * Share-lock the entity keys (and by-values) the payloads name directly.
 * Locks are taken in a sorted order, so two batches never deadlock on them.
 * A chunk names each step's key about once per event, but a step has only
 * PROJ_LOCK_BUCKETS locks: the buckets named are marked first, so only the
 * distinct ones (at most that many per step) are sorted and locked.
 */
void
projection_lock_payload_keys(Projection *p, int n, const EmittedEvent *events)
{
	LOCKTAG    *tags = NULL;
	int			ntags = 0;

	for (int s = 0; s < p->nsteps; s++)
	{
		ProjStep   *st = &p->steps[s];
		bool		named[PROJ_LOCK_BUCKETS] = {false};

		if (st->nkey_path == 0)
			continue;
		for (int i = 0; i < n; i++)
		{
			int			bucket = payload_key_bucket(st, &events[i].payload->root);

			if (bucket >= 0)
				named[bucket] = true;
		}
		for (int b = 0; b < PROJ_LOCK_BUCKETS; b++)
		{
			if (!named[b])
				continue;
			if (tags == NULL)
				tags = palloc(sizeof(LOCKTAG) * PROJ_LOCK_BUCKETS * p->nsteps);
			locktag_of_bucket(&tags[ntags++], st->lock_class, b);
		}
	}
	if (ntags > 1)
		qsort(tags, ntags, sizeof(LOCKTAG), locktag_cmp);
	for (int i = 0; i < ntags; i++)
		if (i == 0 || memcmp(&tags[i], &tags[i - 1], sizeof(LOCKTAG)) != 0)
			(void) LockAcquire(&tags[i], ShareLock, false, false);
}

/*
 * The lock bucket of the step's key in a payload, or -1 when the payload
 * names none.  The key as the row computation reads it (->>): a string's
 * own bytes (jsonb strings hold no NUL), anything else as its text.
 */
static int
payload_key_bucket(const ProjStep *st, JsonbContainer *c)
{
	JsonbValue *v = NULL;
	char	   *val;

	for (int k = 0; k < st->nkey_path && c != NULL; k++)
	{
		v = projdef_jb_get(c, st->key_path[k]);
		c = (v && v->type == jbvBinary) ? v->val.binary.data : NULL;
	}
	if (v == NULL)
		return -1;
	if (v->type == jbvString)
		return value_bucket(v->val.string.val, v->val.string.len);
	if ((val = jsonfast_value_text(v)) == NULL)
		return -1;
	return value_bucket(val, strlen(val));
}

static int
locktag_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(LOCKTAG));
}

static int
value_bucket(const char *value, size_t len)
{
	return hash_bytes((const unsigned char *) value, len) % PROJ_LOCK_BUCKETS;
}

static void
locktag_of_bucket(LOCKTAG *tag, uint32 lock_class, int bucket)
{
	MemSet(tag, 0, sizeof(LOCKTAG));
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, lock_class, bucket, PROJ_LOCK_FIELD4);
}

uint32
projection_lock_class(const char *entity, const char *attribute)
{
	uint32		h = hash_bytes((const unsigned char *) entity, strlen(entity));

	if (attribute)
		h = hash_combine(h, hash_bytes((const unsigned char *) attribute, strlen(attribute)));
	return h;
}

void
projection_locktag(LOCKTAG *tag, uint32 lock_class, const char *value)
{
	locktag_of_bucket(tag, lock_class, value_bucket(value, strlen(value)));
}

/*
 * Run a prepared per-row lookup statement (LATERAL … LIMIT 1 into the history
 * tables), making sure its plan uses index lookups.  The planner costs a
 * lookup into a small history table (a few hundred floors, twenty sites) as
 * a sequential scan plus a sort, which is cheap once but is paid again for
 * every row of the outer side; the index on (key, valid_from) answers each
 * lookup in one descent.  So whenever the statement is about to be planned
 * (first use, or after an invalidation such as an ANALYZE of a history
 * table), sequential and bitmap scans are disabled for that call only (a GUC
 * nest level, as a function's SET clause does).  A valid plan is executed as
 * it is: the settings only matter to the planner, and saving and restoring
 * them costs more than a single-row statement.  Should an invalidation
 * arrive between our check and the execution (processed while the plan's
 * locks are taken), the plan is rebuilt without the settings; the plan's
 * generation tells, and resetting the plan cache makes the next call plan
 * again, with them.
 */
int
projection_execute_lookups(SPIPlanPtr plan, Datum *args, long count)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *ps = list_length(sources) == 1 ? linitial(sources) : NULL;
	int			nest;
	int			ret;

	if (ps != NULL && ps->is_valid && ps->gplan != NULL && ps->gplan->is_valid)
	{
		int			generation = ps->generation;

		ret = SPI_execute_plan(plan, args, NULL, false, count);
		if (ps->generation != generation)
			ResetPlanCache();
		return ret;
	}
	nest = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	ret = SPI_execute_plan(plan, args, NULL, false, count);
	AtEOXact_GUC(true, nest);
	return ret;
}

/*
 * The cheap check that makes future-dated `current` changes take effect
 * without another write: at most once a second per backend, look at the
 * earliest due entry and apply what is due.
 */
static void
maybe_apply_due(void)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (now < next_due_check)
		return;
	next_due_check = now + USECS_PER_SEC;
	if (SPI_execute("SELECT 1 FROM phoenix.projection_due WHERE due_at <= now()"
					" UNION ALL SELECT 1 FROM phoenix.series_horizon WHERE extend_at <= now() LIMIT 1",
					true, 1) == SPI_OK_SELECT && SPI_processed > 0)
		(void) cascade_apply_due();
}

/* Error context: which projection was being filled from the log. */
static void
fill_errcontext(void *arg)
{
	errcontext("filling projection \"%s\" from the event log", ((Projection *) arg)->name);
}

/* ====================================================================== */
/* Rebuild                                                                */
/* ====================================================================== */

/* Log rows read per fetch when a table is filled in C. */
#define PROJ_FILL_FETCH		10000

/*
 * fill_from_log's rows computed in C (arrival.c, with the entities' versions
 * in memory), reading the log in position order through a cursor.  Returns
 * the number of events inserted: total, or 0 when the projection needs the
 * SQL computation (nothing done).
 */
/* fill_in_c's state between batches */
typedef struct FillInC
{
	Projection *p;
	ArrivalRun *run;
	int64		total;
	int64		reported;
	int			batch_size;
	bool		report;
} FillInC;

static void
fill_in_c_batch(void *arg, int nevents, const EmittedEvent *events, int64 done)
{
	FillInC    *fill = arg;

	arrival_insert_rows(fill->run, nevents, events);
	pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, done);
	if (fill->report && (done - fill->reported >= fill->batch_size || done >= fill->total))
	{
		ereport(NOTICE,
				(errmsg("projection \"%s\": " INT64_FORMAT " of " INT64_FORMAT " events",
						fill->p->name, done, fill->total)));
		fill->reported = done;
	}
}

static int64
fill_in_c(Projection *p, int64 total, int batch_size, bool report)
{
	FillInC		fill = {.p = p, .total = total, .batch_size = batch_size, .report = report};
	int64		done;

	fill.run = arrival_begin(p, true);
	if (fill.run == NULL)
		return 0;
	done = projection_read_log("SELECT event_id, effective_at, received_at, payload, position"
							   " FROM phoenix.event_log WHERE event_type = $1 ORDER BY position",
							   p->source, Min(PROJ_FILL_FETCH, batch_size), fill_in_c_batch, &fill);
	arrival_end(fill.run);
	return Max(done, total);
}

int64
projection_read_log(const char *query, const char *source, int fetch,
					ProjectionLogBatch apply, void *arg)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(source)};
	EmittedEvent *events = palloc(sizeof(EmittedEvent) * fetch);
	MemoryContext fetchcxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix log batch",
												   ALLOCSET_DEFAULT_SIZES);
	Portal		portal = SPI_cursor_open_with_args(NULL, query, 1, argtypes, args, NULL, true,
												   CURSOR_OPT_NO_SCROLL);
	int64		done = 0;

	for (;;)
	{
		SPITupleTable *tt;
		uint64		n;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, fetch);
		tt = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		done += n;
		old = MemoryContextSwitchTo(fetchcxt);
		for (uint64 i = 0; i < n; i++)
			projection_event_from_row(tt->vals[i], tt->tupdesc, 1, &events[i]);
		apply(arg, (int) n, events, done);
		MemoryContextSwitchTo(old);
		MemoryContextReset(fetchcxt);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(fetchcxt);
	pfree(events);
	return done;
}

/*
 * A logged event from a row whose columns first .. first + 4 are event_id,
 * effective_at, received_at, payload, position (the payload may point into
 * the row: keep the tuple table while the event is used).
 */
void
projection_event_from_row(HeapTuple t, TupleDesc d, int first, EmittedEvent *ev)
{
	bool		isnull;
	Datum		id = SPI_getbinval(t, d, first, &isnull);

	memset(ev, 0, sizeof(EmittedEvent));
	ev->event_id = isnull ? NULL : TextDatumGetCString(id);
	ev->effective_at = DatumGetTimestampTz(SPI_getbinval(t, d, first + 1, &isnull));
	ev->received_at = DatumGetTimestampTz(SPI_getbinval(t, d, first + 2, &isnull));
	ev->payload = DatumGetJsonbP(SPI_getbinval(t, d, first + 3, &isnull));
	ev->position = DatumGetInt64(SPI_getbinval(t, d, first + 4, &isnull));
}

/*
 * Insert every logged event of the projection's source, batch_size log
 * positions at a time (set-based), reporting progress through the backend
 * progress counters (phoenix.projection_progress) and, when `report`,
 * NOTICEs.  Returns the table's row count.
 */
static int64
fill_from_log(Projection *p, int batch_size, bool report)
{
	Oid			targ[3] = {TEXTOID, INT8OID, INT4OID};
	Oid			rarg[2] = {INT8OID, INT8OID};
	Datum		v[3];
	int64		total,
				done = 0,
				lo = 0;
	/*
	 * The table is empty and event ids are unique in the log: one event per
	 * row needs no conflict handling; latest rows replace each other across
	 * batches.
	 */
	char	   *ins = insert_sql(p, true, p->log_src, p->latest);
	Oid			relid = projection_table_relid(p, NoLock, false);

	ErrorContextCallback cb = {error_context_stack, fill_errcontext, p};

	error_context_stack = &cb;
	v[0] = CStringGetTextDatum(p->source);
	/* not read-only: a fresh snapshot, taken after create_projection's locks */
	SPI_execute_with_args("SELECT count(*), coalesce(min(position) - 1, 0) FROM phoenix.event_log WHERE event_type = $1",
						  1, targ, v, NULL, false, 1);
	total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool) {0}));
	lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &(bool) {0}));
	if (p->recurring)
	{
		/* each series from its latest event, through the arrival path */
		(void) series_fill(p);
		total = 0;
	}
	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, relid);
	pgstat_progress_update_param(PROGRESS_COPY_BYTES_TOTAL, total);
	if (!p->latest && projection_rows_in_c && total > 0)
		done = fill_in_c(p, total, batch_size, report);
	while (done < total)
	{
		int64		hi;
		bool		isnull;
		Datum		r[2];

		CHECK_FOR_INTERRUPTS();
		v[1] = Int64GetDatum(lo);
		v[2] = Int32GetDatum(batch_size);
		SPI_execute_with_args("SELECT max(position), count(*) FROM (SELECT position FROM phoenix.event_log"
							  " WHERE event_type = $1 AND position > $2 ORDER BY position LIMIT $3) b",
							  3, targ, v, NULL, true, 1);
		hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			break;
		done += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		r[0] = Int64GetDatum(lo);
		r[1] = Int64GetDatum(hi);
		if (SPI_execute_with_args(ins, 2, rarg, r, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "projection \"%s\": rebuild insert failed", p->name);
		lo = hi;
		pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, done);
		if (report)
			ereport(NOTICE,
					(errmsg("projection \"%s\": " INT64_FORMAT " of " INT64_FORMAT " events",
							p->name, done, total)));
	}
	pgstat_progress_end_command();
	error_context_stack = cb.previous;
	/* not read-only: a fresh snapshot that sees the rows just written */
	SPI_execute(psprintf("SELECT count(*) FROM %s", p->table), false, 1);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool) {0}));
}

/* ====================================================================== */
/* Statements over a cached projection                                    */
/* ====================================================================== */

Oid
projection_table_relid(Projection *p, LOCKMODE lockmode, bool missing_ok)
{
	return RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(p->table)),
							lockmode, missing_ok);
}

/* Replace the %SRC% placeholder of a row computation. */
char *
projection_row_sql(Projection *p, bool set_based, const char *src)
{
	check_derived_once(p);
	return fill_src(set_based ? p->row_join : p->row_lateral, src);
}

/*
 * The row SQL runs the derived expressions as the owner: check them again
 * whenever this backend compiles the projection (once per cache load), so
 * that a catalog row made by an older version or changed by hand never runs
 * what create_projection would refuse.
 */
static void
check_derived_once(Projection *p)
{
	if (p->derive_checked || p->nderive == 0)
		return;
	derive_check_stored(p->name, p->table, p->nderive, p->derive_names, p->derive_exprs);
	p->derive_checked = true;
}

/* A row computation with its %SRC% placeholder replaced by `src`. */
static char *
fill_src(const char *tmpl, const char *src)
{
	const char *at = strstr(tmpl, "%SRC%");
	StringInfoData buf;

	/* only the owner writes the catalog, but a row changed by hand must not crash */
	if (at == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("a row computation in phoenix.projections has no %%SRC%% placeholder"),
				 errhint("Recreate the projection with phoenix.drop_projection and phoenix.create_projection.")));
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, tmpl, at - tmpl);
	appendStringInfoString(&buf, src);
	appendStringInfoString(&buf, at + 5);
	return buf.data;
}

/* Append "a, b, c" (quoted) from a comma-separated list of plain names. */
static void
append_columns(StringInfo buf, const char *list, const char *prefix, bool *first)
{
	char	   *copy = pstrdup(list);
	char	   *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		appendStringInfo(buf, "%s%s%s", *first ? "" : ", ", prefix, quote_identifier(tok));
		*first = false;
	}
}

/*
 * INSERT … SELECT of the row computation over `src`, replacing rows with the
 * same primary key.  For kind 'latest', a row is only replaced by an event at
 * least as recent (a late older event never wins).
 */
static char *
insert_sql(Projection *p, bool set_based, const char *src, bool upsert)
{
	StringInfoData buf;
	StringInfoData upd;
	bool		first = true;
	char	   *all = *p->out_columns ? psprintf("%s,%s", p->src_columns, p->out_columns)
		: pstrdup(p->src_columns);
	char	   *copy = pstrdup(all);
	char	   *save = NULL;

	initStringInfo(&buf);
	appendStringInfo(&buf, "INSERT INTO %s AS t (", p->table);
	append_columns(&buf, all, "", &first);
	appendStringInfo(&buf, ", updated_at, change_seq) SELECT r.*, now(), phoenix.next_change_seq() FROM (%s) r",
					 projection_row_sql(p, set_based, src));
	if (!upsert)
		return buf.data;
	appendStringInfo(&buf, " ON CONFLICT (%s) DO UPDATE SET (", quote_identifier(p->pk_column));
	initStringInfo(&upd);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		if (strcmp(tok, p->pk_column) == 0)
			continue;
		appendStringInfo(&buf, "%s, ", quote_identifier(tok));
		appendStringInfo(&upd, "excluded.%s, ", quote_identifier(tok));
	}
	appendStringInfo(&buf, "updated_at, change_seq) = ROW(%sexcluded.updated_at, excluded.change_seq)", upd.data);
	if (p->latest)
		appendStringInfoString(&buf, " WHERE excluded.effective_at >= t.effective_at");
	return buf.data;
}

/*
 * The collation clause of the cascade's key indexes and of the lookups that
 * use them.  Keys are only ever compared for equality, which every
 * deterministic collation decides byte by byte, so "C" finds the same rows
 * as the database's collation; but "C" compares with memcmp and sorts with
 * abbreviated keys, where other collations call strcoll for every comparison
 * (building the indexes after a fill, and every insert into them).
 */
const char *
projection_key_collation(Oid typid)
{
	return type_is_collatable(typid) ? " COLLATE \"C\"" : "";
}

/*
 * The step whose attribute a chained step is keyed by (floor for a site
 * keyed by floor_site_id), or NULL when the step is keyed by the payload.
 */
ProjStep *
projection_chain_parent(Projection *p, ProjStep *s)
{
	if (s->nkey_path > 0)
		return NULL;
	for (int i = 0; i < p->nsteps; i++)
	{
		ProjStep   *t = &p->steps[i];
		size_t		plen = strlen(t->prefix);

		if (t != s && strncmp(s->key_column, t->prefix, plen) == 0 && s->key_column[plen] == '_')
			return t;
	}
	return NULL;
}

/*
 * The columns of the parent's history that lead to a chained step's key:
 * rows of `where_col` holding the key give the parent's matched values in
 * `select_col` (a by-step's chained key is the entity key it matched).
 */
void
projection_chain_columns(ProjStep *s, ProjStep *parent, PhxEntity *pe,
						 const char **where_col, const char **select_col)
{
	const char *attr = s->key_column + strlen(parent->prefix) + 1;

	*where_col = (parent->by_attribute && strcmp(attr, pe->key_name) == 0) ? pe->key_name : attr;
	*select_col = parent->by_attribute ? parent->by_attribute : pe->key_name;
}

/* The WHERE clause (over `alias`) selecting the rows a dependency touches. */
static char *
dep_filter(Projection *p, ProjStep *s, ProjDep dep, const char *alias)
{
	/* key columns are text, by columns of the by attribute's type */
	switch (dep)
	{
		case PROJ_DEP_WINDOW:
			{
				char	   *chain = chain_filter(p, s, alias);

				return psprintf("%1$s%2$s.%3$s = $1%4$s AND %2$s.effective_at >= $2 AND %2$s.effective_at < $3",
								chain ? chain : "", alias, quote_identifier(s->key_column),
								projection_key_collation(TEXTOID));
			}
		case PROJ_DEP_BYVALS:
			return psprintf("%1$s.%2$s = ANY($1%3$s) AND %1$s.effective_at >= $2 AND %1$s.effective_at < $3",
							alias, quote_identifier(s->key_column), projection_key_collation(s->by_typid));
		default:
			return psprintf("%s.%s = $1%s", alias, quote_identifier(s->match_column),
							projection_key_collation(TEXTOID));
	}
}

/*
 * A chained step's window (site S over a period, reached through
 * floor_site_id) is found through its parents' versions instead of an index
 * of its own: the floors that held site S (in the window, when the floor
 * step reads site_id as of the event time; ever, otherwise), up the chain
 * to the step keyed by the payload, whose (key, effective_at) index then
 * finds the rows; the chained column is only rechecked.  So a reporting
 * table needs no index on chained columns, one index fewer to maintain on
 * every arriving row (bench/scale.sh).  A superset is enough: a row's
 * chained column holds what its parent's version held, so the parent's
 * history names the parent key of every row that holds the value.
 * Returns "<root key> = ANY(ARRAY(...)) AND ", or NULL for a step keyed by
 * the payload.
 */
static char *
chain_filter(Projection *p, ProjStep *s, const char *alias)
{
	char	   *keys = "ARRAY[$1::text]";
	ProjStep   *cur = s;
	ProjStep   *parent;

	while ((parent = projection_chain_parent(p, cur)) != NULL)
	{
		PhxEntity  *pe = catalog_entity(parent->entity, false);
		const char *where_col;
		const char *select_col;
		const char *attr = cur->key_column + strlen(parent->prefix) + 1;
		bool		as_of_event = false;
		bool		root = projection_chain_parent(p, parent) == NULL;

		projection_chain_columns(cur, parent, pe, &where_col, &select_col);
		for (int a = 0; a < parent->n_event_time; a++)
			as_of_event |= strcmp(parent->event_time[a], attr) == 0;
		keys = psprintf("ARRAY(SELECT DISTINCT h.%s%s FROM %s h WHERE h.%s::text = ANY(%s)"
						" AND h.recorded_to = 'infinity'%s)",
						quote_identifier(select_col), root ? "" : "::text", pe->history_table,
						quote_identifier(where_col), keys,
						as_of_event ? " AND h.valid_from < $3 AND h.valid_to > $2" : "");
		cur = parent;
	}
	if (cur == s)
		return NULL;
	return psprintf("%s.%s%s = ANY(%s) AND ", alias, quote_identifier(cur->key_column),
					projection_key_collation(cur->by_attribute ? cur->by_typid : TEXTOID), keys);
}

/*
 * The recomputation statement of one dependency: rows selected by the
 * dependency's filter are computed afresh from their own mapped columns and
 * written back only where something changed (each write takes a new
 * change_seq).  Exposed to cascade.c through projection_recompute_sql().
 */
char *
projection_recompute_sql(Projection *p, ProjStep *s, ProjDep dep, bool set_based)
{
	StringInfoData buf;
	StringInfoData src;
	bool		first = true;

	check_derived_once(p);
	initStringInfo(&src);
	appendStringInfoString(&src, "SELECT t0.ctid, ");
	append_columns(&src, p->src_columns, "t0.", &first);
	append_columns(&src, p->out_columns, "t0.", &first);
	appendStringInfo(&src, " FROM %s AS t0 WHERE %s", p->table, dep_filter(p, s, dep, "t0"));

	initStringInfo(&buf);
	appendStringInfo(&buf, "UPDATE %s AS t SET (", p->table);
	first = true;
	append_columns(&buf, p->out_columns, "", &first);
	appendStringInfoString(&buf, ", updated_at, change_seq) = ROW(");
	first = true;
	append_columns(&buf, p->out_columns, "r.", &first);
	/*
	 * Each result goes back to the row version it was computed from, found by
	 * its ctid: a TID lookup per row, where a join by primary key costs an
	 * index descent per row (through every dead version of a busy key) or a
	 * hash join with the whole table.
	 */
	appendStringInfo(&buf, ", now(), phoenix.next_change_seq()) FROM (%s) r WHERE t.ctid = r.ctid AND ROW(",
					 fill_src(set_based ? s->row_join : s->row_lateral, src.data));
	first = true;
	append_columns(&buf, p->out_columns, "t.", &first);
	appendStringInfoString(&buf, ") IS DISTINCT FROM ROW(");
	first = true;
	append_columns(&buf, p->out_columns, "r.", &first);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* A bounded count of the rows a dependency touches (to pick a strategy). */
char *
projection_count_sql(Projection *p, ProjStep *s, ProjDep dep)
{
	return psprintf("SELECT count(*) FROM (SELECT 1 FROM %s AS t0 WHERE %s LIMIT %d) c",
					p->table, dep_filter(p, s, dep, "t0"), projection_set_based_threshold);
}

/*
 * Lock the rows a dependency touches (FOR NO KEY UPDATE, as the UPDATE
 * itself would), in primary key order so that two cascades locking
 * overlapping sets never deadlock on them.  Under READ COMMITTED a row that
 * another transaction rewrote is waited for, and its newest version is
 * locked if it still matches; the recomputation that follows takes a new
 * snapshot and so reads every locked row as it now is (see cascade.c).
 */
char *
projection_lock_sql(Projection *p, ProjStep *s, ProjDep dep)
{
	return psprintf("SELECT count(*) FROM (SELECT 1 FROM %s AS t0 WHERE %s ORDER BY t0.%s"
					" FOR NO KEY UPDATE OF t0) c",
					p->table, dep_filter(p, s, dep, "t0"), quote_identifier(p->pk_column));
}

/* ====================================================================== */
/* The per-backend cache                                                  */
/* ====================================================================== */

static void
proj_cache_inval_cb(Datum arg, Oid relid)
{
	arrival_relcache_invalidated(relid);
	if (relid == InvalidOid || relid == projections_relid)
	{
		proj_cache_valid = false;
		/* the catalog itself may be gone (DROP EXTENSION): look it up again */
		projections_relid = InvalidOid;
	}
}

/* Free caches retired during the transaction (nothing can use them now). */
static void
proj_xact_cb(XactEvent event, void *arg)
{
	ListCell   *lc;

	arrival_xact_event(event);
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, retired_plans)
		SPI_freeplan((SPIPlanPtr) lfirst(lc));
	foreach(lc, retired_cxts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired_plans);
	list_free(retired_cxts);
	retired_plans = NIL;
	retired_cxts = NIL;
}

/* Retire the current cache: its memory and plans go at the end of the xact. */
static void
proj_cache_retire(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	ListCell   *lc;

	foreach(lc, proj_cache)
	{
		Projection *p = lfirst(lc);

		if (p->insert_plan)
			retired_plans = lappend(retired_plans, p->insert_plan);
		if (p->upsert_plan)
			retired_plans = lappend(retired_plans, p->upsert_plan);
		for (int k = 0; k < PROJ_SERIES_NPLANS; k++)
			if (p->series_plans[k])
				retired_plans = lappend(retired_plans, p->series_plans[k]);
		for (int s = 0; s < p->nsteps; s++)
			for (int d = 0; d < PROJ_NDEPS; d++)
			{
				if (p->steps[s].plan[d])
					retired_plans = lappend(retired_plans, p->steps[s].plan[d]);
				if (p->steps[s].count_plan[d])
					retired_plans = lappend(retired_plans, p->steps[s].count_plan[d]);
				if (p->steps[s].lock_plan[d])
					retired_plans = lappend(retired_plans, p->steps[s].lock_plan[d]);
			}
		for (int s = 0; s < p->nsteps; s++)
		{
			if (p->steps[s].versions_plan)
				retired_plans = lappend(retired_plans, p->steps[s].versions_plan);
		}
	}
	if (proj_cache_cxt)
		retired_cxts = lappend(retired_cxts, proj_cache_cxt);
	MemoryContextSwitchTo(old);
	proj_cache_cxt = NULL;
	proj_cache = NIL;
}

List *
projection_cache_all(void)
{
	PhxAsOwner	as;

	if (!OidIsValid(projections_relid))
	{
		Oid			nsp = get_namespace_oid(PHOENIX_SCHEMA, true);

		projections_relid = OidIsValid(nsp) ? get_relname_relid("projections", nsp) : InvalidOid;
	}
	if (!proj_cache_valid)
	{
		/*
		 * Mark valid before loading: an invalidation processed while the
		 * load runs its queries (ours, at command end) must win.
		 */
		proj_cache_retire();
		proj_cache_valid = true;
		if (OidIsValid(projections_relid))
		{
			phx_as_owner_begin(&as);	/* any role's first statement may need it */
			proj_cache_load();
			phx_as_owner_end(&as);
		}
	}
	return proj_cache;
}

/* The projection `name`, or an error saying where projections are listed. */
static Projection *
projection_or_error(const char *name)
{
	Projection *p = projection_lookup(name);

	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("projection \"%s\" does not exist", name),
				 errhint("phoenix.projection_catalog lists the projections.")));
	return p;
}

Projection *
projection_lookup(const char *name)
{
	ListCell   *lc;

	foreach(lc, projection_cache_all())
	{
		Projection *p = lfirst(lc);

		if (strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}

/* A text[] column of an SPI row as a C array (in the current context). */
static char **
spi_text_array(HeapTuple tup, TupleDesc desc, int col, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	char	  **out;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, n);
	out = palloc(sizeof(char *) * (*n + 1));
	for (int i = 0; i < *n; i++)
		out[i] = TextDatumGetCString(elems[i]);
	return out;
}

static char *
spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? pstrdup(v) : NULL;
}

/*
 * The column names the derived expressions read (the last field of each
 * column reference; "*" for a reference to all columns or the whole row).
 * The expressions were checked by analyze_derive when the projection was
 * created, in the same "SELECT (...)" shape, so they parse.
 */
static List *
derive_column_refs(Jsonb *derive)
{
	List	   *vals;
	List	   *keys = projdef_jb_pairs(&derive->root, "derive", &vals);
	ListCell   *lv;
	List	   *refs = NIL;

	(void) keys;
	foreach(lv, vals)
	{
		JsonbValue *v = lfirst(lv);
		List	   *stmts;
		RawStmt    *raw;

		if (v->type != jbvString)
			return list_make1(pstrdup("*"));
		stmts = raw_parser(psprintf("SELECT (\n%.*s\n)", v->val.string.len, v->val.string.val),
						   RAW_PARSE_DEFAULT);
		raw = linitial_node(RawStmt, stmts);
		if (!IsA(raw->stmt, SelectStmt))
			return list_make1(pstrdup("*"));
		(void) derive_refs_walker((Node *) ((SelectStmt *) raw->stmt)->targetList, &refs);
	}
	return refs;
}

static bool
derive_refs_walker(Node *node, List **refs)
{
	if (node == NULL)
		return false;
	if (IsA(node, ColumnRef))
	{
		Node	   *last = llast(((ColumnRef *) node)->fields);

		*refs = lappend(*refs, IsA(last, String) ? strVal(last) : "*");
		return false;
	}
	return raw_expression_tree_walker(node, derive_refs_walker, (void *) refs);
}

/* Is `name` one of the plain names of the comma-separated `list`? */
static bool
in_name_list(const char *list, const char *name)
{
	size_t		len = strlen(name);

	for (const char *at = list; at && *at; at = strchr(at, ','), at = at ? at + 1 : NULL)
		if (strncmp(at, name, len) == 0 && (at[len] == ',' || at[len] == '\0'))
			return true;
	return false;
}

/*
 * Can cascade.c recompute a window of step `s` in C, from the key's own
 * versions?  Only when nothing but the step's event_time columns can change:
 * not a by-match (which picks among entities), no step whose key is one of
 * its columns (chained: that step would be looked up again), and no derived
 * column that reads one of them (or reads the row in a way we cannot tell).
 */
static bool
window_in_c_possible(Projection *p, ProjStep *s, List *derive_refs)
{
	size_t		plen = strlen(s->prefix);
	ListCell   *lc;

	if (s->by_attribute != NULL || s->n_event_time == 0)
		return false;
	for (int i = 0; i < p->nsteps; i++)
	{
		ProjStep   *t = &p->steps[i];

		if (t != s && t->nkey_path == 0 && strncmp(t->key_column, s->prefix, plen) == 0 &&
			t->key_column[plen] == '_')
			return false;
	}
	foreach(lc, derive_refs)
	{
		const char *ref = lfirst(lc);

		if (!in_name_list(p->src_columns, ref) && !in_name_list(p->out_columns, ref))
			return false;		/* "*", the row itself, or something unknown */
		if (strncmp(ref, s->prefix, plen) == 0 && ref[plen] == '_')
			for (int a = 0; a < s->n_event_time; a++)
				if (strcmp(ref + plen + 1, s->event_time[a]) == 0)
					return false;
	}
	return true;
}

/*
 * Read every projection and its steps into a fresh cache context.  Called
 * inside SPI.
 */
static void
proj_cache_load(void)
{
	MemoryContext old;
	int			ret;
	SPITupleTable *pt,
			   *st;
	uint64		np,
				ns;
	uint64		j = 0;

	if (!OidIsValid(projections_relid))
		return;
	proj_cache_cxt = AllocSetContextCreate(TopMemoryContext, "phoenix projections",
										   ALLOCSET_SMALL_SIZES);
	ret = SPI_execute("SELECT projection_id, name, source, format('%I.%I', schema_name, table_name),"
					  " kind = 'latest', pk_column, src_columns, out_columns, row_lateral, row_join,"
					  " payload_src, log_src, derive, columns, horizon FROM phoenix.projections ORDER BY projection_id", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "cannot read phoenix.projections: %s", SPI_result_code_string(ret));
	pt = SPI_tuptable;
	np = SPI_processed;
	ret = SPI_execute("SELECT projection_id, step, entity, key_column, key_path, by_attribute,"
					  " match_column, event_time, current, prefix, row_lateral, row_join FROM phoenix.projection_steps"
					  " ORDER BY projection_id, step", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "cannot read phoenix.projection_steps: %s", SPI_result_code_string(ret));
	st = SPI_tuptable;
	ns = SPI_processed;

	old = MemoryContextSwitchTo(proj_cache_cxt);
	for (uint64 i = 0; i < np; i++)
	{
		HeapTuple	t = pt->vals[i];
		TupleDesc	d = pt->tupdesc;
		Projection *p = palloc0(sizeof(Projection));
		bool		isnull;
		uint64		first;

		p->id = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		p->name = spi_text(t, d, 2);
		p->source = spi_text(t, d, 3);
		p->table = spi_text(t, d, 4);
		p->latest = DatumGetBool(SPI_getbinval(t, d, 5, &isnull));
		p->pk_column = spi_text(t, d, 6);
		p->src_columns = spi_text(t, d, 7);
		p->out_columns = spi_text(t, d, 8);
		p->row_lateral = spi_text(t, d, 9);
		p->row_join = spi_text(t, d, 10);
		p->payload_src = spi_text(t, d, 11);
		p->log_src = spi_text(t, d, 12);
		{
			Datum		h = SPI_getbinval(t, d, 15, &isnull);

			p->recurring = !isnull;
			p->horizon = isnull ? NULL : (Interval *) datumCopy(h, false, sizeof(Interval));
		}

		while (j < ns && DatumGetInt32(SPI_getbinval(st->vals[j], st->tupdesc, 1, &isnull)) < p->id)
			j++;
		first = j;
		while (j < ns && DatumGetInt32(SPI_getbinval(st->vals[j], st->tupdesc, 1, &isnull)) == p->id)
			j++;
		p->nsteps = (int) (j - first);
		p->steps = palloc0(sizeof(ProjStep) * Max(p->nsteps, 1));
		for (int k = 0; k < p->nsteps; k++)
		{
			HeapTuple	u = st->vals[first + k];
			TupleDesc	ud = st->tupdesc;
			ProjStep   *s = &p->steps[k];

			s->step = DatumGetInt32(SPI_getbinval(u, ud, 2, &isnull));
			s->entity = spi_text(u, ud, 3);
			s->key_column = spi_text(u, ud, 4);
			s->key_path = spi_text_array(u, ud, 5, &s->nkey_path);
			s->by_attribute = spi_text(u, ud, 6);
			s->match_column = spi_text(u, ud, 7);
			s->event_time = spi_text_array(u, ud, 8, &s->n_event_time);
			s->current = spi_text_array(u, ud, 9, &s->n_current);
			s->prefix = spi_text(u, ud, 10);
			s->row_lateral = spi_text(u, ud, 11);
			s->row_join = spi_text(u, ud, 12);
			s->lock_class = projection_lock_class(s->entity, s->by_attribute);
			if (s->by_attribute)
			{
				PhxEntity  *e = catalog_entity(s->entity, false);
				int			a = catalog_attribute_index(e, s->by_attribute);

				s->by_typid = a >= 0 ? e->atts[a].typid : TEXTOID;
			}
		}
		{
			Datum		derive = SPI_getbinval(t, d, 13, &isnull);
			Jsonb	   *derive_jb = isnull ? NULL : DatumGetJsonbP(derive);
			List	   *derive_refs = derive_jb ? derive_column_refs(derive_jb) : NIL;
			Datum		columns = SPI_getbinval(t, d, 14, &isnull);

			for (int k = 0; k < p->nsteps; k++)
				p->steps[k].window_in_c = window_in_c_possible(p, &p->steps[k], derive_refs);
			cache_mapped_and_derived(p, isnull ? NULL : DatumGetJsonbP(columns), derive_jb);
		}
		proj_cache = lappend(proj_cache, p);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The mapped columns' paths and the derived columns' expressions, from the
 * stored definition (for the row computation in C, arrival.c).  Mapped
 * columns come first in the table, in the definition's order.
 */
static void
cache_mapped_and_derived(Projection *p, Jsonb *columns, Jsonb *derive)
{
	List	   *vals;
	List	   *keys;
	ListCell   *lk,
			   *lv;
	int			i = 0;

	if (columns != NULL && JsonContainerIsObject(&columns->root))
	{
		keys = projdef_jb_pairs(&columns->root, "columns", &vals);
		p->nmapped = list_length(keys);
		p->mapped = palloc0(sizeof(ProjMapped) * Max(p->nmapped, 1));
		forboth(lk, keys, lv, vals)
		{
			char	   *typname;

			p->mapped[i].name = lfirst(lk);
			p->mapped[i].path = projdef_split_path(projdef_mapped_path(lfirst(lv), "columns", &typname),
										   &p->mapped[i].npath);
			i++;
		}
	}
	if (derive == NULL || !JsonContainerIsObject(&derive->root))
		return;
	keys = projdef_jb_pairs(&derive->root, "derive", &vals);
	p->nderive = list_length(keys);
	p->derive_names = palloc(sizeof(char *) * Max(p->nderive, 1));
	p->derive_exprs = palloc(sizeof(char *) * Max(p->nderive, 1));
	i = 0;
	forboth(lk, keys, lv, vals)
	{
		p->derive_names[i] = lfirst(lk);
		p->derive_exprs[i++] = projdef_jb_text(lfirst(lv), "derive");
	}
}
