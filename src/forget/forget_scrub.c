/*
 * forget_scrub.c — the write paths' hooks that scrub late writes about a
 * forgotten key, and the caches they read: the tombstones and what forget
 * needs of every event type.
 *
 * A late event is about a forgotten person when a ref field holds their key,
 * or a by-attribute ref field holds a value of theirs at a time inside the
 * periods in which they held it (the tombstone keeps, per value, its keyed
 * hash, the person's keyed key hash and those periods — never the value).
 *
 * Caches: the tombstone sets and the per-event-type field lists live in
 * backend-local contexts, dropped when forget (or a catalog change) sends a
 * relcache invalidation, and at the end of an aborted transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "timeline/catalog.h"
#include "forget/forget.h"
#include "ingest/ingest_hooks.h"
#include "forget/forget_int.h"
#include "json/jsonfast.h"
#include "json/jsonschema.h"
#include "common/relcache.h"
#include "common/phoenix.h"
#include "json/softparse.h"

#define RAW_MAX_WORDS		6	/* longest value recognised in free text, in words */

/* A forgotten key: (entity, keyed hash of the key). */
typedef struct TombKey
{
	int32		entity_id;
	uint8		hash[FORGET_HASH_LEN];
} TombKey;

/* A forgotten value's hash and every (person, attribute, periods) it names. */
typedef struct TombValueSet
{
	uint8		hash[FORGET_HASH_LEN];
	List	   *holders;		/* TombHolder * */
} TombValueSet;

typedef struct TombHolder
{
	int32		entity_id;
	char	   *attribute;
	ForgetPerson person;
	ForgetPeriods *periods;
} TombHolder;

/* A value found in a late write, and whose it is. */
typedef struct FoundValue
{
	char	   *value;
	TombHolder *holder;
} FoundValue;

static MemoryContext tomb_cxt = NULL;
static MemoryContext types_cxt = NULL;
static bool tomb_valid = false;
static bool types_valid = false;
static HTAB *tomb_keys = NULL;		/* TombKey */
static HTAB *tomb_values = NULL;	/* TombValueSet */
static int64 tomb_count = 0;
static List *tomb_entities = NIL;	/* int32 ids of entities with forgotten keys */
static List *type_list = NIL;		/* ForgetType * */
static Oid	forgotten_relid = InvalidOid;
static Oid	event_log_relid = InvalidOid;	/* cached for lock_writers() */
static Oid	versions_relid = InvalidOid;
static Oid	entities_relid = InvalidOid;

static void forget_inval_cb(Datum arg, Oid relid);
static void forget_xact_cb(XactEvent event, void *arg);
static void lock_writers(void);
static void tomb_load(void);
static bool tomb_has_key(int32 entity_id, const uint8 *hash);
static TombHolder *tomb_holder(int32 entity_id, const char *attribute, const char *value, TimestampTz at);
static bool payload_about_forgotten(ForgetType *type, Jsonb *payload, TimestampTz at, ForgetPerson *who);
static void types_load(void);
static void type_add_version(HeapTuple tup, TupleDesc desc);
static void type_add_sets(ForgetType *type, PhxEntity *owner, Jsonb *sets);
static void type_add_refs(ForgetType *type, Jsonb *refs);
static int	found_longer_first(const ListCell *a, const ListCell *b);

void
ForgetHooksInit(void)
{
	phoenix_relcache_callback(forget_inval_cb, (Datum) 0);
	RegisterXactCallback(forget_xact_cb, NULL);
	/* every stored value passes forget first: entity assertions and events */
	timeline_register_scrub_assertion_hook(forget_scrub_assertion);
	ingest_register_scrub_hooks(forget_scrub_payload, forget_scrub_raw);
}

/* ====================================================================
 * Hooks of the write paths
 * ==================================================================== */

