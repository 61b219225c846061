/*
 * forget.c — phoenix.forget: erase every PII value of an entity key
 * everywhere Phoenix stored it, keeping the aggregates; the audit of
 * erasures; the scrubbers of higher layers.
 *
 * What is PII (catalog-driven, so new event types and projections are
 * covered without code changes):
 *   - entity attributes listed in `pii` (phoenix.attributes.pii);
 *   - payload fields marked "x-pii": true in any version of an event type's
 *     schema, fields that an entity event type `sets` into a PII attribute,
 *     and fields that are by-attribute `refs` to a PII attribute (a visit's
 *     hostEmail holds an email).
 *
 * What is about the person (one rule, the one enrichment's "by" uses):
 *   - an event or dead letter whose `refs` field (or an entity event type's
 *     key field) holds the key;
 *   - one whose by-attribute `refs` field holds, exactly, a value the key
 *     held at the event's effective time — inside the valid periods of the
 *     key's versions with that value (current or superseded), less the
 *     periods in which another key's current version holds it.  Anyone who
 *     held the same value at another time keeps every row byte for byte.
 *   - free text of dead letters: the person's values in those periods, at
 *     the dead letter's time (its type's time field when readable, else the
 *     effective time given, else when it was received).
 *
 * forget(entity, key) then, in one transaction, as the extension owner:
 *   1. pseudonymises the key's PII values in every recorded version of its
 *      history table — the one sanctioned in-place rewrite of history — and
 *      in its assertions;
 *   2. scrubs the PII fields of every logged event about it;
 *   3. scrubs dead letters about it or holding its values in its periods;
 *   4. re-enriches the projection rows that depend on it through the cascade
 *      (as if its timeline had changed to the pseudonymised values), after
 *      recomputing the rows of its rewritten events;
 *   5. runs the scrubbers higher layers registered (the Kafka outbox);
 *   6. records a tombstone (keyed hashes of the key and of every value with
 *      its periods) and an audit row without PII;
 *   7. re-analyzes every table it rewrote, so that pg_stats (most common
 *      values, histogram bounds) no longer shows the values.  ANALYZE runs in
 *      the transaction and sees its rewrites: a rolled-back forget leaves the
 *      statistics as they were.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "projection/cascade.h"
#include "timeline/catalog.h"
#include "ingest/emit.h"
#include "forget/forget.h"
#include "forget/forget_int.h"
#include "json/jsonfast.h"
#include "common/phoenix.h"
#include "projection/projection.h"
#include "timeline/timeline.h"

/* A value the key had, of one attribute, and the periods it was theirs. */
typedef struct ForgetValue
{
	char	   *attribute;
	char	   *value;
	char	   *periods_text;	/* tstzmultirange literal */
	ForgetPeriods *periods;
} ForgetValue;

/* One table's count in forget's result. */
typedef struct ScrubCount
{
	char	   *relation;
	int64		rows;
} ScrubCount;

/* A higher layer's scrubber (forget_register_scrubber). */
typedef struct ScrubberEntry
{
	const char *relation;
	ForgetScrubber fn;
} ScrubberEntry;

#define MAX_SCRUBBERS 8

PG_FUNCTION_INFO_V1(phoenix_forget);

static ScrubberEntry scrubbers[MAX_SCRUBBERS];
static int	nscrubbers = 0;

static void check_caller(const char *entity, const char *key);
static bool key_known(PhxEntity *entity, const char *key);
static List *match_attributes(PhxEntity *entity);
static List *collect_values(PhxEntity *entity, const char *key, List *match_atts);
static List *values_of(List *values, const char *attribute);
static List *current_changes(PhxEntity *entity, const ForgetPerson *who, const char *key);
static int64 scrub_history(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values);
static int64 scrub_assertions(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values);
static int64 scrub_event_log(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values);
static int64 scrub_type_events(ForgetType *type, PhxEntity *entity, const ForgetPerson *who,
							   const char *key, List *values);
static void rekey_and_reproject(const char *event_type, EmittedEvent *events, int n);
static int64 scrub_dead_letters(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values);
static bool dead_letter_scrub(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values,
							  HeapTuple tup, TupleDesc desc, char **raw, char **reason);
static List *count_projection_rows(List *counts);
static List *run_scrubbers(List *counts);
static void record_tombstone(PhxEntity *entity, const ForgetPerson *who, List *values);
static void record_audit(PhxEntity *entity, const ForgetPerson *who, const char *reason,
						 const char *caller, Jsonb *counts);
static void analyze_rewritten(List *counts);
static Jsonb *counts_jsonb(List *counts);
static List *add_count(List *counts, const char *relation, int64 rows);
static ArrayType *text_array(List *strings);

