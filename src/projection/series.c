/*
 * series.c — projections of a recurring event type: one row per occurrence
 * of each booking series, and a series replaced by its latest event.
 *
 * A series event (recurrence.h) expands into occurrences; each becomes an
 * "occurrence event" — the event with its effective time moved to the
 * occurrence's instant and three more columns (occurrence_id, the row's
 * primary key "<series>@<local wall time>"; series_id; occurrence_date) — and
 * from there on is a row like any other: the arrival path computes it
 * (arrival.c, or the SQL row computation), the cascade re-enriches it by its
 * own effective time, apply_due applies `current` changes to it.
 *
 * A later event of the same series replaces the series, in the emitting
 * transaction: rows of occurrences it no longer produces are deleted, rows of
 * new occurrences inserted, and rows of occurrences it still produces are
 * recomputed and written only where a column other than event_id and
 * received_at changed (so an unchanged occurrence keeps its row, change_seq
 * included).  Writers of one series wait for each other (an advisory lock
 * per series, taken in sorted order), so two amendments never both insert
 * the same occurrence.
 *
 * A series is materialised up to now + the projection's horizon; one that
 * goes on beyond is listed in phoenix.series_horizon and re-expanded by
 * apply_due a day later (series_extend_due), which adds the occurrences that
 * came within the horizon meanwhile.
 *
 * Memory: occurrences are produced a flush at a time (SERIES_FLUSH rows, but
 * always whole series), so a batch of long series never holds them all.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "common/guc.h"
#include "common/plan.h"
#include "ingest/recurrence.h"
#include "projection/arrival.h"
#include "projection/projdef.h"
#include "projection/projection.h"
#include "projection/series.h"
#include "registry/registry.h"

/* Occurrence rows per flush (whole series: a flush may hold more). */
#define SERIES_FLUSH		10000

/* Advisory-lock field4 of series locks in pg_locks. */
#define SERIES_LOCK_FIELD4	0x5053

/* A series and the latest event of it in the batch. */
typedef struct SeriesEntry
{
	char	   *series;			/* hash key (a palloc'd string) */
	int			event;			/* index in the batch */
	Recurrence	r;
} SeriesEntry;

/* The occurrences waiting for a flush. */
typedef struct Pending
{
	MemoryContext cxt;			/* the arrays below (the batch's context) */
	int			nseries;
	int			capseries;
	SeriesEntry **series;
	bool	   *truncated;		/* by series */
	int			nocc;
	int			capocc;
	EmittedEvent *occ;
} Pending;

static void latest_per_series(Projection *p, PhxEventType *type, int nevents,
							  const EmittedEvent *events, bool latest_only, int *nseries,
							  SeriesEntry ***order);
static int	series_entry_cmp(const void *a, const void *b);
static int	entry_event_cmp(const void *a, const void *b);
static int	series_locktag_cmp(const void *a, const void *b);
static int	cstring_cmp(const void *a, const void *b);
static void lock_series(Projection *p, int n, SeriesEntry **order);
static void pending_add(Pending *pd, SeriesEntry *se, const EmittedEvent *ev, TimestampTz end);
static void flush(Projection *p, Pending *pd, const EmittedEvent *events, bool rewritten);
static char **existing_occurrences(Projection *p, Pending *pd, const EmittedEvent *events, bool rewritten,
								   int *nexisting);
static void delete_dropped(Projection *p, Pending *pd);
static void write_rows(Projection *p, int n, EmittedEvent *occ, bool upsert);
static void record_horizons(Projection *p, Pending *pd, const EmittedEvent *events);
static char *series_insert_sql(Projection *p, bool set_based, bool upsert);
static Datum text_array_of(int n, const char **items);
static void occurrence_args(int n, const EmittedEvent *occ, Datum *args);
static TimestampTz horizon_end(Projection *p);
static char *event_series_default(const EmittedEvent *ev);
static Interval *interval_of(const char *text);
static char *row_of_event(const char *event_id, const char *occurrence_id);

