/*
 * projection.c — reporting tables fed by event types.
 * (Stub until the projections work lands: no projections, nothing to do.)
 */
#include "postgres.h"

#include "projection.h"

void
projection_on_events(const char *event_type, int nevents, const EmittedEvent *events)
{
}