/* ====================================================================
 * SQL function
 * ==================================================================== */

/*
 * forget(entity, key, reason) → jsonb {"table": rows scrubbed, ...}.
 * The caller must be superuser, the extension owner, or a member of
 * phoenix_admin; the work runs as the extension owner with a pinned
 * search_path (like a SECURITY DEFINER function).
 */
Datum
phoenix_forget(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *key;
	char	   *reason = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *caller;
	PhxEntity  *entity;
	OwnerContext oc;
	ForgetPerson who;
	List	   *values;
	List	   *changes;
	List	   *counts = NIL;
	Jsonb	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("entity and key of phoenix.forget must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_caller(name, key);
	caller = GetUserNameFromId(GetUserId(), false);

	SPI_connect();
	forget_as_owner_begin(&oc, true);
	entity = catalog_entity(name, false);

	/*
	 * Serialize with emitters: SHARE on the event log waits for every emit
	 * in flight (they hold ROW EXCLUSIVE from their first tombstone check)
	 * and holds new ones until we commit, when they see the tombstone.
	 * Taken before the key's timeline lock, in the order emitters take them,
	 * so the two never deadlock.
	 */
	if (OidIsValid(forget_phoenix_relid("event_log")))
		LockRelationOid(forget_phoenix_relid("event_log"), ShareLock);
	timeline_lock_key(entity, key);

	if (!key_known(entity, key))
	{
		forget_as_owner_end(&oc);
		SPI_finish();
		ereport(NOTICE,
				(errmsg("entity \"%s\" has no key \"%s\": nothing to forget", name, key),
				 errdetail("No version or assertion of that key was ever recorded; nothing was changed and no tombstone was left.")));
		PG_RETURN_JSONB_P(counts_jsonb(NIL));
	}

	forget_secret_create();
	forget_person_init(&who, entity->name, key);
	values = collect_values(entity, key, match_attributes(entity));

	/* 1. history (every recorded version) and assertions */
	changes = current_changes(entity, &who, key);
	counts = add_count(counts, entity->history_table, scrub_history(entity, &who, key, values));
	/*
	 * every backend drops what it remembers of this history (arrival memos);
	 * the ANALYZE that renews its statistics below does so too, this says it
	 */
	CacheInvalidateRelcacheByRelid(entity->history_relid);
	counts = add_count(counts, "phoenix.assertions", scrub_assertions(entity, &who, key, values));

	/* 2, 3. event log and dead letters (when the emit tables exist) */
	if (OidIsValid(forget_phoenix_relid("event_log")))
		counts = add_count(counts, "phoenix.event_log", scrub_event_log(entity, &who, key, values));
	if (OidIsValid(forget_phoenix_relid("dead_letters")))
		counts = add_count(counts, "phoenix.dead_letters", scrub_dead_letters(entity, &who, key, values));

	/* 4. projections: re-enrich what depends on the key from its new values */
	cascade_timeline_changed(entity, key, changes);
	if (OidIsValid(forget_phoenix_relid("projections")))
		counts = count_projection_rows(counts);

	/* 5. copies kept by higher layers */
	counts = run_scrubbers(counts);

	/* 6. tombstone and audit */
	record_tombstone(entity, &who, values);
	result = counts_jsonb(counts);
	record_audit(entity, &who, reason, caller, result);

	/* 7. statistics */
	analyze_rewritten(counts);

	forget_as_owner_end(&oc);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/*
 * A higher layer's scrubber, registered in _PG_init (so at most a few, and
 * each once per process).
 */
void
forget_register_scrubber(const char *relation, ForgetScrubber scrubber)
{
	if (nscrubbers >= MAX_SCRUBBERS)
		elog(ERROR, "phoenix: too many forget scrubbers");
	scrubbers[nscrubbers].relation = relation;
	scrubbers[nscrubbers].fn = scrubber;
	nscrubbers++;
}

void
ForgetInit(void)
{
	ForgetHooksInit();
}

/* ====================================================================
 * forget's steps
 * ==================================================================== */

/*
 * Only superusers, the extension owner and members of phoenix_admin may
 * forget (EXECUTE is granted to phoenix_admin only; this is the backstop).
 */
static void
check_caller(const char *entity, const char *key)
{
	Oid			me = GetUserId();
	Oid			admin = get_role_oid("phoenix_admin", true);

	if (superuser() || has_privs_of_role(me, forget_owner()) ||
		(OidIsValid(admin) && has_privs_of_role(me, admin)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to forget key \"%s\" of entity \"%s\"", key, entity),
			 errhint("Erasure requires the phoenix_admin role.")));
}

static bool
key_known(PhxEntity *entity, const char *key)
{
	char	   *sql = psprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s = $1) "
							   "OR EXISTS (SELECT 1 FROM phoenix.assertions WHERE entity_id = $2 AND key = $1)",
							   entity->history_table, quote_identifier(entity->key_name));
	Datum		args[2] = {CStringGetTextDatum(key), Int32GetDatum(entity->id)};
	bool		isnull;

	if (SPI_execute_with_args(sql, 2, (Oid[]) {TEXTOID, INT4OID}, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: key lookup failed");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The attributes whose values identify the key: PII ones and by-ref targets. */
static List *
match_attributes(PhxEntity *entity)
{
	List	   *atts = NIL;
	ListCell   *lt;

	for (int i = 0; i < entity->natts; i++)
		if (entity->atts[i].pii)
			forget_add_unique(&atts, entity->atts[i].name);
	foreach(lt, forget_type_list())
	{
		ListCell   *lr;

		foreach(lr, ((ForgetType *) lfirst(lt))->refs)
		{
			ForgetRef  *r = lfirst(lr);

			if (r->attribute && r->entity_id == entity->id &&
				catalog_attribute_index(entity, r->attribute) >= 0)
				forget_add_unique(&atts, r->attribute);
		}
	}
	return atts;
}

/*
 * Every value the key ever had of the listed attributes, in any recorded
 * version or assertion, as text, with the periods in which it was theirs:
 * the valid periods of their versions (and assertions) holding it, less
 * where another key's current version holds it — so a value that moved to
 * someone else identifies only its holder of the time.  Values are compared
 * with the attribute type's own equality, as enrichment's lookups do.
 * Pseudonyms left by an earlier forget are skipped.  List of ForgetValue.
 */
static List *
collect_values(PhxEntity *entity, const char *key, List *match_atts)
{
	StringInfoData sql;
	List	   *result = NIL;
	Datum		args[2];
	ListCell   *lc;
	const char *keycol = quote_identifier(entity->key_name);

	if (match_atts == NIL)
		return NIL;
	initStringInfo(&sql);
	foreach(lc, match_atts)
	{
		const char *att = lfirst(lc);
		const char *col = quote_identifier(att);
		const char *lit = quote_literal_cstr(att);

		appendStringInfo(&sql,
						 "%sSELECT %s, m.v, (SELECT array_agg(lower(r) ORDER BY r) FROM unnest(m.p) r), "
						 "(SELECT array_agg(upper(r) ORDER BY r) FROM unnest(m.p) r), m.p::text "
						 "FROM (SELECT x.v, range_agg(x.r) - coalesce((SELECT range_agg(tstzrange(o.valid_from, o.valid_to)) "
						 "FROM %s o WHERE o.recorded_to = 'infinity' AND o.%s <> $1 AND o.%s::text = x.v), "
						 "'{}'::tstzmultirange) AS p "
						 "FROM (SELECT h.%s::text AS v, tstzrange(h.valid_from, h.valid_to) AS r FROM %s h "
						 "WHERE h.%s = $1 AND h.%s IS NOT NULL "
						 "UNION ALL SELECT s.attributes ->> %s, tstzrange(s.valid_from, "
						 "CASE WHEN s.is_open THEN 'infinity' ELSE s.valid_to END) FROM phoenix.assertions s "
						 "WHERE s.entity_id = $2 AND s.key = $1 AND jsonb_typeof(s.attributes -> %s) <> 'null') x "
						 "GROUP BY x.v) m",
						 sql.len > 0 ? " UNION ALL " : "", lit,
						 entity->history_table, keycol, col,
						 col, entity->history_table, keycol, col, lit, lit);
	}
	appendStringInfoString(&sql, " ORDER BY 1, 2");
	args[0] = CStringGetTextDatum(key);
	args[1] = Int32GetDatum(entity->id);
	if (SPI_execute_with_args(sql.data, 2, (Oid[]) {TEXTOID, INT4OID}, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: reading the values of key \"%s\" failed", key);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ForgetValue *v = palloc0(sizeof(ForgetValue));
		bool		lnull,
					unull;
		Datum		lo = SPI_getbinval(tup, desc, 3, &lnull);
		Datum		hi = SPI_getbinval(tup, desc, 4, &unull);

		v->attribute = SPI_getvalue(tup, desc, 1);
		v->value = SPI_getvalue(tup, desc, 2);
		if (v->value == NULL || forget_is_pseudonym(v->value, strlen(v->value)))
			continue;
		v->periods_text = SPI_getvalue(tup, desc, 5);
		v->periods = forget_periods_from_arrays(lo, lnull, hi, unull);
		result = lappend(result, v);
	}
	return result;
}

/* The values (char *) of one attribute. */
static List *
values_of(List *values, const char *attribute)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, values)
	{
		ForgetValue *v = lfirst(lc);

		if (strcmp(v->attribute, attribute) == 0)
			out = lappend(out, v->value);
	}
	return out;
}

