/*
 * forget_hash.c — the pseudonym secret, keyed hashes, pseudonyms, and the
 * JSON and text scrubbing that writes them; small helpers of the forget
 * subsystem (running as the extension owner, periods).
 *
 * Pseudonyms: HMAC-SHA256 under the secret of (entity, keyed hash of the
 * key, value), shaped like the value where that matters
 * ("<hex>@forgotten.invalid" for anything with an '@', else
 * "forgotten-<hex>"); a pseudonym maps to itself, so forget is idempotent.
 * They derive from the person and the value: two people with one name get
 * different pseudonyms, and one person's value the same one in their
 * history, event payloads and reporting rows (so by-attribute joins and
 * groupings still hold).  No SQL function computes one.
 *
 * Value matching is exact (byte for byte), as enrichment's "by" lookups
 * compare a text attribute with the type's own equality.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "common/guc.h"
#include "forget/forget_int.h"
#include "common/phoenix.h"

#define PSEUDONYM_BYTES		10	/* 80 bits shown: collisions are negligible */
#define PSEUDONYM_PREFIX	"forgotten-"
#define PSEUDONYM_DOMAIN	"@forgotten.invalid"

/* Memo of keyed hashes: the HMAC input (domain NUL a NUL b), zero-padded. */
#define HASH_MEMO_INPUT		224
#define HASH_MEMO_MAX		65536
typedef struct HashMemoKey
{
	uint16		len;
	char		input[HASH_MEMO_INPUT];
} HashMemoKey;

typedef struct HashMemoEntry
{
	HashMemoKey key;
	uint8		hash[FORGET_HASH_LEN];
} HashMemoEntry;


static uint8 *table_secret = NULL;
static int	table_secret_len = 0;
static MemoryContext hash_memo_cxt = NULL;
static HTAB *hash_memo = NULL;
static int	hash_memo_count = 0;
static uint8 *memo_secret = NULL;
static int	memo_secret_len = -1;

static void secret_get(const uint8 **secret, int *len);
static void hash_memo_reset(const uint8 *secret, int slen);
static void keyed_hash(const char *domain, const char *a, const char *b, int blen, uint8 *out);
static char *replace_all(const char *s, const char *needle, const char *repl, bool *changed);

/* ====================================================================
 * The secret
 * ==================================================================== */

/*
 * Make the table's secret when there is none: at the first erasure, not at
 * CREATE EXTENSION, so that a restored dump brings its own row (the table is
 * dumped as configuration) without meeting one made by the install script.
 * Two first forgets at once: the second waits on the first's row and keeps it.
 */
void
forget_secret_create(void)
{
	OwnerContext oc;

	if (forget_secret_guc && forget_secret_guc[0] != '\0')
		return;
	SPI_connect();
	forget_as_owner_begin(&oc, true);
	if (SPI_execute("INSERT INTO phoenix.forget_secret (secret) "
					"SELECT decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex') "
					"ON CONFLICT DO NOTHING", false, 0) != SPI_OK_INSERT)
		elog(ERROR, "phoenix: forget: creating the pseudonym secret failed");
	forget_as_owner_end(&oc);
	SPI_finish();
}

/*
 * Forget the table's secret at the end of every transaction: one made by a
 * forget that rolled back never existed, and a restored database brings
 * its own.
 */
void
forget_secret_reset(void)
{
	if (table_secret)
		pfree(table_secret);
	table_secret = NULL;
	table_secret_len = 0;
}

/*
 * The secret: the GUC when set, else the row of phoenix.forget_secret (read
 * as the owner, once per transaction).
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
		forget_as_owner_begin(&oc, false);
		/* not read-only: a secret made earlier in this transaction counts */
		if (SPI_execute("SELECT secret FROM phoenix.forget_secret", false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the pseudonym secret of phoenix.forget is missing"),
					 errhint("Set phoenix.forget_secret, or restore the row of table phoenix.forget_secret from a backup of this database.")));
		b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		table_secret = MemoryContextAlloc(TopMemoryContext, VARSIZE_ANY_EXHDR(b));
		memcpy(table_secret, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
		table_secret_len = VARSIZE_ANY_EXHDR(b);
		forget_as_owner_end(&oc);
		SPI_finish();
	}
	*secret = table_secret;
	*len = table_secret_len;
}

