/*
 * arrival.c — the reporting rows of newly logged events, computed in C.
 *
 * An arriving event's row is its mapped payload fields, then for each
 * enrichment step the entity version valid at the event's effective time
 * (and the one valid now, for `current` attributes), then the derived
 * columns.  projection.c's SQL row computation says the same with
 * LATERAL … LIMIT 1 lookups; for the few events of one emit, starting the
 * executor for that plan cost more than the lookups and the insert together
 * (about 180k instructions per call, most of a single-row emit's projection
 * cost).  Here every lookup is one descent of a history table's btree (or
 * none, when a version found before is still the current one: VersionMemo),
 * the scans opened once per batch, and the rows are written through a
 * RowWriter.
 *
 * The semantics are the SQL's, which stays the definition (rebuilds and
 * large batches still use it, and the differential tests compare):
 *  - a key lookup takes the current version (recorded_to = infinity) with
 *    valid_from <= t < valid_to; a NULL key matches nothing;
 *  - a by-match takes, among the current versions whose attribute equals
 *    the value at t, the one with the smallest key (ORDER BY key LIMIT 1),
 *    and its current attributes are looked up by that key;
 *  - payload fields are read as ->> / #>> read them and converted as the
 *    SQL casts convert text (input functions); `now` is the transaction's
 *    start, as now() is.
 * The batch reads with a fresh snapshot taken after the caller locked the
 * payloads' keys, as the SQL statement would (see apply_events).
 *
 * Anything else keeps the SQL path, decided once per cached projection:
 * kind 'latest' (its upsert), a payload field whose cast from text is not
 * an I/O conversion, a column missing or of another type (a key column not
 * of the type its entity matches on, which create_projection never makes),
 * a derived column whose type is not its column's or that reads the whole
 * row.  A history btree gone at run time
 * sends that batch to SQL.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "projection/arrival.h"
#include "projection/derive.h"
#include "timeline/asof.h"
#include "timeline/catalog.h"
#include "common/changeseq.h"
#include "common/compat.h"
#include "common/guc.h"
#include "json/jsonfast.h"
#include "common/rowwriter.h"
#include "timeline/timeline.h"

/* A table column filled with an attribute of the step's entity. */
typedef struct StepColumn
{
	int			col;
	const char *attribute;
} StepColumn;

typedef struct ArrivalStep
{
	const char *entity;
	int			key_col;		/* column holding the key (or the by value) */
	const char *by_attribute;	/* NULL: match on the key */
	int			match_col;		/* column of the matched key (by-match), else -1 */
	int			n_event_time;
	StepColumn *event_time;
	int			n_current;
	StepColumn *current;
	/* versions found before: at an event's time, and now (VersionMemo) */
	MemoryContext memocxt;
	struct memo_hash *memo_at;
	struct memo_hash *memo_now;
	int			memo_table;		/* its history in memo_tables, or -1 */
	uint64		memo_generation;	/* memo_tables' generation it was made in */
} ArrivalStep;

typedef struct ArrivalMapped
{
	int			col;
	int			npath;
	Datum	   *path;			/* text datums, for #>> paths */
	bool		is_text;
	FmgrInfo	input;
	Oid			ioparam;
} ArrivalMapped;

typedef struct ArrivalDerive
{
	int			col;
	Expr	   *expr;			/* planned, Vars over the table's row */
} ArrivalDerive;

typedef struct ArrivalPlan
{
	Oid			relid;
	int			ncols;			/* every column of the table, in order */
	const char **cols;
	Oid		   *types;
	bool	   *used;			/* per column: Phoenix computes it */
	/*
	 * The columns written: those Phoenix computes (write_src[j] indexes
	 * cols).  A column the table's owner added is left out, so the writer
	 * gives it its default, as an INSERT naming Phoenix's columns would.
	 */
	int			nwrite;
	const char **write_cols;
	Oid		   *write_types;
	int		   *write_src;
	int			col_event_id;
	int			col_effective_at;
	int			col_received_at;
	int			col_updated_at;
	int			col_change_seq;
	int			col_occurrence_id;	/* recurring sources (series.c), else -1 */
	int			col_series_id;
	int			col_occurrence_date;
	int			nmapped;
	ArrivalMapped *mapped;
	int			nsteps;
	ArrivalStep *steps;
	int			nderive;
	ArrivalDerive *derive;
} ArrivalPlan;

/* One btree of a history table on (value, valid_from), scanned per batch. */
typedef struct Lookup
{
	Relation	index;
	IndexScanDesc scan;
	RegProcedure eqproc;
	Oid			collation;
} Lookup;

/*
 * A version a lookup found: in a slot (read from the btree), or in an as-of
 * index's arrays (entity attribute order).
 */
typedef struct Found
{
	TupleTableSlot *slot;
	Datum	   *values;
	bool	   *isnull;
	struct VersionMemo *memo;	/* when it came from the memo */
} Found;

/*
 * The version of a key a lookup found last: its period, the attributes the
 * step reads (entity attribute order), and which row it was.  Events name
 * the same people, floors and sites again and again, in one batch and in
 * the next; a remembered version saves the btree descent.
 *
 * Within one run (one snapshot) the version of a key covering a time does
 * not change, so a version found in this run is used as it is.  One found
 * in an earlier run is used only after its row has been read again under
 * this run's snapshot (one heap page, not a descent): still visible, still
 * current, the same row (same table file, same tid, same inserting
 * transaction, same key and period).  Any change of a version — a
 * correction closing it, a retraction, forget's rewrite — makes a new row
 * and leaves the old one invisible, so a changed version is never used;
 * an aborted write's rows are invisible too.  A rewritten table (VACUUM
 * FULL, CLUSTER, TRUNCATE) has another file, where the same tid and
 * inserting transaction could name another row: so the file is compared.
 *
 * Reading the row again is skipped when this run's snapshot must see what
 * the snapshot it was last read under saw (memo_unchanged): no transaction
 * ended between the two (PostgreSQL reuses a snapshot on the same test,
 * snapXactCompletionCount; the rollback of a savepoint that wrote counts
 * too, so what it wrote and the older snapshot saw is never used unread),
 * and this transaction holds no write lock on the history now (a write
 * holds RowExclusiveLock or stronger to the end of the transaction or of
 * its savepoint: what it wrote since, the new snapshot sees).  Never under
 * SERIALIZABLE: reading the row is what takes its predicate lock.
 *
 * This backend's own commit ends a transaction too.  When it was the only
 * one to end since the last run's snapshot and it held no write lock on a
 * remembered history, a snapshot counting it sees those histories as the
 * run's did (arrival_xact_event): one emit's memory serves the next emit's
 * transaction unread.
 */
#define MEMO_INLINE_KEY 16

