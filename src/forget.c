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

#include "cascade.h"
#include "catalog.h"
#include "emit.h"
#include "forget.h"
#include "jsonfast.h"
#include "jsonschema.h"
#include "phoenix.h"
#include "projection.h"
#include "timeline.h"

#define HASH_LEN			32	/* SHA-256 */
#define PSEUDONYM_BYTES		10	/* 80 bits shown: collisions are negligible */
#define PSEUDONYM_PREFIX	"forgotten-"
#define PSEUDONYM_DOMAIN	"@forgotten.invalid"
#define RAW_MAX_WORDS		6	/* longest value recognised in free text, in words */

/* A payload field that can make an event about an entity key. */
typedef struct ForgetRef
{
	char	   *field;
	int32		entity_id;
	char	   *entity;
	char	   *attribute;		/* by-attribute ref; NULL: holds the key */
} ForgetRef;

/* What forget and the hooks need to know about one event type. */
typedef struct ForgetType
{
	char	   *name;
	List	   *refs;			/* ForgetRef *: fields that name an entity */
	List	   *pii_fields;		/* char *: top-level fields holding PII */
	List	   *pii_sets;		/* ForgetRef *: fields an entity event sets into PII */
} ForgetType;

/* Entry of the tombstone set: (entity, attribute or "" for the key, hash). */
typedef struct TombKey
{
	int32		entity_id;
	char		attribute[NAMEDATALEN];
	uint8		hash[HASH_LEN];
} TombKey;

/* Memo of keyed hashes: the HMAC input (domain NUL a NUL b), zero-padded. */
#define HASH_MEMO_INPUT		96
#define HASH_MEMO_MAX		65536
typedef struct HashMemoKey
{
	uint16		len;
	char		input[HASH_MEMO_INPUT];
} HashMemoKey;

typedef struct HashMemoEntry
{
	HashMemoKey key;
	uint8		hash[HASH_LEN];
} HashMemoEntry;

/* Saved state while running as the extension owner. */
typedef struct OwnerContext
{
	Oid			save_userid;
	int			save_sec;
	int			guc_level;
} OwnerContext;

/* One table's count in forget's result. */
typedef struct ScrubCount
{
	char	   *relation;
	int64		rows;
} ScrubCount;

PG_FUNCTION_INFO_V1(phoenix_forget);
PG_FUNCTION_INFO_V1(phoenix_forget_pseudonym);
PG_FUNCTION_INFO_V1(phoenix_forget_scrub_jsonb);

/* GUC phoenix.forget_secret: overrides the secret of phoenix.forget_secret. */
static char *forget_secret_guc = NULL;

/* The cache (see the header comment). */
static MemoryContext tomb_cxt = NULL;	/* tombstone sets, reset on reload */
static MemoryContext types_cxt = NULL;	/* type_list, reset on reload */
static bool tomb_valid = false;
static bool types_valid = false;
static HTAB *tomb_set = NULL;		/* TombKey */
static HTAB *tomb_any_value = NULL; /* uint8[HASH_LEN]: any value of any key */
static int64 tomb_count = 0;
static List *tomb_entities = NIL;	/* int32 ids of entities with forgotten keys */
static List *type_list = NIL;		/* ForgetType * */
static uint8 *table_secret = NULL;
static int	table_secret_len = 0;
static Oid	forgotten_relid = InvalidOid;
static Oid	event_log_relid = InvalidOid;	/* cached for lock_writers() */
static MemoryContext hash_memo_cxt = NULL;
static HTAB *hash_memo = NULL;
static int	hash_memo_count = 0;
static uint8 *memo_secret = NULL;
static int	memo_secret_len = -1;
static Oid	versions_relid = InvalidOid;
static Oid	entities_relid = InvalidOid;