/* ====================================================================
 * Keyed hashes and pseudonyms
 * ==================================================================== */

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
			memcpy(out, memo->hash, FORGET_HASH_LEN);
			return;
		}
		hash_memo_count++;
	}
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_hmac_init(ctx, secret, slen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) domain, dlen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) a, alen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) b, blen) < 0 ||
		pg_hmac_final(ctx, out, FORGET_HASH_LEN) < 0)
	{
		const char *why = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		if (memo)
			hash_search(hash_memo, &memo->key, HASH_REMOVE, NULL);
		elog(ERROR, "phoenix: HMAC-SHA256 failed: %s", why);
	}
	pg_hmac_free(ctx);
	if (memo)
		memcpy(memo->hash, out, FORGET_HASH_LEN);
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

/* Tombstone hash of a value, exactly as written (the rule enrichment uses). */
void
forget_value_hash(const char *value, int len, uint8 *out)
{
	keyed_hash("phoenix.forget.value", "", value, len, out);
}

void
forget_key_hash(const char *entity, const char *key, uint8 *out)
{
	keyed_hash("phoenix.forget.key", entity, key, strlen(key), out);
}

void
forget_person_init(ForgetPerson *p, const char *entity, const char *key)
{
	p->entity = entity;
	forget_key_hash(entity, key, p->key_hash);
}

/* "forgotten-<20 hex>" or "<20 hex>@forgotten.invalid": what forget writes. */
bool
forget_is_pseudonym(const char *s, int len)
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
 * The pseudonym of a value of person p: keyed by the secret, the entity and
 * the key's keyed hash, so nobody without the secret can link it back, and
 * knowing a name does not tell which pseudonym it has.
 */
char *
forget_pseudonym(const ForgetPerson *p, const char *value, int len)
{
	uint8		h[FORGET_HASH_LEN];
	char	   *who;
	char	   *hx;

	if (forget_is_pseudonym(value, len))
		return pnstrdup(value, len);
	who = psprintf("%s/%s", p->entity, forget_hex(p->key_hash, FORGET_HASH_LEN));
	keyed_hash("phoenix.forget.pseudonym.v2", who, value, len, h);
	hx = forget_hex(h, PSEUDONYM_BYTES);
	if (memchr(value, '@', len) != NULL)
		return psprintf("%s%s", hx, PSEUDONYM_DOMAIN);
	return psprintf("%s%s", PSEUDONYM_PREFIX, hx);
}

/* ====================================================================
 * JSON and text scrubbing
 * ==================================================================== */

/*
 * `doc` with its top-level members named in `fields` scrubbed: strings
 * become person p's pseudonyms, other non-null values null (a number has no
 * pseudonym of its type).  *changed tells whether anything differs; when
 * not, `doc` itself is returned.
 */