Jsonb *
forget_scrub_payload(const char *event_type, Jsonb *payload, TimestampTz effective_at)
{
	ForgetType *type;
	ForgetPerson who;
	bool		changed;
	Jsonb	   *result;
	ListCell   *lr;

	if (event_type == NULL || payload == NULL || !JB_ROOT_IS_OBJECT(payload) ||
		JB_ROOT_IS_SCALAR(payload))
		return NULL;
	lock_writers();
	tomb_load();
	if (tomb_count == 0)
		return NULL;
	types_load();
	type = forget_type_lookup(event_type);
	if (type == NULL || type->pii_fields == NIL ||
		!payload_about_forgotten(type, payload, effective_at, &who))
		return NULL;

	/*
	 * New PII values that an entity event sets for the forgotten key (a late
	 * change of their email) join the tombstone, from the event's time on, so
	 * that later events naming them are recognised too: the timeline only
	 * ever sees the pseudonyms.
	 */
	foreach(lr, type->pii_sets)
	{
		ForgetRef  *r = lfirst(lr);
		JsonbValue *v;
		char	   *value;

		if ((v = jsonfast_member(payload, r->field)) == NULL || v->type != jbvString ||
			forget_is_pseudonym(v->val.string.val, v->val.string.len) ||
			strcmp(r->entity, who.entity) != 0)
			continue;
		value = pnstrdup(v->val.string.val, v->val.string.len);
		forget_tomb_add_value(r->entity_id, r->attribute, value, who.key_hash,
							  psprintf("{[\"%s\",infinity)}", timestamptz_to_str(effective_at)));
	}
	result = forget_scrub_jsonb(&who, payload, type->pii_fields, &changed);
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
	TimestampTz at = GetCurrentTransactionStartTimestamp();
	ListCell   *lc;

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
		Jsonb	   *doc = forget_parse_json_quietly(raw);
		ForgetType *type;
		Jsonb	   *scrubbed;

		types_load();
		type = forget_type_lookup(event_type);
		if (doc && type && JB_ROOT_IS_OBJECT(doc) && !JB_ROOT_IS_SCALAR(doc))
			(void) forget_payload_time(type, doc, &at);
		scrubbed = doc ? forget_scrub_payload(event_type, doc, at) : NULL;
		if (scrubbed)
		{
			out = JsonbToCString(NULL, &scrubbed->root, VARSIZE(scrubbed));
			changed = true;
		}
	}

	/*
	 * Any token, or run of up to RAW_MAX_WORDS words inside one ("... Ada
	 * Lovelace ..." in free text), that is a value some forgotten key had at
	 * the input's time.
	 */
	copy = pstrdup(out);
	for (char *tok = strtok_r(copy, delims, &save); tok; tok = strtok_r(NULL, delims, &save))
	{
		int			maxwords = strlen(tok) / 2 + 1;
		const char **starts = palloc(sizeof(char *) * maxwords);
		const char **ends = palloc(sizeof(char *) * maxwords);
		int			nwords = 0;

		CHECK_FOR_INTERRUPTS();
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
				int			len = ends[j] - starts[i];
				char	   *value;
				TombHolder *holder;

				/* "... with Ada Lovelace." : the sentence's stop is not hers */
				while (len > 1 && strchr(".!?", starts[i][len - 1]))
					len--;
				if (forget_is_pseudonym(starts[i], len))
					continue;
				value = pnstrdup(starts[i], len);
				if ((holder = tomb_holder(0, NULL, value, at)) != NULL)
				{
					FoundValue *f = palloc(sizeof(FoundValue));

					f->value = value;
					f->holder = holder;
					found = lappend(found, f);
				}
			}
		pfree(starts);
		pfree(ends);
	}
	list_sort(found, found_longer_first);
	foreach(lc, found)
	{
		FoundValue *f = lfirst(lc);

		out = forget_scrub_text(&f->holder->person, out, list_make1(f->value), &changed);
	}
	return changed ? out : NULL;
}

