/*
 * cascade.c — re-enrich the projection rows that depend on a changed entity
 * timeline, and apply future-dated changes of `current` attributes when their
 * time comes.
 *
 * The timeline engine reports the exact valid-time windows that changed, with
 * old and new values (timeline.h).  For every enrichment step that reads the
 * entity, the dependent rows are found through the indexes create_projection
 * made, and recomputed with the projection's own row computation:
 *
 *   event_time  rows whose key column = K and effective_at in [a, b), for
 *               each window where a read attribute (or existence) changed;
 *               chains need nothing special: a floor's site change recomputes
 *               the floor's rows, whose site columns follow from the new
 *               floor_site_id;
 *   by          rows whose by column holds the old or the new by-value, with
 *               effective_at in the window (an email moving between people);
 *   current     rows matched to K, when the window holds now(); windows in
 *               the future become due entries (phoenix.projection_due),
 *               applied by cascade_apply_due().
 *
 * Work is proportional to the rows found.  Up to phoenix.set_based_threshold
 * rows, a prepared statement does per-row index lookups; beyond it, the same
 * recomputation is planned for the actual set (range joins), so a change that
 * touches a fifth of a table costs no more than recomputing the table.
 *
 * Concurrency: before looking for rows, the cascade takes an exclusive
 * transaction-level advisory lock on (entity, K) (and on by-values), which
 * emitters hold in share mode while they insert rows naming K.  So either the
 * emitter's rows are committed before our statement's snapshot (we find them)
 * or the emitter waits for our commit and then reads the new timeline.  Run
 * writers in READ COMMITTED (the default).
 */
#include "postgres.h"

#include "common/guc.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "projection/cascade.h"
#include "common/changeseq.h"
#include "common/phoenix.h"
#include "common/plan.h"
#include "projection/projection.h"
#include "projection/series.h"
#include "common/rowwriter.h"
#include "timeline/timeline.h"

/* A row of a window, as the recomputation in C reads it. */
typedef struct WindowRow
{
	ItemPointerData tid;
	TimestampTz effective_at;
	Datum		pk;
	Datum	   *values;			/* the step's event_time columns */
	bool	   *isnull;
} WindowRow;

/* The recomputation of one window in C: the table's columns and the rows. */
typedef struct WindowScan
{
	Projection *p;
	ProjStep   *s;
	int			n;				/* s->n_event_time */
	Datum		key;
	Oid			relid;
	AttrNumber	key_attno;
	AttrNumber	at_attno;
	AttrNumber	pk_attno;
	AttrNumber *attnos;			/* of the step's columns */
	const char **cols;			/* the step's columns, updated_at, change_seq */
	Oid		   *types;
	FmgrInfo  **eq;				/* equality of each column's type, or NULL */
	Oid		   *coll;
	PhxAttribute **atts;
	FmgrInfo   *pk_cmp;
	Oid			pk_coll;
	bool		pk_byval;
	int16		pk_len;
	int			nrows;
	WindowRow  *rows;
} WindowScan;

/* One version of a key, as the window recomputation in C reads it. */
typedef struct WindowVersion
{
	TimestampTz valid_from;
	TimestampTz valid_to;
	Datum	   *values;			/* the step's event_time attributes */
	bool	   *isnull;
} WindowVersion;

PG_FUNCTION_INFO_V1(phoenix_apply_due);

static SPIPlanPtr due_insert_plan = NULL;

static void run_dependency(Projection *p, ProjStep *s, ProjDep dep, Datum *args);
static bool recompute_window_in_c(Projection *p, ProjStep *s, Datum *args);
static bool window_scan(WindowScan *ws, PhxEntity *entity, Datum *args);
static void window_row_read(WindowScan *ws, TupleTableSlot *slot, WindowRow *row);
static int	window_row_cmp(const void *a, const void *b, void *arg);
static bool window_row_differs(WindowScan *ws, Datum *values, bool *isnull, WindowVersion *v);
static void window_row_rewrite(WindowScan *ws, RowWriter *w, WindowRow *row, WindowVersion *v);
static AttrNumber column_number(Relation rel, const char *name, Projection *p);
static Oid	window_index(Relation rel, WindowScan *ws);
static bool index_is_btree(Oid oid);
static WindowVersion *read_versions(Projection *p, ProjStep *s, PhxEntity *entity, Datum *args,
									int *nversions);