static void forget_inval_cb(Datum arg, Oid relid);
static void forget_xact_cb(XactEvent event, void *arg);
static Oid	phoenix_relid(const char *relname);
static void as_owner_begin(OwnerContext *oc, bool pin_search_path);
static void as_owner_end(OwnerContext *oc);
static void secret_get(const uint8 **secret, int *len);
static void hash_memo_reset(const uint8 *secret, int slen);
static void keyed_hash(const char *domain, const char *a, const char *b, int blen, uint8 *out);
static void value_hash(const char *value, int len, uint8 *out);
static void key_hash(const char *entity, const char *key, uint8 *out);
static bool is_pseudonym(const char *s, int len);
static char *pseudonym(const char *value, int len);
static void lock_writers(void);
static void tomb_load(void);
static bool tomb_has(int32 entity_id, const char *attribute, const uint8 *hash);
static bool tomb_entity(int32 entity_id);
static void tomb_add_values(int32 entity_id, const char *attribute, List *values);
static void types_load(void);
static ForgetType *type_lookup(const char *name);
static void type_add_unique(List **list, const char *s);
static bool payload_about_forgotten(ForgetType *type, Jsonb *payload);
static Jsonb *scrub_jsonb(Jsonb *doc, List *fields, List *null_fields, bool *changed);
static bool str_in_list(List *list, const char *s, int len);
static const char *find_folded(const char *s, const char *needle, int nlen);
static char *replace_all(const char *s, const char *needle, const char *repl, bool *changed);
static char *scrub_text_values(const char *s, List *values, bool *changed);
static Jsonb *parse_json_quietly(const char *raw);
static void check_caller(const char *entity, const char *key);
static Oid	phoenix_owner(void);
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
static Jsonb *counts_jsonb(List *counts);
static List *add_count(List *counts, const char *relation, int64 rows);
static ArrayType *text_array(List *strings);
static List *text_list(ArrayType *arr);
static char *hex(const uint8 *bytes, int len);
static bytea *hash_bytea(const uint8 *hash);

