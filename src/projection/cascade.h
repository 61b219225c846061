/*
 * cascade.h — the bridge from the timeline engine to projections: called for
 * every timeline change (registered by ProjectionInit as the timeline's
 * changed hook) so that dependent projection rows are re-enriched.
 */
#ifndef PHOENIX_CASCADE_H
#define PHOENIX_CASCADE_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "timeline/catalog.h"

/*
 * The timeline of (entity, key) changed over the windows in `changes`
 * (a List of TimelineChange *, sorted by valid_from, non-overlapping).
 * Called inside SPI, in the writer's transaction.
 */
extern void cascade_timeline_changed(PhxEntity *entity, const char *key, List *changes);

/*
 * Apply the future-dated changes of `current` attributes whose time has come
 * (phoenix.projection_due); returns how many entries were applied.  Called by
 * phoenix.apply_due() (pg_cron) and, at most once a second per backend, by
 * the emit path.
 */
extern int64 cascade_apply_due(void);

#endif							/* PHOENIX_CASCADE_H */
