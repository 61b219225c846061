/*
 * rowwriter.h — insert and update single rows of a table through the
 * executor's row-level machinery (constraints, indexes with their unique and
 * exclusion checks, row triggers), without planning or starting an executor
 * per statement.  For hot paths that write a handful of known rows per call.
 */
#ifndef PHOENIX_ROWWRITER_H
#define PHOENIX_ROWWRITER_H

#include "postgres.h"

#include "access/htup.h"
#include "executor/execdesc.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"

struct BulkInsertStateData;

typedef struct RowWriter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			ncols;
	AttrNumber *attnums;		/* of the caller's columns, in their order */
	int			ndefaults;
	AttrNumber *default_attnums;	/* other columns that have a default */
	ExprState **defaults;
	bool		may_update;		/* UPDATE privilege checked */
	TupleDesc	batch_desc;		/* the batch slots' (not reference-counted) */
	TupleTableSlot **batch;		/* inserted rows not yet in the table */
	int			nbatch;
	int			maxbatch;		/* 0: each insert goes in at once */
	int			nroom;			/* rowwriter_leave_room's columns */
	AttrNumber *room_attnums;
	double	   *room_nvalues;
	uint8	   *fill;			/* per batched row: its page's fill, percent */
} RowWriter;

/*
 * Open `relid` (RowExclusiveLock) for writing the columns `cols` (checked to
 * exist with the types `types`; InvalidOid skips a check), whose values the
 * caller passes in that order.  Other columns get their defaults (or NULL).
 * Opens the indexes and starts collecting AFTER triggers; the caller must
 * rowwriter_close() (an error releases everything with the transaction).
 * Writes use the active snapshot and the current command id.
 * `what` names the table in errors ("history table of entity \"x\"").
 */
extern RowWriter *rowwriter_open(Oid relid, int ncols, const char *const *cols,
								 const Oid *types, const char *what);

/*
 * Column numbers of `cols` in `rel` (checked to exist with `types`, as
 * rowwriter_open does), for readers of the same columns.
 */
extern void rowwriter_columns(Relation rel, int ncols, const char *const *cols,
							  const Oid *types, const char *what, AttrNumber *attnums);

/* Insert one row (values and nulls of the caller's columns). */
extern void rowwriter_insert(RowWriter *w, Datum *values, bool *isnull);

/*
 * From now on, collect inserted rows and write them a batch at a time, as
 * COPY does: one heap_multi_insert (rows packed into each page under one
 * lock and one WAL record), then each row's index entries.  NOT NULL and
 * CHECK constraints are still checked as each row is inserted; unique checks
 * happen when the batch is written.  Tables with triggers or stored generated
 * columns, and partitions, stay row by row.  The rows are in the table once
 * rowwriter_flush(), rowwriter_update*() or rowwriter_close() returns.
 */
extern void rowwriter_batch_inserts(RowWriter *w);

/*
 * For the batches from now on: leave room on a page for changes of the
 * values of `cols` (the caller's column numbers) that its rows share.  A
 * later change of one value rewrites all its rows; on a page with room for
 * them the rewrites stay on the page (HOT: no new index entries).  Where,
 * among the rows a page holds at the table's fillfactor, one value of these
 * columns has m of W rows, those rows' pages are filled to W / (W + m),
 * never below half; rows whose values are spread (m small) keep the table's
 * fillfactor.  A column whose `nvalues` (about how many values it takes) is
 * below W is skipped: any order puts several rows of each value on a page,
 * and room for them on every page would double the table.  The rows are
 * appended, never put into free space the free space map offers (vacuum
 * records the room too); rewrites still find that space.
 */
extern void rowwriter_leave_room(RowWriter *w, int ncols, const int *cols, const double *nvalues);

/* Write the collected rows, if any. */
extern void rowwriter_flush(RowWriter *w);

/*
 * The step COPY and a batching writer share: the filled `slots` checked
 * against the table's NOT NULL and CHECK constraints (raising 23502 or 23514
 * as an INSERT does), put into the heap by one table_multi_insert, then the
 * rows' entries in the indexes
 * `rri` has open (B-trees one index at a time, in each index's key order;
 * others, and tables with exclusion constraints or deferred unique checks,
 * row by row, as ExecInsertIndexTuples does).  Without `collided`, unique indexes are checked as an
 * INSERT does (waiting for in-progress inserters, raising on a duplicate);
 * with it, without waiting or raising, and collided[i] tells that row i may
 * duplicate another.  Rows are written with `estate`'s es_output_cid;
 * `bistate` may be NULL.  `fill`, if not NULL, is each row's page fill in
 * percent (below the table's fillfactor: pages filled less for that row),
 * and the rows are appended (not put where the free space map says).
 * The slots keep their rows.
 */
extern void rowwriter_multi_insert(ResultRelInfo *rri, EState *estate, TupleTableSlot **slots,
								   int nslots, struct BulkInsertStateData *bistate, bool *collided,
								   const uint8 *fill);

/*
 * Replace the row `oldtup` (as read, its t_self set) with a copy in which
 * the caller's column number `col` is `value`.  A row changed concurrently
 * since it was read is a serialization failure.
 */
extern void rowwriter_update_column(RowWriter *w, HeapTuple oldtup, int col, Datum value);

/*
 * The same for several columns: the caller's columns whose `replace` entry is
 * true take `values`/`isnull`, the rest of the row stays as it was.
 */
extern void rowwriter_update(RowWriter *w, HeapTuple oldtup, const bool *replace,
							 const Datum *values, const bool *isnull);

/* Fire queued AFTER triggers and release the writer. */
extern void rowwriter_close(RowWriter *w);

#endif							/* PHOENIX_ROWWRITER_H */
