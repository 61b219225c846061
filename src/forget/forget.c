/*
 * forget.c — phoenix.forget: erase every PII value of an entity key
 * everywhere Phoenix stored it, keeping the aggregates; tombstones that scrub
 * late writes about the key; the audit of erasures.
 *
 * What is PII (catalog-driven, so new event types and projections are
 * covered without code changes):
 *   - entity attributes listed in `pii` (phoenix.attributes.pii);
 *   - payload fields marked "x-pii": true in any version of an event type's
 *     schema, fields that an entity event type `sets` into a PII attribute,
 *     and fields that are by-attribute `refs` to a PII attribute (a visit's
 *     hostEmail holds an email).
 * An event is about the key when a `refs` field (or an entity event type's
 * key field) holds the key, or a by-attribute `refs` field holds a value the
 * key ever had.
 *
 * forget(entity, key) then, in one transaction, as the extension owner:
 *   1. pseudonymises the key's PII values in every recorded version of its
 *      history table — the one sanctioned in-place rewrite of history — and
 *      in its assertions;
 *   2. scrubs the PII fields of every logged event about it;
 *   3. scrubs dead letters whose raw text holds one of its values or is a
 *      payload about it;
 *   4. re-enriches the projection rows that depend on it through the cascade
 *      (as if its timeline had changed from the pseudonymised values), after
 *      pseudonymising the payload-mapped PII columns of its events' rows;
 *   5. records a tombstone (keyed hashes of the key and of every value) and
 *      an audit row without PII.
 *
 * A pseudonym is a function of the value only (HMAC-SHA256 under the
 * secret), shaped like the value where that matters ("<hex>@forgotten.invalid"
 * for anything with an '@'), and maps to itself, so forget is idempotent.
 *
 * Caches: the tombstone hash sets and the per-event-type field lists live in
 * one backend-local context, dropped when forget (or a catalog change)
 * sends a relcache invalidation, and at the end of an aborted transaction.
 */
#include "postgres.h"

#include "common/guc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "projection/cascade.h"
#include "timeline/catalog.h"
#include "ingest/emit.h"
#include "forget/forget.h"
#include "ingest/ingest_hooks.h"
#include "json/jsonfast.h"
#include "json/jsonschema.h"
#include "common/phoenix.h"
#include "projection/projection.h"
#include "timeline/timeline.h"

#include "forget/forget_int.h"

PG_FUNCTION_INFO_V1(phoenix_forget);
PG_FUNCTION_INFO_V1(phoenix_forget_pseudonym);
PG_FUNCTION_INFO_V1(phoenix_forget_scrub_jsonb);



static void check_caller(const char *entity, const char *key);
static List *collect_values(PhxEntity *entity, const char *key, List *match_atts);
static bool key_known(PhxEntity *entity, const char *key);
static List *current_changes(PhxEntity *entity, const char *key);
static int64 scrub_history(PhxEntity *entity, const char *key);
static int64 scrub_assertions(PhxEntity *entity, const char *key);
static int64 scrub_event_log(PhxEntity *entity, const char *key, List *values);
static void rekey_and_reproject(const char *event_type, SPITupleTable *tt, uint64 n);
static int64 scrub_dead_letters(PhxEntity *entity, const char *key, List *values);
static List *count_projection_rows(List *counts);
static void record_tombstone(PhxEntity *entity, const char *key, List *values);
static void record_audit(PhxEntity *entity, const char *key, const char *reason,
						 const char *caller, Jsonb *counts);

void
ForgetInit(void)
{
	CacheRegisterRelcacheCallback(forget_inval_cb, (Datum) 0);
	RegisterXactCallback(forget_xact_cb, NULL);
	/* every stored value passes forget first: entity assertions and events */
	timeline_register_scrub_assertion_hook(forget_scrub_assertion);
	ingest_register_scrub_hooks(forget_scrub_payload, forget_scrub_raw);
}