/*
 * The current versions of the key as timeline changes from their present
 * values to their pseudonymised ones, for the cascade (which re-enriches
 * the projection rows that read them).  Call before scrub_history.
 */
static List *
current_changes(PhxEntity *entity, const ForgetPerson *who, const char *key)
{
	StringInfoData sql;
	List	   *changes = NIL;
	int			natts = entity->natts;
	Datum		args[1] = {CStringGetTextDatum(key)};

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT valid_from, valid_to");
	for (int i = 0; i < natts; i++)
		appendStringInfo(&sql, ", %s", quote_identifier(entity->atts[i].name));
	appendStringInfo(&sql, " FROM %s WHERE %s = $1 AND recorded_to = 'infinity' ORDER BY valid_from",
					 entity->history_table, quote_identifier(entity->key_name));
	if (SPI_execute_with_args(sql.data, 1, (Oid[]) {TEXTOID}, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: reading the versions of key \"%s\" failed", key);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		TimelineChange *c = palloc0(sizeof(TimelineChange));
		bool		isnull;
		bool		any = false;

		c->valid_from = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
		c->valid_to = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		c->old_values = palloc0(sizeof(Datum) * Max(natts, 1));
		c->old_isnull = palloc0(sizeof(bool) * Max(natts, 1));
		c->new_values = palloc0(sizeof(Datum) * Max(natts, 1));
		c->new_isnull = palloc0(sizeof(bool) * Max(natts, 1));
		c->changed = palloc0(sizeof(bool) * Max(natts, 1));
		c->old_exists = true;
		for (int i = 0; i < natts; i++)
		{
			PhxAttribute *att = &entity->atts[i];
			Datum		d = SPI_getbinval(tup, desc, 3 + i, &c->old_isnull[i]);

			c->old_values[i] = c->old_isnull[i] ? (Datum) 0 : datumCopy(d, att->typbyval, att->typlen);
			c->new_values[i] = c->old_values[i];
			c->new_isnull[i] = c->old_isnull[i];
			if (!att->pii || c->old_isnull[i])
				continue;
			if (att->typid == TEXTOID)
			{
				char	   *t = TextDatumGetCString(d);

				if (forget_is_pseudonym(t, strlen(t)))
					continue;
				c->new_values[i] = CStringGetTextDatum(forget_pseudonym(who, t, strlen(t)));
			}
			else
			{
				c->new_values[i] = (Datum) 0;
				c->new_isnull[i] = true;
			}
			c->changed[i] = true;
			any = true;
		}
		for (int i = 0; i < natts; i++)
			c->new_exists |= !c->new_isnull[i];
		if (any)
			changes = lappend(changes, c);
	}
	return changes;
}