void
ForgetInit(void)
{
	DefineCustomStringVariable("phoenix.forget_secret",
							   "Secret key of the pseudonyms and hashes written by phoenix.forget.",
							   "Empty: the secret in table phoenix.forget_secret. Changing it changes every "
							   "future pseudonym and stops tombstones from recognising forgotten keys.",
							   &forget_secret_guc, "", PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(forget_inval_cb, (Datum) 0);
	RegisterXactCallback(forget_xact_cb, NULL);
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

/*
 * The reporting rows this forget rewrote, per projection table: the
 * projection engine stamps every row it writes with the transaction's now().
 */
static List *
count_projection_rows(List *counts)
{
	SPITupleTable *tt;
	uint64		n;

	if (SPI_execute("SELECT format('%I.%I', schema_name, table_name) FROM phoenix.projections "
					"WHERE to_regclass(format('%I.%I', schema_name, table_name)) IS NOT NULL ORDER BY 1",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: forget: reading the projections failed");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (uint64 r = 0; r < n; r++)
	{
		char	   *table = SPI_getvalue(tt->vals[r], tt->tupdesc, 1);
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

/* ====================================================================
 * Pseudonyms and keyed hashes
 * ==================================================================== */

/*
 * The secret: the GUC when set, else the row of phoenix.forget_secret (read
 * as the owner, once per backend: it is fixed at install time).
 */
static void
secret_get(const uint8 **secret, int *len)
{
	if (forget_secret_guc && forget_secret_guc[0] != '\0')
	{
		*secret = (const uint8 *) forget_secret_guc;
		*len = strlen(forget_secret_guc);
		return;
	}
	if (table_secret == NULL)
	{
		OwnerContext oc;
		bool		isnull;
		bytea	   *b;

		SPI_connect();
		as_owner_begin(&oc, false);
		if (SPI_execute("SELECT secret FROM phoenix.forget_secret", true, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the pseudonym secret of phoenix.forget is missing"),
					 errhint("Insert a random secret of at least 16 bytes into phoenix.forget_secret, or set phoenix.forget_secret.")));
		b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		table_secret = MemoryContextAlloc(TopMemoryContext, VARSIZE_ANY_EXHDR(b));
		memcpy(table_secret, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
		table_secret_len = VARSIZE_ANY_EXHDR(b);
		as_owner_end(&oc);
		SPI_finish();
	}
	*secret = table_secret;
	*len = table_secret_len;
}

/*
 * HMAC-SHA256(secret, domain NUL a NUL b[0..blen)).  Results for short
 * inputs are memoised per backend (keys and emails repeat from event to
 * event, and an HMAC costs microseconds); the memo is dropped when the
 * secret changes or it grows past HASH_MEMO_MAX entries.
 */
static void
keyed_hash(const char *domain, const char *a, const char *b, int blen, uint8 *out)
{
	const uint8 *secret;
	int			slen;
	pg_hmac_ctx *ctx;
	HashMemoEntry *memo = NULL;
	int			dlen = strlen(domain) + 1,
				alen = strlen(a) + 1;

	secret_get(&secret, &slen);
	if (dlen + alen + blen <= HASH_MEMO_INPUT)
	{
		HashMemoKey key;
		bool		found;

		if (hash_memo == NULL || hash_memo_count >= HASH_MEMO_MAX ||
			slen != memo_secret_len || memcmp(secret, memo_secret, slen) != 0)
			hash_memo_reset(secret, slen);
		memset(&key, 0, sizeof(key));
		key.len = dlen + alen + blen;
		memcpy(key.input, domain, dlen);
		memcpy(key.input + dlen, a, alen);
		memcpy(key.input + dlen + alen, b, blen);
		memo = hash_search(hash_memo, &key, HASH_ENTER, &found);
		if (found)
		{
			memcpy(out, memo->hash, HASH_LEN);
			return;
		}
		hash_memo_count++;
	}
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_hmac_init(ctx, secret, slen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) domain, strlen(domain) + 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) a, strlen(a) + 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) b, blen) < 0 ||
		pg_hmac_final(ctx, out, HASH_LEN) < 0)
	{
		const char *why = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		if (memo)
			hash_search(hash_memo, &memo->key, HASH_REMOVE, NULL);
		elog(ERROR, "phoenix: HMAC-SHA256 failed: %s", why);
	}
	pg_hmac_free(ctx);
	if (memo)
		memcpy(memo->hash, out, HASH_LEN);
}

/* A fresh, empty memo of keyed hashes under `secret`. */
static void
hash_memo_reset(const uint8 *secret, int slen)
{
	HASHCTL		ctl;

	if (hash_memo_cxt == NULL)
		hash_memo_cxt = AllocSetContextCreate(TopMemoryContext, "Phoenix keyed hash memo",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(hash_memo_cxt);
	ctl.keysize = sizeof(HashMemoKey);
	ctl.entrysize = sizeof(HashMemoEntry);
	ctl.hcxt = hash_memo_cxt;
	hash_memo = hash_create("Phoenix keyed hashes", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	hash_memo_count = 0;
	memo_secret = MemoryContextAlloc(hash_memo_cxt, Max(slen, 1));
	memcpy(memo_secret, secret, slen);
	memo_secret_len = slen;
}

/* Tombstone hash of a value (of any attribute: late events name it anywhere). */
static void
value_hash(const char *value, int len, uint8 *out)
{
	/* case-insensitive: a late event may write ADA@EXAMPLE.COM */
	char	   *folded = str_tolower(value, len, DEFAULT_COLLATION_OID);

	keyed_hash("phoenix.forget.value", "", folded, strlen(folded), out);
	pfree(folded);
}

static void
key_hash(const char *entity, const char *key, uint8 *out)
{
	keyed_hash("phoenix.forget.key", entity, key, strlen(key), out);
}

/* "forgotten-<20 hex>" or "<20 hex>@forgotten.invalid": what forget writes. */
static bool
is_pseudonym(const char *s, int len)
{
	const char *h;
	int			plen = strlen(PSEUDONYM_PREFIX),
				dlen = strlen(PSEUDONYM_DOMAIN);

	if (len == plen + 2 * PSEUDONYM_BYTES && strncmp(s, PSEUDONYM_PREFIX, plen) == 0)
		h = s + plen;
	else if (len == 2 * PSEUDONYM_BYTES + dlen &&
			 strncmp(s + 2 * PSEUDONYM_BYTES, PSEUDONYM_DOMAIN, dlen) == 0)
		h = s;
	else
		return false;
	for (int i = 0; i < 2 * PSEUDONYM_BYTES; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

/*
 * The pseudonym of a value: a function of the value and the secret only, so
 * equal values stay equal (groupings and by-attribute joins survive) and
 * nobody without the secret can link it back.  Emails stay email-shaped.
 */
static char *
pseudonym(const char *value, int len)
{
	uint8		h[HASH_LEN];
	char	   *hx;

	if (is_pseudonym(value, len))
		return pnstrdup(value, len);
	keyed_hash("phoenix.forget.pseudonym", "", value, len, h);
	hx = hex(h, PSEUDONYM_BYTES);
	if (memchr(value, '@', len) != NULL)
		return psprintf("%s%s", hx, PSEUDONYM_DOMAIN);
	return psprintf("%s%s", PSEUDONYM_PREFIX, hx);
}

/* ====================================================================
 * JSON and text scrubbing
 * ==================================================================== */

/*
 * `doc` with its top-level members named in `fields` scrubbed: strings
 * become their pseudonyms, other non-null values null (a number has no
 * pseudonym of its type).  Members named in `null_fields` become null
 * whatever they hold (a date attribute's value, which is a JSON string).
 * *changed tells whether anything differs; when not, `doc` itself is
 * returned.
 */
static Jsonb *
scrub_jsonb(Jsonb *doc, List *fields, List *null_fields, bool *changed)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbValue *res = NULL;
	JsonbIteratorToken tok;
	bool		pii = false;
	bool		to_null = false;

	*changed = false;
	if ((fields == NIL && null_fields == NIL) || !JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		return doc;
	it = JsonbIteratorInit(&doc->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			pii = str_in_list(fields, v.val.string.val, v.val.string.len);
			to_null = str_in_list(null_fields, v.val.string.val, v.val.string.len);
		}
		else if (tok == WJB_VALUE && (pii || to_null))
		{
			if (v.type == jbvString && !to_null)
			{
				if (!is_pseudonym(v.val.string.val, v.val.string.len))
				{
					char	   *p = pseudonym(v.val.string.val, v.val.string.len);

					v.val.string.val = p;
					v.val.string.len = strlen(p);
					*changed = true;
				}
			}
			else if (v.type != jbvNull)
			{
				v.type = jbvNull;
				*changed = true;
			}
		}
		res = pushJsonbValue(&state, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	}
	return *changed ? JsonbValueToJsonb(res) : doc;
}

static bool
str_in_list(List *list, const char *s, int len)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		const char *e = lfirst(lc);

		if ((int) strlen(e) == len && memcmp(e, s, len) == 0)
			return true;
	}
	return false;
}

/* strstr ignoring ASCII case (emails and names as people type them). */
static const char *
find_folded(const char *s, const char *needle, int nlen)
{
	for (; *s; s++)
		if (pg_strncasecmp(s, needle, nlen) == 0)
			return s;
	return NULL;
}

static char *
replace_all(const char *s, const char *needle, const char *repl, bool *changed)
{
	StringInfoData out;
	const char *p;
	int			nlen = strlen(needle);

	if (nlen == 0 || (p = find_folded(s, needle, nlen)) == NULL)
		return (char *) s;
	initStringInfo(&out);
	while (p != NULL)
	{
		appendBinaryStringInfo(&out, s, p - s);
		appendStringInfoString(&out, repl);
		s = p + nlen;
		p = find_folded(s, needle, nlen);
	}
	appendStringInfoString(&out, s);
	*changed = true;
	return out.data;
}

/*
 * Replace each value (longest first, so "Ada Lovelace" goes before "Ada"),
 * as written and as escaped inside a JSON string, by its pseudonym.
 */
static char *
scrub_text_values(const char *s, List *values, bool *changed)
{
	List	   *sorted = list_copy(values);
	ListCell   *lc;
	char	   *out = (char *) s;

	for (int i = 0; i < list_length(sorted); i++)
		for (int j = i + 1; j < list_length(sorted); j++)
			if (strlen(list_nth(sorted, j)) > strlen(list_nth(sorted, i)))
			{
				void	   *t = list_nth(sorted, i);

				list_nth_cell(sorted, i)->ptr_value = list_nth(sorted, j);
				list_nth_cell(sorted, j)->ptr_value = t;
			}
	foreach(lc, sorted)
	{
		const char *v = lfirst(lc);
		char	   *p = pseudonym(v, strlen(v));
		StringInfoData esc;

		out = replace_all(out, v, p, changed);
		initStringInfo(&esc);
		escape_json(&esc, v);
		esc.data[esc.len - 1] = '\0';
		if (strcmp(esc.data + 1, v) != 0)
			out = replace_all(out, esc.data + 1, p, changed);
	}
	return out;
}

/* Parse JSON text without raising: NULL when it is not valid JSON. */
static Jsonb *
parse_json_quietly(const char *raw)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen((char *) raw, strlen(raw),
													   GetDatabaseEncoding(), true);

	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(raw)));
}

/* ====================================================================
 * The cache: tombstones and event type fields
 * ==================================================================== */

static bool
payload_about_forgotten(ForgetType *type, Jsonb *payload)
{
	ListCell   *lr;

	foreach(lr, type->refs)
	{
		ForgetRef  *r = lfirst(lr);
		JsonbValue *v;
		char	   *t;
		uint8		h[HASH_LEN];

		if (!tomb_entity(r->entity_id) || (v = jsonfast_member(payload, r->field)) == NULL ||
			(t = jsonfast_scalar_text(v)) == NULL)
			continue;
		if (r->attribute == NULL)
			key_hash(r->entity, t, h);
		else
			value_hash(t, strlen(t), h);
		if (tomb_has(r->entity_id, r->attribute ? r->attribute : "", h))
			return true;
	}
	return false;
}

static void
forget_inval_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == forgotten_relid)
		tomb_valid = false;
	if (relid == InvalidOid || relid == event_log_relid)
		event_log_relid = InvalidOid;	/* maybe dropped with the extension */
	if (relid == InvalidOid || relid == versions_relid || relid == entities_relid)
		types_valid = false;
}

