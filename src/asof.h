/*
 * asof.h — compact in-memory as-of index of an entity's versions, for joining
 * many rows at once: key → one contiguous block holding the key and its
 * versions sorted by valid_from (a hash as-of join: one pass over the
 * versions, then one hash probe and one search within a block per row).
 */
#ifndef PHOENIX_ASOF_H
#define PHOENIX_ASOF_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "catalog.h"

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

#endif							/* PHOENIX_ASOF_H */
