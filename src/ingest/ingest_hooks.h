/*
 * ingest_hooks.h — what the ingest layer (emit, the event log, CSV) lets the
 * layers above it do, without knowing them.
 *
 * Ingest sits below projections and forget, yet every accepted event must
 * reach the projections it feeds and every stored value must pass forget's
 * scrubbing.  So those layers register their handlers here in _PG_init.  A
 * hook that was never registered raises an error when called: a missing
 * registration can never silently skip work (an unscrubbed payload, an event
 * without its projection rows).
 */
#ifndef PHOENIX_INGEST_HOOKS_H
#define PHOENIX_INGEST_HOOKS_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* An event accepted into the log, as the layers above ingest see it. */
typedef struct EmittedEvent
{
	int64		position;
	const char *event_id;
	Jsonb	   *payload;
	TimestampTz effective_at;
	TimestampTz received_at;
} EmittedEvent;

/*
 * New events of `event_type` were logged (projections insert their rows).
 * Called inside SPI, in the emitter's transaction.
 */
typedef void (*ingest_events_logged_hook_type) (const char *event_type, int nevents,
												const EmittedEvent *events);

/*
 * A validated payload, effective at `effective_at`, before it is hashed,
 * logged, applied or projected: returns the payload to store instead, or
 * NULL when it needs no change (forget pseudonymises PII of forgotten
 * people).  Called inside SPI.
 */
typedef Jsonb *(*ingest_scrub_payload_hook_type) (const char *event_type, Jsonb *payload,
												  TimestampTz effective_at);

/*
 * Refused input, before it is dead-lettered (which may not even be JSON;
 * `event_type` may be NULL): the text to store instead, or NULL when
 * unchanged.  Called inside SPI.
 */
typedef char *(*ingest_scrub_raw_hook_type) (const char *event_type, const char *raw);

extern void ingest_register_events_logged_hook(ingest_events_logged_hook_type hook);
extern void ingest_register_scrub_hooks(ingest_scrub_payload_hook_type payload,
										ingest_scrub_raw_hook_type raw);

/* The calls the ingest layer makes (the registered hook, or an error). */
extern void ingest_events_logged(const char *event_type, int nevents, const EmittedEvent *events);
extern Jsonb *ingest_scrub_payload(const char *event_type, Jsonb *payload, TimestampTz effective_at);
extern char *ingest_scrub_raw(const char *event_type, const char *raw);

#endif							/* PHOENIX_INGEST_HOOKS_H */
