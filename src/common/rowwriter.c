/*
 * rowwriter.c — single-row inserts and updates through the executor's
 * row-level machinery, without a statement per row.
 *
 * An SPI INSERT or UPDATE of one row starts an executor for a cached plan,
 * opens the table and its indexes, re-reads the table's CHECK constraints
 * from their stored form, and shuts it all down again: for a timeline write
 * of four rows that was most of the cost besides the index work itself.  A
 * RowWriter does that set-up once per call and then writes each row the way
 * logical replication's apply worker does (ExecSimpleRelationInsert): NOT
 * NULL and CHECK constraints, every index with its unique and exclusion
 * checks, row triggers, stored generated columns, column defaults.
 *
 * Privileges are checked as the SQL statement would (the current user needs
 * the privileges asked for).  Tables with row level security are refused:
 * their policies would need a planner.
 *
 * A writer asked to batch its inserts (rowwriter_batch_inserts) writes them
 * as COPY does instead: rows collected into slots of their own, put into
 * the heap by one table_multi_insert per ROWWRITER_BATCH rows (several rows
 * per page lock and WAL record), then indexed one index at a time, each in
 * its own key order (insert_index_sorted).  For a projection's arriving rows
 * the batches saved 15-18% of ingest's CPU per event, and the key order
 * saves cache misses in the indexes' descents as they grow (bench/README.md,
 * series K and L).
 *
 * Memory: everything lives in the caller's context and the writer's EState;
 * rowwriter_close() frees the EState.  Locks: RowExclusiveLock on the table
 * and its indexes, held to the end of the transaction.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/nbtree.h"
#include "catalog/pg_am.h"
#include "catalog/index.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufpage.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/sortsupport.h"

#include "common/rowwriter.h"

static AttrNumber column_attnum(Relation rel, const char *col, Oid type, const char *what);
static void prepare_defaults(RowWriter *w);
static bool needs_full_update(RowWriter *w);
static TupleTableSlot *fill_slot(RowWriter *w, TupleTableSlot *slot, Datum *values, bool *isnull);
static void check_privilege(RowWriter *w, AclMode mode);
static bool indexes_sortable(ResultRelInfo *rri);
static void insert_index_sorted(ResultRelInfo *rri, int i, EState *estate, TupleTableSlot **slots,
								int nslots, bool *collided);
static bool choose_fills(RowWriter *w);
static int	window_multiplicity(RowWriter *w, AttrNumber attnum, int first, int n, uint32 *hashes);
static void heap_insert_filled(Relation rel, TupleTableSlot **slots, int nslots, CommandId cid,
							   struct BulkInsertStateData *bistate, int fill);

/* Rows per table_multi_insert: COPY's figure, enough to amortise it. */
#define ROWWRITER_BATCH 1000

/* The least a page is filled to by rowwriter_leave_room: room for all its rows once. */
#define ROOM_MIN_FILL 50

/* Fewer rows than this are indexed row by row: nothing to gain by sorting. */
#define SORTED_INDEX_MIN_ROWS 16

RowWriter *
rowwriter_open(Oid relid, int ncols, const char *const *cols, const Oid *types,
			   const char *what)
{
	RowWriter  *w = palloc0(sizeof(RowWriter));
	RangeTblEntry *rte;
	EState	   *estate;

	w->rel = table_open(relid, RowExclusiveLock);
	if (w->rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", what)));
	if (w->rel->rd_rel->relrowsecurity)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s has row level security enabled", what),
				 errhint("Phoenix writes this table itself; disable row level security on it.")));
	check_privilege(w, ACL_INSERT);

	w->ncols = ncols;
	w->attnums = palloc(sizeof(AttrNumber) * ncols);
	rowwriter_columns(w->rel, ncols, cols, types, what, w->attnums);

	w->estate = estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	/* enough for ExecGetTriggerResultRel(); we close the table ourselves */
	estate->es_opened_result_relations = list_make1(w->rri);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = GetActiveSnapshot();
	ExecOpenIndices(w->rri, false);
	w->slot = table_slot_create(w->rel, &estate->es_tupleTable);
	prepare_defaults(w);
	AfterTriggerBeginQuery();
	return w;
}

