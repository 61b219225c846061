/*
 * ingest_hooks.c — the registry of ingest_hooks.h: each hook starts as a
 * handler that raises an error, until the layer that owns it registers its
 * own in _PG_init.
 */
#include "postgres.h"

#include "ingest/ingest_hooks.h"

static void
unregistered(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("phoenix: no handler is registered for %s", what),
			 errhint("The library was loaded without running _PG_init to the end; reconnect.")));
}

static void
events_logged_unregistered(const char *event_type, int nevents, const EmittedEvent *events)
{
	unregistered("logged events (projections)");
}

static Jsonb *
scrub_payload_unregistered(const char *event_type, Jsonb *payload, TimestampTz effective_at)
{
	unregistered("payload scrubbing (forget)");
	return NULL;
}

static char *
scrub_raw_unregistered(const char *event_type, const char *raw)
{
	unregistered("dead-letter scrubbing (forget)");
	return NULL;
}

static ingest_events_logged_hook_type events_logged_hook = events_logged_unregistered;
static ingest_scrub_payload_hook_type scrub_payload_hook = scrub_payload_unregistered;
static ingest_scrub_raw_hook_type scrub_raw_hook = scrub_raw_unregistered;

void
ingest_register_events_logged_hook(ingest_events_logged_hook_type hook)
{
	events_logged_hook = hook;
}

void
ingest_register_scrub_hooks(ingest_scrub_payload_hook_type payload, ingest_scrub_raw_hook_type raw)
{
	scrub_payload_hook = payload;
	scrub_raw_hook = raw;
}

void
ingest_events_logged(const char *event_type, int nevents, const EmittedEvent *events)
{
	events_logged_hook(event_type, nevents, events);
}

Jsonb *
ingest_scrub_payload(const char *event_type, Jsonb *payload, TimestampTz effective_at)
{
	return scrub_payload_hook(event_type, payload, effective_at);
}

char *
ingest_scrub_raw(const char *event_type, const char *raw)
{
	return scrub_raw_hook(event_type, raw);
}