/*
 * The sanctioned in-place rewrite of history: every recorded version of the
 * key (current and superseded) gets pseudonyms for its PII values (text; the
 * others become null).  Periods are untouched, so the exclusion constraint
 * and "as known at K" queries keep their shape; only the erased values
 * differ.  Returns the number of versions rewritten.
 */
static int64
scrub_history(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values)
{
	StringInfoData count;
	Datum		cargs[1 + 64];
	Oid			ctypes[1 + 64];
	int			nargs = 1;
	bool		any = false;
	bool		isnull;
	int64		n;
	const char *keycol = quote_identifier(entity->key_name);

	/* the versions that will change, counted before they do */
	initStringInfo(&count);
	appendStringInfo(&count, "SELECT count(*) FROM %s WHERE %s = $1 AND (false", entity->history_table, keycol);
	cargs[0] = CStringGetTextDatum(key);
	ctypes[0] = TEXTOID;
	for (int i = 0; i < entity->natts; i++)
	{
		PhxAttribute *att = &entity->atts[i];
		const char *col = quote_identifier(att->name);

		if (!att->pii)
			continue;
		any = true;
		if (att->typid != TEXTOID)
			appendStringInfo(&count, " OR %s IS NOT NULL", col);
		else if (nargs < lengthof(cargs))
		{
			ctypes[nargs] = TEXTARRAYOID;
			cargs[nargs++] = PointerGetDatum(text_array(values_of(values, att->name)));
			appendStringInfo(&count, " OR %s = ANY ($%d)", col, nargs);
		}
	}
	if (!any)
		return 0;
	appendStringInfoChar(&count, ')');
	if (SPI_execute_with_args(count.data, nargs, ctypes, cargs, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: counting the history of key \"%s\" failed", key);
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	for (int i = 0; i < entity->natts; i++)
	{
		PhxAttribute *att = &entity->atts[i];
		const char *col = quote_identifier(att->name);
		ListCell   *lc;

		if (!att->pii)
			continue;
		if (att->typid != TEXTOID)
		{
			if (SPI_execute_with_args(psprintf("UPDATE %s SET %s = NULL WHERE %s = $1 AND %s IS NOT NULL",
											   entity->history_table, col, keycol, col),
									  1, ctypes, cargs, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "phoenix: forget: rewriting the history of key \"%s\" failed", key);
			continue;
		}
		foreach(lc, values_of(values, att->name))
		{
			const char *v = lfirst(lc);
			Datum		uargs[3] = {cargs[0], CStringGetTextDatum(v),
			CStringGetTextDatum(forget_pseudonym(who, v, strlen(v)))};

			if (SPI_execute_with_args(psprintf("UPDATE %s SET %s = $3 WHERE %s = $1 AND %s = $2",
											   entity->history_table, col, keycol, col),
									  3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID}, uargs, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "phoenix: forget: rewriting the history of key \"%s\" failed", key);
		}
	}
	return n;
}

/* Assertions keep their shape; their PII members become pseudonyms (or null). */
static int64
scrub_assertions(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values)
{
	List	   *touched = NIL;
	SPIPlanPtr	plan;

	plan = SPI_prepare("UPDATE phoenix.assertions SET attributes = jsonb_set(attributes, ARRAY[$3], $5) "
					   "WHERE entity_id = $1 AND key = $2 AND jsonb_typeof(attributes -> $3) <> 'null' "
					   "AND ($4::text IS NULL OR attributes ->> $3 = $4) RETURNING assertion_id",
					   5, (Oid[]) {INT4OID, TEXTOID, TEXTOID, TEXTOID, JSONBOID});
	if (plan == NULL)
		elog(ERROR, "phoenix: forget: preparing the assertion update failed");
	for (int i = 0; i < entity->natts; i++)
	{
		PhxAttribute *att = &entity->atts[i];
		List	   *vals;
		ListCell   *lc;

		if (!att->pii)
			continue;
		vals = att->typid == TEXTOID ? values_of(values, att->name) : list_make1(NULL);
		foreach(lc, vals)
		{
			const char *v = lfirst(lc);
			Datum		args[5];
			char		nulls[5] = {' ', ' ', ' ', v ? ' ' : 'n', ' '};
			StringInfoData js;

			initStringInfo(&js);
			if (v)
				escape_json(&js, forget_pseudonym(who, v, strlen(v)));
			else
				appendStringInfoString(&js, "null");
			args[0] = Int32GetDatum(entity->id);
			args[1] = CStringGetTextDatum(key);
			args[2] = CStringGetTextDatum(att->name);
			args[3] = v ? CStringGetTextDatum(v) : (Datum) 0;
			args[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data));
			if (SPI_execute_plan(plan, args, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
				elog(ERROR, "phoenix: forget: scrubbing the assertions of key \"%s\" failed", key);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				bool		isnull;

				touched = list_append_unique_int(touched,
												 (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
																				   SPI_tuptable->tupdesc, 1, &isnull)));
			}
		}
	}
	SPI_freeplan(plan);
	return list_length(touched);
}

/* Events about the key, type by type. */
static int64
scrub_event_log(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values)
{
	int64		total = 0;
	ListCell   *lt;

	foreach(lt, forget_type_list())
	{
		ForgetType *type = lfirst(lt);

		if (type->pii_fields != NIL)
			total += scrub_type_events(type, entity, who, key, values);
	}
	return total;
}

/*
 * One type's events about the key: those whose refs to this entity hold the
 * key, or one of the key's values at a time inside its periods (the same
 * equality and periods forget's tombstone and enrichment use).  Their PII
 * fields get the person's pseudonyms; their rows are recomputed.
 */
static int64
scrub_type_events(ForgetType *type, PhxEntity *entity, const ForgetPerson *who,
				  const char *key, List *values)
{
	StringInfoData sql;
	int			nrefs = list_length(type->refs);
	Datum	   *args = palloc(sizeof(Datum) * (2 + 2 * nrefs));
	Oid		   *types = palloc(sizeof(Oid) * (2 + 2 * nrefs));
	int			nargs = 2;
	ListCell   *lr;
	bool		any = false;
	SPITupleTable *tt;
	uint64		n;
	EmittedEvent *events;
	int			nevents = 0;
	SPIPlanPtr	update;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT position, event_id, payload, effective_at, received_at "
						   "FROM phoenix.event_log WHERE event_type = $1 AND (");
	foreach(lr, type->refs)
	{
		ForgetRef  *r = lfirst(lr);
		List	   *vals = NIL;
		List	   *periods = NIL;
		ListCell   *lc;

		if (r->entity_id != entity->id)
			continue;
		if (r->attribute == NULL)
		{
			appendStringInfo(&sql, "%spayload ->> %s = $2", any ? " OR " : "", quote_literal_cstr(r->field));
			any = true;
			continue;
		}
		foreach(lc, values)
		{
			ForgetValue *v = lfirst(lc);

			if (strcmp(v->attribute, r->attribute) == 0 && v->periods->n > 0)
			{
				vals = lappend(vals, v->value);
				periods = lappend(periods, v->periods_text);
			}
		}
		if (vals == NIL)
			continue;
		types[nargs] = TEXTARRAYOID;
		args[nargs++] = PointerGetDatum(text_array(vals));
		types[nargs] = TEXTARRAYOID;
		args[nargs++] = PointerGetDatum(text_array(periods));
		appendStringInfo(&sql, "%sEXISTS (SELECT 1 FROM unnest($%d::text[], $%d::text[]) u(v, p) "
						 "WHERE payload ->> %s = u.v AND u.p::tstzmultirange @> effective_at)",
						 any ? " OR " : "", nargs - 1, nargs, quote_literal_cstr(r->field));
		any = true;
	}
	if (!any)
		return 0;
	appendStringInfoString(&sql, ") ORDER BY position");
	types[0] = TEXTOID;
	types[1] = TEXTOID;
	args[0] = CStringGetTextDatum(type->name);
	args[1] = CStringGetTextDatum(key);
	if (SPI_execute_with_args(sql.data, nargs, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: reading events of type \"%s\" failed", type->name);
	tt = SPI_tuptable;
	n = SPI_processed;
	if (n == 0)
		return 0;
	events = palloc0(sizeof(EmittedEvent) * n);
	update = SPI_prepare("UPDATE phoenix.event_log SET payload = $3 WHERE position = $1 AND received_at = $2",
						 3, (Oid[]) {INT8OID, TIMESTAMPTZOID, JSONBOID});
	if (update == NULL)
		elog(ERROR, "phoenix: forget: preparing the event update failed");
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	tup = tt->vals[r];
		EmittedEvent *e = &events[nevents];
		bool		isnull;
		bool		changed;
		Datum		uargs[3];

		CHECK_FOR_INTERRUPTS();
		e->position = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		e->event_id = SPI_getvalue(tup, tt->tupdesc, 2);
		e->payload = forget_scrub_jsonb(who, DatumGetJsonbPCopy(SPI_getbinval(tup, tt->tupdesc, 3, &isnull)),
										type->pii_fields, &changed);
		e->effective_at = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 4, &isnull));
		e->received_at = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 5, &isnull));
		if (!changed)
			continue;
		uargs[0] = Int64GetDatum(e->position);
		uargs[1] = TimestampTzGetDatum(e->received_at);
		uargs[2] = JsonbPGetDatum(e->payload);
		if (SPI_execute_plan(update, uargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "phoenix: forget: scrubbing event \"%s\" failed", e->event_id);
		nevents++;
	}
	SPI_freeplan(update);
	if (nevents > 0)
		rekey_and_reproject(type->name, events, nevents);
	return nevents;
}

