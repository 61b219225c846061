/*
 * asof.h — compact in-memory as-of index of an entity's versions, for joining
 * many rows at once: key → one contiguous block holding the key and its
 * versions sorted by valid_from (a hash as-of join: one pass over the
 * versions, then one hash probe and one search within a block per row).
 */
#ifndef PHOENIX_ASOF_H
#define PHOENIX_ASOF_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "utils/timestamp.h"

#include "timeline/catalog.h"

typedef struct AsofIndex AsofIndex;

/*
 * Load every version of `entity` as known at known_at (`current` = true: as
 * known now, known_at ignored) into memory allocated in `cxt`.
 * Must be called inside SPI.
 */
extern AsofIndex *asof_index_build(PhxEntity *entity, bool current, TimestampTz known_at,
								   MemoryContext cxt);

/*
 * The version of `key` valid at `at`: true, with *values and *isnull pointing
 * at its entity->natts attributes (owned by the index); false when the key
 * had no version then.
 */
extern bool asof_index_lookup(AsofIndex *index, const char *key, int keylen,
							  TimestampTz at, Datum **values, bool **isnull);

/*
 * A streaming as-of join: the rows of `query` (key text, time timestamptz,
 * ...) each followed by the entity's attributes as of its time, as known at
 * known_at (`current`: as known now), in the query's order.  outdesc is the
 * expected output row type (query columns, then the entity's attributes);
 * asof_join_begin ERRORs when the query or outdesc do not fit.  The join
 * lives in a child of `cxt` until asof_join_end; rows come from
 * asof_join_next, whose values and nulls stay valid until the next call.
 * Needs an active snapshot; not inside a caller's SPI connection.
 */
typedef struct AsofJoin AsofJoin;

extern AsofJoin *asof_join_begin(const char *entity, const char *query, bool current,
								 TimestampTz known_at, TupleDesc outdesc, MemoryContext cxt);
extern bool asof_join_next(AsofJoin *join, Datum **values, bool **nulls);
extern void asof_join_end(AsofJoin *join);

/* ERROR: entity or query is NULL. */
extern void asof_join_null_argument(void) pg_attribute_noreturn();

#endif							/* PHOENIX_ASOF_H */
