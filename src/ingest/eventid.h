/*
 * eventid.h — the ids Phoenix makes for events that bring none.
 *
 * A generated id says where its event is: a version 8 UUID (RFC 9562) made
 * of the millisecond the event was received (first, so that ids ascend as
 * version 7 UUIDs do), its log position, and a node of this database (a row
 * of phoenix.generated_id_nodes, drawn at install and kept by dumps).
 * Positions are unique, so such an id is unique by construction and is not
 * claimed in phoenix.event_ids: a repeat of it is found in the log, by its
 * position, in its month's partition.  An id of that form naming one of
 * this database's nodes is accepted from a producer only as a repeat of the
 * logged event it names; anything else could equal an id made later.
 *
 * Where no id of that form can be made (the position is past 2^48, or the
 * node table is empty or missing, as before an upgrade), the id is a
 * version 7 UUID instead, and claimed like a producer's.
 */
#ifndef PHOENIX_EVENTID_H
#define PHOENIX_EVENTID_H

#include "postgres.h"

#include "utils/timestamp.h"

/*
 * The id of the event logged at `position`, received at `received_at`, in
 * this database's form; NULL when none can be made (see above).  Inside SPI.
 */
extern char *eventid_generated(int64 position, TimestampTz received_at);

/* A time-ordered version 7 UUID, claimed in phoenix.event_ids like any id. */
extern char *eventid_claimed(void);

/*
 * Is `id` of this database's generated form?  Then *position is the log
 * position it names and [*received_from, *received_from + 1 ms) the time it
 * was received in.  Inside SPI.
 */
extern bool eventid_is_generated_here(const char *id, int64 *position, TimestampTz *received_from);

/* Registers the invalidation of the cached nodes (from EventlogInit). */
extern void eventid_init(void);

#endif