static WindowVersion *version_at(WindowVersion *versions, int n, TimestampTz at);
static int64 count_rows(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *args,
						Projection *p, const char *what);
static void lock_chained_values(Projection *p, ProjStep *s, PhxEntity *entity, const char *key,
								TimelineChange *ch);
static void add_due(const char *entity, const char *key, TimestampTz at);
static bool any_changed(PhxEntity *entity, TimelineChange *ch, char **names, int n);
static void lock_value(uint32 lock_class, const char *value);
static void lock_chain_parents(Projection *p, ProjStep *s, const char *value, int depth);

/*
 * The timeline of (entity, key) changed over `changes` (TimelineChange *,
 * sorted, non-overlapping).  Called by the timeline engine inside SPI, in the
 * writer's transaction.
 */
void
cascade_timeline_changed(PhxEntity *entity, const char *key, List *changes)
{
	List	   *all;
	ListCell   *lc;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	bool		locked = false;

	if (changes == NIL)
		return;
	SPI_connect();
	all = projection_cache_all();
	foreach(lc, all)
	{
		Projection *p = lfirst(lc);

		for (int i = 0; i < p->nsteps; i++)
		{
			ProjStep   *s = &p->steps[i];
			bool		current_done = false;
			int			by_att = -1;
			ListCell   *lch;

			if (strcmp(s->entity, entity->name) != 0)
				continue;
			if (!locked)
			{
				lock_value(projection_lock_class(entity->name, NULL), key);
				locked = true;
			}
			if (s->by_attribute)
				by_att = catalog_attribute_index(entity, s->by_attribute);
			else
				lock_chain_parents(p, s, key, 0);

			foreach(lch, changes)
			{
				TimelineChange *ch = lfirst(lch);
				bool		existence = ch->old_exists != ch->new_exists;
				Datum		args[3];

				args[1] = TimestampTzGetDatum(ch->valid_from);
				args[2] = TimestampTzGetDatum(ch->valid_to);
				lock_chained_values(p, s, entity, key, ch);

				/* Rows enriched as of their own time, inside the window. */
				if (by_att >= 0 &&
					(existence || ch->changed[by_att] ||
					 any_changed(entity, ch, s->event_time, s->n_event_time)))
				{
					Datum		vals[2];
					int			nvals = 0;
					PhxAttribute *att = &entity->atts[by_att];

					if (ch->old_exists && !ch->old_isnull[by_att])
						vals[nvals++] = ch->old_values[by_att];
					if (ch->new_exists && !ch->new_isnull[by_att])
						vals[nvals++] = ch->new_values[by_att];
					for (int v = 0; v < nvals; v++)
					{
						char	   *text = OidOutputFunctionCall(att->typoutput, vals[v]);

						lock_value(s->lock_class, text);
						lock_chain_parents(p, s, text, 0);
					}
					if (nvals > 0)
					{
						int16		typlen;
						bool		typbyval;
						char		typalign;

						get_typlenbyvalalign(att->typid, &typlen, &typbyval, &typalign);
						args[0] = PointerGetDatum(construct_array(vals, nvals, att->typid, typlen,
																  typbyval, typalign));
						run_dependency(p, s, PROJ_DEP_BYVALS, args);
					}
				}
				else if (by_att < 0 && s->n_event_time > 0 &&
						 (existence || any_changed(entity, ch, s->event_time, s->n_event_time)))
				{
					args[0] = CStringGetTextDatum(key);
					run_dependency(p, s, PROJ_DEP_WINDOW, args);
				}

				/* Rows showing the value valid now, now or when its time comes. */
				if (s->n_current > 0 &&
					(existence || any_changed(entity, ch, s->current, s->n_current)))
				{
					if (!current_done && ch->valid_from <= now && now < ch->valid_to)
					{
						args[0] = CStringGetTextDatum(key);
						run_dependency(p, s, PROJ_DEP_CURRENT, args);
						current_done = true;
					}
					if (ch->valid_from > now)
						add_due(entity->name, key, ch->valid_from);
					if (ch->valid_to > now && !TIMESTAMP_NOT_FINITE(ch->valid_to))
						add_due(entity->name, key, ch->valid_to);
				}
			}
		}
	}
	SPI_finish();
}

