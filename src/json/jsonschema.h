/*
 * jsonschema.h — JSON Schema (draft 2020-12 subset) compiled once, validated
 * many times, in C.
 *
 * Supported keywords: type, properties, required, additionalProperties,
 * items, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * minLength, maxLength, pattern, format (date-time, date, email, uuid),
 * $defs and $ref (local, "#/$defs/..." and "#"), plus the annotation
 * "x-pii" (a boolean on a property schema) and "default".
 */
#ifndef PHOENIX_JSONSCHEMA_H
#define PHOENIX_JSONSCHEMA_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

typedef struct JsonSchema JsonSchema;	/* opaque, compiled form */

/* One validation failure: JSON path of the instance ("$.a.b[2]"), keyword, message. */
typedef struct JsonSchemaError
{
	char	   *path;
	char	   *keyword;
	char	   *message;
} JsonSchemaError;

/*
 * Compile a schema into `cxt` (which must outlive the result; compile into a
 * fresh child context, since an ERROR leaves a partial result there).  ERRORs
 * with ERRCODE_INVALID_PARAMETER_VALUE naming the offending schema location
 * when the schema itself is malformed, ERRCODE_INVALID_REGULAR_EXPRESSION for
 * a bad "pattern", and ERRCODE_FEATURE_NOT_SUPPORTED for a 2020-12 keyword
 * Phoenix does not implement (allOf, minItems, ...) or a non-local "$ref".
 */
extern JsonSchema *jsonschema_compile(Jsonb *schema, MemoryContext cxt);

/*
 * Validate an instance.  Returns true when valid.  When `errors` is not NULL,
 * appends up to `max_errors` JsonSchemaError * (palloc'd in the current
 * context).  Never ERRORs on bad instances; stack depth is checked.
 */
extern bool jsonschema_validate(JsonSchema *schema, Jsonb *instance,
								List **errors, int max_errors);

/* Top-level property names marked "x-pii": true (List of char *). */
extern List *jsonschema_pii_fields(JsonSchema *schema);

/*
 * The parsers behind format "date-time" and "date", for callers that need the
 * value too (an event type's time_field).  RFC 3339, strictly; every string
 * accepted also casts to timestamptz / date.  `result` may be NULL.  They
 * never ERROR: false means "not a valid date-time / date".
 */
extern bool jsonschema_parse_datetime(const char *s, int len, TimestampTz *result);
extern bool jsonschema_parse_date(const char *s, int len, DateADT *result);

#endif							/* PHOENIX_JSONSCHEMA_H */
