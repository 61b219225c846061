/*
 * softparse.h — parsing untrusted input (JSON text, timestamps, numbers,
 * arbitrary bytes) without ERROR, so that bulk paths can dead-letter a bad
 * event instead of aborting the batch.  PostgreSQL 15 has no soft-error input
 * functions, so the shape is checked first and the server's own parser is
 * called only on input it will accept.
 */
#ifndef PHOENIX_SOFTPARSE_H
#define PHOENIX_SOFTPARSE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* Deepest JSON nesting accepted (deeper input is refused before parsing). */
#define SOFTPARSE_MAX_JSON_DEPTH	512

/*
 * JSON text → jsonb.  On bad input returns NULL and sets *reason and
 * *sqlerrcode (invalid UTF-8, NUL, nesting too deep, syntax, numbers out of
 * range).
 */
extern Jsonb *softparse_json(const char *text, int len, char **reason, int *sqlerrcode);

/*
 * Could the server's JSON parser take this text without ERROR?  Checks the
 * nesting depth and the range of number literals (not the syntax); false
 * with *reason and *sqlerrcode otherwise.
 */
extern bool softparse_json_shape(const char *text, int len, char **reason, int *sqlerrcode);

/*
 * An ISO 8601 / RFC 3339 date or date-time string → timestamptz (local time
 * zone when none is given).  Returns false with *reason and *sqlerrcode on
 * unparsable, out-of-range or non-finite input.
 */
extern bool softparse_timestamptz(const char *text, int len, TimestampTz *result,
								  char **reason, int *sqlerrcode);

/* A JSON number literal within numeric's range → numeric Datum; false otherwise. */
extern bool softparse_numeric(const char *text, int len, Datum *result);

/*
 * Text safe to store: valid in the database encoding, no NUL.  Offending
 * bytes become \xNN.  *changed tells whether any byte was replaced.
 */
extern char *softparse_sanitize(const char *bytes, int len, bool *changed);

#endif							/* PHOENIX_SOFTPARSE_H */