/*
 * The rows of newly logged (or, `rewritten`, forgotten and rewritten) events
 * of a recurring source in projection `p`.  Inside SPI, after the payloads'
 * keys were locked (apply_events).  A rewritten event only recomputes the
 * rows it produced; it neither adds nor removes occurrences.
 */
void
series_apply(Projection *p, int nevents, const EmittedEvent *events, bool rewritten)
{
	PhxEventType *type = registry_event_type(p->source, false);
	SeriesEntry **order;
	int			nseries;
	TimestampTz end = horizon_end(p);
	Pending		pd = {0};
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix series",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext flushcxt = AllocSetContextCreate(cxt, "phoenix series flush", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	pd.cxt = cxt;
	if (type->recurrence == NULL)
		elog(ERROR, "event type \"%s\" is not recurring", p->source);
	latest_per_series(p, type, nevents, events, !rewritten, &nseries, &order);
	lock_series(p, nseries, order);
	/* in batch order, so that rows are written as the events came */
	for (int i = 0; i < nseries; i++)
	{
		SeriesEntry *se = order[i];

		CHECK_FOR_INTERRUPTS();
		/* the occurrences and what a flush makes live until the flush is done */
		MemoryContextSwitchTo(flushcxt);
		pending_add(&pd, se, &events[se->event], end);
		if (pd.nocc >= SERIES_FLUSH || i == nseries - 1)
		{
			flush(p, &pd, events, rewritten);
			MemoryContextReset(flushcxt);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * Each series of the batch with its latest event (the batch is in log
 * order) and its recurrence, listed in *order by that event's place.
 * Without `latest_only` (rewritten events), every event is listed: each
 * recomputes the rows it wrote.
 */
static void
latest_per_series(Projection *p, PhxEventType *type, int nevents, const EmittedEvent *events,
				  bool latest_only, int *nseries, SeriesEntry ***order)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	SeriesEntry *all = palloc(sizeof(SeriesEntry) * Max(nevents, 1));
	SeriesEntry **sorted = palloc(sizeof(SeriesEntry *) * Max(nevents, 1));
	int			n = 0;

	for (int i = 0; i < nevents; i++)
	{
		char	   *why;
		int			code;
		const char *hint;

		CHECK_FOR_INTERRUPTS();
		if (!recurrence_read(type->recurrence, events[i].payload, events[i].effective_at,
							 event_series_default(&events[i]), now, &all[i].r, &why, &code, &hint))
			ereport(ERROR,
					(errcode(code),
					 errmsg("event at log position " INT64_FORMAT " of type \"%s\" cannot feed projection \"%s\": %s",
							events[i].position, p->source, p->name, why),
					 hint ? errhint("%s", hint) : 0));
		all[i].series = all[i].r.series;
		all[i].event = i;
		sorted[i] = &all[i];
	}
	/* by series, then event: the last of each run is the series' latest */
	qsort(sorted, nevents, sizeof(SeriesEntry *), series_entry_cmp);
	*order = palloc(sizeof(SeriesEntry *) * Max(nevents, 1));
	for (int i = 0; i < nevents; i++)
		if (!latest_only || i + 1 == nevents || strcmp(sorted[i]->series, sorted[i + 1]->series) != 0)
			(*order)[n++] = sorted[i];
	/* a series amended within the batch comes where its latest event is */
	qsort(*order, n, sizeof(SeriesEntry *), entry_event_cmp);
	*nseries = n;
}

static int
series_entry_cmp(const void *a, const void *b)
{
	const SeriesEntry *x = *(SeriesEntry *const *) a;
	const SeriesEntry *y = *(SeriesEntry *const *) b;
	int			c = strcmp(x->series, y->series);

	if (c != 0)
		return c;
	return x->event < y->event ? -1 : x->event > y->event;
}

static int
entry_event_cmp(const void *a, const void *b)
{
	const SeriesEntry *x = *(SeriesEntry *const *) a;
	const SeriesEntry *y = *(SeriesEntry *const *) b;

	return x->event < y->event ? -1 : x->event > y->event;
}

static int
series_locktag_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(LOCKTAG));
}