typedef struct VersionMemo
{
	/* what a lookup reads first, together */
	uint32		hash;			/* the table's key: the key's hash */
	char		status;			/* simplehash's */
	int			keylen;
	TimestampTz valid_from;
	TimestampTz valid_to;
	uint64		run;			/* the run that found it or read it again */
	char		inline_key[MEMO_INLINE_KEY];	/* a key shorter than this (memo_key) */
	char	   *key;			/* a longer one */
	/* then */
	Datum	   *values;
	bool	   *isnull;
	PhxRelFile	file;			/* where the row was */
	ItemPointerData tid;
	TransactionId xmin;
	uint64		completions;	/* that run's snapshot's snapXactCompletionCount */
} VersionMemo;

/*
 * A step's memo is an open-addressing table holding its entries inline
 * (simplehash): a lookup is one cache line, where dynahash's bucket, element
 * and a separately allocated key were three misses (4.7% of one session's
 * CPU, perf at 1M events).  Entries move when the table grows, so nothing
 * keeps a pointer to one across an insert into its table; the arrays an
 * entry points to (values, isnull, a long key) stay where they are.
 */
#define SH_PREFIX memo
#define SH_ELEMENT_TYPE VersionMemo
#define SH_KEY_TYPE uint32
#define SH_KEY hash
#define SH_HASH_KEY(tb, key) (key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* An entry's key bytes, wherever they are kept. */
static inline const char *
memo_key(const VersionMemo *m)
{
	return m->keylen < MEMO_INLINE_KEY ? m->inline_key : m->key;
}

/*
 * A step's memos are emptied when their memory passes phoenix.version_memo
 * (between rows: a row being computed may point into them).  Versions
 * replaced in an entry are not freed one by one, for the same reason.
 */

/* A step while a batch runs: its history table, scans and slots. */
typedef struct StepRun
{
	ArrivalStep *st;
	PhxEntity  *entity;
	Relation	rel;
	AttrNumber *attnums;		/* of entity->history_cols */
	AttrNumber *event_time;		/* history column of each event_time column */
	AttrNumber *current;
	int		   *event_time_att;	/* the same as entity attribute indexes */
	int		   *current_att;
	AsofIndex  *asof;			/* bulk: every current version, in memory */
	Lookup		key;			/* (key, valid_from) */
	Lookup		by;				/* (by attribute, valid_from), by-matches only */
	FmgrInfo   *key_order;		/* the key's btree comparison, for ORDER BY key */
	TupleTableSlot *slot;		/* the version at the event's time */
	TupleTableSlot *cur_slot;	/* the version valid now */
	TupleTableSlot *candidate;	/* by-match: a version being considered */
	Snapshot	snap;			/* the run's */
	uint64		run;			/* the run's number (VersionMemo.run) */
	uint64		completions;	/* the snapshot's transactions ended, 0: unknown */
	bool		unwritten;		/* no write lock of this transaction on the history */
	BlockNumber nblocks;		/* the history's, read when first needed */
	/*
	 * Where the scans were begun: they allocate as they go (btree's list of
	 * dead items, for one) and free it at the end, so they must always run
	 * there, never in the per-row context.
	 */
	MemoryContext scancxt;
} StepRun;

struct ArrivalRun
{
	ArrivalPlan *ap;
	Projection *p;
	StepRun    *steps;
	TimestampTz now;
	RowWriter  *writer;
	TupleTableSlot *derive_slot;
	ExprState **derive_state;
	ExprContext *econtext;
	Datum	   *values;			/* per column of the plan */
	bool	   *isnull;
	Datum	   *wvalues;		/* per column written */
	bool	   *wisnull;
	MemoryContext rowcxt;
	MemoryContext bulkcxt;		/* the as-of indexes (bulk) */
	const EmittedEvent *event;	/* for the error context */
	uint64		number;			/* of this run in the backend */
	uint64		completions;	/* its snapshot's snapXactCompletionCount, 0: unknown */
};

/* Runs begun in this backend: numbers them for the memos (VersionMemo.run). */
static uint64 arrival_runs = 0;

/*
 * The snapshot count of this transaction's last run, and the count taken as
 * equal to another after this backend's commit (VersionMemo): a memo read
 * under completions_alias_from is used unread under completions_alias_to.
 */
static uint64 last_run_completions = 0;
static bool commit_keeps_memos = false;
static uint64 completions_alias_from = 0;
static uint64 completions_alias_to = 0;

/*
 * The history tables whose versions memos hold, each with a generation
 * that a relcache invalidation of the table advances; a memo made in an
 * older generation is emptied before its next row.  More tables than this
 * and the step keeps no memo.
 */
#define MEMO_TABLES			64
static Oid	memo_tables[MEMO_TABLES];
static uint64 memo_table_generation[MEMO_TABLES];
static int	n_memo_tables = 0;

static ArrivalPlan *plan_build(Projection *p);
static int	column_index(ArrivalPlan *ap, const char *name, Oid typid);
static void plan_written(ArrivalPlan *ap, MemoryContext cxt);
static bool plan_mapped(ArrivalPlan *ap, Projection *p, MemoryContext cxt);
static bool plan_step(ArrivalPlan *ap, ProjStep *s, ArrivalStep *st, MemoryContext cxt);
static bool plan_step_columns(ArrivalPlan *ap, ProjStep *s, PhxEntity *e, int n, char **names,
							  StepColumn **out);
static Expr *plan_derived(Projection *p, const char *name, const char *expr, Oid typid);
static bool run_open(ArrivalRun *run, Snapshot snap);
static bool step_open(StepRun *r, Snapshot snap, MemoryContext bulkcxt);
static Oid	by_index(StepRun *r);
static void lookup_open(Lookup *l, Relation rel, Oid indexoid, Snapshot snap);
static void lookup_close(Lookup *l);
static void run_close(ArrivalRun *run);
static void compute_row(ArrivalRun *run, const EmittedEvent *ev, Datum *values, bool *isnull);
static void mapped_value(ArrivalMapped *m, Jsonb *payload, Datum *value, bool *isnull);
static void occurrence_values(ArrivalPlan *ap, const EmittedEvent *ev, Datum *values, bool *isnull);
static void step_values(ArrivalRun *run, StepRun *r, TimestampTz at, Datum *values, bool *isnull);
static bool version_at(StepRun *r, struct memo_hash *memo, Datum key, TimestampTz at, TupleTableSlot *slot,
					   Found *f);
static VersionMemo *memo_find(StepRun *r, struct memo_hash *memo, text *key, uint32 hash, TimestampTz at,
							  TupleTableSlot *slot);
static bool memo_unchanged(StepRun *r, VersionMemo *m);
static bool memo_still_valid(StepRun *r, VersionMemo *m, TupleTableSlot *slot);
static void memo_store(StepRun *r, struct memo_hash *memo, text *key, uint32 hash, TupleTableSlot *slot);
static void memo_trim(ArrivalStep *st, Oid history, MemoryContext plancxt);
static int	memo_table_of(Oid history);
static bool found_covers(StepRun *r, Found *f, TimestampTz t);
static bool by_match_at(StepRun *r, Datum value, TimestampTz at);
static void lookup_rescan(Lookup *l, Datum value, TimestampTz at);
static bool version_is_current(StepRun *r, TupleTableSlot *slot);
static bool covers(StepRun *r, TupleTableSlot *slot, TimestampTz t);
static void copy_columns(Found *f, int n, StepColumn *cols, AttrNumber *attnums, int *atts,
						 Datum *values, bool *isnull);
