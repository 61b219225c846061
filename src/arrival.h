/*
 * arrival.h — the reporting rows of newly logged events, computed in C
 * (payload fields, as-of lookups into the history tables, derived columns)
 * and written without a statement.
 */
#ifndef PHOENIX_ARRIVAL_H
#define PHOENIX_ARRIVAL_H

#include "postgres.h"

#include "projection.h"

/*
 * Insert the rows of `events` (just logged, kind 'events': no row exists
 * yet) into the table of `p`.  Returns false, having done nothing, when the
 * projection needs the SQL row computation instead (see arrival.c); the
 * answer is remembered with the cached projection.  Called inside SPI,
 * after the payloads' entity keys are locked.
 */
extern bool arrival_insert(Projection *p, int nevents, const EmittedEvent *events);

#endif							/* PHOENIX_ARRIVAL_H */
