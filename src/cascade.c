/*
 * cascade.c — re-enrich projection rows that depend on a changed timeline.
 * (Filled in by the projections work; the timeline engine already calls it.)
 */
#include "postgres.h"

#include "cascade.h"
#include "timeline.h"

void
cascade_timeline_changed(PhxEntity *entity, const char *key, List *changes)
{
}