static void compute_derived(ArrivalRun *run, Datum *values, bool *isnull);
static void leave_room_for_changes(ArrivalRun *run);
static void arrival_errcontext(void *arg);

bool
arrival_insert(Projection *p, int nevents, const EmittedEvent *events)
{
	ArrivalRun *run = arrival_begin(p, false);

	if (run == NULL)
		return false;
	elog(DEBUG1, "projection \"%s\": %d row(s) computed in C", p->name, nevents);
	arrival_insert_rows(run, nevents, events);
	arrival_end(run);
	return true;
}

ArrivalRun *
arrival_begin(Projection *p, bool bulk)
{
	ArrivalRun *run;
	MemoryContext old;
	Snapshot	snap;

	if (!p->arrival_tried)
	{
		p->arrival = plan_build(p);
		p->arrival_tried = true;
	}
	if (p->arrival == NULL)
		return NULL;

	run = palloc0(sizeof(ArrivalRun));
	run->ap = p->arrival;
	run->number = ++arrival_runs;
	run->p = p;
	run->now = GetCurrentTransactionStartTimestamp();
	if (bulk)
		run->bulkcxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix arrival as-of indexes",
											 ALLOCSET_DEFAULT_SIZES);

	/*
	 * A statement's view, as SPI gives one: our earlier writes (the command
	 * id, which a REPEATABLE READ transaction snapshot does not advance by
	 * itself), and what committed before now (READ COMMITTED).
	 */
	CommandCounterIncrement();
	snap = GetTransactionSnapshot();
	/* read before PushActiveSnapshot: a copied snapshot's count is zeroed */
	run->completions = snap->takenDuringRecovery ? 0 : snap->snapXactCompletionCount;
	PushActiveSnapshot(snap);
	UpdateActiveSnapshotCommandId();
	if (!run_open(run, GetActiveSnapshot()))
	{
		PopActiveSnapshot();
		if (run->bulkcxt)
			MemoryContextDelete(run->bulkcxt);
		pfree(run);
		return NULL;
	}
	run->writer = rowwriter_open(run->ap->relid, run->ap->nwrite, run->ap->write_cols, run->ap->write_types,
								 psprintf("the table of projection \"%s\"", p->name));
	run->econtext = GetPerTupleExprContext(run->writer->estate);
	if (run->ap->nderive > 0)
	{
		old = MemoryContextSwitchTo(run->writer->estate->es_query_cxt);
		run->derive_slot = MakeSingleTupleTableSlot(RelationGetDescr(run->writer->rel), &TTSOpsVirtual);
		run->derive_state = palloc(sizeof(ExprState *) * run->ap->nderive);
		for (int d = 0; d < run->ap->nderive; d++)
			run->derive_state[d] = ExecInitExpr(run->ap->derive[d].expr, NULL);
		MemoryContextSwitchTo(old);
	}
	run->values = palloc(sizeof(Datum) * run->ap->ncols);
	run->isnull = palloc(sizeof(bool) * run->ap->ncols);
	run->wvalues = palloc(sizeof(Datum) * Max(run->ap->nwrite, 1));
	run->wisnull = palloc(sizeof(bool) * Max(run->ap->nwrite, 1));
	run->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix arrival row", ALLOCSET_DEFAULT_SIZES);
	return run;
}

void
arrival_insert_rows(ArrivalRun *run, int nevents, const EmittedEvent *events)
{
	ErrorContextCallback cb;
	MemoryContext old;

	/*
	 * A single emit's row goes through a batch too: only there is it
	 * appended (rowwriter_leave_room) instead of taking room left for
	 * another key's rewrites.
	 */
	rowwriter_batch_inserts(run->writer);
	leave_room_for_changes(run);
	cb.callback = arrival_errcontext;
	cb.arg = run;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	for (int i = 0; i < nevents; i++)
	{
		for (int s = 0; s < run->ap->nsteps; s++)
			memo_trim(run->steps[s].st, run->steps[s].entity->history_relid, GetMemoryChunkContext(run->ap));
		old = MemoryContextSwitchTo(run->rowcxt);
		run->event = &events[i];
		compute_row(run, &events[i], run->values, run->isnull);
		if (run->derive_slot)
			compute_derived(run, run->values, run->isnull);
		for (int j = 0; j < run->ap->nwrite; j++)
		{
			run->wvalues[j] = run->values[run->ap->write_src[j]];
			run->wisnull[j] = run->isnull[run->ap->write_src[j]];
		}
		rowwriter_insert(run->writer, run->wvalues, run->wisnull);
		MemoryContextSwitchTo(old);
		MemoryContextReset(run->rowcxt);
	}
	run->event = NULL;
	error_context_stack = cb.previous;
}

void
arrival_end(ArrivalRun *run)
{
	if (run->derive_slot)
		ExecDropSingleTupleTableSlot(run->derive_slot);
	rowwriter_close(run->writer);
	run_close(run);
	MemoryContextDelete(run->rowcxt);
	if (run->bulkcxt)
		MemoryContextDelete(run->bulkcxt);
	PopActiveSnapshot();
	/* as after a statement: what follows sees the rows */
	CommandCounterIncrement();
	pfree(run);
}

/*
 * Room on the pages of rows whose key arrived together (rowwriter_leave_room):
 * a late change of an entity rewrites every row of its key, and where
 * those rows fill their pages (one person's events sent at once, a
 * device's backlog) the rewrites stay on the page only if it has room for
 * them; rows of keys that arrive spread among others keep the table's
 * fillfactor.  The keys are the steps' (the matched key of a by-match);
 * how many values each takes is its history's size as last counted, or
 * the keys this backend's memo holds if more.
 */
static void
leave_room_for_changes(ArrivalRun *run)
{
	ArrivalPlan *ap = run->ap;
	int		   *cols = palloc(sizeof(int) * Max(ap->nsteps, 1));
	double	   *nvalues = palloc(sizeof(double) * Max(ap->nsteps, 1));
	int			n = 0;

	for (int s = 0; s < ap->nsteps; s++)
	{
		ArrivalStep *st = run->steps[s].st;
		int			col = st->by_attribute ? st->match_col : st->key_col;
		double		known = Max(run->steps[s].rel->rd_rel->reltuples, 0);

		for (int j = 0; j < ap->nwrite && col >= 0; j++)
			if (ap->write_src[j] == col)
			{
				if (st->memo_at)
					known = Max(known, (double) st->memo_at->members);
				cols[n] = j;
				nvalues[n++] = known;
			}
	}
	rowwriter_leave_room(run->writer, n, cols, nvalues);
	pfree(cols);
	pfree(nvalues);
}