/*
 * After scrubbing logged events: their idempotency hashes follow the new
 * payloads (a repeat of the original, scrubbed on arrival by the tombstone,
 * is then still recognised as the same event), and every projection fed by
 * the type recomputes their rows from the scrubbed payloads — mapped,
 * enriched and derived columns alike.
 */
static void
rekey_and_reproject(const char *event_type, EmittedEvent *events, int n)
{
	SPIPlanPtr	plan;

	plan = SPI_prepare("UPDATE phoenix.event_ids SET payload_hash = $2 WHERE event_id = $1",
					   2, (Oid[]) {TEXTOID, INT8OID});
	if (plan == NULL)
		elog(ERROR, "phoenix: forget: preparing the event id update failed");
	for (int r = 0; r < n; r++)
	{
		Datum		args[2];

		args[0] = CStringGetTextDatum(events[r].event_id);
		args[1] = Int64GetDatum(emit_payload_hash(event_type, events[r].payload));
		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "phoenix: forget: updating the idempotency hash of event \"%s\" failed",
				 events[r].event_id);
	}
	SPI_freeplan(plan);
	projection_on_rewritten_events(event_type, n, events);
}

/*
 * Dead letters about the key (a ref field holds the key, or one of its
 * values at the dead letter's time) or holding one of its values, exactly,
 * at a time inside that value's periods.  The reason is scrubbed too:
 * messages may quote values.
 */