void
rowwriter_columns(Relation rel, int ncols, const char *const *cols, const Oid *types,
				  const char *what, AttrNumber *attnums)
{
	for (int i = 0; i < ncols; i++)
		attnums[i] = column_attnum(rel, cols[i], types ? types[i] : InvalidOid, what);
}

void
rowwriter_insert(RowWriter *w, Datum *values, bool *isnull)
{
	TupleTableSlot *slot;

	if (w->maxbatch == 0)
	{
		ExecSimpleRelationInsert(w->rri, w->estate, fill_slot(w, w->slot, values, isnull));
		ResetPerTupleExprContext(w->estate);
		return;
	}
	if (w->batch[w->nbatch] == NULL)
	{
		/* the writer's memory: the caller's context may be reset per row */
		MemoryContext old = MemoryContextSwitchTo(w->estate->es_query_cxt);

		w->batch[w->nbatch] = ExecAllocTableSlot(&w->estate->es_tupleTable, w->batch_desc,
												 table_slot_callbacks(w->rel));
		MemoryContextSwitchTo(old);
	}
	slot = fill_slot(w, w->batch[w->nbatch], values, isnull);
	/* the row's own copy: the caller's values may not outlive this call */
	ExecMaterializeSlot(slot);
	ResetPerTupleExprContext(w->estate);
	if (++w->nbatch == w->maxbatch)
		rowwriter_flush(w);
}

void
rowwriter_batch_inserts(RowWriter *w)
{
	MemoryContext old;

	if (w->maxbatch > 0 || needs_full_update(w) || w->rel->rd_rel->relispartition)
		return;
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	w->batch = palloc0(sizeof(TupleTableSlot *) * ROWWRITER_BATCH);
	/*
	 * A copy of the table's descriptor for the batch's slots: the relcache's
	 * is reference-counted, and a slot pinning it registers with the
	 * resource owner, a thousand times per batch for nothing.
	 */
	w->batch_desc = CreateTupleDescCopy(RelationGetDescr(w->rel));
	MemoryContextSwitchTo(old);
	w->maxbatch = ROWWRITER_BATCH;
}

void
rowwriter_flush(RowWriter *w)
{
	EState	   *estate = w->estate;

	if (w->nbatch == 0)
		return;
	rowwriter_multi_insert(w->rri, estate, w->batch, w->nbatch, NULL, NULL,
						   choose_fills(w) ? w->fill : NULL);
	for (int i = 0; i < w->nbatch; i++)
		ExecClearTuple(w->batch[i]);
	w->nbatch = 0;
}

void
rowwriter_leave_room(RowWriter *w, int ncols, const int *cols, const double *nvalues)
{
	MemoryContext old = MemoryContextSwitchTo(w->estate->es_query_cxt);

	if (w->room_attnums)
	{
		pfree(w->room_attnums);
		pfree(w->room_nvalues);
	}
	w->nroom = 0;
	w->room_attnums = palloc(sizeof(AttrNumber) * Max(ncols, 1));
	w->room_nvalues = palloc(sizeof(double) * Max(ncols, 1));
	for (int i = 0; i < ncols; i++)
	{
		w->room_attnums[w->nroom] = w->attnums[cols[i]];
		w->room_nvalues[w->nroom++] = nvalues[i];
	}
	if (w->fill == NULL)
		w->fill = palloc(sizeof(uint8) * ROWWRITER_BATCH);
	MemoryContextSwitchTo(old);
}

/*
 * Each batched row's page fill (w->fill), by rowwriter_leave_room's rule,
 * the batch cut into windows of the rows a page holds at the table's
 * fillfactor.  False when the writer leaves no room.
 */