/* apply_due() → number of due entries applied. */
Datum
phoenix_apply_due(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(cascade_apply_due());
}

/*
 * Apply every due entry whose time has come: recompute the `current`
 * dependants of its (entity, key), and delete it.  Concurrent callers share
 * the work through the row locks of the DELETE.
 */
int64
cascade_apply_due(void)
{
	int64		n;
	SPITupleTable *tt;
	List	   *all;

	SPI_connect();
	if (SPI_execute("DELETE FROM phoenix.projection_due WHERE due_at <= now()"
					" RETURNING entity, key", false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "cannot read phoenix.projection_due");
	tt = SPI_tuptable;
	n = (int64) SPI_processed;
	all = projection_cache_all();
	for (int64 r = 0; r < n; r++)
	{
		char	   *entity = SPI_getvalue(tt->vals[r], tt->tupdesc, 1);
		char	   *key = SPI_getvalue(tt->vals[r], tt->tupdesc, 2);
		ListCell   *lc;
		bool		locked = false;

		foreach(lc, all)
		{
			Projection *p = lfirst(lc);

			for (int i = 0; i < p->nsteps; i++)
			{
				ProjStep   *s = &p->steps[i];
				Datum		args[3];

				if (s->n_current == 0 || strcmp(s->entity, entity) != 0)
					continue;
				if (!locked)
				{
					lock_value(projection_lock_class(entity, NULL), key);
					locked = true;
				}
				args[0] = CStringGetTextDatum(key);
				run_dependency(p, s, PROJ_DEP_CURRENT, args);
			}
		}
	}
	/* and booking series whose horizon moved on */
	n += series_extend_due();
	SPI_finish();
	return n;
}

/* Did any of the named attributes change in this window? */
static bool
any_changed(PhxEntity *entity, TimelineChange *ch, char **names, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			a = catalog_attribute_index(entity, names[i]);

		if (a >= 0 && ch->changed[a])
			return true;
	}
	return false;
}