void
forget_scrub_assertion(PhxEntity *entity, const char *key, TimelineAssertion *a)
{
	ForgetPerson who;
	char	   *periods;

	/* a forget we waited for (on the key's lock) has just committed: see it */
	AcceptInvalidationMessages();
	tomb_load();
	if (tomb_count == 0 || !list_member_int(tomb_entities, entity->id))
		return;
	forget_person_init(&who, entity->name, key);
	if (!tomb_has_key(entity->id, who.key_hash))
		return;
	periods = psprintf("{[\"%s\",%s)}", timestamptz_to_str(a->valid_from),
					   a->is_open ? "infinity" : psprintf("\"%s\"", timestamptz_to_str(a->valid_to)));
	for (int i = 0; i < entity->natts; i++)
	{
		PhxAttribute *att = &entity->atts[i];
		char	   *text;

		if (!att->pii || !a->asserted[i] || a->isnull[i])
			continue;
		text = OidOutputFunctionCall(att->typoutput, a->values[i]);
		if (att->typid == TEXTOID && forget_is_pseudonym(text, strlen(text)))
			continue;
		forget_tomb_add_value(entity->id, att->name, text, who.key_hash, periods);
		if (att->typid == TEXTOID)
			a->values[i] = CStringGetTextDatum(forget_pseudonym(&who, text, strlen(text)));
		else
		{
			a->values[i] = (Datum) 0;
			a->isnull[i] = true;
		}
	}
}

/* ====================================================================
 * Tombstones
 * ==================================================================== */

/*
 * Whose is a payload: the person a ref field names by key, or by a value
 * they held at `at`.  Fills *who and returns true when it is a forgotten one.
 */
static bool
payload_about_forgotten(ForgetType *type, Jsonb *payload, TimestampTz at, ForgetPerson *who)
{
	ListCell   *lr;

	foreach(lr, type->refs)
	{
		ForgetRef  *r = lfirst(lr);
		JsonbValue *v;
		char	   *t;

		if (!list_member_int(tomb_entities, r->entity_id) ||
			(v = jsonfast_member(payload, r->field)) == NULL ||
			(t = jsonfast_scalar_text(v)) == NULL)
			continue;
		if (r->attribute == NULL)
		{
			forget_person_init(who, r->entity, t);
			if (tomb_has_key(r->entity_id, who->key_hash))
				return true;
		}
		else
		{
			TombHolder *h = tomb_holder(r->entity_id, r->attribute, t, at);

			if (h)
			{
				*who = h->person;
				return true;
			}
		}
	}
	return false;
}

/*
 * The forgotten person who held `value` at `at` (of that entity and
 * attribute; entity_id 0: any), or NULL.
 */
static TombHolder *
tomb_holder(int32 entity_id, const char *attribute, const char *value, TimestampTz at)
{
	uint8		h[FORGET_HASH_LEN];
	TombValueSet *set;
	ListCell   *lc;

	forget_value_hash(value, strlen(value), h);
	if ((set = hash_search(tomb_values, h, HASH_FIND, NULL)) == NULL)
		return NULL;
	foreach(lc, set->holders)
	{
		TombHolder *th = lfirst(lc);

		if ((entity_id == 0 || (th->entity_id == entity_id && strcmp(th->attribute, attribute) == 0)) &&
			forget_periods_contain(th->periods, at))
			return th;
	}
	return NULL;
}

static bool
tomb_has_key(int32 entity_id, const uint8 *hash)
{
	TombKey		k;

	memset(&k, 0, sizeof(k));
	k.entity_id = entity_id;
	memcpy(k.hash, hash, FORGET_HASH_LEN);
	return hash_search(tomb_keys, &k, HASH_FIND, NULL) != NULL;
}