static bool
choose_fills(RowWriter *w)
{
	int			ff = RelationGetFillFactor(w->rel, HEAP_DEFAULT_FILLFACTOR);
	Size		bytes = 0;
	int			per_page;
	uint32	   *hashes;

	if (w->nroom == 0 || w->fill == NULL)
		return false;
	if (ff <= ROOM_MIN_FILL || w->nbatch < 2)
	{
		memset(w->fill, ff, w->nbatch);
		return true;
	}
	/* the rows are materialized (rowwriter_insert): their sizes are known */
	for (int i = 0; i < w->nbatch; i++)
		bytes += MAXALIGN(ExecFetchSlotHeapTuple(w->batch[i], false, NULL)->t_len) + sizeof(ItemIdData);
	per_page = (int) Max((BLCKSZ - SizeOfPageHeaderData) * ff / 100 / (bytes / w->nbatch), 1);
	hashes = palloc(sizeof(uint32) * per_page);
	for (int first = 0; first < w->nbatch; first += per_page)
	{
		int			n = Min(per_page, w->nbatch - first);
		int			m = 1;
		int			fill = ff;

		for (int k = 0; k < w->nroom; k++)
			if (w->room_nvalues[k] >= per_page)
				m = Max(m, window_multiplicity(w, w->room_attnums[k], first, n, hashes));
		/* one row of a value says nothing of how its rows arrive */
		if (m > 1)
			fill = Max(Min(ff, 100 * n / (n + m)), ROOM_MIN_FILL);
		memset(w->fill + first, fill, n);
	}
	pfree(hashes);
	return true;
}

