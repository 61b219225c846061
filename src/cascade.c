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

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "cascade.h"
#include "phoenix.h"
#include "plan.h"
#include "projection.h"
#include "timeline.h"

PG_FUNCTION_INFO_V1(phoenix_apply_due);

static SPIPlanPtr due_insert_plan = NULL;

static void run_dependency(Projection *p, ProjStep *s, ProjDep dep, Datum *args);
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
	ProjStep   *t = NULL;
	PhxEntity  *te;
	const char *attr;
	const char *select_col;
	const char *where_col;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	SPITupleTable *tt;
	uint64		n;

	if (s->nkey_path > 0 || depth > 8)
		return;
	for (int i = 0; i < p->nsteps && t == NULL; i++)
	{
		size_t		plen = strlen(p->steps[i].prefix);

		if (&p->steps[i] != s && strncmp(s->key_column, p->steps[i].prefix, plen) == 0 &&
			s->key_column[plen] == '_')
			t = &p->steps[i];
	}
	if (t == NULL)
		return;
	te = catalog_entity(t->entity, false);
	attr = s->key_column + strlen(t->prefix) + 1;
	/* the by-step's matched key, or one of its attributes */
	where_col = (t->by_attribute && strcmp(attr, te->key_name) == 0) ? te->key_name : attr;
	select_col = t->by_attribute ? t->by_attribute : te->key_name;
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
