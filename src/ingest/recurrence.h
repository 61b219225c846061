/*
 * recurrence.h — booking series: RFC 5545 recurrence rules read and iterated
 * by libical in local wall time, each occurrence turned into an instant by
 * PostgreSQL's own time zone machinery.
 */
#ifndef PHOENIX_RECURRENCE_H
#define PHOENIX_RECURRENCE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/date.h"
#include "utils/jsonb.h"

#include "registry/registry.h"

/*
 * The furthest a projection materialises a series ahead of now (its
 * `horizon`), and so the furthest ahead emit checks a rule's density.
 */
#define RECURRENCE_HORIZON_MAX_DAYS			3660

/* One occurrence: its instant, its local wall time and local date. */
typedef struct Occurrence
{
	TimestampTz at;
	Timestamp	local;
	DateADT		date;
} Occurrence;

/* One event's recurrence, read from its payload (see recurrence_read). */
typedef struct Recurrence
{
	char	   *rule;			/* NULL: a single occurrence at dtstart */
	char	   *tzname;
	pg_tz	   *tz;
	TimestampTz dtstart;
	int			nexcept;
	DateADT    *except;			/* sorted */
	char	   *series;			/* the series identity */
} Recurrence;

/*
 * Read an event's recurrence from its payload: the rule, zone and skipped
 * dates of `fields`, dtstart (the event's effective time) and its series
 * identity (the series field, else `event_id`, which may be NULL when the
 * caller does not know it yet).  Checks that libical reads
 * the rule, that PostgreSQL knows the zone, and that the rule cannot give
 * more than recurrence_max_occurrences occurrences within
 * RECURRENCE_HORIZON_MAX_DAYS of max(dtstart, now).  On failure returns
 * false with *why (palloc'd), *code and *hint; never ERRORs on bad input.
 */
extern bool recurrence_read(const RecurrenceFields *fields, Jsonb *payload, TimestampTz dtstart,
							const char *event_id, TimestampTz now, Recurrence *r,
							char **why, int *code, const char **hint);

/*
 * The occurrences of `r` whose instants lie before `end`, in order, skipped
 * dates left out (a skipped occurrence still counts for COUNT, as EXDATE
 * does).  ERROR (program_limit_exceeded) beyond recurrence_max_occurrences.
 * Returns how many; *out is palloc'd in the current context; *truncated
 * (unless NULL) tells whether the rule goes on at or after `end`.
 */
extern int	recurrence_expand(const Recurrence *r, TimestampTz end, Occurrence **out,
							  bool *truncated);

/* The row key of an occurrence: "<series>@<local wall time, ISO 8601>". */
extern char *recurrence_occurrence_id(const char *series, Timestamp local);

extern void RecurrenceInit(void);

#endif							/* PHOENIX_RECURRENCE_H */