/* (Re)load the tombstones, reading the owner-only tables as the owner. */
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
	tomb_keys = tomb_values = NULL;
	tomb_entities = NIL;
	tomb_count = 0;

	ctl.keysize = sizeof(TombKey);
	ctl.entrysize = sizeof(TombKey);
	ctl.hcxt = tomb_cxt;
	tomb_keys = hash_create("Phoenix tombstones", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = FORGET_HASH_LEN;
	ctl.entrysize = sizeof(TombValueSet);
	tomb_values = hash_create("Phoenix forgotten values", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	forgotten_relid = forget_phoenix_relid("forgotten_keys");
	if (!OidIsValid(forgotten_relid))
		return;					/* not installed in this database */
	SPI_connect();
	forget_as_owner_begin(&oc, true);
	/* not read-only: a fresh snapshot sees a forget we just waited for */
	if (SPI_execute("SELECT k.entity_id, e.name, k.key_hash, NULL, NULL, NULL::timestamptz[], NULL::timestamptz[] "
					"FROM phoenix.forgotten_keys k JOIN phoenix.entities e USING (entity_id) "
					"UNION ALL SELECT v.entity_id, e.name, v.key_hash, v.attribute, v.value_hash, "
					"(SELECT array_agg(lower(r) ORDER BY r) FROM unnest(v.periods) r), "
					"(SELECT array_agg(upper(r) ORDER BY r) FROM unnest(v.periods) r) "
					"FROM phoenix.forgotten_values v JOIN phoenix.entities e USING (entity_id)",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: reading tombstones failed");
	old = MemoryContextSwitchTo(tomb_cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull,
					lnull,
					unull;
		int32		id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		bytea	   *kh = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));
		char	   *att = SPI_getvalue(tup, desc, 4);

		if (VARSIZE_ANY_EXHDR(kh) != FORGET_HASH_LEN)
			continue;
		if (att == NULL)
		{
			TombKey		k;

			memset(&k, 0, sizeof(k));
			k.entity_id = id;
			memcpy(k.hash, VARDATA_ANY(kh), FORGET_HASH_LEN);
			hash_search(tomb_keys, &k, HASH_ENTER, NULL);
		}
		else
		{
			bytea	   *vh = DatumGetByteaPP(SPI_getbinval(tup, desc, 5, &isnull));
			TombHolder *th = palloc0(sizeof(TombHolder));
			TombValueSet *set;
			bool		found;
			Datum		lo = SPI_getbinval(tup, desc, 6, &lnull);
			Datum		hi = SPI_getbinval(tup, desc, 7, &unull);

			if (VARSIZE_ANY_EXHDR(vh) != FORGET_HASH_LEN)
				continue;
			th->entity_id = id;
			th->attribute = pstrdup(att);
			th->person.entity = SPI_getvalue(tup, desc, 2);
			memcpy(th->person.key_hash, VARDATA_ANY(kh), FORGET_HASH_LEN);
			th->periods = forget_periods_from_arrays(lo, lnull, hi, unull);
			set = hash_search(tomb_values, VARDATA_ANY(vh), HASH_ENTER, &found);
			if (!found)
				set->holders = NIL;
			set->holders = lappend(set->holders, th);
		}
		if (!list_member_int(tomb_entities, id))
			tomb_entities = lappend_int(tomb_entities, id);
		tomb_count++;
	}
	MemoryContextSwitchTo(old);
	forget_as_owner_end(&oc);
	SPI_finish();
	tomb_valid = true;
}

/*
 * Every backend reloads the tombstones (the table looked up afresh: the
 * extension may have been dropped and created again since the last load).
 */
void
forget_tomb_invalidate(void)
{
	forgotten_relid = forget_phoenix_relid("forgotten_keys");
	if (OidIsValid(forgotten_relid))
		CacheInvalidateRelcacheByRelid(forgotten_relid);
	tomb_valid = false;
}

/* Record a forgotten key (as the owner); caches see it at once. */
void
forget_tomb_add_key(int32 entity_id, const uint8 *key_hash)
{
	OwnerContext oc;

	SPI_connect();
	forget_as_owner_begin(&oc, true);
	if (SPI_execute_with_args("INSERT INTO phoenix.forgotten_keys (entity_id, key_hash) VALUES ($1, $2) "
							  "ON CONFLICT DO NOTHING",
							  2, (Oid[]) {INT4OID, BYTEAOID},
							  (Datum[]) {Int32GetDatum(entity_id), PointerGetDatum(forget_hash_bytea(key_hash))},
							  NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "phoenix: forget: recording the tombstone failed");
	forget_as_owner_end(&oc);
	SPI_finish();
	forget_tomb_invalidate();
}

/*
 * Add a value of a forgotten person to the tombstone: its keyed hash, the
 * person's key hash and the periods (a tstzmultirange literal) in which it
 * was theirs, merged with those recorded before.
 */
void
forget_tomb_add_value(int32 entity_id, const char *attribute, const char *value,
					  const uint8 *key_hash, const char *periods)
{
	OwnerContext oc;
	uint8		h[FORGET_HASH_LEN];
	Datum		args[5];

	forget_value_hash(value, strlen(value), h);
	args[0] = Int32GetDatum(entity_id);
	args[1] = CStringGetTextDatum(attribute);
	args[2] = PointerGetDatum(forget_hash_bytea(h));
	args[3] = PointerGetDatum(forget_hash_bytea(key_hash));
	args[4] = CStringGetTextDatum(periods);
	SPI_connect();
	forget_as_owner_begin(&oc, true);
	if (SPI_execute_with_args("INSERT INTO phoenix.forgotten_values AS f "
							  "(entity_id, attribute, value_hash, key_hash, periods) "
							  "VALUES ($1, $2, $3, $4, $5::text::tstzmultirange) "
							  "ON CONFLICT (entity_id, attribute, value_hash, key_hash) "
							  "DO UPDATE SET periods = f.periods + excluded.periods",
							  5, (Oid[]) {INT4OID, TEXTOID, BYTEAOID, BYTEAOID, TEXTOID},
							  args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "phoenix: recording a tombstone value failed");
	forget_as_owner_end(&oc);
	SPI_finish();
	forget_tomb_invalidate();
}

/* ====================================================================
 * Event types
 * ==================================================================== */

List *
forget_type_list(void)
{
	types_load();
	return type_list;
}

ForgetType *
forget_type_lookup(const char *name)
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

/* The effective time a payload gives in one of its type's time fields. */
bool
forget_payload_time(ForgetType *type, Jsonb *payload, TimestampTz *at)
{
	ListCell   *lc;

	foreach(lc, type->time_fields)
	{
		JsonbValue *v = jsonfast_member(payload, lfirst(lc));
		char	   *reason;
		int			code;

		if (v && v->type == jbvString &&
			softparse_timestamptz(v->val.string.val, v->val.string.len, at, &reason, &code))
			return true;
	}
	return false;
}

/*
 * (Re)load what forget needs of every event type: its refs (resolved to
 * entity ids), its PII fields and time fields, the union over all registered
 * versions (an old event was validated against an old version).  Nothing
 * when the registry is not installed.
 */
static void
types_load(void)
{
	Oid			types_relid;

	if (types_valid)
		return;
	if (types_cxt == NULL)
		types_cxt = AllocSetContextCreate(TopMemoryContext, "Phoenix forget event types",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(types_cxt);
	type_list = NIL;
	entities_relid = forget_phoenix_relid("entities");
	versions_relid = forget_phoenix_relid("event_type_versions");
	types_relid = forget_phoenix_relid("event_types");
	if (!OidIsValid(versions_relid) || !OidIsValid(types_relid))
	{
		types_valid = true;
		return;
	}
	SPI_connect();
	if (SPI_execute("SELECT v.event_type, t.entity, v.key_field, v.sets, v.refs, v.schema, v.time_field "
					"FROM phoenix.event_type_versions v JOIN phoenix.event_types t ON t.name = v.event_type "
					"ORDER BY v.event_type, v.version", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: reading the event types failed");
	for (uint64 r = 0; r < SPI_processed; r++)
		type_add_version(SPI_tuptable->vals[r], SPI_tuptable->tupdesc);
	SPI_finish();
	types_valid = true;
}

/* One version's refs, PII fields and time field join its type's. */
static void
type_add_version(HeapTuple tup, TupleDesc desc)
{
	char	   *name = SPI_getvalue(tup, desc, 1);
	char	   *ename = SPI_getvalue(tup, desc, 2);
	char	   *key_field = SPI_getvalue(tup, desc, 3);
	char	   *time_field = SPI_getvalue(tup, desc, 7);
	bool		isnull;
	Datum		d;
	PhxEntity  *owner = ename ? catalog_entity(ename, true) : NULL;
	ForgetType *type = forget_type_lookup(name);
	List	   *pii = NIL;
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "schema", ALLOCSET_SMALL_SIZES);
	MemoryContext old;
	ListCell   *lc;

	/* x-pii fields of this version */
	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull)
		pii = list_copy(jsonschema_pii_fields(jsonschema_compile(DatumGetJsonbP(d), tmp)));

	old = MemoryContextSwitchTo(types_cxt);
	if (type == NULL)
	{
		type = palloc0(sizeof(ForgetType));
		type->name = pstrdup(name);
		type_list = lappend(type_list, type);
	}
	foreach(lc, pii)
		forget_add_unique(&type->pii_fields, lfirst(lc));
	if (time_field)
		forget_add_unique(&type->time_fields, time_field);
	/* an entity event type's key field names the key it is about */
	if (owner && key_field)
	{
		ForgetRef  *ref = palloc0(sizeof(ForgetRef));

		ref->field = pstrdup(key_field);
		ref->entity_id = owner->id;
		ref->entity = pstrdup(owner->name);
		type->refs = lappend(type->refs, ref);
	}
	d = SPI_getbinval(tup, desc, 4, &isnull);
	if (!isnull && owner)
		type_add_sets(type, owner, DatumGetJsonbP(d));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	if (!isnull)
		type_add_refs(type, DatumGetJsonbP(d));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
}

/* sets: fields that hold PII attributes of the entity */
static void
type_add_sets(ForgetType *type, PhxEntity *owner, Jsonb *sets)
{
	JsonbIterator *it = JsonbIteratorInit(&sets->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *field = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			a;

		if (tok == WJB_KEY)
			field = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && v.type == jbvString &&
				 (a = catalog_attribute_index(owner, pnstrdup(v.val.string.val, v.val.string.len))) >= 0 &&
				 owner->atts[a].pii)
		{
			ForgetRef  *set = palloc0(sizeof(ForgetRef));

			set->field = field;
			set->entity_id = owner->id;
			set->entity = pstrdup(owner->name);
			set->attribute = pstrdup(owner->atts[a].name);
			type->pii_sets = lappend(type->pii_sets, set);
			forget_add_unique(&type->pii_fields, field);
		}
	}
}

/* refs: "entity" (by key) or "entity.attribute" (by value) */
static void
type_add_refs(ForgetType *type, Jsonb *refs)
{
	JsonbIterator *it = JsonbIteratorInit(&refs->root);
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
				forget_add_unique(&type->pii_fields, field);
		}
	}
}

/* ====================================================================
 * Invalidation and locks
 * ==================================================================== */

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
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		forget_secret_reset();
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
		event_log_relid = forget_phoenix_relid("event_log");
	if (OidIsValid(event_log_relid))
		LockRelationOid(event_log_relid, RowExclusiveLock);
}

static int
found_longer_first(const ListCell *a, const ListCell *b)
{
	size_t		la = strlen(((FoundValue *) lfirst(a))->value),
				lb = strlen(((FoundValue *) lfirst(b))->value);

	return la > lb ? -1 : la < lb ? 1 : 0;
}