static int
uint32_cmp(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

/*
 * How many of the rows first .. first + n - 1 share the most common value
 * of column `attnum` (NULLs share none), by the values' hashes: a rare
 * collision only counts two values as one.
 */
static int
window_multiplicity(RowWriter *w, AttrNumber attnum, int first, int n, uint32 *hashes)
{
	Form_pg_attribute att = TupleDescAttr(w->batch_desc, attnum - 1);
	int			nh = 0;
	int			best = 0;

	for (int i = first; i < first + n; i++)
	{
		TupleTableSlot *slot = w->batch[i];
		bool		isnull;
		Datum		d = slot_getattr(slot, attnum, &isnull);

		if (isnull)
			continue;
		if (att->attbyval)
			hashes[nh++] = hash_bytes_uint32((uint32) d);
		else if (att->attlen == -1)
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(d);

			/* a key stored out of line or compressed: not worth detoasting here */
			if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
				continue;
			hashes[nh++] = hash_bytes((unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
		}
		else
			hashes[nh++] = hash_bytes((unsigned char *) DatumGetPointer(d),
									  att->attlen > 0 ? att->attlen : (int) strlen(DatumGetCString(d)));
	}
	qsort(hashes, nh, sizeof(uint32), uint32_cmp);
	for (int i = 0, run = 0; i < nh; i++)
	{
		run = (i > 0 && hashes[i] == hashes[i - 1]) ? run + 1 : 1;
		best = Max(best, run);
	}
	return best;
}

void
rowwriter_multi_insert(ResultRelInfo *rri, EState *estate, TupleTableSlot **slots, int nslots,
					   struct BulkInsertStateData *bistate, bool *collided, const uint8 *fill)
{
	if (nslots == 0)
		return;
	/* every row meets the table's NOT NULL and CHECK constraints first */
	if (rri->ri_RelationDesc->rd_att->constr)
		for (int i = 0; i < nslots; i++)
		{
			ExecConstraints(rri, slots[i], estate);
			ResetPerTupleExprContext(estate);
		}
	if (fill == NULL)
		table_multi_insert(rri->ri_RelationDesc, slots, nslots, estate->es_output_cid, 0, bistate);
	else
		for (int first = 0, n; first < nslots; first += n)
		{
			for (n = 1; first + n < nslots && fill[first + n] == fill[first]; n++)
				;
			heap_insert_filled(rri->ri_RelationDesc, slots + first, n, estate->es_output_cid, bistate,
							   fill[first]);
		}
	if (rri->ri_NumIndices > 0 && nslots >= SORTED_INDEX_MIN_ROWS && indexes_sortable(rri))
	{
		if (collided)
			memset(collided, 0, sizeof(bool) * nslots);
		for (int i = 0; i < rri->ri_NumIndices; i++)
			insert_index_sorted(rri, i, estate, slots, nslots, collided);
		return;
	}
	for (int i = 0; i < nslots; i++)
	{
		bool		conflict = false;

		ResetPerTupleExprContext(estate);
		/*
		 * Not "speculative": that index information serves ON CONFLICT's
		 * arbiter checks; UNIQUE_CHECK_PARTIAL (noDupErr) is the index AM's own.
		 */
		if (rri->ri_NumIndices > 0)
			list_free(ExecInsertIndexTuples(rri, slots[i], estate, false, collided != NULL,
											collided ? &conflict : NULL, NIL));
		if (collided)
			collided[i] = conflict;
	}
	ResetPerTupleExprContext(estate);
}

/*
 * table_multi_insert with the table's pages filled to `fill` percent for
 * these rows, appended: never into free space the free space map offers.
 * Room left on a page for its rows' rewrites is free space too, and vacuum
 * records it; an arriving row put there would take the room it was left
 * for.  Space vacuum frees still serves rewrites, which look for it.
 * heap_multi_insert and the free-space search under it read
 * the fillfactor from the relcache entry's options (rd_options), and the
 * table AM takes no other: so this backend's entry carries a copy with
 * `fill` for the call (heap's options: StdRdOptions; another table AM's
 * rows keep its own fillfactor).  Should the entry be rebuilt meanwhile
 * (an invalidation accepted when the TOAST table is first locked), the
 * rebuilt one reads the catalog, the copy went with the old one, and the
 * few bytes of the original are left to the cache's memory rather than
 * freed on a guess that nothing else points at them.
 */
static void
heap_insert_filled(Relation rel, TupleTableSlot **slots, int nslots, CommandId cid,
				   struct BulkInsertStateData *bistate, int fill)
{
	bytea	   *own = rel->rd_options;
	StdRdOptions *options;

	if (own == NULL || fill >= RelationGetFillFactor(rel, HEAP_DEFAULT_FILLFACTOR) ||
		rel->rd_rel->relam != HEAP_TABLE_AM_OID)
	{
		table_multi_insert(rel, slots, nslots, cid, TABLE_INSERT_SKIP_FSM, bistate);
		return;
	}
	options = palloc(VARSIZE(own));
	memcpy(options, own, VARSIZE(own));
	options->fillfactor = fill;
	rel->rd_options = (bytea *) options;
	PG_TRY();
	{
		table_multi_insert(rel, slots, nslots, cid, TABLE_INSERT_SKIP_FSM, bistate);
	}
	PG_FINALLY();
	{
		if (rel->rd_options == (bytea *) options)
		{
			rel->rd_options = own;
			pfree(options);
		}
	}
	PG_END_TRY();
}

/*
 * Whether every index of the table can take a batch's entries one index at
 * a time, in its own key order (insert_index_sorted): B-trees whose unique
 * checks, if any, are immediate and that carry no exclusion constraint.
 * Anything else needs ExecInsertIndexTuples' row-at-a-time logic (deferred
 * rechecks, exclusion checks against the rows already indexed).
 */
static bool
indexes_sortable(ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];

		if (index == NULL || !info->ii_ReadyForInserts)
			continue;
		if (index->rd_rel->relam != BTREE_AM_OID || info->ii_ExclusionOps != NULL ||
			(index->rd_index->indisunique && !index->rd_index->indimmediate))
			return false;
	}
	return true;
}

/* A batch's entries for one index, and how to order them as it does. */
typedef struct BatchEntries
{
	int			natts;			/* the index's columns, key and included */
	Datum	   *values;			/* natts per row */
	bool	   *isnull;
	TupleTableSlot **slots;		/* the rows (their tts_tid) */
	int			nkeys;
	SortSupportData *keys;		/* the index's key columns' comparators */
	bool		abbreviated;	/* EntryRef.key holds keys[0]'s abbreviation */
} BatchEntries;

