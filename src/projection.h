/*
 * projection.h — reporting tables fed by event types, enriched as of each
 * event's effective time.
 */
#ifndef PHOENIX_PROJECTION_H
#define PHOENIX_PROJECTION_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* An event accepted into the log, as the projection layer sees it. */
typedef struct EmittedEvent
{
	int64		position;
	const char *event_id;
	Jsonb	   *payload;
	TimestampTz effective_at;
	TimestampTz received_at;
} EmittedEvent;

/*
 * New events of `event_type` were logged: insert/replace the rows of every
 * projection fed by that type (set-based, one statement per projection per
 * batch).  Called inside SPI, in the emitter's transaction.
 */
extern void projection_on_events(const char *event_type, int nevents, const EmittedEvent *events);

#endif							/* PHOENIX_PROJECTION_H */