/* ====================================================================
 * SQL functions
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
	List	   *values;
	List	   *match_atts = NIL;
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
	as_owner_begin(&oc, true);
	entity = catalog_entity(name, false);
	/*
	 * Serialize with emitters: SHARE on the event log waits for every emit
	 * in flight (they hold ROW EXCLUSIVE from their first tombstone check,
	 * see lock_writers()) and holds new ones until we commit, when they
	 * see the tombstone.  Taken before the key's timeline lock, in the order
	 * emitters take them, so the two never deadlock.
	 */
	if (OidIsValid(phoenix_relid("event_log")))
		LockRelationOid(phoenix_relid("event_log"), ShareLock);
	timeline_lock_key(entity, key);

	if (!key_known(entity, key))
	{
		as_owner_end(&oc);
		SPI_finish();
		ereport(NOTICE,
				(errmsg("entity \"%s\" has no key \"%s\": nothing to forget", name, key),
				 errdetail("No version or assertion of that key was ever recorded; nothing was changed and no tombstone was left.")));
		PG_RETURN_JSONB_P(counts_jsonb(NIL));
	}

	/* values that identify the key: its PII values and by-ref targets */
	types_load();
	for (int i = 0; i < entity->natts; i++)
		if (entity->atts[i].pii)
			type_add_unique(&match_atts, entity->atts[i].name);
	{
		ListCell   *lt;

		foreach(lt, type_list)
		{
			ListCell   *lr;

			foreach(lr, ((ForgetType *) lfirst(lt))->refs)
			{
				ForgetRef  *r = lfirst(lr);

				if (r->attribute && r->entity_id == entity->id)
					type_add_unique(&match_atts, r->attribute);
			}
		}
	}
	values = collect_values(entity, key, match_atts);

	/* 1. history (every recorded version) and assertions */
	changes = current_changes(entity, key);
	counts = add_count(counts, entity->history_table, scrub_history(entity, key));
	counts = add_count(counts, "phoenix.assertions", scrub_assertions(entity, key));

	/* 2, 3. event log and dead letters (when the emit tables exist) */
	if (OidIsValid(phoenix_relid("event_log")))
		counts = add_count(counts, "phoenix.event_log", scrub_event_log(entity, key, values));
	if (OidIsValid(phoenix_relid("dead_letters")))
		counts = add_count(counts, "phoenix.dead_letters", scrub_dead_letters(entity, key, values));

	/* 4. projections: re-enrich what depends on the key from its new values */
	cascade_timeline_changed(entity, key, changes);
	if (OidIsValid(phoenix_relid("projections")))
		counts = count_projection_rows(counts);

	/* 5. tombstone and audit */
	record_tombstone(entity, key, values);
	result = counts_jsonb(counts);
	record_audit(entity, key, reason, caller, result);

	as_owner_end(&oc);
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/* forget_pseudonym(value) → the pseudonym forget writes in its place. */
Datum
phoenix_forget_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(pseudonym(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))));
}

/*
 * forget_scrub_jsonb(doc, fields, null_fields) → doc with those top-level
 * members pseudonymised (fields) or nulled (null_fields).
 */
Datum
phoenix_forget_scrub_jsonb(PG_FUNCTION_ARGS)
{
	bool		changed;

	PG_RETURN_JSONB_P(scrub_jsonb(PG_GETARG_JSONB_P(0), text_list(PG_GETARG_ARRAYTYPE_P(1)),
								  text_list(PG_GETARG_ARRAYTYPE_P(2)), &changed));
}

/* ====================================================================
 * Hooks of the write paths
 * ==================================================================== */