/*
 * What the sort moves: a row's first key beside it, as tuplesort keeps its
 * datum1, so most comparisons read neither the row's values nor, where the
 * type abbreviates (text: its first 8 bytes), the key's own bytes.
 */
typedef struct EntryRef
{
	Datum		key;
	bool		isnull;
	int			row;
} EntryRef;

static inline int
entry_ref_cmp(const EntryRef *a, const EntryRef *b, BatchEntries *e)
{
	int			ra = a->row;
	int			rb = b->row;
	int			c = ApplySortComparator(a->key, a->isnull, b->key, b->isnull, &e->keys[0]);

	if (c != 0)
		return c;
	if (e->abbreviated)
	{
		c = ApplySortAbbrevFullComparator(e->values[ra * e->natts], e->isnull[ra * e->natts],
										  e->values[rb * e->natts], e->isnull[rb * e->natts],
										  &e->keys[0]);
		if (c != 0)
			return c;
	}
	for (int k = 1; k < e->nkeys; k++)
	{
		c = ApplySortComparator(e->values[ra * e->natts + k], e->isnull[ra * e->natts + k],
								e->values[rb * e->natts + k], e->isnull[rb * e->natts + k],
								&e->keys[k]);
		if (c != 0)
			return c;
	}
	/* equal keys: in heap order, as the B-tree keeps them */
	return ItemPointerCompare(&e->slots[ra]->tts_tid, &e->slots[rb]->tts_tid);
}

#define ST_SORT sort_entry_refs
#define ST_ELEMENT_TYPE EntryRef
#define ST_COMPARE(a, b, arg) entry_ref_cmp(a, b, arg)
#define ST_COMPARE_ARG_TYPE BatchEntries
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * The batch's entries in index `i` of `rri`, inserted in the index's key
 * order.  In arrival order each insertion descends a path of its own; once
 * an index's internal pages outgrow the CPU's cache (the reporting table's
 * indexes at a few million rows), each of those descents misses it, and
 * ingest's cost per event rose with the table.  In key order consecutive
 * descents share their internal pages, often their leaf, and the buffer
 * mapping entries of both (bench/README, series K).  Unique checks are the
 * ones ExecInsertIndexTuples makes: raising on a duplicate, or with
 * `collided`, noting it (UNIQUE_CHECK_PARTIAL).  The order decides no
 * result, only locality: a B-tree places equal keys by heap TID itself, and
 * the log's writer resolves repeats of an id within a batch before any
 * reaches the unique index (so no test can see a wrong order; the
 * callgrind figures of series K can).
 */