/* The derived columns, over the row so far (the table's row type). */
static void
compute_derived(ArrivalRun *run, Datum *values, bool *isnull)
{
	TupleTableSlot *ds = run->derive_slot;
	AttrNumber *attnums = run->writer->attnums;

	ExecClearTuple(ds);
	memset(ds->tts_isnull, true, sizeof(bool) * ds->tts_tupleDescriptor->natts);
	for (int j = 0; j < run->ap->nwrite; j++)
	{
		ds->tts_values[attnums[j] - 1] = values[run->ap->write_src[j]];
		ds->tts_isnull[attnums[j] - 1] = isnull[run->ap->write_src[j]];
	}
	ExecStoreVirtualTuple(ds);
	run->econtext->ecxt_scantuple = ds;
	for (int d = 0; d < run->ap->nderive; d++)
		values[run->ap->derive[d].col] =
			ExecEvalExprSwitchContext(run->derive_state[d], run->econtext,
									  &isnull[run->ap->derive[d].col]);
}

static void
arrival_errcontext(void *arg)
{
	ArrivalRun *run = arg;

	if (run->event && run->event->event_id)
		errcontext("computing the row of event \"%s\" (log position " INT64_FORMAT ") in projection \"%s\"",
				   run->event->event_id, run->event->position, run->p->name);
	else if (run->event)
		errcontext("computing the row of log position " INT64_FORMAT " in projection \"%s\"",
				   run->event->position, run->p->name);
}

/* ---------------------------------------------------------------------- */
/* The plan: made once per cached projection                              */
/* ---------------------------------------------------------------------- */

/* NULL when the projection needs the SQL row computation. */
static ArrivalPlan *
plan_build(Projection *p)
{
	MemoryContext cxt = GetMemoryChunkContext(p);
	MemoryContext old;
	ArrivalPlan *ap;
	Relation	rel;
	TupleDesc	desc;
	bool		ok = true;

	if (p->latest)
		return NULL;
	ap = MemoryContextAllocZero(cxt, sizeof(ArrivalPlan));
	ap->relid = projection_table_relid(p, NoLock, true);
	if (!OidIsValid(ap->relid))
		return NULL;
	rel = table_open(ap->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	old = MemoryContextSwitchTo(cxt);
	ap->cols = palloc(sizeof(char *) * desc->natts);
	ap->types = palloc(sizeof(Oid) * desc->natts);
	ap->used = palloc0(sizeof(bool) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		ap->cols[ap->ncols] = pstrdup(NameStr(att->attname));
		ap->types[ap->ncols++] = att->atttypid;
	}
	MemoryContextSwitchTo(old);
	table_close(rel, AccessShareLock);

	ap->col_event_id = column_index(ap, "event_id", TEXTOID);
	ap->col_effective_at = column_index(ap, "effective_at", TIMESTAMPTZOID);
	ap->col_received_at = column_index(ap, "received_at", TIMESTAMPTZOID);
	ap->col_updated_at = column_index(ap, "updated_at", TIMESTAMPTZOID);
	ap->col_change_seq = column_index(ap, "change_seq", INT8OID);
	if (ap->col_event_id < 0 || ap->col_effective_at < 0 || ap->col_received_at < 0 ||
		ap->col_updated_at < 0 || ap->col_change_seq < 0)
		return NULL;
	ap->col_occurrence_id = ap->col_series_id = ap->col_occurrence_date = -1;
	if (p->recurring)
	{
		ap->col_occurrence_id = column_index(ap, "occurrence_id", TEXTOID);
		ap->col_series_id = column_index(ap, "series_id", TEXTOID);
		ap->col_occurrence_date = column_index(ap, "occurrence_date", DATEOID);
		if (ap->col_occurrence_id < 0 || ap->col_series_id < 0 || ap->col_occurrence_date < 0)
			return NULL;
	}
	if (!plan_mapped(ap, p, cxt))
		return NULL;
	ap->nsteps = p->nsteps;
	ap->steps = MemoryContextAllocZero(cxt, sizeof(ArrivalStep) * Max(p->nsteps, 1));
	for (int s = 0; s < p->nsteps && ok; s++)
		ok = plan_step(ap, &p->steps[s], &ap->steps[s], cxt);
	if (!ok)
		return NULL;
	ap->nderive = p->nderive;
	ap->derive = MemoryContextAllocZero(cxt, sizeof(ArrivalDerive) * Max(p->nderive, 1));
	for (int d = 0; d < p->nderive; d++)
	{
		ArrivalDerive *ad = &ap->derive[d];
		Expr	   *expr;

		ad->col = column_index(ap, p->derive_names[d], InvalidOid);
		if (ad->col < 0)
			return NULL;
		expr = plan_derived(p, p->derive_names[d], p->derive_exprs[d], ap->types[ad->col]);
		if (expr == NULL)
			return NULL;
		old = MemoryContextSwitchTo(cxt);
		ad->expr = copyObject(expr);
		MemoryContextSwitchTo(old);
	}
	plan_written(ap, cxt);
	return ap;
}

/* The columns written: every column column_index() found, in table order. */
static void
plan_written(ArrivalPlan *ap, MemoryContext cxt)
{
	ap->write_cols = MemoryContextAlloc(cxt, sizeof(char *) * Max(ap->ncols, 1));
	ap->write_types = MemoryContextAlloc(cxt, sizeof(Oid) * Max(ap->ncols, 1));
	ap->write_src = MemoryContextAlloc(cxt, sizeof(int) * Max(ap->ncols, 1));
	ap->nwrite = 0;
	for (int i = 0; i < ap->ncols; i++)
		if (ap->used[i])
		{
			ap->write_cols[ap->nwrite] = ap->cols[i];
			ap->write_types[ap->nwrite] = ap->types[i];
			ap->write_src[ap->nwrite++] = i;
		}
}

/*
 * Index of a column in ap->cols (of type typid unless InvalidOid), or -1;
 * a column found is one Phoenix computes, and is written.
 */
static int
column_index(ArrivalPlan *ap, const char *name, Oid typid)
{
	for (int i = 0; i < ap->ncols; i++)
		if (strcmp(ap->cols[i], name) == 0)
		{
			if (OidIsValid(typid) && ap->types[i] != typid)
				return -1;
			ap->used[i] = true;
			return i;
		}
	return -1;
}

/* Mapped columns: read as text, converted as (text)::type converts. */
static bool
plan_mapped(ArrivalPlan *ap, Projection *p, MemoryContext cxt)
{
	ap->nmapped = p->nmapped;
	ap->mapped = MemoryContextAllocZero(cxt, sizeof(ArrivalMapped) * Max(p->nmapped, 1));
	for (int i = 0; i < p->nmapped; i++)
	{
		ArrivalMapped *m = &ap->mapped[i];
		Oid			typid;
		Oid			func;
		Oid			infunc;

		m->col = column_index(ap, p->mapped[i].name, InvalidOid);
		if (m->col < 0)
			return false;
		typid = ap->types[m->col];
		m->is_text = typid == TEXTOID;
		if (!m->is_text)
		{
			if (find_coercion_pathway(typid, TEXTOID, COERCION_EXPLICIT, &func) != COERCION_PATH_COERCEVIAIO)
				return false;
			getTypeInputInfo(typid, &infunc, &m->ioparam);
			fmgr_info_cxt(infunc, &m->input, cxt);
		}
		m->npath = p->mapped[i].npath;
		m->path = MemoryContextAlloc(cxt, sizeof(Datum) * Max(m->npath, 1));
		for (int k = 0; k < m->npath; k++)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			m->path[k] = CStringGetTextDatum(p->mapped[i].path[k]);
			MemoryContextSwitchTo(old);
		}
	}
	return true;
}

