/*
 * schemacompat.h — can a new version of an event type's JSON Schema replace
 * the old one?  Confluent Schema Registry's JSON Schema rules (open, closed
 * and partially open content models), in C, on compiled schemas.
 */
#ifndef PHOENIX_SCHEMACOMPAT_H
#define PHOENIX_SCHEMACOMPAT_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum SchemaCompatDirection
{
	SCHEMA_COMPAT_BACKWARD,		/* the new schema reads data written with the old */
	SCHEMA_COMPAT_FORWARD,		/* the old schema reads data written with the new */
	SCHEMA_COMPAT_FULL			/* both */
} SchemaCompatDirection;

/*
 * NULL when `new_schema` is compatible with `old_schema` in `direction`,
 * else a palloc'd message naming the field (as a JSON path, "$.a.b") and the
 * rule that breaks, e.g. "$.department: ... (REQUIRED_PROPERTY_ADDED_...)".
 * ERRORs only when a schema is malformed (as jsonschema_compile does).
 */
extern char *schemacompat_check(Jsonb *old_schema, Jsonb *new_schema,
								SchemaCompatDirection direction);

/*
 * Check a new schema against the registered ones (List of Jsonb *, newest
 * first) under a compatibility mode: "backward" (default), "forward",
 * "full", "none", or "backward_transitive", "forward_transitive",
 * "full_transitive" (against every older version, not only the newest).
 * Mode names are case-insensitive.  NULL when compatible, else a message
 * that also says which older version (counting back from the newest) breaks.
 * ERRORs with ERRCODE_INVALID_PARAMETER_VALUE for an unknown mode.
 */
extern char *schemacompat_check_mode(List *older_schemas_newest_first,
									 Jsonb *new_schema, const char *mode);

/* True when `mode` names a compatibility mode (for validating arguments). */
extern bool schemacompat_mode_valid(const char *mode);

#endif							/* PHOENIX_SCHEMACOMPAT_H */