static void
insert_index_sorted(ResultRelInfo *rri, int i, EState *estate, TupleTableSlot **slots, int nslots,
					bool *collided)
{
	Relation	index = rri->ri_IndexRelationDescs[i];
	IndexInfo  *info = rri->ri_IndexRelationInfo[i];
	ExprContext *econtext = GetPerTupleExprContext(estate);
	ExprState  *predicate = NULL;
	IndexUniqueCheck check;
	BatchEntries e;
	EntryRef   *order;
	int			n = 0;
	MemoryContext cxt,
				old;

	if (index == NULL || !info->ii_ReadyForInserts)
		return;
	/* the entries, their order and the comparators' state, freed at once */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix index batch", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	if (info->ii_Predicate != NIL)
	{
		if (info->ii_PredicateState == NULL)
			info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, estate);
		predicate = info->ii_PredicateState;
	}
	e.natts = info->ii_NumIndexAttrs;
	e.nkeys = info->ii_NumIndexKeyAttrs;
	e.values = palloc(sizeof(Datum) * e.natts * nslots);
	e.isnull = palloc(sizeof(bool) * e.natts * nslots);
	e.slots = slots;
	order = palloc(sizeof(EntryRef) * nslots);
	/* each row's entry; expressions' results stay in the per-tuple memory until the index is done */
	ResetPerTupleExprContext(estate);
	for (int r = 0; r < nslots; r++)
	{
		econtext->ecxt_scantuple = slots[r];
		if (predicate && !ExecQual(predicate, econtext))
			continue;
		FormIndexDatum(info, slots[r], estate, &e.values[r * e.natts], &e.isnull[r * e.natts]);
		order[n++].row = r;
	}
	e.keys = palloc0(sizeof(SortSupportData) * e.nkeys);
	for (int k = 0; k < e.nkeys; k++)
	{
		SortSupport key = &e.keys[k];
		int16		option = index->rd_indoption[k];

		key->ssup_cxt = CurrentMemoryContext;
		key->ssup_collation = index->rd_indcollation[k];
		key->ssup_nulls_first = (option & INDOPTION_NULLS_FIRST) != 0;
		key->ssup_attno = k + 1;
		key->abbreviate = (k == 0);
		PrepareSortSupportFromIndexRel(index, (option & INDOPTION_DESC) ? BTGreaterStrategyNumber : BTLessStrategyNumber,
									   key);
	}
	e.abbreviated = e.keys[0].abbrev_converter != NULL;
	for (int j = 0; j < n; j++)
	{
		int			r = order[j].row;

		order[j].isnull = e.isnull[r * e.natts];
		order[j].key = e.values[r * e.natts];
		if (e.abbreviated && !order[j].isnull)
			order[j].key = e.keys[0].abbrev_converter(order[j].key, &e.keys[0]);
	}
	sort_entry_refs(order, n, &e);

	if (!index->rd_index->indisunique)
		check = UNIQUE_CHECK_NO;
	else
		check = collided ? UNIQUE_CHECK_PARTIAL : UNIQUE_CHECK_YES;
	for (int j = 0; j < n; j++)
	{
		int			r = order[j].row;

		if (!index_insert(index, &e.values[r * e.natts], &e.isnull[r * e.natts], &slots[r]->tts_tid,
						  rri->ri_RelationDesc, check, false, info) &&
			check == UNIQUE_CHECK_PARTIAL)
			collided[r] = true;
	}
	ResetPerTupleExprContext(estate);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

void
rowwriter_update_column(RowWriter *w, HeapTuple oldtup, int col, Datum value)
{
	bool	   *replace = palloc0(sizeof(bool) * w->ncols);
	Datum	   *values = palloc0(sizeof(Datum) * w->ncols);
	bool	   *isnull = palloc0(sizeof(bool) * w->ncols);

	replace[col] = true;
	values[col] = value;
	rowwriter_update(w, oldtup, replace, values, isnull);
	pfree(replace);
	pfree(values);
	pfree(isnull);
}

void
rowwriter_update(RowWriter *w, HeapTuple oldtup, const bool *replace, const Datum *values,
				 const bool *isnull)
{
	TupleTableSlot *slot = w->slot;
	EState	   *estate = w->estate;
	TM_Result	res;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;

	rowwriter_flush(w);
	if (!w->may_update)
	{
		check_privilege(w, ACL_UPDATE);
		w->may_update = true;
	}
	ExecClearTuple(slot);
	heap_deform_tuple(oldtup, RelationGetDescr(w->rel), slot->tts_values, slot->tts_isnull);
	for (int i = 0; i < w->ncols; i++)
		if (replace[i])
		{
			slot->tts_values[w->attnums[i] - 1] = values[i];
			slot->tts_isnull[w->attnums[i] - 1] = isnull[i];
		}
	ExecStoreVirtualTuple(slot);

	if (needs_full_update(w))
	{
		/* row triggers or generated columns: the replication path does it all */
		TupleTableSlot *search = MakeSingleTupleTableSlot(RelationGetDescr(w->rel), &TTSOpsVirtual);
		EPQState	epq;

		search->tts_tid = oldtup->t_self;
		EvalPlanQualInit(&epq, estate, NULL, NIL, -1);
		ExecSimpleRelationUpdate(w->rri, estate, &epq, search, slot);
		EvalPlanQualEnd(&epq);
		ExecDropSingleTupleTableSlot(search);
		ResetPerTupleExprContext(estate);
		return;
	}

	CheckCmdReplicaIdentity(w->rel, CMD_UPDATE);
	if (w->rel->rd_att->constr)
		ExecConstraints(w->rri, slot, estate);
	res = table_tuple_update(w->rel, &oldtup->t_self, slot, estate->es_output_cid,
							 estate->es_snapshot, InvalidSnapshot, true,
							 &tmfd, &lockmode, &update_indexes);
	switch (res)
	{
		case TM_Ok:
			break;
		case TM_Updated:
		case TM_Deleted:
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update of table \"%s\"",
							RelationGetRelationName(w->rel)),
					 errhint("Retry the transaction.")));
			break;
		default:
			elog(ERROR, "phoenix: unexpected result %d updating table \"%s\"",
				 (int) res, RelationGetRelationName(w->rel));
	}
	if (update_indexes && w->rri->ri_NumIndices > 0)
		list_free(ExecInsertIndexTuples(w->rri, slot, estate, true, false, NULL, NIL));
	ResetPerTupleExprContext(estate);
}

