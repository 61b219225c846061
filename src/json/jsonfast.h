/*
 * jsonfast.h — a fast reader for the common shape of JSON text (events and
 * their envelopes): one pass straight into pushJsonbValue, strings without
 * escapes referenced in place, no per-character copying.  It handles a
 * strict subset of JSON and reports anything else as "not handled" (never
 * as an error): the caller then takes the server's own parser, which gives
 * the answer, or the error, that PostgreSQL would.
 */
#ifndef PHOENIX_JSONFAST_H
#define PHOENIX_JSONFAST_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

/*
 * Deepest nesting handled; deeper values are left to the server's parser
 * (which checks the stack).
 */
#define JSONFAST_MAX_DEPTH	64

/* A position in JSON text being read. */
typedef struct JsonFastCursor
{
	const char *p;				/* next byte */
	const char *end;			/* end of the text */
} JsonFastCursor;

/*
 * Read one value at the cursor (after optional whitespace).  With `build`,
 * returns it as pushJsonbValue's result (a container, or a scalar value in
 * palloc'd memory whose strings may point into the text); without, only
 * checks it and returns a non-NULL dummy.  NULL: the value is not in the
 * subset handled (the cursor is then undefined).  On success the cursor is
 * just after the value.  Strings with \u escapes, control characters,
 * numbers not followed by a delimiter or with exponents of more than 3
 * digits, and nesting deeper than JSONFAST_MAX_DEPTH are not handled.
 * Never raises (numbers it handles are ones numeric_in takes).
 */
extern JsonbValue *jsonfast_value(JsonFastCursor *c, bool build);

/*
 * Read a string at the cursor (after optional whitespace): its decoded
 * bytes (in place when it has no escapes, else palloc'd) and length.
 * false: not a string, or not handled.
 */
extern bool jsonfast_string(JsonFastCursor *c, const char **str, int *len);

/*
 * JSON text whose root is an object or array → jsonb (what jsonb_in would
 * make of it), or NULL when the text is not in the subset handled.  The text
 * must be valid in the database encoding (not checked here).
 */
extern Jsonb *jsonfast_jsonb(const char *text, int len);

/* Skip whitespace; the next byte, or '\0' at the end. */
extern char jsonfast_peek(JsonFastCursor *c);

/*
 * Where the JSON value starting at the cursor ends, by brackets and
 * strings alone (no validation: for finding the extent of a value the fast
 * reader did not handle).  NULL when the text ends first.
 */
extern const char *jsonfast_value_end(const char *p, const char *end);

/*
 * A number in JSON's grammar without an exponent, of at most 18 digits, as
 * numeric: the bytes numeric_in makes of it, built from an int64 instead of
 * parsed digit by digit.  NULL for any other number (numeric_in's to read).
 */
extern Numeric jsonfast_plain_decimal(const char *s, int len);

/* The member `field` of a jsonb object, or NULL when it has none. */
extern JsonbValue *jsonfast_member(Jsonb *object, const char *field);

/* A string or number JSON scalar as text; NULL for any other value. */
extern char *jsonfast_scalar_text(JsonbValue *v);

/*
 * Any value as ->> gives it: strings unquoted, numbers and booleans as
 * written, arrays and objects as JSON text; NULL for JSON null.
 */
extern char *jsonfast_value_text(JsonbValue *v);

#endif							/* PHOENIX_JSONFAST_H */