static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Writers of one series of one projection's source wait for each other
 * until commit: exclusive advisory locks, taken in a sorted order (no
 * deadlock between two batches).
 */
static void
lock_series(Projection *p, int n, SeriesEntry **order)
{
	LOCKTAG    *tags = palloc(sizeof(LOCKTAG) * Max(n, 1));
	uint32		cls = hash_bytes((const unsigned char *) p->source, strlen(p->source));

	for (int i = 0; i < n; i++)
	{
		MemSet(&tags[i], 0, sizeof(LOCKTAG));
		SET_LOCKTAG_ADVISORY(tags[i], MyDatabaseId, cls,
							 hash_bytes((const unsigned char *) order[i]->series, strlen(order[i]->series)),
							 SERIES_LOCK_FIELD4);
	}
	qsort(tags, n, sizeof(LOCKTAG), series_locktag_cmp);
	for (int i = 0; i < n; i++)
		if (i == 0 || memcmp(&tags[i], &tags[i - 1], sizeof(LOCKTAG)) != 0)
			(void) LockAcquire(&tags[i], ExclusiveLock, false, false);
}

/* A series' occurrences, as occurrence events, into the pending flush. */
static void
pending_add(Pending *pd, SeriesEntry *se, const EmittedEvent *ev, TimestampTz end)
{
	Occurrence *occ = NULL;
	bool		truncated = false;
	int			n = recurrence_expand(&se->r, end, &occ, &truncated);

	if (pd->nseries == pd->capseries)
	{
		pd->capseries = pd->capseries ? pd->capseries * 2 : 64;
		pd->series = pd->series ? repalloc(pd->series, sizeof(SeriesEntry *) * pd->capseries)
			: MemoryContextAlloc(pd->cxt, sizeof(SeriesEntry *) * pd->capseries);
		pd->truncated = pd->truncated ? repalloc(pd->truncated, sizeof(bool) * pd->capseries)
			: MemoryContextAlloc(pd->cxt, sizeof(bool) * pd->capseries);
	}
	pd->series[pd->nseries] = se;
	pd->truncated[pd->nseries++] = truncated;
	if (pd->nocc + n > pd->capocc)
	{
		pd->capocc = Max(pd->nocc + n, pd->capocc ? pd->capocc * 2 : 256);
		pd->occ = pd->occ ? repalloc(pd->occ, sizeof(EmittedEvent) * pd->capocc)
			: MemoryContextAlloc(pd->cxt, sizeof(EmittedEvent) * pd->capocc);
	}
	for (int k = 0; k < n; k++)
	{
		EmittedEvent *o = &pd->occ[pd->nocc++];

		*o = *ev;
		o->effective_at = occ[k].at;
		o->occurrence_id = recurrence_occurrence_id(se->series, occ[k].local);
		o->series_id = se->series;
		o->occurrence_date = occ[k].date;
	}
}

/*
 * Write the pending series: drop the rows of occurrences they lost, insert
 * the new ones, recompute the ones that stay.
 */