void
rowwriter_close(RowWriter *w)
{
	rowwriter_flush(w);
	AfterTriggerEndQuery(w->estate);
	ExecCloseIndices(w->rri);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
	pfree(w->attnums);
	pfree(w);
}

/* ---------- helpers ---------- */

static AttrNumber
column_attnum(Relation rel, const char *col, Oid type, const char *what)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), col) != 0)
			continue;
		if (OidIsValid(type) && att->atttypid != type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of %s has type %s, not %s",
							col, what, format_type_be(att->atttypid), format_type_be(type)),
					 errhint("Phoenix writes this column; restore its type.")));
		return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("%s has no column \"%s\"", what, col),
			 errhint("Phoenix writes this column; restore it.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/* Defaults of the columns the caller does not write (not generated ones). */
static void
prepare_defaults(RowWriter *w)
{
	TupleDesc	desc = RelationGetDescr(w->rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		mine = false;
		Node	   *expr;

		if (att->attisdropped || att->attgenerated)
			continue;
		for (int c = 0; c < w->ncols && !mine; c++)
			mine = w->attnums[c] == att->attnum;
		if (mine || (expr = build_column_default(w->rel, att->attnum)) == NULL)
			continue;
		if (w->defaults == NULL)
		{
			w->defaults = palloc(sizeof(ExprState *) * desc->natts);
			w->default_attnums = palloc(sizeof(AttrNumber) * desc->natts);
		}
		w->defaults[w->ndefaults] = ExecPrepareExpr((Expr *) expr, w->estate);
		w->default_attnums[w->ndefaults++] = att->attnum;
	}
}

/* `slot` holding the caller's values and the other columns' defaults. */
static TupleTableSlot *
fill_slot(RowWriter *w, TupleTableSlot *slot, Datum *values, bool *isnull)
{
	int			natts = RelationGetDescr(w->rel)->natts;
	ExprContext *econtext = GetPerTupleExprContext(w->estate);

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * natts);
	for (int i = 0; i < w->ncols; i++)
	{
		slot->tts_values[w->attnums[i] - 1] = values[i];
		slot->tts_isnull[w->attnums[i] - 1] = isnull[i];
	}
	for (int i = 0; i < w->ndefaults; i++)
		slot->tts_values[w->default_attnums[i] - 1] =
			ExecEvalExprSwitchContext(w->defaults[i], econtext,
									  &slot->tts_isnull[w->default_attnums[i] - 1]);
	return ExecStoreVirtualTuple(slot);
}

/* As the executor checks a statement's target: the current user's privilege. */
static void
check_privilege(RowWriter *w, AclMode mode)
{
	if (pg_class_aclcheck(RelationGetRelid(w->rel), GetUserId(), mode) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(w->rel));
}

static bool
needs_full_update(RowWriter *w)
{
	TupleConstr *constr = w->rel->rd_att->constr;

	return w->rri->ri_TrigDesc != NULL || (constr && constr->has_generated_stored);
}