static bool
plan_step(ArrivalPlan *ap, ProjStep *s, ArrivalStep *st, MemoryContext cxt)
{
	PhxEntity  *e = catalog_entity(s->entity, true);
	Oid			lookup_typid = s->by_attribute ? s->by_typid : TEXTOID;

	if (e == NULL)
		return false;
	st->entity = MemoryContextStrdup(cxt, s->entity);
	/* create_projection types a key column as its entity compares keys */
	st->key_col = column_index(ap, s->key_column, lookup_typid);
	if (st->key_col < 0)
		return false;
	st->match_col = -1;
	if (s->by_attribute)
	{
		st->by_attribute = MemoryContextStrdup(cxt, s->by_attribute);
		st->match_col = column_index(ap, s->match_column, TEXTOID);
		if (st->match_col < 0 || catalog_attribute_index(e, s->by_attribute) < 0)
			return false;
	}
	st->n_event_time = s->n_event_time;
	st->n_current = s->n_current;
	return plan_step_columns(ap, s, e, s->n_event_time, s->event_time, &st->event_time) &&
		plan_step_columns(ap, s, e, s->n_current, s->current, &st->current);
}

/* The columns <prefix>_<attribute>, each of its attribute's type. */
static bool
plan_step_columns(ArrivalPlan *ap, ProjStep *s, PhxEntity *e, int n, char **names, StepColumn **out)
{
	MemoryContext cxt = GetMemoryChunkContext(ap);

	*out = MemoryContextAlloc(cxt, sizeof(StepColumn) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		int			a = catalog_attribute_index(e, names[i]);
		char	   *col = psprintf("%s_%s", s->prefix, names[i]);

		if (a < 0)
			return false;
		(*out)[i].col = column_index(ap, col, e->atts[a].typid);
		(*out)[i].attribute = MemoryContextStrdup(cxt, names[i]);
		if ((*out)[i].col < 0)
			return false;
	}
	return true;
}

/*
 * A derived column's expression over the table's row, planned: NULL when its
 * type is not the column's, or it reads the whole row (create_projection has
 * already refused what is not allowed).  Parsed with the caller's search
 * path, as the SQL computation's statement is.
 */
static Expr *
plan_derived(Projection *p, const char *name, const char *expr, Oid typid)
{
	char	   *sql = psprintf("SELECT (\n%s\n) FROM %s", expr, p->table);
	List	   *raw = pg_parse_query(sql);
	Query	   *q;
	TargetEntry *tle;
	List	   *vars;
	ListCell   *lc;

	if (list_length(raw) != 1)
		return NULL;
	q = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, NULL, 0, NULL);
	if (q->commandType != CMD_SELECT || list_length(q->targetList) != 1 ||
		list_length(q->rtable) != 1 || q->hasSubLinks || q->hasAggs || q->hasWindowFuncs ||
		q->hasTargetSRFs)
		return NULL;
	tle = linitial_node(TargetEntry, q->targetList);
	if (exprType((Node *) tle->expr) != typid || contain_volatile_functions((Node *) tle->expr))
		return NULL;
	/* compiled now: checked now (the catalog may hold what create refused) */
	derive_check_expr((Node *) tle->expr, name, p->name);
	vars = pull_var_clause((Node *) tle->expr, 0);
	foreach(lc, vars)
		if (((Var *) lfirst(lc))->varattno <= 0)
			return NULL;
	return expression_planner(tle->expr);
}

/* ---------------------------------------------------------------------- */
/* A batch                                                                */
/* ---------------------------------------------------------------------- */

/* Open every step's history table and scans; false: SQL must do it. */
static bool
run_open(ArrivalRun *run, Snapshot snap)
{
	run->steps = palloc0(sizeof(StepRun) * Max(run->ap->nsteps, 1));
	for (int s = 0; s < run->ap->nsteps; s++)
	{
		run->steps[s].st = &run->ap->steps[s];
		run->steps[s].run = run->number;
		run->steps[s].completions = run->completions;
		if (!step_open(&run->steps[s], snap, run->bulkcxt))
		{
			run_close(run);
			return false;
		}
	}
	last_run_completions = run->completions;
	return true;
}

static bool
step_open(StepRun *r, Snapshot snap, MemoryContext bulkcxt)
{
	ArrivalStep *st = r->st;
	PhxEntity  *e = catalog_entity(st->entity, false);
	Oid			btree;

	r->entity = e;
	r->snap = snap;
	r->nblocks = InvalidBlockNumber;
	r->scancxt = CurrentMemoryContext;
	r->rel = table_open(e->history_relid, AccessShareLock);
	/*
	 * Under REPEATABLE READ and SERIALIZABLE the transaction's snapshot is a
	 * copy whose count is zeroed, so completions is 0 there today; the
	 * SERIALIZABLE test stays explicit because skipping a read there would
	 * skip its predicate lock.
	 */
	r->unwritten = r->completions != 0 && !IsolationIsSerializable() &&
		!CheckRelationLockedByMe(r->rel, RowExclusiveLock, true);
	r->attnums = palloc(sizeof(AttrNumber) * e->history_ncols);
	rowwriter_columns(r->rel, e->history_ncols, e->history_cols, e->history_types,
					  e->history_what, r->attnums);
	r->event_time = palloc(sizeof(AttrNumber) * Max(st->n_event_time, 1));
	r->current = palloc(sizeof(AttrNumber) * Max(st->n_current, 1));
	r->event_time_att = palloc(sizeof(int) * Max(st->n_event_time, 1));
	r->current_att = palloc(sizeof(int) * Max(st->n_current, 1));
	for (int i = 0; i < st->n_event_time; i++)
	{
		r->event_time_att[i] = catalog_attribute_index(e, st->event_time[i].attribute);
		r->event_time[i] = r->attnums[HISTORY_ATT(r->event_time_att[i])];
	}
	for (int i = 0; i < st->n_current; i++)
	{
		r->current_att[i] = catalog_attribute_index(e, st->current[i].attribute);
		r->current[i] = r->attnums[HISTORY_ATT(r->current_att[i])];
	}
	btree = timeline_history_btree(e, r->rel, r->attnums);
	if (!OidIsValid(btree) || r->rel->rd_rel->relrowsecurity)
		return false;
	lookup_open(&r->key, r->rel, btree, snap);
	if (st->by_attribute)
	{
		Oid			byidx = by_index(r);

		if (!OidIsValid(byidx))
			return false;
		lookup_open(&r->by, r->rel, byidx, snap);
		r->key_order = index_getprocinfo(r->key.index, 1, BTORDER_PROC);
		r->candidate = table_slot_create(r->rel, NULL);
	}
	r->slot = table_slot_create(r->rel, NULL);
	r->cur_slot = table_slot_create(r->rel, NULL);
	if (bulkcxt)
		r->asof = asof_index_build(e, true, 0, bulkcxt);
	return true;
}