static void
flush(Projection *p, Pending *pd, const EmittedEvent *events, bool rewritten)
{
	char	  **existing;
	int			nexisting;
	EmittedEvent *fresh = palloc(sizeof(EmittedEvent) * Max(pd->nocc, 1));
	EmittedEvent *kept = palloc(sizeof(EmittedEvent) * Max(pd->nocc, 1));
	int			nfresh = 0,
				nkept = 0;

	if (!rewritten)
		delete_dropped(p, pd);
	existing = existing_occurrences(p, pd, events, rewritten, &nexisting);
	for (int i = 0; i < pd->nocc; i++)
	{
		char	   *key = rewritten ? row_of_event(event_series_default(&pd->occ[i]), pd->occ[i].occurrence_id)
			: (char *) pd->occ[i].occurrence_id;
		bool		found = nexisting > 0 &&
			bsearch(&key, existing, nexisting, sizeof(char *), cstring_cmp) != NULL;

		if (found || p->latest)
			kept[nkept++] = pd->occ[i];
		else if (!rewritten)
			fresh[nfresh++] = pd->occ[i];
	}
	if (nfresh > 0 && !(projection_rows_in_c && nfresh < projection_set_based_threshold &&
						arrival_insert(p, nfresh, fresh)))
		write_rows(p, nfresh, fresh, false);
	if (nkept > 0)
		write_rows(p, nkept, kept, true);
	if (!rewritten)
		record_horizons(p, pd, events);
	pd->nseries = 0;
	pd->nocc = 0;
}

/* The series' rows whose occurrence_id is not produced any more: deleted. */
static void
delete_dropped(Projection *p, Pending *pd)
{
	const char **series = palloc(sizeof(char *) * Max(pd->nseries, 1));
	const char **ids = palloc(sizeof(char *) * Max(pd->nocc, 1));
	Datum		args[2];
	Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};

	for (int i = 0; i < pd->nseries; i++)
		series[i] = pd->series[i]->series;
	for (int i = 0; i < pd->nocc; i++)
		ids[i] = pd->occ[i].occurrence_id;
	args[0] = text_array_of(pd->nseries, series);
	args[1] = text_array_of(pd->nocc, ids);
	if (p->series_plans[SERIES_PLAN_DELETE] == NULL)
		p->series_plans[SERIES_PLAN_DELETE] =
			phoenix_prepare_kept(psprintf("DELETE FROM %s WHERE series_id COLLATE \"C\" = ANY($1)"
										  " AND occurrence_id NOT IN (SELECT unnest($2::text[]))", p->table),
								 2, types, psprintf("the series deletion of projection \"%s\"", p->name));
	if (SPI_execute_plan(p->series_plans[SERIES_PLAN_DELETE], args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "projection \"%s\": series deletion failed", p->name);
}

/*
 * The occurrence ids the pending series already have rows for, sorted (for
 * rewritten events, only the rows those events wrote, as row_of_event keys:
 * two events of one series may each own some of its rows).
 */
static char **
existing_occurrences(Projection *p, Pending *pd, const EmittedEvent *events, bool rewritten,
					 int *nexisting)
{
	const char **series = palloc(sizeof(char *) * Max(pd->nseries, 1));
	const char **ids = palloc(sizeof(char *) * Max(pd->nseries, 1));
	Datum		args[2];
	Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
	int			plan = rewritten ? SERIES_PLAN_EXISTING_OF : SERIES_PLAN_EXISTING;
	char	  **found;

	for (int i = 0; i < pd->nseries; i++)
	{
		series[i] = pd->series[i]->series;
		ids[i] = event_series_default(&events[pd->series[i]->event]);
	}
	args[0] = text_array_of(pd->nseries, series);
	args[1] = text_array_of(pd->nseries, ids);
	if (p->series_plans[plan] == NULL)
		p->series_plans[plan] =
			phoenix_prepare_kept(psprintf("SELECT occurrence_id, event_id FROM %s WHERE series_id COLLATE \"C\" = ANY($1)%s",
										  p->table, rewritten ? " AND event_id = ANY($2)" : ""),
								 rewritten ? 2 : 1, types,
								 psprintf("the series lookup of projection \"%s\"", p->name));
	/* not read-only: a fresh snapshot, which sees what a writer of these series we waited for committed */
	if (SPI_execute_plan(p->series_plans[plan], args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "projection \"%s\": series lookup failed", p->name);
	*nexisting = (int) SPI_processed;
	found = palloc(sizeof(char *) * Max(*nexisting, 1));
	for (int r = 0; r < *nexisting; r++)
	{
		char	   *occ = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

		found[r] = rewritten ? row_of_event(SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2), occ)
			: occ;
	}
	SPI_freetuptable(SPI_tuptable);
	if (*nexisting > 1)
		qsort(found, *nexisting, sizeof(char *), cstring_cmp);
	return found;
}

