/*
 * recurrence.c — booking series: a recurrence rule (RFC 5545 RRULE) read and
 * iterated by libical, each occurrence made an instant by PostgreSQL.
 *
 * A series repeats in local wall time: "daily at 09:00 in New York" is 09:00
 * on both sides of a daylight-saving change, so 14:00Z before it and 13:00Z
 * after.  libical iterates the rule over floating (zone-less) times starting
 * at the event's first occurrence read in its zone; each local time it gives
 * becomes an instant the way `local AT TIME ZONE zone` does (the zone's
 * offset in force at that wall time, DetermineTimeZoneOffset; a wall time
 * skipped by a spring-forward gap takes the offset before the gap, as RFC
 * 5545 says).  So PostgreSQL's tz database is Phoenix's one source of time
 * zone truth; libical's own zone data is never used.
 *
 * An UNTIL in UTC ("...Z", what RFC 5545 asks for when DTSTART has a zone)
 * bounds instants: it is taken out of the rule handed to libical (which would
 * compare it with floating times as if they were UTC) and applied here.  A
 * floating or date UNTIL is compared in wall time, by libical.
 *
 * Size: a series is never expanded past an end instant (a projection's
 * horizon) and never past recurrence_max_occurrences, beyond which the
 * expansion ERRORs; emit refuses the rules that could get there (an absurd
 * COUNT, a sub-daily rule too dense for the horizon), so that projections
 * never meet them.  Each libical step is checked for interrupts; libical
 * allocates with malloc, so the iterator is freed on every exit, errors
 * included (PG_FINALLY).
 */
#include "postgres.h"

#include <libical/ical.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "common/guc.h"
#include "common/phoenix.h"
#include "ingest/recurrence.h"
#include "json/jsonfast.h"

/* The earliest and latest local years a series may start in (libical's range, with room). */
#define RECURRENCE_YEAR_MIN	1900
#define RECURRENCE_YEAR_MAX	2500

/* A rule as handed to libical, and the bounds Phoenix applies itself. */
typedef struct ParsedRule
{
	struct icalrecurrencetype ical;
	bool		has_until_utc;
	TimestampTz until_utc;		/* last instant allowed (inclusive) */
} ParsedRule;

/* What one walk over the occurrences does with them. */
typedef struct Walk
{
	const Recurrence *r;
	TimestampTz end;			/* instants before it */
	int			max;			/* more than max: stop */
	bool		collect;
	Occurrence *occ;			/* collect: the occurrences */
	int			n;
	int			cap;
	bool		truncated;		/* stopped at `end`, before the rule's own end */
} Walk;

PG_FUNCTION_INFO_V1(phoenix_recurrence_occurrences);

static bool parse_rule(const char *rule, ParsedRule *pr, char **why);
static bool local_start(const Recurrence *r, struct pg_tm *tm, fsec_t *fsec, char **why);
static int	walk(Walk *w, const ParsedRule *pr, char **why);
static int	walk_loop(Walk *w, const ParsedRule *pr, icalrecur_iterator *it, fsec_t fsec);
static bool skipped(const Recurrence *r, DateADT d);
static bool too_dense(const Recurrence *r, const ParsedRule *pr, TimestampTz now, char **why);
static bool read_except(JsonbValue *v, const char *field, Recurrence *r, char **why);
static bool parse_date(const char *s, int len, DateADT *d);
static int	dateadt_cmp(const void *a, const void *b);
static char *libical_reason(void);
static void ical_to_tm(struct icaltimetype t, struct pg_tm *tm);

void
RecurrenceInit(void)
{
	/* libical's default is to abort() on a malformed rule */
	icalerror_set_errors_are_fatal(0);
}

/* ---------------------------------------------------------------------- */
/* Reading a payload                                                      */
/* ---------------------------------------------------------------------- */

