/*
 * eventlog.h — the tables behind emit: phoenix.event_log (partitioned by
 * received month, partitions made on demand), phoenix.event_ids (idempotency
 * keys) and phoenix.dead_letters.  Every write is one set-based statement
 * per batch, from plans prepared once per backend.
 */
#ifndef PHOENIX_EVENTLOG_H
#define PHOENIX_EVENTLOG_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "ingest/emit.h"

/* The log partition for received_at exists (cached check; creates it if not). */
extern void eventlog_ensure_partition(TimestampTz received_at);

/* Next log position (phoenix.event_log_position_seq). */
extern int64 eventlog_next_position(void);

/*
 * Number the pending items: their log positions, from
 * phoenix.event_log_position_seq (the caller's right to use it is checked
 * once, not per item), and the ids of those sent without one, which name
 * their position and received_at (eventid.h).
 */
extern void eventlog_number_items(EmitItem *items, int nitems, TimestampTz received_at);

/* Why an id was refused (eventlog_claim_ids). */
typedef enum IdRefusal
{
	ID_USED_FOR_ANOTHER_PAYLOAD,	/* existing_position: the first event's */
	ID_GENERATED_FORM_NOT_LOGGED	/* this database's generated form, naming
									 * no logged event with that id */
} IdRefusal;

typedef void (*IdRefuser) (EmitItem *item, IdRefusal why, int64 existing_position);

/*
 * Claim the event ids of the pending items: event_id is unique across the
 * log, and projections key on it.  Ids generated in this database's form
 * are unique by construction and not claimed (eventid.h); a producer's id of
 * that form is a repeat of the logged event it names, or refused.  Other ids
 * go into phoenix.event_ids.  An id claimed by a concurrent transaction is
 * waited for, then judged like any repeat.  An id seen before with the same
 * type and payload turns the item into EMIT_DUPLICATE (position of the
 * original); with another payload the item is refused via `refuse`
 * (idempotency conflict).
 */
extern void eventlog_claim_ids(EmitItem *items, int nitems, IdRefuser refuse);

/* Append the pending items to the log (they become EMIT_ACCEPTED). */
extern void eventlog_append(EmitItem *items, int nitems, TimestampTz received_at);

/*
 * Record refused items: new dead letters, or for replayed items an update of
 * their dead letter; replayed items that were accepted are marked replayed.
 */
extern void eventlog_record_outcomes(EmitItem *items, int nitems);

extern void EventlogInit(void);

#endif							/* PHOENIX_EVENTLOG_H */