Jsonb *
forget_scrub_payload(const char *event_type, Jsonb *payload)
{
	ForgetType *type;
	bool		changed;
	Jsonb	   *result;

	if (event_type == NULL || payload == NULL || !JB_ROOT_IS_OBJECT(payload) ||
		JB_ROOT_IS_SCALAR(payload))
		return NULL;
	lock_writers();
	tomb_load();
	if (tomb_count == 0)
		return NULL;
	types_load();
	type = type_lookup(event_type);
	if (type == NULL || type->pii_fields == NIL || !payload_about_forgotten(type, payload))
		return NULL;

	/*
	 * New PII values that an entity event sets for the forgotten key (a late
	 * change of their email) join the tombstone, so that later events naming
	 * them are recognised too: the timeline only ever sees the pseudonyms.
	 */
	{
		ListCell   *lr;

		foreach(lr, type->pii_sets)
		{
			ForgetRef  *r = lfirst(lr);
			JsonbValue *v;
			uint8		h[HASH_LEN];

			if ((v = jsonfast_member(payload, r->field)) == NULL || v->type != jbvString ||
				is_pseudonym(v->val.string.val, v->val.string.len))
				continue;
			value_hash(v->val.string.val, v->val.string.len, h);
			if (!tomb_has(r->entity_id, r->attribute, h))
				tomb_add_values(r->entity_id, r->attribute,
								list_make1(pnstrdup(v->val.string.val, v->val.string.len)));
		}
	}
	result = scrub_jsonb(payload, type->pii_fields, NIL, &changed);
	return changed ? result : NULL;
}

char *
forget_scrub_raw(const char *event_type, const char *raw)
{
	char	   *out;
	bool		changed = false;
	List	   *found = NIL;
	char	   *copy;
	char	   *save = NULL;
	const char *delims = "\",;{}[]()<>=:\t\r\n|\\'";

	if (raw == NULL)
		return NULL;
	lock_writers();
	tomb_load();
	if (tomb_count == 0)
		return NULL;
	out = (char *) raw;

	/* a payload about a forgotten key: scrub its PII fields */
	if (event_type)
	{
		Jsonb	   *doc = parse_json_quietly(raw);
		Jsonb	   *scrubbed = doc ? forget_scrub_payload(event_type, doc) : NULL;

		if (scrubbed)
		{
			out = JsonbToCString(NULL, &scrubbed->root, VARSIZE(scrubbed));
			changed = true;
		}
	}

	/*
	 * Any token, or run of up to RAW_MAX_WORDS words inside one ("... Ada
	 * Lovelace ..." in free text), that is a value some forgotten key had.
	 */
	copy = pstrdup(out);
	for (char *tok = strtok_r(copy, delims, &save); tok; tok = strtok_r(NULL, delims, &save))
	{
		int			maxwords = strlen(tok) / 2 + 1;
		const char **starts = palloc(sizeof(char *) * maxwords);
		const char **ends = palloc(sizeof(char *) * maxwords);
		int			nwords = 0;

		for (const char *p = tok; *p && nwords < maxwords;)
		{
			while (*p == ' ')
				p++;
			if (*p == '\0')
				break;
			starts[nwords] = p;
			while (*p && *p != ' ')
				p++;
			ends[nwords++] = p;
		}
		for (int i = 0; i < nwords; i++)
			for (int j = i; j < nwords && j < i + RAW_MAX_WORDS; j++)
			{
				uint8		h[HASH_LEN];
				int			len = ends[j] - starts[i];

				/* "... with Ada Lovelace." : the sentence's stop is not hers */
				while (len > 1 && strchr(".!?", starts[i][len - 1]))
					len--;
				if (is_pseudonym(starts[i], len))
					continue;
				value_hash(starts[i], len, h);
				if (hash_search(tomb_any_value, h, HASH_FIND, NULL) != NULL)
					type_add_unique(&found, pnstrdup(starts[i], len));
			}
		pfree(starts);
		pfree(ends);
	}
	if (found != NIL)
		out = scrub_text_values(out, found, &changed);
	return changed ? out : NULL;
}