bool
recurrence_read(const RecurrenceFields *fields, Jsonb *payload, TimestampTz dtstart,
				const char *event_id, TimestampTz now, Recurrence *r,
				char **why, int *code, const char **hint)
{
	JsonbValue *v;
	ParsedRule	pr;
	struct pg_tm tm;
	fsec_t		fsec;

	memset(r, 0, sizeof(Recurrence));
	r->dtstart = dtstart;
	*code = ERRCODE_PHOENIX_RECURRENCE;
	*hint = NULL;

	v = jsonfast_member(payload, fields->rule);
	if (v != NULL && v->type != jbvNull)
	{
		if (v->type != jbvString)
		{
			*why = psprintf("recurrence rule field \"%s\" must be a string", fields->rule);
			return false;
		}
		r->rule = pnstrdup(v->val.string.val, v->val.string.len);
	}

	v = jsonfast_member(payload, fields->timezone);
	if (v != NULL && v->type == jbvString)
		r->tzname = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v != NULL && v->type != jbvNull)
	{
		*why = psprintf("time zone field \"%s\" must be a string", fields->timezone);
		return false;
	}
	else if (r->rule != NULL)
	{
		*why = psprintf("a recurring event needs its time zone in field \"%s\"", fields->timezone);
		*hint = "Send the IANA zone the rule repeats in, e.g. \"America/New_York\".";
		return false;
	}
	else
		r->tzname = "UTC";
	r->tz = pg_tzset(r->tzname);
	if (r->tz == NULL)
	{
		*why = psprintf("time zone \"%s\" (field \"%s\") is not known", r->tzname, fields->timezone);
		*code = ERRCODE_INVALID_PARAMETER_VALUE;
		*hint = "Use an IANA zone name, e.g. \"America/New_York\" (see pg_timezone_names).";
		return false;
	}

	if (fields->except && (v = jsonfast_member(payload, fields->except)) != NULL &&
		!read_except(v, fields->except, r, why))
	{
		*hint = "Send the dates to skip as an array of local dates, e.g. [\"2026-03-13\"].";
		return false;
	}

	if (fields->series && (v = jsonfast_member(payload, fields->series)) != NULL && v->type != jbvNull)
	{
		if (v->type != jbvString && v->type != jbvNumeric)
		{
			*why = psprintf("series field \"%s\" must be a string or a number", fields->series);
			return false;
		}
		r->series = jsonfast_scalar_text(v);
		if (strlen(r->series) == 0)
		{
			*why = psprintf("series field \"%s\" must not be empty", fields->series);
			return false;
		}
	}
	else
		r->series = event_id ? pstrdup(event_id) : NULL;

	if (!local_start(r, &tm, &fsec, why))
		return false;
	if (r->rule == NULL)
		return true;
	if (!parse_rule(r->rule, &pr, why))
	{
		*hint = "Send an RFC 5545 RRULE value without the \"RRULE:\" prefix, e.g. \"FREQ=DAILY;COUNT=5\".";
		return false;
	}
	if (too_dense(r, &pr, now, why))
	{
		*code = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		*hint = "Bound the rule with a smaller COUNT or an UNTIL, or raise phoenix.series_max_occurrences.";
		return false;
	}
	return true;
}

/* The skipped dates: an array of "YYYY-MM-DD" strings (or null). */
static bool
read_except(JsonbValue *v, const char *field, Recurrence *r, char **why)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			cap = 8;

	if (v->type == jbvNull)
		return true;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
	{
		*why = psprintf("skipped dates field \"%s\" must be an array of dates", field);
		return false;
	}
	r->except = palloc(sizeof(DateADT) * cap);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString ||
			!parse_date(elem.val.string.val, elem.val.string.len, &r->except[r->nexcept]))
		{
			*why = psprintf("skipped dates field \"%s\" holds something that is not a date (YYYY-MM-DD)", field);
			return false;
		}
		if (++r->nexcept == cap)
		{
			cap *= 2;
			r->except = repalloc(r->except, sizeof(DateADT) * cap);
		}
	}
	if (r->nexcept > 1)
		qsort(r->except, r->nexcept, sizeof(DateADT), dateadt_cmp);
	return true;
}

/* A strict "YYYY-MM-DD" (a real calendar date); no ERROR. */
static bool
parse_date(const char *s, int len, DateADT *d)
{
	int			y,
				m,
				day;
	int			j;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	day = (s[8] - '0') * 10 + (s[9] - '0');
	if (m < 1 || m > 12 || day < 1 || day > day_tab[isleap(y)][m - 1])
		return false;
	j = date2j(y, m, day);
	*d = j - POSTGRES_EPOCH_JDATE;
	return true;
}

static int
dateadt_cmp(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return x < y ? -1 : x > y;
}