/*
 * Occurrence rows by the SQL row computation: plain inserts, or (upsert)
 * rows that may exist, rewritten only where they changed.
 */
static void
write_rows(Projection *p, int n, EmittedEvent *occ, bool upsert)
{
	Datum		args[SERIES_NARGS];
	Oid			types[SERIES_NARGS] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, JSONBARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, DATEARRAYOID};
	int			ret;

	occurrence_args(n, occ, args);
	if (n < projection_set_based_threshold)
	{
		int			plan = upsert ? SERIES_PLAN_UPSERT : SERIES_PLAN_INSERT;

		if (p->series_plans[plan] == NULL)
			p->series_plans[plan] = phoenix_prepare_kept(series_insert_sql(p, false, upsert), SERIES_NARGS, types,
														 psprintf("the occurrence rows of projection \"%s\"", p->name));
		ret = projection_execute_lookups(p->series_plans[plan], args, 0);
	}
	else
		ret = SPI_execute_with_args(series_insert_sql(p, true, upsert), SERIES_NARGS, types, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "projection \"%s\": occurrence rows failed: %s", p->name, SPI_result_code_string(ret));
}

/*
 * INSERT … SELECT of the row computation over occurrence arrays; with
 * upsert, ON CONFLICT rewrites a row only when a column other than
 * event_id and received_at differs (so an unchanged occurrence keeps its
 * row and change_seq).  Kind 'latest' keeps its rule: a row is replaced
 * only by an occurrence at least as recent.
 */
