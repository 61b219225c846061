/*
 * emit.h — the one generic mutation: validate, log, apply to entity
 * timelines and projections.  SQL emit/emit_batch/ingest_csv and the Kafka
 * worker all funnel into emit_bulk().
 *
 * Per-element isolation (DESIGN "Guarantees at the edges"): every bulk
 * entry -- emit_bulk() for C callers such as the Kafka worker, and
 * emit_items(..., raise = false) behind emit_batch, ingest_csv and
 * replay_dead_letters -- ends each input in exactly one of the event log
 * (with its entity and projection writes) or phoenix.dead_letters (reason,
 * SQLSTATE, source position, raw input), whatever the input holds.  What
 * can be checked before writing is (JSON, size, schema, time, key, id,
 * entity attribute conversions); the writes of a chunk then run in one
 * subtransaction, and only when that fails (an index row too large, a
 * value a projection's column cannot hold, a trigger's error, ...) is the
 * chunk retried in halves down to the single events that fail on their own
 * (emit.c: write_isolated).  Errors that are not an event's doing (cancel,
 * shutdown, out of memory or disk, deadlock, privileges) abort the call, and
 * with it the caller's transaction: nothing of the batch is applied.
 */
#ifndef PHOENIX_EMIT_H
#define PHOENIX_EMIT_H

#include "postgres.h"

#include "utils/jsonb.h"
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
	bool		rejected;		/* output: refused (dead-lettered) */
} EmitInput;

typedef struct EmitCounts
{
	int64		accepted;
	int64		rejected;
} EmitCounts;

/*
 * Apply a batch in the caller's transaction, with per-element isolation
 * (above).  A bad input never aborts the batch: it is written to
 * phoenix.dead_letters with the reason, its SQLSTATE and its source
 * position, and marked `rejected`.  Must be called inside
 * SPI_connect/SPI_finish.  An ERROR from here is never an input's: the
 * caller (e.g. the Kafka worker) should retry the batch, not skip it.
 */
extern EmitCounts emit_bulk(EmitInput *inputs, int ninputs);

/*
 * Phoenix-internal: one event on its way through emit_items(), the engine
 * behind emit_bulk(), phoenix.emit/emit_batch/ingest_csv and
 * replay_dead_letters.  Callers fill the input part (zero the rest) and may
 * pre-reject an item (status EMIT_REJECTED, reason, sqlerrcode, raw) when
 * they could not even build it.
 */
typedef enum EmitStatus
{
	EMIT_PENDING = 0,
	EMIT_ACCEPTED,				/* logged at `position` */
	EMIT_DUPLICATE,				/* idempotent repeat of the event at `position` */
	EMIT_REJECTED				/* dead-lettered (or raised) with `reason` */
} EmitStatus;

struct PhxEventType;
struct TimelineAssertion;

typedef struct EmitItem
{
	/* input */
	const char *event_type;
	Jsonb	   *payload;		/* parsed payload, or NULL: parse raw */
	const char *raw;			/* JSON text (or the refused input) */
	int			raw_len;
	const char *event_id;		/* caller's idempotency key, or NULL */
	const char *source;
	const char *source_position;
	bool		has_effective_at;
	TimestampTz effective_at;
	int64		dead_letter_id; /* replay: the dead letter this item re-emits */
	bool		raw_not_payload;	/* raw is a CSV line / batch element: not replayable */
	/* result */
	EmitStatus	status;
	int64		position;
	int			sqlerrcode;
	char	   *reason;
	char	   *hint;
	/* working state */
	struct PhxEventType *type;
	bool		id_given;
	bool		id_generated;
	bool		id_in_log;		/* generated, naming its position: not claimed (eventid.h) */
	int64		payload_hash;
	char	   *key;			/* entity key, for entity event types */
	struct TimelineAssertion *assertion;
	uint64		type_seed;		/* hash of the type name: the payload hash's seed */
} EmitItem;

/*
 * Validate, log and apply `items` in the caller's transaction (inside SPI).
 * With `raise`, the first refusal is an ERROR (phoenix.emit); otherwise
 * refused items go to phoenix.dead_letters (or, for replayed items, update
 * their dead letter).  Duplicates count as accepted.
 */
extern EmitCounts emit_items(EmitItem *items, int nitems, bool raise);

/*
 * The idempotency hash of a payload (phoenix.event_ids.payload_hash): a
 * repeat of an event id is the same event when type and payload hash agree
 * (or, when the hashes differ, the payloads are equal jsonb: eventlog.c).
 * forget recomputes it for the payloads it scrubs.
 */
extern int64 emit_payload_hash(const char *event_type, Jsonb *payload);

/*
 * Events handled per set-based round trip: bulk callers hand emit_items()
 * at most this many at a time (it splits longer arrays itself).
 */
#define EMIT_CHUNK			1024

/*
 * The memory context for one chunk of a bulk call, a child of `parent`,
 * and its return when the call is done (emit.c explains why it is kept).
 * Reset it between chunks.
 */
extern MemoryContext emit_chunk_context(MemoryContext parent);
extern void emit_chunk_context_done(MemoryContext cxt);

/*
 * "<what> <n>" (e.g. "line 12"), palloc'd: the source position of a bulk
 * input, made for every event, so without the cost of a printf.
 */
extern char *emit_source_position(const char *what, uint64 n);

extern void EmitInit(void);

#endif							/* PHOENIX_EMIT_H */
