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
 * once, not per item).
 */
extern void eventlog_number_items(EmitItem *items, int nitems);

/*
 * Claim the event ids of the pending items (generated ones too: event_id is
 * unique across the log, and projections key on it).  An id claimed by a
 * concurrent transaction is waited for, then judged like any repeat.  An id seen
 * before with the same type and payload turns the item into EMIT_DUPLICATE
 * (position of the original); with another payload the item is refused via
 * `refuse` (idempotency conflict).
 */
extern void eventlog_claim_ids(EmitItem *items, int nitems,
							   void (*refuse) (EmitItem *item, int64 existing_position));

/* Append the pending items to the log (they become EMIT_ACCEPTED). */
extern void eventlog_append(EmitItem *items, int nitems, TimestampTz received_at);

/*
 * Record refused items: new dead letters, or for replayed items an update of
 * their dead letter; replayed items that were accepted are marked replayed.
 */
extern void eventlog_record_outcomes(EmitItem *items, int nitems);

extern void EventlogInit(void);

#endif							/* PHOENIX_EVENTLOG_H */