static bool
skipped(const Recurrence *r, DateADT d)
{
	return r->nexcept > 0 && bsearch(&d, r->except, r->nexcept, sizeof(DateADT), dateadt_cmp) != NULL;
}

/* ---------------------------------------------------------------------- */
/* Rules                                                                  */
/* ---------------------------------------------------------------------- */

/* libical's reading of `rule`; false with *why (libical's reason). */
static bool
parse_rule(const char *rule, ParsedRule *pr, char **why)
{
	memset(pr, 0, sizeof(ParsedRule));
	if (*rule == '\0')
	{
		*why = pstrdup("recurrence rule is empty");
		return false;
	}
	icalerror_clear_errno();
	pr->ical = icalrecurrencetype_from_string(rule);
	if (pr->ical.rscale)
	{
		free(pr->ical.rscale);
		pr->ical.rscale = NULL;
		*why = psprintf("recurrence rule \"%s\": RSCALE (non-Gregorian calendars) is not supported", rule);
		return false;
	}
	if (pr->ical.freq == ICAL_NO_RECURRENCE)
	{
		*why = psprintf("recurrence rule \"%s\" is not valid: %s", rule, libical_reason());
		return false;
	}
	if (!icaltime_is_null_time(pr->ical.until) && icaltime_is_utc(pr->ical.until))
	{
		struct pg_tm tm;
		int			tz = 0;
		Timestamp	t;

		ical_to_tm(pr->ical.until, &tm);
		if (tm2timestamp(&tm, 0, &tz, &t) != 0)
		{
			*why = psprintf("recurrence rule \"%s\": UNTIL is out of range", rule);
			return false;
		}
		pr->has_until_utc = true;
		pr->until_utc = t;
		pr->ical.until = icaltime_null_time();
	}
	return true;
}

/* A libical time's fields as PostgreSQL's broken-down time (no zone). */
static void
ical_to_tm(struct icaltimetype t, struct pg_tm *tm)
{
	memset(tm, 0, sizeof(struct pg_tm));
	tm->tm_year = t.year;
	tm->tm_mon = t.month;
	tm->tm_mday = t.day;
	tm->tm_hour = t.hour;
	tm->tm_min = t.minute;
	tm->tm_sec = t.second;
}

static char *
libical_reason(void)
{
	return psprintf("libical: %s", icalerror_strerror(icalerrno));
}

/* The first occurrence's local wall time (dtstart read in the zone). */
static bool
local_start(const Recurrence *r, struct pg_tm *tm, fsec_t *fsec, char **why)
{
	int			tzoff;

	if (TIMESTAMP_NOT_FINITE(r->dtstart) ||
		timestamp2tm(r->dtstart, &tzoff, tm, fsec, NULL, r->tz) != 0 ||
		tm->tm_year < RECURRENCE_YEAR_MIN || tm->tm_year > RECURRENCE_YEAR_MAX)
	{
		*why = psprintf("the first occurrence of a series must lie between the years %d and %d",
						RECURRENCE_YEAR_MIN, RECURRENCE_YEAR_MAX);
		return false;
	}
	return true;
}

/*
 * Could the rule give more than recurrence_max_occurrences occurrences
 * before RECURRENCE_HORIZON_MAX_DAYS after max(dtstart, now), the most any
 * projection asks for?  A COUNT within the limit cannot; a rule repeating at
 * most daily (no sub-daily frequency, at most one BYHOUR, BYMINUTE and
 * BYSECOND) has at most one occurrence a day, so a window of fewer days
 * cannot either; anything else is walked, counting, until it ends, leaves
 * the window or passes the limit.
 */