/*
 * The btree on (by attribute, valid_from) that create_projection made,
 * partial on recorded_to = 'infinity' (or a full one): InvalidOid if none.
 */
static Oid
by_index(StepRun *r)
{
	AttrNumber	by = r->attnums[HISTORY_ATT(catalog_attribute_index(r->entity, r->st->by_attribute))];
	AttrNumber	vf = r->attnums[HISTORY_VALID_FROM(r->entity)];
	AttrNumber	rt = r->attnums[HISTORY_RECORDED_TO(r->entity)];
	List	   *indexes = RelationGetIndexList(r->rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ix = index->rd_index;
		List	   *pred = RelationGetIndexPredicate(index);
		bool		fits = index->rd_rel->relam == BTREE_AM_OID && ix->indisvalid &&
			ix->indnkeyatts >= 2 && ix->indkey.values[0] == by && ix->indkey.values[1] == vf &&
			RelationGetIndexExpressions(index) == NIL;

		/* its predicate, if any, must be exactly recorded_to = 'infinity' */
		if (fits && pred != NIL)
		{
			OpExpr	   *op = list_length(pred) == 1 && IsA(linitial(pred), OpExpr) ? linitial(pred) : NULL;
			Var		   *v = op && list_length(op->args) == 2 && IsA(linitial(op->args), Var)
				? linitial(op->args) : NULL;
			Const	   *c = op && list_length(op->args) == 2 && IsA(lsecond(op->args), Const)
				? lsecond(op->args) : NULL;

			fits = v && c && get_opcode(op->opno) == F_TIMESTAMPTZ_EQ && v->varattno == rt &&
				!c->constisnull && DatumGetTimestampTz(c->constvalue) == DT_NOEND;
		}
		index_close(index, AccessShareLock);
		if (fits)
		{
			found = lfirst_oid(lc);
			break;
		}
	}
	list_free(indexes);
	return found;
}

static void
lookup_open(Lookup *l, Relation rel, Oid indexoid, Snapshot snap)
{
	l->index = index_open(indexoid, AccessShareLock);
	l->scan = index_beginscan(rel, l->index, snap, 2, 0);
	l->eqproc = get_opcode(get_opfamily_member(l->index->rd_opfamily[0], l->index->rd_opcintype[0],
											   l->index->rd_opcintype[0], BTEqualStrategyNumber));
	l->collation = l->index->rd_indcollation[0];
}

static void
lookup_close(Lookup *l)
{
	if (l->scan)
		index_endscan(l->scan);
	if (l->index)
		index_close(l->index, NoLock);
}

static void
run_close(ArrivalRun *run)
{
	for (int s = 0; s < run->ap->nsteps; s++)
	{
		StepRun    *r = &run->steps[s];

		lookup_close(&r->key);
		lookup_close(&r->by);
		if (r->slot)
			ExecDropSingleTupleTableSlot(r->slot);
		if (r->cur_slot)
			ExecDropSingleTupleTableSlot(r->cur_slot);
		if (r->candidate)
			ExecDropSingleTupleTableSlot(r->candidate);
		if (r->rel)
			table_close(r->rel, NoLock);
		memset(r, 0, sizeof(StepRun));
	}
}

/* Every column but the derived ones (which the caller evaluates). */
static void
compute_row(ArrivalRun *run, const EmittedEvent *ev, Datum *values, bool *isnull)
{
	ArrivalPlan *ap = run->ap;

	memset(isnull, true, sizeof(bool) * ap->ncols);
	values[ap->col_event_id] = CStringGetTextDatum(ev->event_id ? ev->event_id
												   : psprintf(INT64_FORMAT, ev->position));
	values[ap->col_effective_at] = TimestampTzGetDatum(ev->effective_at);
	values[ap->col_received_at] = TimestampTzGetDatum(ev->received_at);
	isnull[ap->col_event_id] = isnull[ap->col_effective_at] = isnull[ap->col_received_at] = false;
	if (run->p->recurring)
		occurrence_values(ap, ev, values, isnull);
	for (int i = 0; i < ap->nmapped; i++)
		mapped_value(&ap->mapped[i], ev->payload, &values[ap->mapped[i].col], &isnull[ap->mapped[i].col]);
	for (int s = 0; s < ap->nsteps; s++)
		step_values(run, &run->steps[s], ev->effective_at, values, isnull);
	values[ap->col_updated_at] = TimestampTzGetDatum(run->now);
	values[ap->col_change_seq] = Int64GetDatum(changeseq_next());
	isnull[ap->col_updated_at] = isnull[ap->col_change_seq] = false;
}

/* The row key, series and local date of a series' occurrence (series.c). */
static void
occurrence_values(ArrivalPlan *ap, const EmittedEvent *ev, Datum *values, bool *isnull)
{
	if (ev->occurrence_id == NULL)
		elog(ERROR, "an event of a recurring source reached its rows without its occurrence");
	values[ap->col_occurrence_id] = CStringGetTextDatum(ev->occurrence_id);
	values[ap->col_series_id] = CStringGetTextDatum(ev->series_id);
	values[ap->col_occurrence_date] = DateADTGetDatum(ev->occurrence_date);
	isnull[ap->col_occurrence_id] = isnull[ap->col_series_id] = isnull[ap->col_occurrence_date] = false;
}