static int64
scrub_dead_letters(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values)
{
	List	   *needles = list_make1((char *) key);
	ListCell   *lc;
	SPITupleTable *tt;
	uint64		n;
	int64		scrubbed = 0;
	SPIPlanPtr	update;
	Datum		args[1];

	foreach(lc, values)
	{
		ForgetValue *v = lfirst(lc);
		StringInfoData esc;

		forget_add_unique(&needles, v->value);
		/* as it appears inside a JSON string */
		initStringInfo(&esc);
		escape_json(&esc, v->value);
		esc.data[esc.len - 1] = '\0';
		forget_add_unique(&needles, esc.data + 1);
	}
	args[0] = PointerGetDatum(text_array(needles));
	if (SPI_execute_with_args("SELECT dead_letter_id, event_type, raw, reason, effective_at, received_at "
							  "FROM phoenix.dead_letters d "
							  "WHERE EXISTS (SELECT 1 FROM unnest($1) n "
							  "WHERE strpos(d.raw, n) > 0 OR strpos(d.reason, n) > 0) "
							  "ORDER BY dead_letter_id FOR UPDATE",
							  1, (Oid[]) {TEXTARRAYOID}, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: reading dead letters failed");
	tt = SPI_tuptable;
	n = SPI_processed;
	if (n == 0)
		return 0;
	update = SPI_prepare("UPDATE phoenix.dead_letters SET raw = $2, reason = $3 WHERE dead_letter_id = $1",
						 3, (Oid[]) {INT8OID, TEXTOID, TEXTOID});
	if (update == NULL)
		elog(ERROR, "phoenix: forget: preparing the dead letter update failed");
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	tup = tt->vals[r];
		bool		isnull;
		char	   *raw;
		char	   *reason;
		Datum		uargs[3];
		char		unulls[3] = {' ', ' ', ' '};

		CHECK_FOR_INTERRUPTS();
		if (!dead_letter_scrub(entity, who, key, values, tup, tt->tupdesc, &raw, &reason))
			continue;
		uargs[0] = SPI_getbinval(tup, tt->tupdesc, 1, &isnull);
		uargs[1] = CStringGetTextDatum(raw);
		uargs[2] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
		if (!reason)
			unulls[2] = 'n';
		if (SPI_execute_plan(update, uargs, unulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "phoenix: forget: scrubbing a dead letter failed");
		scrubbed++;
	}
	SPI_freeplan(update);
	return scrubbed;
}

static int
cstring_cell_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * One candidate dead letter: its time (the type's time field in its raw
 * payload, else the effective time it was given, else when it arrived);
 * about the key when a ref field holds the key or a value of theirs then
 * (its PII fields scrubbed as in the log); the key's values of that time
 * replaced in its text.  False when nothing changes.
 */
static bool
dead_letter_scrub(PhxEntity *entity, const ForgetPerson *who, const char *key, List *values,
				  HeapTuple tup, TupleDesc desc, char **raw, char **reason)
{
	char	   *type_name = SPI_getvalue(tup, desc, 2);
	ForgetType *type = type_name ? forget_type_lookup(type_name) : NULL;
	Jsonb	   *doc;
	bool		changed = false;
	bool		isnull;
	TimestampTz at;
	List	   *plain = NIL;
	ListCell   *lc;

	*raw = SPI_getvalue(tup, desc, 3);
	*reason = SPI_getvalue(tup, desc, 4);
	doc = type ? forget_parse_json_quietly(*raw) : NULL;
	if (doc && (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc)))
		doc = NULL;
	if (doc == NULL || !forget_payload_time(type, doc, &at))
	{
		at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
		if (isnull)
			at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
	}
	foreach(lc, values)
	{
		ForgetValue *v = lfirst(lc);

		if (forget_periods_contain(v->periods, at))
			forget_add_unique(&plain, v->value);
	}
	if (doc && type->pii_fields)
	{
		bool		about = false;

		foreach(lc, type->refs)
		{
			ForgetRef  *ref = lfirst(lc);
			JsonbValue *jv = jsonfast_member(doc, ref->field);
			char	   *t = jv ? jsonfast_scalar_text(jv) : NULL;

			if (t == NULL || ref->entity_id != entity->id)
				continue;
			if (ref->attribute == NULL ? strcmp(t, key) == 0 :
				forget_str_in_list(plain, t, strlen(t)))
				about = true;
		}
		if (about)
		{
			bool		c = false;
			Jsonb	   *s = forget_scrub_jsonb(who, doc, type->pii_fields, &c);

			if (c)
			{
				*raw = JsonbToCString(NULL, &s->root, VARSIZE(s));
				changed = true;
			}
		}
	}
	*raw = forget_scrub_text(who, *raw, plain, &changed);
	if (*reason)
		*reason = forget_scrub_text(who, *reason, plain, &changed);
	return changed;
}

/*
 * The reporting rows this forget rewrote, per projection table: the
 * projection engine stamps every row it writes with the transaction's now().
 */
static List *
count_projection_rows(List *counts)
{
	List	   *tables = NIL;
	ListCell   *lc;

	foreach(lc, projection_cache_all())
	{
		Projection *p = lfirst(lc);

		if (OidIsValid(projection_table_relid(p, NoLock, true)))
			tables = lappend(tables, p->table);
	}
	list_sort(tables, cstring_cell_cmp);
	foreach(lc, tables)
	{
		char	   *table = lfirst(lc);
		bool		isnull;

		/* not read-only: it must see this transaction's own writes */
		if (SPI_execute(psprintf("SELECT count(*) FROM %s WHERE updated_at = now()", table),
						false, 0) != SPI_OK_SELECT)
			elog(ERROR, "phoenix: forget: counting the rewritten rows of %s failed", table);
		counts = add_count(counts, table,
						   DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	return counts;
}

/* The scrubbers of higher layers, whose tables exist in this database. */
static List *
run_scrubbers(List *counts)
{
	for (int i = 0; i < nscrubbers; i++)
	{
		List	   *names = stringToQualifiedNameList(scrubbers[i].relation);

		if (OidIsValid(RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true)))
			counts = add_count(counts, scrubbers[i].relation, scrubbers[i].fn());
	}
	return counts;
}

/*
 * Keyed hashes of the key and of every value it had, each value with the
 * periods it was theirs (so that a late event naming it by value is theirs
 * only then); caches see them at once.
 */
static void
record_tombstone(PhxEntity *entity, const ForgetPerson *who, List *values)
{
	ListCell   *lc;

	forget_tomb_add_key(entity->id, who->key_hash);
	foreach(lc, values)
	{
		ForgetValue *v = lfirst(lc);

		forget_tomb_add_value(entity->id, v->attribute, v->value, who->key_hash,
							  v->periods_text ? v->periods_text : "{}");
	}
}

static void
record_audit(PhxEntity *entity, const ForgetPerson *who, const char *reason, const char *caller,
			 Jsonb *counts)
{
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	args[0] = CStringGetTextDatum(entity->name);
	args[1] = CStringGetTextDatum(forget_hex(who->key_hash, FORGET_HASH_LEN));
	args[2] = DirectFunctionCall1(namein, CStringGetDatum(caller));
	args[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	if (!reason)
		nulls[3] = 'n';
	args[4] = JsonbPGetDatum(counts);
	if (SPI_execute_with_args("INSERT INTO phoenix.erasures (entity, key_hash, erased_by, reason, scrubbed) "
							  "VALUES ($1, $2, $3, $4, $5)",
							  5, (Oid[]) {TEXTOID, TEXTOID, NAMEOID, TEXTOID, JSONBOID}, args, nulls,
							  false, 0) != SPI_OK_INSERT)
		elog(ERROR, "phoenix: forget: recording the audit row failed");
}

/*
 * Re-analyze every table forget rewrote: pg_stats' most common values and
 * histogram bounds come from a sample of live rows, which no longer hold
 * the values.  ANALYZE (unlike VACUUM) runs inside the transaction, and its
 * sample sees the transaction's own rewrites and not the rows they replaced.
 */
static void
analyze_rewritten(List *counts)
{
	ListCell   *lc;

	foreach(lc, counts)
	{
		ScrubCount *c = lfirst(lc);

		if (c->rows > 0 &&
			SPI_execute(psprintf("ANALYZE %s", c->relation), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "phoenix: forget: analyzing %s failed", c->relation);
	}
}

/* ====================================================================
 * Small helpers
 * ==================================================================== */

static List *
add_count(List *counts, const char *relation, int64 rows)
{
	ScrubCount *c = palloc(sizeof(ScrubCount));

	c->relation = pstrdup(relation);
	c->rows = rows;
	return lappend(counts, c);
}

/* {"relation": rows, ...} */
static Jsonb *
counts_jsonb(List *counts)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	ListCell   *lc;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, counts)
	{
		ScrubCount *c = lfirst(lc);
		JsonbValue	k,
					v;

		k.type = jbvString;
		k.val.string.val = c->relation;
		k.val.string.len = strlen(c->relation);
		pushJsonbValue(&state, WJB_KEY, &k);
		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(c->rows)));
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

static ArrayType *
text_array(List *strings)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(strings), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, strings)
		d[n++] = CStringGetTextDatum(lfirst(lc));
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}
