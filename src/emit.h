/*
 * emit.h — the one generic mutation: validate, log, apply to entity
 * timelines and projections.  SQL emit/emit_batch/ingest_csv and the Kafka
 * worker all funnel into emit_bulk().
 */
#ifndef PHOENIX_EMIT_H
#define PHOENIX_EMIT_H

#include "postgres.h"

#include "utils/timestamp.h"

/* One input to the bulk path.  Strings are NUL-terminated; NULL = not given. */
typedef struct EmitInput
{
	const char *event_type;		/* NULL: dead letter "unknown event type" */
	const char *raw;			/* the payload as received (JSON text) */
	int			raw_len;
	const char *event_id;		/* idempotency key, or NULL */
	const char *source;			/* e.g. "sql", "csv", "kafka:<subscription>" */
	const char *source_position;	/* "row 12", "topic/2/1234", ... */
	bool		has_effective_at;
	TimestampTz effective_at;
} EmitInput;

typedef struct EmitCounts
{
	int64		accepted;
	int64		rejected;
} EmitCounts;

/*
 * Apply a batch in the caller's transaction.  A bad input never aborts the
 * batch: it is written to phoenix.dead_letters with the reason and its
 * source position.  Must be called inside SPI_connect/SPI_finish.
 */
extern EmitCounts emit_bulk(EmitInput *inputs, int ninputs);

#endif							/* PHOENIX_EMIT_H */