/* payload ->> member (one-member path) or #>> path, then (text)::type. */
static void
mapped_value(ArrivalMapped *m, Jsonb *payload, Datum *value, bool *isnull)
{
	char	   *str;

	*isnull = true;
	if (m->npath == 1)
	{
		JsonbValue	k;
		JsonbValue *v;

		if (!JsonContainerIsObject(&payload->root))
			return;
		k.type = jbvString;
		k.val.string.val = VARDATA_ANY(DatumGetPointer(m->path[0]));
		k.val.string.len = VARSIZE_ANY_EXHDR(DatumGetPointer(m->path[0]));
		v = findJsonbValueFromContainer(&payload->root, JB_FOBJECT, &k);
		if (v == NULL || v->type == jbvNull)
			return;
		if (v->type == jbvString && m->is_text)
		{
			*value = PointerGetDatum(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
			*isnull = false;
			return;
		}
		str = jsonfast_value_text(v);
	}
	else
	{
		bool		null;
		Datum		t = jsonb_get_element(payload, m->path, m->npath, &null, true);

		if (null)
			return;
		if (m->is_text)
		{
			*value = t;
			*isnull = false;
			return;
		}
		str = TextDatumGetCString(t);
	}
	*value = m->is_text ? CStringGetTextDatum(str) : InputFunctionCall(&m->input, str, m->ioparam, -1);
	*isnull = false;
}

/* One step's columns: its versions at the event's time and now. */
static void
step_values(ArrivalRun *run, StepRun *r, TimestampTz at, Datum *values, bool *isnull)
{
	ArrivalStep *st = r->st;
	Datum		key;
	Datum		current_key;
	Found		f = {0};		/* a by-match fills only its slot */
	bool		found = false;

	if (isnull[st->key_col])
		return;
	key = values[st->key_col];
	current_key = key;
	if (st->by_attribute)
	{
		bool		null;

		if (!by_match_at(r, key, at))
			return;				/* nothing matched: every column of the step NULL */
		found = true;
		f.slot = r->slot;
		current_key = slot_getattr(r->slot, r->attnums[HISTORY_KEY], &null);
		values[st->match_col] = current_key;
		isnull[st->match_col] = false;
	}
	else if (st->n_event_time > 0)
		found = version_at(r, st->memo_at, key, at, r->slot, &f);
	if (found)
		copy_columns(&f, st->n_event_time, st->event_time, r->event_time, r->event_time_att,
					 values, isnull);
	if (st->n_current == 0)
		return;
	/* the version at the event's time is often the one valid now too */
	if (!(found && found_covers(r, &f, run->now)) &&
		!version_at(r, st->memo_now, current_key, run->now, r->cur_slot, &f))
		return;
	copy_columns(&f, st->n_current, st->current, r->current, r->current_att, values, isnull);
}

/* Is `t` inside the valid period of a version found (when it is known)? */
static bool
found_covers(StepRun *r, Found *f, TimestampTz t)
{
	if (f->memo)
		return f->memo->valid_from <= t && f->memo->valid_to > t;
	return f->slot && covers(r, f->slot, t);
}

/* Is `t` inside the slot's version's valid period? */
static bool
covers(StepRun *r, TupleTableSlot *slot, TimestampTz t)
{
	bool		null;

	return DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_VALID_FROM(r->entity)], &null)) <= t &&
		DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_VALID_TO(r->entity)], &null)) > t;
}

/* The found version's attributes into their columns. */
static void
copy_columns(Found *f, int n, StepColumn *cols, AttrNumber *attnums, int *atts, Datum *values,
			 bool *isnull)
{
	for (int i = 0; i < n; i++)
	{
		if (f->slot)
			values[cols[i].col] = slot_getattr(f->slot, attnums[i], &isnull[cols[i].col]);
		else
		{
			values[cols[i].col] = f->values[atts[i]];
			isnull[cols[i].col] = f->isnull[atts[i]];
		}
	}
}

/*
 * The current version of `key` valid at `at`: from the as-of index (bulk),
 * from the memo, or read into `slot`.  Reading the btree backwards from
 * (key, at), the first current version met is the only one that can cover
 * `at` (current versions of a key never overlap).
 */
static bool
version_at(StepRun *r, struct memo_hash *memo, Datum key, TimestampTz at, TupleTableSlot *slot, Found *f)
{
	text	   *t = DatumGetTextPP(key);
	uint32		hash;
	bool		null;
	bool		found = false;
	MemoryContext old;
	VersionMemo *m;

	f->memo = NULL;
	if (r->asof)
	{
		f->slot = NULL;
		return asof_index_lookup(r->asof, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), at,
								 &f->values, &f->isnull);
	}
	hash = hash_bytes((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if (memo && projection_version_memo_kb > 0 && (m = memo_find(r, memo, t, hash, at, slot)) != NULL)
	{
		f->slot = NULL;
		f->values = m->values;
		f->isnull = m->isnull;
		f->memo = m;
		return true;
	}
	f->slot = slot;
	old = MemoryContextSwitchTo(r->scancxt);
	lookup_rescan(&r->key, key, at);
	while (index_getnext_slot(r->key.scan, BackwardScanDirection, slot))
	{
		if (!version_is_current(r, slot))
			continue;
		found = DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_VALID_TO(r->entity)], &null)) > at;
		break;
	}
	MemoryContextSwitchTo(old);
	if (found && memo && projection_version_memo_kb > 0)
		memo_store(r, memo, t, hash, slot);
	return found;
}

/* The remembered version of `key` covering `at`, if it may be used now. */
static VersionMemo *
memo_find(StepRun *r, struct memo_hash *memo, text *key, uint32 hash, TimestampTz at, TupleTableSlot *slot)
{
	VersionMemo *m = memo_lookup(memo, hash);

	if (m == NULL || m->keylen != VARSIZE_ANY_EXHDR(key) || memcmp(memo_key(m), VARDATA_ANY(key), m->keylen) != 0 ||
		!(m->valid_from <= at && m->valid_to > at))
		return NULL;
	if (m->run != r->run)
	{
		if (!memo_unchanged(r, m) && !memo_still_valid(r, m, slot))
			return NULL;
		m->run = r->run;
		m->completions = r->completions;
	}
	return m;
}

/*
 * Does this run's snapshot see the history as the one the entry was last
 * read under did?  (See VersionMemo.)
 */
static bool
memo_unchanged(StepRun *r, VersionMemo *m)
{
	return r->unwritten &&
		(m->completions == r->completions ||
		 (m->completions == completions_alias_from && r->completions == completions_alias_to)) &&
		phx_rel_file_equal(m->file, phx_rel_file(r->rel));
}

/* Does this transaction hold a write lock on a history a memo holds? */
static bool
memo_tables_written(void)
{
	LOCKTAG		tag;

	for (int i = 0; i < n_memo_tables; i++)
	{
		SET_LOCKTAG_RELATION(tag, MyDatabaseId, memo_tables[i]);
		if (phx_lock_held_or_stronger(&tag, RowExclusiveLock))
			return true;
	}
	return false;
}

/*
 * At this backend's commit (visible by now, its locks still held): when it
 * had a transaction id (so it was counted), its runs' last snapshot count
 * plus one is the count now (so nothing else ended in between), and it
 * holds no write lock on a remembered history, memos read under that count
 * may be used under the next (VersionMemo).
 */
void
arrival_xact_event(XactEvent event)
{
	if (event == XACT_EVENT_PRE_COMMIT)
	{
		commit_keeps_memos = TransactionIdIsValid(GetTopTransactionIdIfAny());
		return;
	}
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if (event == XACT_EVENT_COMMIT && commit_keeps_memos && last_run_completions != 0 &&
		!memo_tables_written() && phx_xact_completion_count() == last_run_completions + 1)
	{
		completions_alias_from = last_run_completions;
		completions_alias_to = last_run_completions + 1;
	}
	commit_keeps_memos = false;
	last_run_completions = 0;
}

/*
 * Is the row a memo entry remembers still the current version it was, as
 * this run's snapshot sees it?  (See VersionMemo.)  Reads it into `slot`.
 */