static bool
too_dense(const Recurrence *r, const ParsedRule *pr, TimestampTz now, char **why)
{
	const struct icalrecurrencetype *ic = &pr->ical;
	TimestampTz end = Max(r->dtstart, now) + (TimestampTz) RECURRENCE_HORIZON_MAX_DAYS * USECS_PER_DAY;
	bool		daily = ic->freq >= ICAL_DAILY_RECURRENCE &&
		ic->by_hour[1] == ICAL_RECURRENCE_ARRAY_MAX &&
		ic->by_minute[1] == ICAL_RECURRENCE_ARRAY_MAX &&
		ic->by_second[1] == ICAL_RECURRENCE_ARRAY_MAX;
	Walk		w = {0};
	int			n;

	if (ic->count > recurrence_max_occurrences)
	{
		*why = psprintf("recurrence rule \"%s\" has COUNT=%d, more than phoenix.series_max_occurrences (%d)",
						r->rule, ic->count, recurrence_max_occurrences);
		return true;
	}
	if (ic->count > 0 || (daily && (end - r->dtstart) / USECS_PER_DAY + 1 <= recurrence_max_occurrences))
		return false;
	w.r = r;
	w.end = end;
	w.max = recurrence_max_occurrences;
	n = walk(&w, pr, why);
	if (n < 0)
		return true;			/* *why says what libical refused */
	if (n > recurrence_max_occurrences)
	{
		*why = psprintf("recurrence rule \"%s\" gives more than phoenix.series_max_occurrences (%d) occurrences within %d days",
						r->rule, recurrence_max_occurrences, RECURRENCE_HORIZON_MAX_DAYS);
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* Expansion                                                              */
/* ---------------------------------------------------------------------- */

int
recurrence_expand(const Recurrence *r, TimestampTz end, Occurrence **out, bool *truncated)
{
	ParsedRule	pr;
	Walk		w = {0};
	char	   *why = NULL;
	int			n;

	w.r = r;
	w.end = end;
	w.max = recurrence_max_occurrences;
	w.collect = true;
	if (r->rule == NULL)
	{
		/* a single occurrence: the event itself */
		memset(&pr, 0, sizeof(pr));
		pr.ical = icalrecurrencetype_from_string("FREQ=DAILY;COUNT=1");
	}
	else if (!parse_rule(r->rule, &pr, &why))
		ereport(ERROR,
				(errcode(ERRCODE_PHOENIX_RECURRENCE),
				 errmsg_internal("%s", why)));
	n = walk(&w, &pr, &why);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_PHOENIX_RECURRENCE),
				 errmsg_internal("%s", why)));
	if (n > w.max)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("series \"%s\" has more than phoenix.series_max_occurrences (%d) occurrences before %s",
						r->series, w.max, timestamptz_to_str(end)),
				 errhint("Bound the rule with a COUNT or an UNTIL, shorten the projection's horizon, or raise phoenix.series_max_occurrences.")));
	*out = w.occ;
	if (truncated)
		*truncated = w.truncated;
	return n;
}

/*
 * Walk the occurrences of `pr` from r->dtstart's local wall time: counts
 * them (stopping after w->max + 1) and, with w->collect, keeps them.
 * Returns the count, or -1 with *why when libical cannot iterate the rule.
 */
static int
walk(Walk *w, const ParsedRule *pr, char **why)
{
	struct pg_tm tm;
	fsec_t		fsec;
	struct icaltimetype start = icaltime_null_time();
	icalrecur_iterator *volatile it;
	int			n = 0;

	if (!local_start(w->r, &tm, &fsec, why))
		return -1;
	start.year = tm.tm_year;
	start.month = tm.tm_mon;
	start.day = tm.tm_mday;
	start.hour = tm.tm_hour;
	start.minute = tm.tm_min;
	start.second = tm.tm_sec;		/* floating: no zone, wall time */
	icalerror_clear_errno();
	it = icalrecur_iterator_new(pr->ical, start);
	if (it == NULL)
	{
		*why = psprintf("recurrence rule \"%s\" cannot be iterated: %s", w->r->rule ? w->r->rule : "",
						libical_reason());
		return -1;
	}
	PG_TRY();
	{
		n = walk_loop(w, pr, it, fsec);
	}
	PG_FINALLY();
	{
		icalrecur_iterator_free(it);
	}
	PG_END_TRY();
	return n;
}

