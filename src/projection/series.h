/*
 * series.h — projections of a recurring event type: one row per occurrence
 * of each booking series (series.c).
 */
#ifndef PHOENIX_SERIES_H
#define PHOENIX_SERIES_H

#include "postgres.h"

#include "projection/projdef.h"
#include "projection/projection.h"

/* The arrays of a recurring projection's payload_src: ids, times, payloads, occurrences. */
#define SERIES_NARGS	7

/* The statements series.c prepares per projection (Projection.series_plans). */
typedef enum SeriesPlan
{
	SERIES_PLAN_DELETE,			/* rows of occurrences a series lost */
	SERIES_PLAN_EXISTING,		/* occurrence ids the series have rows for */
	SERIES_PLAN_EXISTING_OF,	/* ... written by given events (rewritten) */
	SERIES_PLAN_INSERT,			/* new occurrence rows */
	SERIES_PLAN_UPSERT,			/* occurrence rows that may exist */
	SERIES_PLAN_HORIZON,		/* phoenix.series_horizon */
	SERIES_NPLANS
} SeriesPlan;

StaticAssertDecl(SERIES_NPLANS == PROJ_SERIES_NPLANS, "Projection.series_plans has one slot per SeriesPlan");

/*
 * The rows of events of a recurring source in projection `p`: each series'
 * latest event replaces the series (new occurrences inserted, lost ones
 * deleted, kept ones rewritten only where they changed).  `rewritten`
 * (forget): only the rows these events wrote are recomputed.  Inside SPI,
 * the payloads' keys locked.
 */
extern void series_apply(Projection *p, int nevents, const EmittedEvent *events, bool rewritten);

/*
 * create_projection: whether the source is recurring and the horizon (NULL:
 * PROJ_DEFAULT_HORIZON) allowed; sets def->recurring and def->horizon.
 */
extern void series_horizon_check(ProjDef *def, Interval *horizon);

/* Fill a recurring projection from the log; returns the series events read. */
extern int64 series_fill(Projection *p);

/* Expand again the series whose extension is due (apply_due); inside SPI. */
extern int64 series_extend_due(void);

#endif							/* PHOENIX_SERIES_H */