static void
lock_value(uint32 lock_class, const char *value)
{
	LOCKTAG		tag;

	projection_locktag(&tag, lock_class, value);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * The change may point rows at another key of a chained step (floor F2
 * moves to site S1: its rows will show S1's name).  A cascade of S1 running
 * at the same time finds its rows through floors that had S1 when it looked
 * (lock_chain_parents), which does not include F2 before we commit.  So we
 * share-lock the new chained key, as an emitter naming it would: whichever
 * of the two cascades comes second sees the other's rows and timeline.
 */
static void
lock_chained_values(Projection *p, ProjStep *s, PhxEntity *entity, const char *key,
					TimelineChange *ch)
{
	size_t		plen = strlen(s->prefix);

	if (!ch->new_exists)
		return;
	for (int i = 0; i < p->nsteps; i++)
	{
		ProjStep   *t = &p->steps[i];
		const char *attr;
		const char *value = NULL;
		LOCKTAG		tag;
		int			a;

		if (t == s || t->nkey_path > 0 || strncmp(t->key_column, s->prefix, plen) != 0 ||
			t->key_column[plen] != '_')
			continue;
		attr = t->key_column + plen + 1;
		if (s->by_attribute && strcmp(attr, entity->key_name) == 0)
			value = key;
		else if ((a = catalog_attribute_index(entity, attr)) >= 0 && !ch->new_isnull[a] &&
				 (ch->changed[a] || !ch->old_exists))
			value = OidOutputFunctionCall(entity->atts[a].typoutput, ch->new_values[a]);
		if (value == NULL)
			continue;
		projection_locktag(&tag, t->lock_class, value);
		(void) LockAcquire(&tag, ShareLock, false, false);
	}
}

/*
 * A chained step's rows are inserted by emitters that share-lock only the
 * keys their payloads name (the first step of the chain).  So that they also
 * serialize with us, lock the parent keys that lead to `value`: e.g. for a
 * site S reached through floor_site_id, every floor that ever had site S.
 * Recurses along longer chains.
 */
static void
lock_chain_parents(Projection *p, ProjStep *s, const char *value, int depth)
{
	ProjStep   *t;
	PhxEntity  *te;
	const char *select_col;
	const char *where_col;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	SPITupleTable *tt;
	uint64		n;

	if (depth > 8 || (t = projection_chain_parent(p, s)) == NULL)
		return;
	te = catalog_entity(t->entity, false);
	projection_chain_columns(s, t, te, &where_col, &select_col);
	args[0] = CStringGetTextDatum(value);
	if (SPI_execute_with_args(psprintf("SELECT DISTINCT %s::text FROM %s WHERE %s::text = $1"
									   " AND recorded_to = 'infinity' ORDER BY 1",
									   quote_identifier(select_col), te->history_table,
									   quote_identifier(where_col)),
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "projection \"%s\": cannot find the parents of a chained key", p->name);
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		char	   *parent = SPI_getvalue(tt->vals[r], tt->tupdesc, 1);

		if (parent == NULL)
			continue;
		lock_value(t->lock_class, parent);
		lock_chain_parents(p, t, parent, depth + 1);
	}
}

/*
 * Recompute the rows of one dependency.  A bounded count decides between the
 * prepared per-row plan and one statement planned for the actual set.
 *
 * Two cascades started by different entities (an employee's department, the
 * floor's site) take different key locks, yet may rewrite the same rows.
 * The recomputation reads a row and writes its result back by ctid, so a row
 * another transaction rewrote in between would be skipped (its ctid moved)
 * or, joined any other way, overwritten from the stale version.  So the
 * rows are locked first, in a statement of their own: a row being rewritten
 * is waited for, and the recomputation, which takes a new snapshot (READ
 * COMMITTED), reads every locked row as it is now.  A window of many rows
 * locks the table instead (EXCLUSIVE: readers go on, writers of this table
 * wait), as row locks on a fifth of a table would cost more than the
 * recomputation itself.
 */
static void
run_dependency(Projection *p, ProjStep *s, ProjDep dep, Datum *args)
{
	Oid			argtypes[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	int			nargs = dep == PROJ_DEP_CURRENT ? 1 : 3;
	int64		candidates;
	int			ret;

	if (dep == PROJ_DEP_BYVALS)
		argtypes[0] = get_array_type(s->by_typid);
	if (dep == PROJ_DEP_WINDOW && s->window_in_c && recompute_window_in_c(p, s, args))
		return;
	candidates = count_rows(&s->count_plan[dep], projection_count_sql(p, s, dep), nargs, argtypes, args,
							p, "count");
	if (candidates == 0)
		return;
	if (candidates >= projection_set_based_threshold)
	{
		if (SPI_execute(psprintf("LOCK TABLE %s IN EXCLUSIVE MODE", p->table), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "projection \"%s\": cannot lock its table", p->name);
		ret = SPI_execute_with_args(projection_recompute_sql(p, s, dep, true), nargs, argtypes,
									args, NULL, false, 0);
	}
	else
	{
		if (count_rows(&s->lock_plan[dep], projection_lock_sql(p, s, dep), nargs, argtypes, args,
					   p, "row locks") == 0)
			return;
		if (s->plan[dep] == NULL)
			s->plan[dep] = phoenix_prepare_kept(projection_recompute_sql(p, s, dep, false), nargs, argtypes,
												psprintf("the cascade of projection \"%s\"", p->name));
		ret = projection_execute_lookups(s->plan[dep], args, 0);
	}
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "projection \"%s\": cascade update failed: %s", p->name, SPI_result_code_string(ret));
}

/*
 * The window of a step whose change can only alter the step's own event_time
 * columns (ProjStep.window_in_c).  Every row of the window has the changed
 * key, so its new values are those of the key's version valid at the row's
 * effective time, found among the few versions overlapping the window
 * instead of by a lookup statement per row; the rows are read straight from
 * the table's index on (key, effective_at) under a fresh snapshot (taken
 * after the key's lock, as an SQL statement would).
 *
 * The rows whose values differ (as IS DISTINCT FROM decides) are then
 * locked and rewritten one by one in primary key order, the order every
 * cascade locks rows in (projection_lock_sql), so cascades of different
 * entities rewriting the same rows never deadlock; a row rewritten by
 * another transaction since we read it is locked in its newest version and
 * looked at again (READ COMMITTED: as the SQL recomputation's row locks
 * would).  Only the step's columns, updated_at and change_seq are written;
 * every other column stays as the newest version has it.
 *
 * Returns false, having written nothing, when the window holds
 * phoenix.set_based_threshold rows or more (or the index is missing): the
 * caller recomputes it set-based.
 */
static bool
recompute_window_in_c(Projection *p, ProjStep *s, Datum *args)
{
	PhxEntity  *entity = catalog_entity(s->entity, false);
	WindowScan	ws;
	int			nversions;
	WindowVersion *versions;
	bool		done;

	memset(&ws, 0, sizeof(ws));
	ws.p = p;
	ws.s = s;
	ws.n = s->n_event_time;
	ws.key = args[0];
	ws.relid = projection_table_relid(p, RowExclusiveLock, false);
	versions = read_versions(p, s, entity, args, &nversions);

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	done = window_scan(&ws, entity, args);
	if (done && ws.nrows > 0)
	{
		RowWriter  *w = NULL;

		qsort_arg(ws.rows, ws.nrows, sizeof(WindowRow), window_row_cmp, &ws);
		for (int r = 0; r < ws.nrows; r++)
		{
			WindowRow  *row = &ws.rows[r];
			WindowVersion *v = version_at(versions, nversions, row->effective_at);

			if (!window_row_differs(&ws, row->values, row->isnull, v))
				continue;
			if (w == NULL)
				w = rowwriter_open(ws.relid, ws.n + 2, ws.cols, ws.types,
								   psprintf("the table of projection \"%s\"", p->name));
			window_row_rewrite(&ws, w, row, v);
		}
		if (w != NULL)
			rowwriter_close(w);
	}
	PopActiveSnapshot();
	return done;
}

/*
 * Read the rows of the window (key = args[0], effective_at in [args[1],
 * args[2])) through the index on (key_column, effective_at) with the active
 * snapshot.  false when there is no such index or too many rows.
 */
static bool
window_scan(WindowScan *ws, PhxEntity *entity, Datum *args)
{
	Relation	rel = table_open(ws->relid, RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData keys[3];
	TupleTableSlot *slot;
	bool		fits = true;
	int			cap = 64;

	ws->key_attno = column_number(rel, ws->s->key_column, ws->p);
	ws->at_attno = column_number(rel, "effective_at", ws->p);
	ws->pk_attno = column_number(rel, ws->p->pk_column, ws->p);
	ws->attnos = palloc(sizeof(AttrNumber) * Max(ws->n, 1));
	ws->cols = palloc(sizeof(char *) * (ws->n + 2));
	ws->types = palloc(sizeof(Oid) * (ws->n + 2));
	ws->eq = palloc(sizeof(FmgrInfo *) * Max(ws->n, 1));
	ws->coll = palloc(sizeof(Oid) * Max(ws->n, 1));
	ws->atts = palloc(sizeof(PhxAttribute *) * Max(ws->n, 1));
	for (int i = 0; i < ws->n; i++)
	{
		PhxAttribute *att = &entity->atts[catalog_attribute_index(entity, ws->s->event_time[i])];
		TypeCacheEntry *tc = lookup_type_cache(att->typid, TYPECACHE_EQ_OPR_FINFO);

		ws->atts[i] = att;
		ws->cols[i] = psprintf("%s_%s", ws->s->prefix, ws->s->event_time[i]);
		ws->types[i] = att->typid;
		ws->attnos[i] = column_number(rel, ws->cols[i], ws->p);
		ws->eq[i] = OidIsValid(tc->eq_opr_finfo.fn_oid) ? &tc->eq_opr_finfo : NULL;
		ws->coll[i] = get_typcollation(att->typid);
	}
	ws->cols[ws->n] = "updated_at";
	ws->types[ws->n] = TIMESTAMPTZOID;
	ws->cols[ws->n + 1] = "change_seq";
	ws->types[ws->n + 1] = INT8OID;
	{
		Form_pg_attribute pk = TupleDescAttr(desc, ws->pk_attno - 1);
		TypeCacheEntry *tc = lookup_type_cache(pk->atttypid, TYPECACHE_CMP_PROC_FINFO);

		ws->pk_cmp = &tc->cmp_proc_finfo;
		ws->pk_coll = pk->attcollation;
		ws->pk_byval = pk->attbyval;
		ws->pk_len = pk->attlen;
		if (!OidIsValid(tc->cmp_proc))
			fits = false;
	}

	if (!fits || !OidIsValid(ws->s->window_index = window_index(rel, ws)))
	{
		table_close(rel, NoLock);
		return false;
	}
	idx = index_open(ws->s->window_index, AccessShareLock);
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid, C_COLLATION_OID,
						   F_TEXTEQ, args[0]);
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_TIMESTAMPTZ_GE, args[1]);
	ScanKeyInit(&keys[2], 2, BTLessStrategyNumber, F_TIMESTAMPTZ_LT, args[2]);
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	slot = table_slot_create(rel, NULL);
	ws->rows = palloc(sizeof(WindowRow) * cap);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		WindowRow  *row;

		if (ws->nrows >= projection_set_based_threshold)
		{
			fits = false;
			break;
		}
		if (ws->nrows == cap)
		{
			cap *= 2;
			ws->rows = repalloc(ws->rows, sizeof(WindowRow) * cap);
		}
		row = &ws->rows[ws->nrows++];
		window_row_read(ws, slot, row);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return fits;
}

/* Copy what the recomputation needs out of a row of the window. */
static void
window_row_read(WindowScan *ws, TupleTableSlot *slot, WindowRow *row)
{
	bool		null;

	slot_getallattrs(slot);
	row->tid = slot->tts_tid;
	row->effective_at = DatumGetTimestampTz(slot->tts_values[ws->at_attno - 1]);
	null = slot->tts_isnull[ws->pk_attno - 1];
	row->pk = null ? (Datum) 0 : datumCopy(slot->tts_values[ws->pk_attno - 1], ws->pk_byval, ws->pk_len);
	row->values = palloc(sizeof(Datum) * Max(ws->n, 1));
	row->isnull = palloc(sizeof(bool) * Max(ws->n, 1));
	for (int i = 0; i < ws->n; i++)
	{
		row->isnull[i] = slot->tts_isnull[ws->attnos[i] - 1];
		row->values[i] = row->isnull[i] ? (Datum) 0 :
			datumCopy(slot->tts_values[ws->attnos[i] - 1], ws->atts[i]->typbyval, ws->atts[i]->typlen);
	}
}

/* Primary key order (the key is NOT NULL), as ORDER BY sorts it. */
static int
window_row_cmp(const void *a, const void *b, void *arg)
{
	WindowScan *ws = arg;

	return DatumGetInt32(FunctionCall2Coll(ws->pk_cmp, ws->pk_coll, ((const WindowRow *) a)->pk,
										   ((const WindowRow *) b)->pk));
}

/* Do the row's values differ from the version's (NULLs when none)? */
static bool
window_row_differs(WindowScan *ws, Datum *values, bool *isnull, WindowVersion *v)
{
	for (int i = 0; i < ws->n; i++)
	{
		bool		vnull = v ? v->isnull[i] : true;

		if (isnull[i] || vnull)
		{
			if (isnull[i] != vnull)
				return true;
		}
		else if (ws->eq[i] != NULL)
		{
			if (!DatumGetBool(FunctionCall2Coll(ws->eq[i], ws->coll[i], values[i], v->values[i])))
				return true;
		}
		else if (!datum_image_eq(values[i], v->values[i], ws->atts[i]->typbyval, ws->atts[i]->typlen))
			return true;
	}
	return false;
}

/*
 * Lock the row's newest version and, if it still belongs to the window and
 * still differs, rewrite it with the version's values.
 */
static void
window_row_rewrite(WindowScan *ws, RowWriter *w, WindowRow *row, WindowVersion *v)
{
	TupleTableSlot *slot = table_slot_create(w->rel, NULL);
	TM_FailureData tmfd;
	TM_Result	res;
	Datum	   *values = palloc(sizeof(Datum) * (ws->n + 2));
	bool	   *isnull = palloc(sizeof(bool) * (ws->n + 2));
	bool	   *replace = palloc(sizeof(bool) * (ws->n + 2));
	HeapTuple	old;
	bool		should_free;

	/*
	 * As the executor's row locks: under READ COMMITTED the newest version
	 * is locked; under REPEATABLE READ or SERIALIZABLE a row changed since
	 * the transaction's snapshot is a serialization failure.
	 */
	res = table_tuple_lock(w->rel, &row->tid, GetActiveSnapshot(), slot, w->estate->es_output_cid,
						   LockTupleNoKeyExclusive, LockWaitBlock,
						   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						   &tmfd);
	if ((res == TM_Updated || res == TM_Deleted) && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update of projection \"%s\"",
						ws->p->name),
				 errhint("Retry the transaction.")));
	if (res == TM_Deleted)
	{
		ExecDropSingleTupleTableSlot(slot);
		return;
	}
	if (res != TM_Ok)
		elog(ERROR, "projection \"%s\": cannot lock a row of its table (result %d)",
			 ws->p->name, (int) res);
	if (tmfd.traversed)
	{
		/* rewritten since we read it: is it still ours, does it still differ? */
		WindowRow	newer;

		window_row_read(ws, slot, &newer);
		if (slot->tts_isnull[ws->key_attno - 1] ||
			!DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, ws->key,
												  slot->tts_values[ws->key_attno - 1])) ||
			!window_row_differs(ws, newer.values, newer.isnull, v))
		{
			ExecDropSingleTupleTableSlot(slot);
			return;
		}
	}
	for (int i = 0; i < ws->n; i++)
	{
		values[i] = v ? v->values[i] : (Datum) 0;
		isnull[i] = v ? v->isnull[i] : true;
	}
	values[ws->n] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	isnull[ws->n] = false;
	values[ws->n + 1] = Int64GetDatum(changeseq_next());
	isnull[ws->n + 1] = false;
	for (int i = 0; i < ws->n + 2; i++)
		replace[i] = true;
	old = ExecFetchSlotHeapTuple(slot, false, &should_free);
	rowwriter_update(w, old, replace, values, isnull);
	if (should_free)
		heap_freetuple(old);
	ExecDropSingleTupleTableSlot(slot);
}

