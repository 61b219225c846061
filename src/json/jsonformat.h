/*
 * jsonformat.h — the string formats JSON Schema's "format" asserts in
 * Phoenix: RFC 3339 date-time and full-date, RFC 5321 mailbox, RFC 4122
 * uuid.  Pure functions of their input (no palloc, no ereport, no catalog),
 * so that test/fuzz/ can run them under libFuzzer without a server.
 */
#ifndef PHOENIX_JSONFORMAT_H
#define PHOENIX_JSONFORMAT_H

#include "postgres.h"

/* The fields of a valid RFC 3339 date-time. */
typedef struct JsonFormatDateTime
{
	int			year,
				month,
				day,
				hour,
				minute,
				second;			/* 60 for a leap second */
	int			microsecond;	/* rounded; may be 1000000 after rounding */
	int			offset_seconds; /* east of UTC */
} JsonFormatDateTime;

/* "YYYY-MM-DD", a real calendar day, year 0001-9999.  Out-params may be NULL. */
extern bool jsonformat_date(const char *s, int len, int *year, int *month, int *day);

/*
 * RFC 3339 date-time, strictly: "T" (or "t") between date and time, "Z"
 * (or "z") or a "+hh:mm"/"-hh:mm" offset, a leap second only at 23:59:60 UTC.
 * Also within what timestamptz accepts: no year zero, offsets up to 15:59.
 * `out` may be NULL.
 */
extern bool jsonformat_datetime(const char *s, int len, JsonFormatDateTime *out);

/* RFC 5321 Mailbox: dot-string or quoted local part "@" host or address literal. */
extern bool jsonformat_email(const char *s, int len);

/* 8-4-4-4-12 hexadecimal digits, any case. */
extern bool jsonformat_uuid(const char *s, int len);

#endif							/* PHOENIX_JSONFORMAT_H */