static void
forget_xact_cb(XactEvent event, void *arg)
{
	/* an aborted forget may have left its uncommitted tombstone in the cache */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		tomb_valid = types_valid = false;
}

static Oid
phoenix_relid(const char *relname)
{
	Oid			nsp = get_namespace_oid(PHOENIX_SCHEMA, true);

	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}

/*
 * An emitter's first tombstone check takes ROW EXCLUSIVE on the event log
 * (which it takes anyway to append), so that a forget in progress — holding
 * SHARE — is waited for, and its tombstone is seen (acquiring the lock
 * processes the invalidation it sent).  Later calls find the lock held.
 */
static void
lock_writers(void)
{
	if (!OidIsValid(event_log_relid))
		event_log_relid = phoenix_relid("event_log");
	if (OidIsValid(event_log_relid))
		LockRelationOid(event_log_relid, RowExclusiveLock);
}

/* (Re)load the tombstone sets, reading the owner-only tables as the owner. */
static void
tomb_load(void)
{
	HASHCTL		ctl;
	OwnerContext oc;
	MemoryContext old;

	if (tomb_valid)
		return;
	if (tomb_cxt == NULL)
		tomb_cxt = AllocSetContextCreate(TopMemoryContext, "Phoenix tombstones",
										 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(tomb_cxt);
	tomb_set = tomb_any_value = NULL;
	tomb_entities = NIL;
	tomb_count = 0;

	ctl.keysize = sizeof(TombKey);
	ctl.entrysize = sizeof(TombKey);
	ctl.hcxt = tomb_cxt;
	tomb_set = hash_create("Phoenix tombstones", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = HASH_LEN;
	ctl.entrysize = HASH_LEN;
	tomb_any_value = hash_create("Phoenix forgotten values", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	forgotten_relid = phoenix_relid("forgotten_keys");
	if (!OidIsValid(forgotten_relid))
		return;					/* not installed in this database */
	SPI_connect();
	as_owner_begin(&oc, false);
	/* not read-only: a fresh snapshot sees a forget we just waited for */
	if (SPI_execute("SELECT entity_id, '', key_hash FROM phoenix.forgotten_keys "
					"UNION ALL SELECT entity_id, attribute, value_hash FROM phoenix.forgotten_values",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: reading tombstones failed");
	old = MemoryContextSwitchTo(tomb_cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		TombKey		k;
		int32		id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *att = SPI_getvalue(tup, desc, 2);
		bytea	   *h = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));

		if (VARSIZE_ANY_EXHDR(h) != HASH_LEN)
			continue;
		memset(&k, 0, sizeof(k));
		k.entity_id = id;
		strlcpy(k.attribute, att ? att : "", NAMEDATALEN);
		memcpy(k.hash, VARDATA_ANY(h), HASH_LEN);
		hash_search(tomb_set, &k, HASH_ENTER, NULL);
		if (k.attribute[0] != '\0')
			hash_search(tomb_any_value, k.hash, HASH_ENTER, NULL);
		if (!list_member_int(tomb_entities, id))
			tomb_entities = lappend_int(tomb_entities, id);
		tomb_count++;
	}
	MemoryContextSwitchTo(old);
	as_owner_end(&oc);
	SPI_finish();
	tomb_valid = true;
}

static bool
tomb_has(int32 entity_id, const char *attribute, const uint8 *hash)
{
	TombKey		k;

	memset(&k, 0, sizeof(k));
	k.entity_id = entity_id;
	strlcpy(k.attribute, attribute, NAMEDATALEN);
	memcpy(k.hash, hash, HASH_LEN);
	return hash_search(tomb_set, &k, HASH_FIND, NULL) != NULL;
}

static bool
tomb_entity(int32 entity_id)
{
	return list_member_int(tomb_entities, entity_id);
}

/* Add value hashes to the tombstone (as the owner); the cache reloads. */
static void
tomb_add_values(int32 entity_id, const char *attribute, List *values)
{
	OwnerContext oc;
	ListCell   *lc;
	SPIPlanPtr	plan;

	if (values == NIL)
		return;
	SPI_connect();
	as_owner_begin(&oc, false);
	plan = SPI_prepare("INSERT INTO phoenix.forgotten_values (entity_id, attribute, value_hash) "
					   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
					   3, (Oid[]) {INT4OID, TEXTOID, BYTEAOID});
	if (plan == NULL)
		elog(ERROR, "phoenix: preparing the tombstone insert failed");
	foreach(lc, values)
	{
		const char *v = lfirst(lc);
		uint8		h[HASH_LEN];
		Datum		args[3];

		value_hash(v, strlen(v), h);
		args[0] = Int32GetDatum(entity_id);
		args[1] = CStringGetTextDatum(attribute);
		args[2] = PointerGetDatum(hash_bytea(h));
		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "phoenix: recording a tombstone value failed");
	}
	SPI_freeplan(plan);
	as_owner_end(&oc);
	SPI_finish();
	if (OidIsValid(forgotten_relid))
		CacheInvalidateRelcacheByRelid(forgotten_relid);
	tomb_valid = false;
}

/*
 * (Re)load what forget needs of every event type: its refs (resolved to
 * entity ids) and its PII fields, the union over all registered versions
 * (an old event was validated against an old version).  Nothing when the
 * registry is not installed.
 */
static void
types_load(void)
{
	MemoryContext old;
	Oid			types_relid;

	if (types_valid)
		return;
	if (types_cxt == NULL)
		types_cxt = AllocSetContextCreate(TopMemoryContext, "Phoenix forget event types",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(types_cxt);
	type_list = NIL;
	entities_relid = phoenix_relid("entities");
	versions_relid = phoenix_relid("event_type_versions");
	types_relid = phoenix_relid("event_types");
	if (!OidIsValid(versions_relid) || !OidIsValid(types_relid))
	{
		types_valid = true;
		return;
	}
	SPI_connect();
	if (SPI_execute("SELECT v.event_type, t.entity, v.key_field, v.sets, v.refs, v.schema "
					"FROM phoenix.event_type_versions v JOIN phoenix.event_types t ON t.name = v.event_type "
					"ORDER BY v.event_type, v.version", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: reading the event types failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *name = SPI_getvalue(tup, desc, 1);
		char	   *ename = SPI_getvalue(tup, desc, 2);
		char	   *key_field = SPI_getvalue(tup, desc, 3);
		bool		isnull;
		Datum		d;
		PhxEntity  *owner = ename ? catalog_entity(ename, true) : NULL;
		ForgetType *type = type_lookup(name);
		List	   *pii = NIL;
		MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "schema", ALLOCSET_SMALL_SIZES);

		/* x-pii fields of this version */
		d = SPI_getbinval(tup, desc, 6, &isnull);
		if (!isnull)
		{
			JsonSchema *schema = jsonschema_compile(DatumGetJsonbP(d), tmp);

			pii = list_copy(jsonschema_pii_fields(schema));
		}

		old = MemoryContextSwitchTo(types_cxt);
		if (type == NULL)
		{
			type = palloc0(sizeof(ForgetType));
			type->name = pstrdup(name);
			type_list = lappend(type_list, type);
		}
		{
			ListCell   *lc;

			foreach(lc, pii)
				type_add_unique(&type->pii_fields, lfirst(lc));
		}
		/* an entity event type's key field names the key it is about */
		if (owner && key_field)
		{
			ForgetRef  *ref = palloc0(sizeof(ForgetRef));

			ref->field = pstrdup(key_field);
			ref->entity_id = owner->id;
			ref->entity = pstrdup(owner->name);
			type->refs = lappend(type->refs, ref);
		}
		/* sets: fields that hold PII attributes of the entity */
		d = SPI_getbinval(tup, desc, 4, &isnull);
		if (!isnull && owner)
		{
			JsonbIterator *it = JsonbIteratorInit(&DatumGetJsonbP(d)->root);
			JsonbValue	v;
			JsonbIteratorToken tok;
			char	   *field = NULL;

			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
					field = pnstrdup(v.val.string.val, v.val.string.len);
				else if (tok == WJB_VALUE && v.type == jbvString)
				{
					int			a = catalog_attribute_index(owner, pnstrdup(v.val.string.val, v.val.string.len));

					if (a >= 0 && owner->atts[a].pii)
					{
						ForgetRef  *set = palloc0(sizeof(ForgetRef));

						set->field = field;
						set->entity_id = owner->id;
						set->entity = pstrdup(owner->name);
						set->attribute = pstrdup(owner->atts[a].name);
						type->pii_sets = lappend(type->pii_sets, set);
						type_add_unique(&type->pii_fields, field);
					}
				}
			}
		}
		/* refs: "entity" (by key) or "entity.attribute" (by value) */
		d = SPI_getbinval(tup, desc, 5, &isnull);
		if (!isnull)
		{
			JsonbIterator *it = JsonbIteratorInit(&DatumGetJsonbP(d)->root);
			JsonbValue	v;
			JsonbIteratorToken tok;
			char	   *field = NULL;

			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				char	   *target,
						   *dot;
				PhxEntity  *e;
				ForgetRef  *ref;

				if (tok == WJB_KEY)
				{
					field = pnstrdup(v.val.string.val, v.val.string.len);
					continue;
				}
				if (tok != WJB_VALUE || v.type != jbvString)
					continue;
				target = pnstrdup(v.val.string.val, v.val.string.len);
				dot = strchr(target, '.');
				if (dot)
					*dot++ = '\0';
				if ((e = catalog_entity(target, true)) == NULL)
					continue;
				ref = palloc0(sizeof(ForgetRef));
				ref->field = field;
				ref->entity_id = e->id;
				ref->entity = pstrdup(e->name);
				ref->attribute = dot ? pstrdup(dot) : NULL;
				type->refs = lappend(type->refs, ref);
				if (dot)
				{
					int			a = catalog_attribute_index(e, dot);

					if (a >= 0 && e->atts[a].pii)
						type_add_unique(&type->pii_fields, field);
				}
			}
		}
		MemoryContextSwitchTo(old);
		MemoryContextDelete(tmp);
	}
	SPI_finish();
	types_valid = true;
}

static ForgetType *
type_lookup(const char *name)
{
	ListCell   *lc;

	foreach(lc, type_list)
	{
		ForgetType *t = lfirst(lc);

		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

/* Append a copy of s (in the current context) unless already there. */
static void
type_add_unique(List **list, const char *s)
{
	if (!str_in_list(*list, s, strlen(s)))
		*list = lappend(*list, pstrdup(s));
}

/* ====================================================================
 * Small helpers
 * ==================================================================== */

/* The owner of schema phoenix: the role that installed the extension. */
static Oid
phoenix_owner(void)
{
	Oid			nsp = get_namespace_oid(PHOENIX_SCHEMA, false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Run as the extension owner, as a SECURITY DEFINER function would: the
 * user id is restored by as_owner_end, or by (sub)transaction abort on
 * error.  With pin_search_path, search_path is pg_catalog, pg_temp until
 * then.
 */
static void
as_owner_begin(OwnerContext *oc, bool pin_search_path)
{
	GetUserIdAndSecContext(&oc->save_userid, &oc->save_sec);
	SetUserIdAndSecContext(phoenix_owner(), oc->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	oc->guc_level = -1;
	if (pin_search_path)
	{
		oc->guc_level = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
}

static void
as_owner_end(OwnerContext *oc)
{
	if (oc->guc_level >= 0)
		AtEOXact_GUC(true, oc->guc_level);
	SetUserIdAndSecContext(oc->save_userid, oc->save_sec);
}

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

static char *
hex(const uint8 *bytes, int len)
{
	char	   *out = palloc(2 * len + 1);

	hex_encode((const char *) bytes, len, out);
	out[2 * len] = '\0';
	return out;
}

static bytea *
hash_bytea(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + HASH_LEN);
	memcpy(VARDATA(b), hash, HASH_LEN);
	return b;
}

static List *
text_list(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}