/* Attribute number of a column of the projection's table; ERROR if missing. */
static AttrNumber
column_number(Relation rel, const char *name, Projection *p)
{
	AttrNumber	attno = get_attnum(RelationGetRelid(rel), name);

	if (attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the table of projection \"%s\" has no column \"%s\"", p->name, name),
				 errhint("Rebuild the projection: drop_projection() and create_projection().")));
	return attno;
}

static bool
index_is_btree(Oid oid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(oid));
	bool		btree;

	if (!HeapTupleIsValid(tup))
		return false;
	btree = ((Form_pg_class) GETSTRUCT(tup))->relam == BTREE_AM_OID;
	ReleaseSysCache(tup);
	return btree;
}

/*
 * The btree on (key_column COLLATE "C", effective_at) create_indexes made,
 * or InvalidOid if someone dropped it.
 */
static Oid
window_index(Relation rel, WindowScan *ws)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Oid			oid = lfirst_oid(lc);
		HeapTuple	tup;
		Form_pg_index ix;
		bool		fits;

		if (OidIsValid(ws->s->window_index) && oid != ws->s->window_index)
			continue;
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(oid));
		if (!HeapTupleIsValid(tup))
			continue;
		ix = (Form_pg_index) GETSTRUCT(tup);
		fits = ix->indisvalid && ix->indnkeyatts >= 2 && ix->indkey.values[0] == ws->key_attno &&
			ix->indkey.values[1] == ws->at_attno && heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) && index_is_btree(oid);
		if (fits)
		{
			bool		isnull;
			Datum		d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indcollation, &isnull);
			oidvector  *coll = (oidvector *) DatumGetPointer(d);

			fits = !isnull && coll->values[0] == C_COLLATION_OID;
		}
		ReleaseSysCache(tup);
		if (fits)
		{
			found = oid;
			break;
		}
	}
	list_free(indexes);
	return found;
}