static bool
memo_still_valid(StepRun *r, VersionMemo *m, TupleTableSlot *slot)
{
	PhxEntity  *e = r->entity;
	bool		null;
	Datum		key;

	if (!phx_rel_file_equal(m->file, phx_rel_file(r->rel)))
		return false;
	/*
	 * VACUUM may have cut off the page since (not while the run holds its
	 * lock on the table), so the page must exist before it is read.
	 */
	if (r->nblocks == InvalidBlockNumber)
		r->nblocks = RelationGetNumberOfBlocks(r->rel);
	if (ItemPointerGetBlockNumber(&m->tid) >= r->nblocks)
		return false;
	if (!table_tuple_fetch_row_version(r->rel, &m->tid, r->snap, slot))
		return false;
	if (DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber, &null)) != m->xmin ||
		!version_is_current(r, slot) ||
		DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_VALID_FROM(e)], &null)) != m->valid_from ||
		DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_VALID_TO(e)], &null)) != m->valid_to)
		return false;
	key = slot_getattr(slot, r->attnums[HISTORY_KEY], &null);
	return !null && VARSIZE_ANY_EXHDR(DatumGetTextPP(key)) == m->keylen &&
		memcmp(VARDATA_ANY(DatumGetTextPP(key)), memo_key(m), m->keylen) == 0;
}

/*
 * Remember the version in `slot` for `key`, replacing what its entry held:
 * its period, its row and the attributes the step reads, copied into the
 * memo's context.  What the entry held is not freed: the row being computed
 * may point into it (the event-time version came from the memo).
 */
static void
memo_store(StepRun *r, struct memo_hash *memo, text *key, uint32 hash, TupleTableSlot *slot)
{
	PhxEntity  *e = r->entity;
	ArrivalStep *st = r->st;
	MemoryContext old = MemoryContextSwitchTo(st->memocxt);
	VersionMemo v;
	VersionMemo *m;
	bool		null;
	bool		existed;

	/* filled completely before it enters the table: an error leaves no half entry */
	v.hash = hash;
	v.values = palloc(sizeof(Datum) * e->natts);
	v.isnull = palloc(sizeof(bool) * e->natts);
	v.keylen = VARSIZE_ANY_EXHDR(key);
	v.key = NULL;
	if (v.keylen < MEMO_INLINE_KEY)
		memcpy(v.inline_key, VARDATA_ANY(key), v.keylen);
	else
	{
		v.key = palloc(v.keylen);
		memcpy(v.key, VARDATA_ANY(key), v.keylen);
	}
	v.valid_from = DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_VALID_FROM(e)], &null));
	v.valid_to = DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_VALID_TO(e)], &null));
	v.file = phx_rel_file(r->rel);
	v.tid = slot->tts_tid;
	v.xmin = DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber, &null));
	v.run = r->run;
	v.completions = r->completions;
	memset(v.isnull, true, sizeof(bool) * e->natts);
	for (int pass = 0; pass < 2; pass++)
	{
		int			n = pass == 0 ? st->n_event_time : st->n_current;
		int		   *atts = pass == 0 ? r->event_time_att : r->current_att;
		AttrNumber *cols = pass == 0 ? r->event_time : r->current;

		for (int i = 0; i < n; i++)
		{
			int			a = atts[i];
			Datum		d;

			if (!v.isnull[a])
				continue;
			d = slot_getattr(slot, cols[i], &null);
			if (!null)
			{
				v.values[a] = datumCopy(d, e->atts[a].typbyval, e->atts[a].typlen);
				v.isnull[a] = false;
			}
		}
	}
	m = memo_insert(memo, hash, &existed);
	v.status = m->status;
	*m = v;
	MemoryContextSwitchTo(old);
}

/*
 * The step's memos, made on first use, emptied when they hold more than
 * phoenix.version_memo or when their history table was invalidated.
 * Between rows only.
 */
static void
memo_trim(ArrivalStep *st, Oid history, MemoryContext plancxt)
{
	if (projection_version_memo_kb == 0)
		return;
	if (st->memocxt == NULL)
	{
		st->memo_table = memo_table_of(history);
		if (st->memo_table < 0)
			return;
		st->memocxt = AllocSetContextCreate(plancxt, "phoenix arrival memo", ALLOCSET_DEFAULT_SIZES);
	}
	else if (MemoryContextMemAllocated(st->memocxt, true) <= (Size) projection_version_memo_kb * 1024 &&
			 st->memo_generation == memo_table_generation[st->memo_table])
		return;
	else
		MemoryContextReset(st->memocxt);
	st->memo_generation = memo_table_generation[st->memo_table];
	/* small at first: a step may remember a handful of sites only */
	st->memo_at = memo_create(st->memocxt, 4, NULL);
	st->memo_now = memo_create(st->memocxt, 4, NULL);
}

/* The index of `history` in memo_tables (added if new), or -1 when full. */
static int
memo_table_of(Oid history)
{
	for (int i = 0; i < n_memo_tables; i++)
		if (memo_tables[i] == history)
			return i;
	if (n_memo_tables == MEMO_TABLES)
		return -1;
	memo_tables[n_memo_tables] = history;
	memo_table_generation[n_memo_tables] = 0;
	return n_memo_tables++;
}

void
arrival_relcache_invalidated(Oid relid)
{
	for (int i = 0; i < n_memo_tables; i++)
		if (relid == InvalidOid || memo_tables[i] == relid)
			memo_table_generation[i]++;
}

/*
 * Among the current versions whose by attribute is `value` at `at`, the one
 * with the smallest key, into r->slot.
 */
static bool
by_match_at(StepRun *r, Datum value, TimestampTz at)
{
	bool		found = false;
	bool		null;
	MemoryContext old = MemoryContextSwitchTo(r->scancxt);

	lookup_rescan(&r->by, value, at);
	while (index_getnext_slot(r->by.scan, ForwardScanDirection, r->candidate))
	{
		Datum		key;

		if (!version_is_current(r, r->candidate) ||
			DatumGetTimestampTz(slot_getattr(r->candidate, r->attnums[HISTORY_VALID_TO(r->entity)], &null)) <= at)
			continue;
		key = slot_getattr(r->candidate, r->attnums[HISTORY_KEY], &null);
		if (found && DatumGetInt32(FunctionCall2Coll(r->key_order, r->key.collation, key,
													 slot_getattr(r->slot, r->attnums[HISTORY_KEY], &null))) >= 0)
			continue;
		ExecCopySlot(r->slot, r->candidate);
		found = true;
	}
	MemoryContextSwitchTo(old);
	return found;
}

/* Position a lookup's scan at (value, valid_from <= at). */
static void
lookup_rescan(Lookup *l, Datum value, TimestampTz at)
{
	ScanKeyData keys[2];

	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid, l->collation,
						   l->eqproc, value);
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTLessEqualStrategyNumber, InvalidOid, InvalidOid,
						   F_TIMESTAMPTZ_LE, TimestampTzGetDatum(at));
	index_rescan(l->scan, keys, 2, NULL, 0);
}

static bool
version_is_current(StepRun *r, TupleTableSlot *slot)
{
	bool		null;

	return DatumGetTimestampTz(slot_getattr(slot, r->attnums[HISTORY_RECORDED_TO(r->entity)], &null)) == DT_NOEND;
}