void
forget_scrub_assertion(PhxEntity *entity, const char *key, TimelineAssertion *a)
{
	uint8		h[HASH_LEN];

	/* a forget we waited for (on the key's lock) has just committed: see it */
	AcceptInvalidationMessages();
	tomb_load();
	if (tomb_count == 0 || !tomb_entity(entity->id))
		return;
	key_hash(entity->name, key, h);
	if (!tomb_has(entity->id, "", h))
		return;
	for (int i = 0; i < entity->natts; i++)
	{
		PhxAttribute *att = &entity->atts[i];
		char	   *text;

		if (!att->pii || !a->asserted[i] || a->isnull[i])
			continue;
		text = OidOutputFunctionCall(att->typoutput, a->values[i]);
		if (att->typid == TEXTOID && is_pseudonym(text, strlen(text)))
			continue;
		tomb_add_values(entity->id, att->name, list_make1(text));
		if (att->typid == TEXTOID)
			a->values[i] = CStringGetTextDatum(pseudonym(text, strlen(text)));
		else
		{
			a->values[i] = (Datum) 0;
			a->isnull[i] = true;
		}
	}
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

	if (superuser() || has_privs_of_role(me, phoenix_owner()) ||
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

/*
 * Every value the key ever had of the listed attributes, in any recorded
 * version or assertion, as text; pseudonyms left by an earlier forget are
 * skipped.  List of (char *attribute, char *value) pairs, flattened.
 */
static List *
collect_values(PhxEntity *entity, const char *key, List *match_atts)
{
	StringInfoData sql;
	List	   *result = NIL;
	Datum		args[3];
	ListCell   *lc;
	bool		first = true;

	if (match_atts == NIL)
		return NIL;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT DISTINCT x.a, x.v FROM (SELECT a, v FROM ");
	appendStringInfo(&sql, "%s h, LATERAL (VALUES ", entity->history_table);
	foreach(lc, match_atts)
	{
		const char *att = lfirst(lc);

		appendStringInfo(&sql, "%s(%s, h.%s::text)", first ? "" : ", ",
						 quote_literal_cstr(att), quote_identifier(att));
		first = false;
	}
	appendStringInfo(&sql,
					 ") AS x(a, v) WHERE h.%s = $1 "
					 "UNION ALL SELECT j.key, j.value #>> '{}' FROM phoenix.assertions s, "
					 "jsonb_each(s.attributes) j WHERE s.entity_id = $2 AND s.key = $1 "
					 "AND j.key = ANY ($3) AND jsonb_typeof(j.value) <> 'null') x "
					 "WHERE x.v IS NOT NULL ORDER BY 1, 2",
					 quote_identifier(entity->key_name));
	args[0] = CStringGetTextDatum(key);
	args[1] = Int32GetDatum(entity->id);
	args[2] = PointerGetDatum(text_array(match_atts));
	if (SPI_execute_with_args(sql.data, 3, (Oid[]) {TEXTOID, INT4OID, TEXTARRAYOID}, args,
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: reading the values of key \"%s\" failed", key);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *att = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		char	   *val = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);

		if (is_pseudonym(val, strlen(val)))
			continue;
		result = lappend(result, att);
		result = lappend(result, val);
	}
	return result;
}

/*
 * The current versions of the key as timeline changes from their present
 * values to their pseudonymised ones, for the cascade (which re-enriches
 * the projection rows that read them).  Call before scrub_history.
 */
static List *
current_changes(PhxEntity *entity, const char *key)
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

				if (is_pseudonym(t, strlen(t)))
					continue;
				c->new_values[i] = CStringGetTextDatum(pseudonym(t, strlen(t)));
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
 * key (current and superseded) gets pseudonyms for its PII values.  Periods
 * are untouched, so the exclusion constraint and "as known at K" queries
 * keep their shape; only the erased values differ.
 */
static int64
scrub_history(PhxEntity *entity, const char *key)
{
	StringInfoData sql,
				cond;
	Datum		args[1] = {CStringGetTextDatum(key)};
	bool		any = false;

	initStringInfo(&sql);
	initStringInfo(&cond);
	appendStringInfo(&sql, "UPDATE %s SET ", entity->history_table);
	for (int i = 0; i < entity->natts; i++)
	{
		PhxAttribute *att = &entity->atts[i];
		const char *col = quote_identifier(att->name);

		if (!att->pii)
			continue;
		if (att->typid == TEXTOID)
		{
			appendStringInfo(&sql, "%s%s = phoenix.forget_pseudonym(%s)", any ? ", " : "", col, col);
			appendStringInfo(&cond, "%s%s IS DISTINCT FROM phoenix.forget_pseudonym(%s)",
							 any ? " OR " : "", col, col);
		}
		else
		{
			appendStringInfo(&sql, "%s%s = NULL", any ? ", " : "", col);
			appendStringInfo(&cond, "%s%s IS NOT NULL", any ? " OR " : "", col);
		}
		any = true;
	}
	if (!any)
		return 0;
	appendStringInfo(&sql, " WHERE %s = $1 AND (%s)", quote_identifier(entity->key_name), cond.data);
	if (SPI_execute_with_args(sql.data, 1, (Oid[]) {TEXTOID}, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "phoenix: forget: rewriting the history of key \"%s\" failed", key);
	return (int64) SPI_processed;
}

/* Assertions keep their shape; their PII members become pseudonyms (or null). */
static int64
scrub_assertions(PhxEntity *entity, const char *key)
{
	List	   *pii = NIL;
	List	   *pii_text = NIL;
	List	   *pii_other = NIL;
	Datum		args[5];

	for (int i = 0; i < entity->natts; i++)
	{
		if (!entity->atts[i].pii)
			continue;
		pii = lappend(pii, entity->atts[i].name);
		if (entity->atts[i].typid == TEXTOID)
			pii_text = lappend(pii_text, entity->atts[i].name);
		else
			pii_other = lappend(pii_other, entity->atts[i].name);
	}
	if (pii == NIL)
		return 0;
	args[0] = Int32GetDatum(entity->id);
	args[1] = CStringGetTextDatum(key);
	args[2] = PointerGetDatum(text_array(pii));
	args[3] = PointerGetDatum(text_array(pii_text));
	args[4] = PointerGetDatum(text_array(pii_other));
	if (SPI_execute_with_args("UPDATE phoenix.assertions SET attributes = phoenix.forget_scrub_jsonb(attributes, $4, $5) "
							  "WHERE entity_id = $1 AND key = $2 AND attributes ?| $3 "
							  "AND attributes IS DISTINCT FROM phoenix.forget_scrub_jsonb(attributes, $4, $5)",
							  5, (Oid[]) {INT4OID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID},
							  args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "phoenix: forget: scrubbing the assertions of key \"%s\" failed", key);
	return (int64) SPI_processed;
}

/*
 * Events about the key: per event type with PII fields, one UPDATE whose
 * condition ORs the type's refs that point at this entity (the key, or one
 * of the key's values for a by-attribute ref).
 */
static int64
scrub_event_log(PhxEntity *entity, const char *key, List *values)
{
	int64		total = 0;
	ListCell   *lt;

	foreach(lt, type_list)
	{
		ForgetType *type = lfirst(lt);
		StringInfoData sql;
		Datum	   *args = palloc(sizeof(Datum) * (3 + list_length(type->refs)));
		Oid		   *types = palloc(sizeof(Oid) * (3 + list_length(type->refs)));
		int			nargs = 3;
		ListCell   *lr;
		bool		any = false;

		if (type->pii_fields == NIL)
			continue;
		initStringInfo(&sql);
		appendStringInfoString(&sql,
							   "UPDATE phoenix.event_log SET payload = phoenix.forget_scrub_jsonb(payload, $1, '{}') "
							   "WHERE event_type = $2 AND payload IS DISTINCT FROM "
							   "phoenix.forget_scrub_jsonb(payload, $1, '{}') AND (");
		foreach(lr, type->refs)
		{
			ForgetRef  *r = lfirst(lr);
			List	   *vals = NIL;

			if (r->entity_id != entity->id)
				continue;
			if (r->attribute == NULL)
			{
				appendStringInfo(&sql, "%spayload ->> %s = $3", any ? " OR " : "",
								 quote_literal_cstr(r->field));
				any = true;
				continue;
			}
			for (int i = 0; i + 1 < list_length(values); i += 2)
				if (strcmp(list_nth(values, i), r->attribute) == 0)
					vals = lappend(vals, list_nth(values, i + 1));
			if (vals == NIL)
				continue;
			types[nargs] = TEXTARRAYOID;
			args[nargs++] = PointerGetDatum(text_array(vals));
			appendStringInfo(&sql, "%spayload ->> %s = ANY ($%d)", any ? " OR " : "",
							 quote_literal_cstr(r->field), nargs);
			any = true;
		}
		if (!any)
			continue;
		appendStringInfoString(&sql, ") RETURNING position, event_id, payload, effective_at, received_at");
		types[0] = TEXTARRAYOID;
		types[1] = TEXTOID;
		types[2] = TEXTOID;
		args[0] = PointerGetDatum(text_array(type->pii_fields));
		args[1] = CStringGetTextDatum(type->name);
		args[2] = CStringGetTextDatum(key);
		if (SPI_execute_with_args(sql.data, nargs, types, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "phoenix: forget: scrubbing events of type \"%s\" failed", type->name);
		total += (int64) SPI_processed;
		if (SPI_processed > 0)
			rekey_and_reproject(type->name, SPI_tuptable, SPI_processed);
	}
	return total;
}

/*
 * After scrubbing logged events: their idempotency hashes follow the new
 * payloads (a repeat of the original, scrubbed on arrival by the tombstone,
 * is then still recognised as the same event), and every projection fed by
 * the type recomputes their rows from the scrubbed payloads — mapped,
 * enriched and derived columns alike.
 */
static void
rekey_and_reproject(const char *event_type, SPITupleTable *tt, uint64 n)
{
	EmittedEvent *events = palloc0(sizeof(EmittedEvent) * n);
	SPIPlanPtr	plan;

	plan = SPI_prepare("UPDATE phoenix.event_ids SET payload_hash = $2 WHERE event_id = $1",
					   2, (Oid[]) {TEXTOID, INT8OID});
	if (plan == NULL)
		elog(ERROR, "phoenix: forget: preparing the event id update failed");
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	tup = tt->vals[r];
		bool		isnull;
		Datum		args[2];

		events[r].position = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		events[r].event_id = SPI_getvalue(tup, tt->tupdesc, 2);
		events[r].payload = DatumGetJsonbPCopy(SPI_getbinval(tup, tt->tupdesc, 3, &isnull));
		events[r].effective_at = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 4, &isnull));
		events[r].received_at = DatumGetTimestampTz(SPI_getbinval(tup, tt->tupdesc, 5, &isnull));
		args[0] = CStringGetTextDatum(events[r].event_id);
		args[1] = Int64GetDatum(emit_payload_hash(event_type, events[r].payload));
		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "phoenix: forget: updating the idempotency hash of event \"%s\" failed",
				 events[r].event_id);
	}
	SPI_freeplan(plan);
	projection_on_rewritten_events(event_type, (int) n, events);
}

/*
 * Dead letters that hold one of the key's values, or the key itself (then,
 * when the raw text is a payload about the key, its PII fields are scrubbed
 * as in the log).  The reason is scrubbed too: messages may quote values.
 */
static int64
scrub_dead_letters(PhxEntity *entity, const char *key, List *values)
{
	List	   *needles = list_make1((char *) key);
	List	   *plain = NIL;
	Datum		args[1];
	SPITupleTable *tt;
	uint64		n;
	int64		scrubbed = 0;
	SPIPlanPtr	update;

	for (int i = 1; i < list_length(values); i += 2)
	{
		char	   *v = list_nth(values, i);
		StringInfoData esc;

		type_add_unique(&plain, v);
		type_add_unique(&needles, v);
		/* as it appears inside a JSON string */
		initStringInfo(&esc);
		escape_json(&esc, v);
		esc.data[esc.len - 1] = '\0';
		type_add_unique(&needles, esc.data + 1);
	}
	args[0] = PointerGetDatum(text_array(needles));
	if (SPI_execute_with_args("SELECT dead_letter_id, event_type, raw, reason FROM phoenix.dead_letters d "
							  "WHERE EXISTS (SELECT 1 FROM unnest($1) n "
							  "WHERE strpos(lower(d.raw), lower(n)) > 0 OR strpos(lower(d.reason), lower(n)) > 0) "
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
		Datum		id = SPI_getbinval(tup, tt->tupdesc, 1, &isnull);
		char	   *type_name = SPI_getvalue(tup, tt->tupdesc, 2);
		char	   *raw = SPI_getvalue(tup, tt->tupdesc, 3);
		char	   *reason = SPI_getvalue(tup, tt->tupdesc, 4);
		bool		changed = false;
		ForgetType *type = type_name ? type_lookup(type_name) : NULL;
		Datum		uargs[3];
		char		unulls[3] = {' ', ' ', ' '};

		if (type && type->pii_fields)
		{
			Jsonb	   *doc = parse_json_quietly(raw);

			if (doc && JB_ROOT_IS_OBJECT(doc) && !JB_ROOT_IS_SCALAR(doc))
			{
				ListCell   *lr;
				bool		about = false;

				foreach(lr, type->refs)
				{
					ForgetRef  *ref = lfirst(lr);
					JsonbValue *v = jsonfast_member(doc, ref->field);
					char	   *t = v ? jsonfast_scalar_text(v) : NULL;

					if (t == NULL || ref->entity_id != entity->id)
						continue;
					if (ref->attribute == NULL ? strcmp(t, key) == 0 : str_in_list(plain, t, strlen(t)))
						about = true;
				}
				if (about)
				{
					bool		c = false;
					Jsonb	   *s = scrub_jsonb(doc, type->pii_fields, NIL, &c);

					if (c)
					{
						raw = JsonbToCString(NULL, &s->root, VARSIZE(s));
						changed = true;
					}
				}
			}
		}
		raw = scrub_text_values(raw, plain, &changed);
		if (reason)
			reason = scrub_text_values(reason, plain, &changed);
		if (!changed)
			continue;
		uargs[0] = id;
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

/* Keyed hashes of the key and of every value it had; caches see them at once. */
static void
record_tombstone(PhxEntity *entity, const char *key, List *values)
{
	uint8		h[HASH_LEN];
	Datum		args[2];

	key_hash(entity->name, key, h);
	args[0] = Int32GetDatum(entity->id);
	args[1] = PointerGetDatum(hash_bytea(h));
	if (SPI_execute_with_args("INSERT INTO phoenix.forgotten_keys (entity_id, key_hash) VALUES ($1, $2) "
							  "ON CONFLICT DO NOTHING",
							  2, (Oid[]) {INT4OID, BYTEAOID}, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "phoenix: forget: recording the tombstone failed");
	for (int i = 0; i + 1 < list_length(values); i += 2)
		tomb_add_values(entity->id, list_nth(values, i), list_make1(list_nth(values, i + 1)));
	CacheInvalidateRelcacheByRelid(phoenix_relid("forgotten_keys"));
	tomb_valid = false;
}

static void
record_audit(PhxEntity *entity, const char *key, const char *reason, const char *caller,
			 Jsonb *counts)
{
	uint8		h[HASH_LEN];
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	key_hash(entity->name, key, h);
	args[0] = CStringGetTextDatum(entity->name);
	args[1] = CStringGetTextDatum(hex(h, HASH_LEN));
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