Jsonb *
forget_scrub_jsonb(const ForgetPerson *p, Jsonb *doc, List *fields, bool *changed)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbValue *res = NULL;
	JsonbIteratorToken tok;
	bool		pii = false;

	*changed = false;
	if (fields == NIL || !JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		return doc;
	it = JsonbIteratorInit(&doc->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			pii = forget_str_in_list(fields, v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && pii)
		{
			if (v.type == jbvString)
			{
				if (!forget_is_pseudonym(v.val.string.val, v.val.string.len))
				{
					char	   *ps = forget_pseudonym(p, v.val.string.val, v.val.string.len);

					v.val.string.val = ps;
					v.val.string.len = strlen(ps);
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
forget_str_in_list(List *list, const char *s, int len)
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

/* Append a copy of s (in the current context) unless already there. */
void
forget_add_unique(List **list, const char *s)
{
	if (!forget_str_in_list(*list, s, strlen(s)))
		*list = lappend(*list, pstrdup(s));
}

static char *
replace_all(const char *s, const char *needle, const char *repl, bool *changed)
{
	StringInfoData out;
	const char *p;
	int			nlen = strlen(needle);

	if (nlen == 0 || (p = strstr(s, needle)) == NULL)
		return (char *) s;
	initStringInfo(&out);
	while (p != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		appendBinaryStringInfo(&out, s, p - s);
		appendStringInfoString(&out, repl);
		s = p + nlen;
		p = strstr(s, needle);
	}
	appendStringInfoString(&out, s);
	*changed = true;
	return out.data;
}

static int
longer_first(const ListCell *a, const ListCell *b)
{
	size_t		la = strlen(lfirst(a)),
				lb = strlen(lfirst(b));

	return la > lb ? -1 : la < lb ? 1 : 0;
}

/*
 * Replace each of person p's values (longest first, so "Ada Lovelace" goes
 * before "Ada"), as written and as escaped inside a JSON string, by its
 * pseudonym.  Exact matching, as everywhere in forget.
 */
char *
forget_scrub_text(const ForgetPerson *p, const char *s, List *values, bool *changed)
{
	List	   *sorted = list_copy(values);
	ListCell   *lc;
	char	   *out = (char *) s;

	list_sort(sorted, longer_first);
	foreach(lc, sorted)
	{
		const char *v = lfirst(lc);
		char	   *ps = forget_pseudonym(p, v, strlen(v));
		StringInfoData esc;

		out = replace_all(out, v, ps, changed);
		initStringInfo(&esc);
		escape_json(&esc, v);
		esc.data[esc.len - 1] = '\0';
		if (strcmp(esc.data + 1, v) != 0)
			out = replace_all(out, esc.data + 1, ps, changed);
	}
	return out;
}

/* Parse JSON text without raising: NULL when it is not valid JSON. */
Jsonb *
forget_parse_json_quietly(const char *raw)
{
	JsonLexContext *lex = makeJsonLexContextCstringLen((char *) raw, strlen(raw),
													   GetDatabaseEncoding(), true);

	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(raw)));
}

/* ====================================================================
 * Periods
 * ==================================================================== */

/*
 * Periods from two timestamptz arrays (lower and upper bounds of the ranges
 * of a tstzmultirange, as unnest() lists them; a NULL bound is unbounded).
 */
ForgetPeriods *
forget_periods_from_arrays(Datum lowers, bool lnull, Datum uppers, bool unull)
{
	ForgetPeriods *p = palloc0(sizeof(ForgetPeriods));
	Datum	   *lo,
			   *hi;
	bool	   *lon,
			   *hin;
	int			n,
				m;

	if (lnull || unull)
		return p;
	deconstruct_array(DatumGetArrayTypeP(lowers), TIMESTAMPTZOID, sizeof(TimestampTz), true,
					  TYPALIGN_DOUBLE, &lo, &lon, &n);
	deconstruct_array(DatumGetArrayTypeP(uppers), TIMESTAMPTZOID, sizeof(TimestampTz), true,
					  TYPALIGN_DOUBLE, &hi, &hin, &m);
	p->n = Min(n, m);
	p->from = palloc(sizeof(TimestampTz) * Max(p->n, 1));
	p->to = palloc(sizeof(TimestampTz) * Max(p->n, 1));
	for (int i = 0; i < p->n; i++)
	{
		p->from[i] = lon[i] ? DT_NOBEGIN : DatumGetTimestampTz(lo[i]);
		p->to[i] = hin[i] ? DT_NOEND : DatumGetTimestampTz(hi[i]);
	}
	return p;
}

bool
forget_periods_contain(const ForgetPeriods *p, TimestampTz t)
{
	for (int i = 0; p && i < p->n; i++)
		if (t >= p->from[i] && t < p->to[i])
			return true;
	return false;
}

/* ====================================================================
 * Small helpers
 * ==================================================================== */

char *
forget_hex(const uint8 *bytes, int len)
{
	char	   *out = palloc(2 * len + 1);

	hex_encode((const char *) bytes, len, out);
	out[2 * len] = '\0';
	return out;
}

bytea *
forget_hash_bytea(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + FORGET_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + FORGET_HASH_LEN);
	memcpy(VARDATA(b), hash, FORGET_HASH_LEN);
	return b;
}

Oid
forget_phoenix_relid(const char *relname)
{
	Oid			nsp = get_namespace_oid(PHOENIX_SCHEMA, true);

	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}

/* The owner of schema phoenix: the role that installed the extension. */
Oid
forget_owner(void)
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
 * user id is restored by forget_as_owner_end, or by (sub)transaction abort
 * on error.  With pin_search_path, search_path is pg_catalog, pg_temp until
 * then.
 */
void
forget_as_owner_begin(OwnerContext *oc, bool pin_search_path)
{
	GetUserIdAndSecContext(&oc->save_userid, &oc->save_sec);
	SetUserIdAndSecContext(forget_owner(), oc->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	oc->guc_level = -1;
	if (pin_search_path)
	{
		oc->guc_level = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
}

void
forget_as_owner_end(OwnerContext *oc)
{
	if (oc->guc_level >= 0)
		AtEOXact_GUC(true, oc->guc_level);
	SetUserIdAndSecContext(oc->save_userid, oc->save_sec);
}