static char *
series_insert_sql(Projection *p, bool set_based, bool upsert)
{
	StringInfoData buf;
	StringInfoData set;
	StringInfoData cmp_t;
	StringInfoData cmp_x;
	char	   *all = *p->out_columns ? psprintf("%s,%s", p->src_columns, p->out_columns)
		: pstrdup(p->src_columns);
	char	   *save = NULL;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "INSERT INTO %s AS t (", p->table);
	for (char *tok = strtok_r(pstrdup(all), ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		appendStringInfo(&buf, "%s%s", first ? "" : ", ", quote_identifier(tok));
		first = false;
	}
	appendStringInfo(&buf, ", updated_at, change_seq) SELECT r.*, now(), phoenix.next_change_seq() FROM (%s) r",
					 projection_row_sql(p, set_based, p->payload_src));
	if (!upsert)
		return buf.data;
	initStringInfo(&set);
	initStringInfo(&cmp_t);
	initStringInfo(&cmp_x);
	for (char *tok = strtok_r(pstrdup(all), ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		if (strcmp(tok, p->pk_column) == 0)
			continue;
		appendStringInfo(&set, "%s, ", quote_identifier(tok));
		if (strcmp(tok, "event_id") == 0 || strcmp(tok, "received_at") == 0)
			continue;
		appendStringInfo(&cmp_t, "%st.%s", cmp_t.len ? ", " : "", quote_identifier(tok));
		appendStringInfo(&cmp_x, "%sexcluded.%s", cmp_x.len ? ", " : "", quote_identifier(tok));
	}
	appendStringInfo(&buf, " ON CONFLICT (%s) DO UPDATE SET (%supdated_at, change_seq) = ROW(",
					 quote_identifier(p->pk_column), set.data);
	save = NULL;
	for (char *tok = strtok_r(pstrdup(all), ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, p->pk_column) != 0)
			appendStringInfo(&buf, "excluded.%s, ", quote_identifier(tok));
	appendStringInfo(&buf, "excluded.updated_at, excluded.change_seq) WHERE ROW(%s) IS DISTINCT FROM ROW(%s)",
					 cmp_t.data, cmp_x.data);
	if (p->latest)
		appendStringInfoString(&buf, " AND excluded.effective_at >= t.effective_at");
	return buf.data;
}

/* The seven arrays of the recurring payload_src ($1..$7). */
static void
occurrence_args(int n, const EmittedEvent *occ, Datum *args)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *eff = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *rec = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *pay = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *oid = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *sid = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *day = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		ids[i] = CStringGetTextDatum(event_series_default(&occ[i]));
		eff[i] = TimestampTzGetDatum(occ[i].effective_at);
		rec[i] = TimestampTzGetDatum(occ[i].received_at);
		pay[i] = JsonbPGetDatum(occ[i].payload);
		oid[i] = CStringGetTextDatum(occ[i].occurrence_id);
		sid[i] = CStringGetTextDatum(occ[i].series_id);
		day[i] = DateADTGetDatum(occ[i].occurrence_date);
	}
	args[0] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(eff, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(rec, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(pay, n, JSONBOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(oid, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[5] = PointerGetDatum(construct_array(sid, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[6] = PointerGetDatum(construct_array(day, n, DATEOID, 4, true, TYPALIGN_INT));
}

/*
 * phoenix.series_horizon: the pending series that go on past the horizon
 * are re-expanded a day from now; the others need nothing more.
 */
static void
record_horizons(Projection *p, Pending *pd, const EmittedEvent *events)
{
	const char **series = palloc(sizeof(char *) * Max(pd->nseries, 1));
	const char **open = palloc(sizeof(char *) * Max(pd->nseries, 1));
	Datum	   *positions = palloc(sizeof(Datum) * Max(pd->nseries, 1));
	int			nopen = 0;
	Datum		args[4];
	Oid			types[4] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID};

	for (int i = 0; i < pd->nseries; i++)
	{
		series[i] = pd->series[i]->series;
		if (pd->truncated[i])
		{
			positions[nopen] = Int64GetDatum(events[pd->series[i]->event].position);
			open[nopen++] = pd->series[i]->series;
		}
	}
	args[0] = Int32GetDatum(p->id);
	args[1] = text_array_of(pd->nseries, series);
	args[2] = text_array_of(nopen, open);
	args[3] = PointerGetDatum(construct_array(positions, nopen, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (p->series_plans[SERIES_PLAN_HORIZON] == NULL)
		p->series_plans[SERIES_PLAN_HORIZON] =
			phoenix_prepare_kept("WITH gone AS (DELETE FROM phoenix.series_horizon"
								 " WHERE projection_id = $1 AND series_id = ANY($2))"
								 " INSERT INTO phoenix.series_horizon (projection_id, series_id, position, extend_at)"
								 " SELECT $1, s, pos, now() + interval '1 day' FROM unnest($3::text[], $4::bigint[]) u(s, pos)"
								 " ON CONFLICT (projection_id, series_id) DO UPDATE"
								 " SET position = excluded.position, extend_at = excluded.extend_at",
								 4, types, "the series horizons");
	if (SPI_execute_plan(p->series_plans[SERIES_PLAN_HORIZON], args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "projection \"%s\": cannot record series horizons", p->name);
}

/*
 * create_projection: is the source recurring, and is `horizon` (NULL: the
 * default) one it can have?  Sets def->recurring and def->horizon.
 */
void
series_horizon_check(ProjDef *def, Interval *horizon)
{
	PhxEventType *type = registry_event_type(def->source, true);
	Interval   *max;

	def->recurring = type != NULL && type->recurrence != NULL;
	if (!def->recurring)
	{
		if (horizon)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("horizon is only for projections of a recurring event type (projection \"%s\")",
							def->name),
					 errhint("Event type \"%s\" has no recurrence: each event is one row.", def->source)));
		return;
	}
	if (horizon == NULL)
		horizon = interval_of(PROJ_DEFAULT_HORIZON);
	max = interval_of(psprintf("%d days", RECURRENCE_HORIZON_MAX_DAYS));
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(horizon), IntervalPGetDatum(max))) ||
		DatumGetBool(DirectFunctionCall2(interval_le, IntervalPGetDatum(horizon),
										 IntervalPGetDatum(interval_of("0")))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon of projection \"%s\" must be positive and at most %d days", def->name,
						RECURRENCE_HORIZON_MAX_DAYS),
				 errhint("Series are materialised up to now() + horizon and extended by apply_due as time passes.")));
	def->horizon = horizon;
}

/* ---------------------------------------------------------------------- */
/* Filling from the log, extending over time                              */
/* ---------------------------------------------------------------------- */

/* Log rows read per fetch when a recurring projection is filled. */
#define SERIES_FILL_FETCH	1024

static void
series_fill_batch(void *arg, int nevents, const EmittedEvent *events, int64 done)
{
	series_apply((Projection *) arg, nevents, events, false);
}

/*
 * Fill (or rebuild) `p` from the log: the latest event of every series, in
 * log order, through series_apply.  Returns the number of series events.
 */
int64
series_fill(Projection *p)
{
	PhxEventType *type = registry_event_type(p->source, false);
	const RecurrenceFields *f = type->recurrence;
	char	   *series_expr = f->series
		? psprintf("COALESCE(payload ->> %s, event_id, position::text)", quote_literal_cstr(f->series))
		: pstrdup("COALESCE(event_id, position::text)");

	return projection_read_log(psprintf("SELECT event_id, effective_at, received_at, payload, position FROM"
										" (SELECT DISTINCT ON (%s) * FROM phoenix.event_log WHERE event_type = $1"
										"  ORDER BY %s, position DESC) l ORDER BY position",
										series_expr, series_expr),
							   p->source, SERIES_FILL_FETCH, series_fill_batch, p);
}

/*
 * apply_due's part for series: every series whose extension is due is
 * expanded again from its latest event (series_apply adds what came within
 * the horizon and lists it again if it still goes on).  Inside SPI.
 * Returns the number of series extended.
 */
int64
series_extend_due(void)
{
	SPITupleTable *tt;
	uint64		n;
	List	   *all;
	ListCell   *lc;

	if (SPI_execute("WITH h AS (DELETE FROM phoenix.series_horizon WHERE extend_at <= now()"
					"           RETURNING projection_id, position)"
					" SELECT h.projection_id, e.event_id, e.effective_at, e.received_at, e.payload, e.position"
					" FROM h JOIN phoenix.event_log e ON e.position = h.position"
					" ORDER BY h.projection_id, e.position", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cannot read phoenix.series_horizon");
	tt = SPI_tuptable;
	n = SPI_processed;
	if (n == 0)
		return 0;
	all = projection_cache_all();
	foreach(lc, all)
	{
		Projection *p = lfirst(lc);
		EmittedEvent *events = palloc0(sizeof(EmittedEvent) * n);
		int			k = 0;

		if (!p->recurring)
			continue;
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;

			if (DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull)) == p->id)
				projection_event_from_row(tt->vals[i], tt->tupdesc, 2, &events[k++]);
		}
		if (k > 0)
		{
			projection_lock_payload_keys(p, k, events);
			series_apply(p, k, events, false);
		}
	}
	return (int64) n;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */
/* ---------------------------------------------------------------------- */

/* now + the projection's horizon: how far ahead series are materialised. */
static TimestampTz
horizon_end(Projection *p)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
												   IntervalPGetDatum(p->horizon)));
}

static Interval *
interval_of(const char *text)
{
	return DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(text),
												 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* A row written by an event, as one string: "<length of id>:<id><occurrence>". */
static char *
row_of_event(const char *event_id, const char *occurrence_id)
{
	return psprintf("%zu:%s%s", strlen(event_id), event_id, occurrence_id);
}

/* An event's own identity: its event_id, else its log position. */
static char *
event_series_default(const EmittedEvent *ev)
{
	return ev->event_id ? (char *) ev->event_id : psprintf(INT64_FORMAT, ev->position);
}

static Datum
text_array_of(int n, const char **items)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}