/*
 * The versions of the changed key (as known now) that overlap the window
 * [args[1], args[2]), sorted by valid_from, with the step's event_time
 * attributes copied out of SPI's tuple table.
 */
static WindowVersion *
read_versions(Projection *p, ProjStep *s, PhxEntity *entity, Datum *args, int *nversions)
{
	Oid			argtypes[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	WindowVersion *out;
	SPITupleTable *tt;

	if (s->versions_plan == NULL)
	{
		StringInfoData sql;

		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT h.valid_from, h.valid_to");
		for (int i = 0; i < s->n_event_time; i++)
			appendStringInfo(&sql, ", h.%s", quote_identifier(s->event_time[i]));
		appendStringInfo(&sql, " FROM %s h WHERE h.%s = $1 AND h.recorded_to = 'infinity'"
						 " AND h.valid_to > $2 AND h.valid_from < $3 ORDER BY h.valid_from",
						 entity->history_table, quote_identifier(entity->key_name));
		s->versions_plan = phoenix_prepare_kept(sql.data, 3, argtypes,
												psprintf("the cascade of projection \"%s\"", p->name));
	}
	if (projection_execute_lookups(s->versions_plan, args, 0) != SPI_OK_SELECT)
		elog(ERROR, "projection \"%s\": cannot read the versions of entity \"%s\"", p->name, s->entity);
	tt = SPI_tuptable;
	*nversions = (int) SPI_processed;
	out = palloc(sizeof(WindowVersion) * Max(*nversions, 1));
	for (int v = 0; v < *nversions; v++)
	{
		bool		null;

		out[v].valid_from = DatumGetTimestampTz(SPI_getbinval(tt->vals[v], tt->tupdesc, 1, &null));
		out[v].valid_to = DatumGetTimestampTz(SPI_getbinval(tt->vals[v], tt->tupdesc, 2, &null));
		out[v].values = palloc(sizeof(Datum) * Max(s->n_event_time, 1));
		out[v].isnull = palloc(sizeof(bool) * Max(s->n_event_time, 1));
		for (int i = 0; i < s->n_event_time; i++)
			out[v].values[i] = SPI_getbinval(tt->vals[v], tt->tupdesc, 3 + i, &out[v].isnull[i]);
	}
	return out;
}

/* The version valid at `at` (valid_from <= at < valid_to), or NULL. */
static WindowVersion *
version_at(WindowVersion *versions, int n, TimestampTz at)
{
	int			lo = 0,
				hi = n;

	/* the first version starting after `at`; the one before it may hold it */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (versions[mid].valid_from <= at)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && versions[lo - 1].valid_to > at)
		return &versions[lo - 1];
	return NULL;
}

/*
 * Run a statement returning one count (prepared on first use into *plan):
 * the bounded count of candidates, or the row-locking statement.
 */
static int64
count_rows(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *args,
		   Projection *p, const char *what)
{
	bool		isnull;

	if (*plan == NULL)
		*plan = phoenix_prepare_kept(sql, nargs, argtypes,
									 psprintf("the cascade %s of projection \"%s\"", what, p->name));
	if (SPI_execute_plan(*plan, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "projection \"%s\": cascade %s failed", p->name, what);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Remember a future change of a `current` attribute of (entity, key). */
static void
add_due(const char *entity, const char *key, TimestampTz at)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		args[3];

	if (due_insert_plan == NULL)
		due_insert_plan = phoenix_prepare_kept("INSERT INTO phoenix.projection_due (entity, key, due_at)"
											   " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", 3, argtypes,
											   "the due-list insert");
	args[0] = CStringGetTextDatum(entity);
	args[1] = CStringGetTextDatum(key);
	args[2] = TimestampTzGetDatum(at);
	if (SPI_execute_plan(due_insert_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "cannot record a due change of entity \"%s\" key \"%s\"", entity, key);
}
