/*
 * arrival.h — the reporting rows of newly logged events, computed in C
 * (payload fields, as-of lookups into the history tables, derived columns)
 * and written without a statement.
 */
#ifndef PHOENIX_ARRIVAL_H
#define PHOENIX_ARRIVAL_H

#include "postgres.h"

#include "access/xact.h"

#include "projection/projection.h"

/*
 * Insert the rows of `events` (just logged, kind 'events': no row exists
 * yet) into the table of `p`.  Returns false, having done nothing, when the
 * projection needs the SQL row computation instead (see arrival.c); the
 * answer is remembered with the cached projection.  Called inside SPI,
 * after the payloads' entity keys are locked.
 */
extern bool arrival_insert(Projection *p, int nevents, const EmittedEvent *events);

/*
 * The same for many batches (a rebuild): begin (NULL: the projection needs
 * SQL), insert rows any number of times, end.  `bulk` loads every current
 * version of the steps' entities into memory first (asof.h), so that each
 * lookup is a hash probe instead of a btree descent: for a table's worth of
 * events.  The run holds a snapshot taken at begin.  Inside SPI.
 */
typedef struct ArrivalRun ArrivalRun;
extern ArrivalRun *arrival_begin(Projection *p, bool bulk);
extern void arrival_insert_rows(ArrivalRun *run, int nevents, const EmittedEvent *events);
extern void arrival_end(ArrivalRun *run);

/*
 * A relcache invalidation of `relid` (InvalidOid: of every relation): the
 * versions remembered from that history table are forgotten, at the next
 * row (forget rewrites a history and invalidates it, so that no backend
 * keeps a forgotten person's values in memory).
 */
extern void arrival_relcache_invalidated(Oid relid);
extern void arrival_xact_event(XactEvent event);

#endif							/* PHOENIX_ARRIVAL_H */