/* The loop of walk(): libical's local times made instants, filtered. */
static int
walk_loop(Walk *w, const ParsedRule *pr, icalrecur_iterator *it, fsec_t fsec)
{
	int			n = 0;

	for (;;)
	{
		struct icaltimetype t;
		struct pg_tm tm = {0};
		Timestamp	local;
		TimestampTz at;
		int			tzoff;
		DateADT		date;

		CHECK_FOR_INTERRUPTS();
		t = icalrecur_iterator_next(it);
		if (icaltime_is_null_time(t))
			break;
		ical_to_tm(t, &tm);
		if (tm2timestamp(&tm, fsec, NULL, &local) != 0)
			break;				/* past PostgreSQL's range: the series ends */
		/* as timestamp_zone (AT TIME ZONE) does */
		tzoff = DetermineTimeZoneOffset(&tm, w->r->tz);
		if (tm2timestamp(&tm, fsec, &tzoff, &at) != 0)
			break;
		if (pr->has_until_utc && at > pr->until_utc)
			break;
		if (at >= w->end)
		{
			w->truncated = true;
			break;
		}
		date = date2j(t.year, t.month, t.day) - POSTGRES_EPOCH_JDATE;
		if (skipped(w->r, date))
			continue;
		if (++n > w->max)
			break;
		if (!w->collect)
			continue;
		if (n > w->cap)
		{
			w->cap = w->cap ? w->cap * 2 : 8;
			w->occ = w->occ ? repalloc(w->occ, sizeof(Occurrence) * w->cap)
				: palloc(sizeof(Occurrence) * w->cap);
		}
		w->occ[n - 1].at = at;
		w->occ[n - 1].local = local;
		w->occ[n - 1].date = date;
	}
	return n;
}

char *
recurrence_occurrence_id(const char *series, Timestamp local)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(local, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "occurrence time out of range");
	if (fsec != 0)
		return psprintf("%s@%04d-%02d-%02dT%02d:%02d:%02d.%06d", series, tm.tm_year, tm.tm_mon,
						tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	return psprintf("%s@%04d-%02d-%02dT%02d:%02d:%02d", series, tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---------------------------------------------------------------------- */
/* SQL: trying a rule                                                     */
/* ---------------------------------------------------------------------- */

/*
 * recurrence_occurrences(rule, first_at, timezone, skip date[], until
 * timestamptz) → TABLE(occurrence_at, occurrence_local, occurrence_date):
 * what a series event with these values expands to, for trying rules and
 * for recomputing projections in SQL.  Errors as emit refuses the event.
 */
Datum
phoenix_recurrence_occurrences(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Recurrence	r = {0};
	ParsedRule	pr;
	TimestampTz end;
	Occurrence *occ = NULL;
	char	   *why;
	int			n;
	struct pg_tm tm;
	fsec_t		fsec;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("first_at and timezone of recurrence_occurrences must not be null")));
	r.rule = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	r.dtstart = PG_GETARG_TIMESTAMPTZ(1);
	r.tzname = text_to_cstring(PG_GETARG_TEXT_PP(2));
	r.series = r.rule ? r.rule : "(single)";
	r.tz = pg_tzset(r.tzname);
	if (r.tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not known", r.tzname),
				 errhint("Use an IANA zone name, e.g. \"America/New_York\" (see pg_timezone_names).")));
	if (!PG_ARGISNULL(3))
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), DATEOID, sizeof(DateADT), true, TYPALIGN_INT,
						  &elems, &nulls, &r.nexcept);
		r.except = palloc(sizeof(DateADT) * Max(r.nexcept, 1));
		for (int i = 0; i < r.nexcept; i++)
			r.except[i] = nulls[i] ? DATEVAL_NOBEGIN : DatumGetDateADT(elems[i]);
		qsort(r.except, r.nexcept, sizeof(DateADT), dateadt_cmp);
	}
	end = PG_ARGISNULL(4)
		? Max(r.dtstart, GetCurrentTransactionStartTimestamp()) + (TimestampTz) RECURRENCE_HORIZON_MAX_DAYS * USECS_PER_DAY
		: PG_GETARG_TIMESTAMPTZ(4);
	if (!local_start(&r, &tm, &fsec, &why))
		ereport(ERROR, (errcode(ERRCODE_PHOENIX_RECURRENCE), errmsg_internal("%s", why)));
	if (r.rule && !parse_rule(r.rule, &pr, &why))
		ereport(ERROR,
				(errcode(ERRCODE_PHOENIX_RECURRENCE),
				 errmsg_internal("%s", why),
				 errhint("Give an RFC 5545 RRULE value without the \"RRULE:\" prefix, e.g. \"FREQ=DAILY;COUNT=5\".")));
	n = recurrence_expand(&r, end, &occ, NULL);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = TimestampTzGetDatum(occ[i].at);
		values[1] = TimestampGetDatum(occ[i].local);
		values[2] = DateADTGetDatum(occ[i].date);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
