/*
 * forget_scrub.c — the means of forgetting: the secret, keyed hashes and
 * pseudonyms; scrubbing JSON documents and free text; the per-backend cache of
 * tombstones and of what each event type says about people; running as the
 * extension owner.
 */
#include "postgres.h"

#include "forget/forget_int.h"

/* The cache (see the header comment). */
MemoryContext tomb_cxt = NULL;	/* tombstone sets, reset on reload */
MemoryContext types_cxt = NULL;	/* type_list, reset on reload */
bool tomb_valid = false;
bool types_valid = false;
HTAB *tomb_set = NULL;		/* TombKey */
HTAB *tomb_any_value = NULL; /* uint8[HASH_LEN]: any value of any key */
int64 tomb_count = 0;
List *tomb_entities = NIL;	/* int32 ids of entities with forgotten keys */
List *type_list = NIL;		/* ForgetType * */
uint8 *table_secret = NULL;
int	table_secret_len = 0;
Oid	forgotten_relid = InvalidOid;
static Oid	event_log_relid = InvalidOid;	/* cached for lock_writers() */
MemoryContext hash_memo_cxt = NULL;
HTAB *hash_memo = NULL;
int	hash_memo_count = 0;
uint8 *memo_secret = NULL;
int	memo_secret_len = -1;
Oid	versions_relid = InvalidOid;
Oid	entities_relid = InvalidOid;

static void secret_get(const uint8 **secret, int *len);
static void hash_memo_reset(const uint8 *secret, int slen);
static void keyed_hash(const char *domain, const char *a, const char *b, int blen, uint8 *out);
static const char *find_folded(const char *s, const char *needle, int nlen);
static char *replace_all(const char *s, const char *needle, const char *repl, bool *changed);

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
void
value_hash(const char *value, int len, uint8 *out)
{
	/* case-insensitive: a late event may write ADA@EXAMPLE.COM */
	char	   *folded = str_tolower(value, len, DEFAULT_COLLATION_OID);

	keyed_hash("phoenix.forget.value", "", folded, strlen(folded), out);
	pfree(folded);
}

void
key_hash(const char *entity, const char *key, uint8 *out)
{
	keyed_hash("phoenix.forget.key", entity, key, strlen(key), out);
}

/* "forgotten-<20 hex>" or "<20 hex>@forgotten.invalid": what forget writes. */
bool
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
char *
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
Jsonb *
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

bool
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
char *
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
Jsonb *
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

bool
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

void
forget_inval_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == forgotten_relid)
		tomb_valid = false;
	if (relid == InvalidOid || relid == event_log_relid)
		event_log_relid = InvalidOid;	/* maybe dropped with the extension */
	if (relid == InvalidOid || relid == versions_relid || relid == entities_relid)
		types_valid = false;
}

void
forget_xact_cb(XactEvent event, void *arg)
{
	/* an aborted forget may have left its uncommitted tombstone in the cache */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		tomb_valid = types_valid = false;
}

Oid
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
void
lock_writers(void)
{
	if (!OidIsValid(event_log_relid))
		event_log_relid = phoenix_relid("event_log");
	if (OidIsValid(event_log_relid))
		LockRelationOid(event_log_relid, RowExclusiveLock);
}

/* (Re)load the tombstone sets, reading the owner-only tables as the owner. */
void
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

bool
tomb_has(int32 entity_id, const char *attribute, const uint8 *hash)
{
	TombKey		k;

	memset(&k, 0, sizeof(k));
	k.entity_id = entity_id;
	strlcpy(k.attribute, attribute, NAMEDATALEN);
	memcpy(k.hash, hash, HASH_LEN);
	return hash_search(tomb_set, &k, HASH_FIND, NULL) != NULL;
}

bool
tomb_entity(int32 entity_id)
{
	return list_member_int(tomb_entities, entity_id);
}

/* Add value hashes to the tombstone (as the owner); the cache reloads. */
void
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
void
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

ForgetType *
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
void
type_add_unique(List **list, const char *s)
{
	if (!str_in_list(*list, s, strlen(s)))
		*list = lappend(*list, pstrdup(s));
}

/* ====================================================================
 * Small helpers
 * ==================================================================== */

/* The owner of schema phoenix: the role that installed the extension. */
Oid
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
void
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

void
as_owner_end(OwnerContext *oc)
{
	if (oc->guc_level >= 0)
		AtEOXact_GUC(true, oc->guc_level);
	SetUserIdAndSecContext(oc->save_userid, oc->save_sec);
}

List *
add_count(List *counts, const char *relation, int64 rows)
{
	ScrubCount *c = palloc(sizeof(ScrubCount));

	c->relation = pstrdup(relation);
	c->rows = rows;
	return lappend(counts, c);
}

/* {"relation": rows, ...} */
Jsonb *
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

ArrayType *
text_array(List *strings)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(strings), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, strings)
		d[n++] = CStringGetTextDatum(lfirst(lc));
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}

char *
hex(const uint8 *bytes, int len)
{
	char	   *out = palloc(2 * len + 1);

	hex_encode((const char *) bytes, len, out);
	out[2 * len] = '\0';
	return out;
}

bytea *
hash_bytea(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + HASH_LEN);
	memcpy(VARDATA(b), hash, HASH_LEN);
	return b;
}

List *
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
