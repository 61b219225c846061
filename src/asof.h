/*
 * asof.h — in-memory as-of index of an entity's versions: key → versions
 * sorted by valid_from, for joining many rows at once (a hash as-of join:
 * one pass over the versions, one hash probe and binary search per row).
 */
#ifndef PHOENIX_ASOF_H
#define PHOENIX_ASOF_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "catalog.h"

typedef struct AsofVersion
{
	TimestampTz valid_from;
	TimestampTz valid_to;
	Datum	   *values;			/* entity->natts entries */
	bool	   *isnull;
} AsofVersion;

typedef struct AsofIndex AsofIndex;

/*
 * Load every version of `entity` as known at known_at (NULL-able via
 * `current` = true: as known now) into memory allocated in `cxt`.
 * Must be called inside SPI.
 */
extern AsofIndex *asof_index_build(PhxEntity *entity, bool current, TimestampTz known_at,
								   MemoryContext cxt);

/* The version of `key` valid at `at`, or NULL. */
extern AsofVersion *asof_index_lookup(AsofIndex *index, const char *key, int keylen,
									  TimestampTz at);

#endif							/* PHOENIX_ASOF_H */
