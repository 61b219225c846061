/*
 * jsonschema_validate.c — validating an instance against a compiled schema
 * (jsonschema.c compiles it), and the SQL functions schema_errors and
 * schema_valid.
 */
#include "postgres.h"

#include "json/jsonschema_walk.h"


/* ----------------------------------------------------------------------
 * Validating
 * ----------------------------------------------------------------------
 */

/* The instance path, kept on the C stack and only formatted for errors. */
typedef struct PathSeg
{
	const struct PathSeg *parent;
	const char *key;			/* NULL: an array index */
	int			keylen;
	int			index;
} PathSeg;

typedef struct ValidateState
{
	bool		collect;		/* errors wanted, else stop at the first */
	List	  **errors;
	int			max_errors;
	int			nerrors;
} ValidateState;

/*
 * "$.a.b[2]"; keys that are not identifiers are quoted, as in jsonpath:
 * $."a b".  Very deep paths keep their first and last 32 steps.
 */
static char *
format_path(const PathSeg *path)
{
	int			depth = 0;
	const PathSeg **segs;
	StringInfoData buf;

	for (const PathSeg *p = path; p; p = p->parent)
		depth++;
	segs = palloc(sizeof(PathSeg *) * Max(depth, 1));
	for (const PathSeg *p = path; p; p = p->parent)
		segs[--depth] = p;
	for (const PathSeg *p = path; p; p = p->parent)
		depth++;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '$');
	for (int i = 0; i < depth; i++)
	{
		const PathSeg *p = segs[i];

		if (depth > 64 && i == 32)
		{
			appendStringInfoString(&buf, "...");
			i = depth - 33;
			continue;
		}
		if (p->key == NULL)
			appendStringInfo(&buf, "[%d]", p->index);
		else
			jsonschema_append_path_key(&buf, p->key, p->keylen);
	}
	pfree(segs);
	return buf.data;
}

static void report(ValidateState *st, const PathSeg *path, const char *keyword, const char *fmt,...) pg_attribute_printf(4, 5);

/* Record one error (when errors are collected and there is room). */
static void
report(ValidateState *st, const PathSeg *path, const char *keyword, const char *fmt,...)
{
	JsonSchemaError *e;
	va_list		ap;

	st->nerrors++;
	if (!st->collect || st->nerrors > st->max_errors)
		return;
	e = palloc(sizeof(JsonSchemaError));
	va_start(ap, fmt);
	e->message = jsonschema_vformat(fmt, ap);
	va_end(ap);
	e->path = format_path(path);
	e->keyword = pstrdup(keyword);
	*st->errors = lappend(*st->errors, e);
}

/* Stop at the first error unless collecting (and there is room left). */
#define FAIL(...) \
	do { \
		report(st, path, __VA_ARGS__); \
		ok = false; \
		if (!st->collect || st->nerrors >= st->max_errors) \
			return false; \
	} while (0)


static bool validate_node(ValidateState *st, SchemaNode *n, const JsonbValue *v, const PathSeg *path);

/* A value as JSON text, cut at 60 bytes, for messages. */
char *
jsonschema_value_text(const JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb((JsonbValue *) v);
	char	   *text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

	if (strlen(text) > 60)
		strcpy(text + pg_mbcliplen(text, strlen(text), 57), "...");
	return text;
}

static bool
validate_number(ValidateState *st, SchemaNode *n, Numeric num, const PathSeg *path)
{
	bool		ok = true;

	if (n->minimum && jsonschema_numeric_cmp(num, n->minimum) < 0)
		FAIL("minimum", "%s is less than the minimum of %s", jsonschema_numeric_text(num), jsonschema_numeric_text(n->minimum));
	if (n->exclusive_minimum && jsonschema_numeric_cmp(num, n->exclusive_minimum) <= 0)
		FAIL("exclusiveMinimum", "%s is not greater than the exclusive minimum of %s",
			 jsonschema_numeric_text(num), jsonschema_numeric_text(n->exclusive_minimum));
	if (n->maximum && jsonschema_numeric_cmp(num, n->maximum) > 0)
		FAIL("maximum", "%s is greater than the maximum of %s", jsonschema_numeric_text(num), jsonschema_numeric_text(n->maximum));
	if (n->exclusive_maximum && jsonschema_numeric_cmp(num, n->exclusive_maximum) >= 0)
		FAIL("exclusiveMaximum", "%s is not less than the exclusive maximum of %s",
			 jsonschema_numeric_text(num), jsonschema_numeric_text(n->exclusive_maximum));
	return ok;
}

/* Would checking a string of `len` bytes against n's pattern exceed the budget? */
static bool
pattern_over_budget(SchemaNode *n, int len)
{
	int64		steps = (int64) len * n->pattern_size;

	if (n->pattern_lookaround)
		steps = len > 0 && steps > PATTERN_COST_BUDGET / len ? PATTERN_COST_BUDGET + 1 : steps * len;
	return steps > PATTERN_COST_BUDGET;
}

static bool
pattern_matches(SchemaNode *n, const char *s, int len, int *rc)
{
	pg_wchar	local[256];
	pg_wchar   *wide;
	int			wlen;
	PatternMemoSlot *memo = NULL;

	if (len <= PATTERN_MEMO_MAXLEN)
	{
		memo = &n->pattern_memo->slot[hash_bytes((const unsigned char *) s, len) % PATTERN_MEMO_SLOTS];
		if (memo->len == len && memcmp(memo->str, s, len) == 0)
		{
			*rc = memo->matches ? REG_OKAY : REG_NOMATCH;
			return memo->matches;
		}
	}
	wide = len < lengthof(local) ? local : palloc((len + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(s, wide, len);
	*rc = pg_regexec(n->pattern_re, wide, wlen, 0, NULL, 0, NULL, 0);
	if (wide != local)
		pfree(wide);
	if (memo != NULL && (*rc == REG_OKAY || *rc == REG_NOMATCH))
	{
		memo->len = len;
		memcpy(memo->str, s, len);
		memo->matches = *rc == REG_OKAY;
	}
	return *rc == REG_OKAY;
}

static bool
validate_string(ValidateState *st, SchemaNode *n, const JsonbValue *v, const PathSeg *path)
{
	bool		ok = true;
	const char *s = v->val.string.val;
	int			len = v->val.string.len;

	/* bytes >= characters: count characters only when it can matter */
	if (n->min_length > 0 && len / MAX_MULTIBYTE_CHAR_LEN < n->min_length)
	{
		int			chars = pg_mbstrlen_with_len(s, len);

		if (chars < n->min_length)
			FAIL("minLength", "string is %d character%s long, shorter than the minimum length of %s",
				 chars, chars == 1 ? "" : "s", jsonschema_numeric_text(n->min_length_num));
	}
	if (n->max_length >= 0 && len > n->max_length)
	{
		int			chars = pg_mbstrlen_with_len(s, len);

		if (chars > n->max_length)
			FAIL("maxLength", "string is %d character%s long, longer than the maximum length of %s",
				 chars, chars == 1 ? "" : "s", jsonschema_numeric_text(n->max_length_num));
	}
	if (n->pattern_re && pattern_over_budget(n, len))
		FAIL("pattern", "the string is too long (%d bytes) to be checked against the pattern %s within the cost budget",
			 len, quote_literal_cstr(n->pattern));
	else if (n->pattern_re)
	{
		int			rc;

		if (!pattern_matches(n, s, len, &rc))
		{
			if (rc == REG_CANCEL)
				CHECK_FOR_INTERRUPTS();
			if (rc == REG_NOMATCH)
				FAIL("pattern", "string does not match the pattern %s", quote_literal_cstr(n->pattern));
			else
				FAIL("pattern", "the pattern %s could not be evaluated on this string (regular expression error %d)",
					 quote_literal_cstr(n->pattern), rc);
		}
	}
	if (n->format != JSF_NONE && !format_ok(n->format, s, len))
		FAIL("format", "string is not a valid %s%s", n->format_name,
			 n->format == JSF_DATE_TIME ? " (RFC 3339, e.g. 2026-11-25T09:00:00Z)" :
			 n->format == JSF_DATE ? " (RFC 3339 full-date, e.g. 2026-11-25)" : "");
	return ok;
}

static bool
validate_object(ValidateState *st, SchemaNode *n, JsonbContainer *obj, const PathSeg *path)
{
	bool		ok = true;
	Walk		w;
	JsonbValue	k,
				v;
	int			j = 0;
	int			required_found = 0;
	bool		check_keys = n->nprops > 0 || n->additional;

	if (!check_keys)
		return true;
	/* merge the instance's keys with the sorted name table */
	walk_init(&w, obj);
	while (walk_pair(&w, &k, &v))
	{
		SchemaProp *p = NULL;
		PathSeg		seg;

		CHECK_FOR_INTERRUPTS();
		while (j < n->nprops &&
			   jsonschema_key_cmp(n->props[j].name, n->props[j].namelen,
								  k.val.string.val, k.val.string.len) < 0)
			j++;
		if (j < n->nprops &&
			jsonschema_key_cmp(n->props[j].name, n->props[j].namelen,
							   k.val.string.val, k.val.string.len) == 0)
			p = &n->props[j++];
		seg.parent = path;
		seg.key = k.val.string.val;
		seg.keylen = k.val.string.len;
		seg.index = 0;
		if (p && p->required)
			required_found++;
		if (p && p->schema)
		{
			if (!validate_node(st, p->schema, &v, &seg))
			{
				ok = false;
				if (!st->collect || st->nerrors >= st->max_errors)
					return false;
			}
		}
		else if (n->additional && n->additional->always_false)
		{
			report(st, &seg, "additionalProperties", "property \"%.*s\" is not allowed",
				   k.val.string.len, k.val.string.val);
			ok = false;
			if (!st->collect || st->nerrors >= st->max_errors)
				return false;
		}
		else if (n->additional && !validate_node(st, n->additional, &v, &seg))
		{
			ok = false;
			if (!st->collect || st->nerrors >= st->max_errors)
				return false;
		}
	}
	if (required_found < n->nrequired)
	{
		for (int i = 0; i < n->nprops; i++)
		{
			JsonbValue	dummy;

			if (n->props[i].required &&
				getKeyJsonValueFromContainer(obj, n->props[i].name, n->props[i].namelen, &dummy) == NULL)
				FAIL("required", "required property \"%.*s\" is missing", n->props[i].namelen, n->props[i].name);
		}
	}
	return ok;
}

static bool
validate_array(ValidateState *st, SchemaNode *n, JsonbContainer *arr, const PathSeg *path)
{
	bool		ok = true;
	Walk		w;
	JsonbValue	v;
	PathSeg		seg;

	if (!n->items)
		return true;
	seg.parent = path;
	seg.key = NULL;
	seg.keylen = 0;
	walk_init(&w, arr);
	for (seg.index = 0; walk_elem(&w, &v); seg.index++)
	{
		if (!validate_node(st, n->items, &v, &seg))
		{
			ok = false;
			if (!st->collect || st->nerrors >= st->max_errors)
				return false;
		}
	}
	return ok;
}

/*
 * Validate one value against one node.  Returns false on the first failure
 * when not collecting; otherwise records errors and keeps going.  Deep
 * instances under recursive schemas end in a "nesting" error, not a crash.
 */
static bool
validate_node(ValidateState *st, SchemaNode *n, const JsonbValue *v, const PathSeg *path)
{
	bool		ok = true;
	uint32		t;

	if (n->trivial)
		return true;
	if (n->always_false)
	{
		report(st, path, "false", "no value is allowed here (the schema is false)");
		return false;
	}
	if (stack_is_too_deep())
	{
		/* never go deeper, even when collecting errors */
		report(st, path, "nesting", "the value is nested too deeply to validate");
		return false;
	}
	CHECK_FOR_INTERRUPTS();
	if (n->ref && !validate_node(st, n->ref, v, path))
	{
		ok = false;
		if (!st->collect || st->nerrors >= st->max_errors)
			return false;
	}
	t = value_type(v);
	if (n->types && !(n->types & t) &&
		!(t == JST_NUMBER && (n->types & JST_INTEGER) && jsonschema_numeric_is_integral(v->val.numeric)))
		FAIL("type", "expected %s, found %s", n->types_text,
			 t == JST_NUMBER && jsonschema_numeric_is_integral(v->val.numeric) ? "integer" : type_name(t));
	if (n->has_const && !jsonschema_value_equal(v, &n->const_value))
		FAIL("const", "value is not the constant the schema requires");
	if (n->nenum >= 0)
	{
		bool		found = false;

		for (int i = 0; i < n->nenum && !found; i++)
			found = jsonschema_value_equal(v, &n->enum_values[i]);
		if (!found)
			FAIL("enum", "value is not one of the %d allowed values", n->nenum);
	}
	switch (t)
	{
		case JST_NUMBER:
			if (!validate_number(st, n, v->val.numeric, path))
				ok = false;
			break;
		case JST_STRING:
			if (!validate_string(st, n, v, path))
				ok = false;
			break;
		case JST_OBJECT:
			if (!validate_object(st, n, v->val.binary.data, path))
				ok = false;
			break;
		case JST_ARRAY:
			if (!validate_array(st, n, v->val.binary.data, path))
				ok = false;
			break;
	}
	return ok;
}

bool
jsonschema_node_valid(SchemaNode *node, const JsonbValue *value)
{
	ValidateState st;

	memset(&st, 0, sizeof(st));
	return validate_node(&st, node, value, NULL) && st.nerrors == 0;
}

bool
jsonschema_validate(JsonSchema *schema, Jsonb *instance, List **errors, int max_errors)
{
	ValidateState st;
	JsonbValue	root;

	st.collect = errors != NULL && max_errors > 0;
	st.errors = errors;
	st.max_errors = max_errors;
	st.nerrors = 0;
	jsonb_root_value(instance, &root);
	return validate_node(&st, schema->root, &root, NULL) && st.nerrors == 0;
}

/* ----------------------------------------------------------------------
 * SQL interface
 * ----------------------------------------------------------------------
 */

/* A compiled schema cached in fn_extra, reused while the schema is the same. */
typedef struct SchemaCache
{
	bool		constant;		/* the schema argument is a Const */
	MemoryContext cxt;
	Jsonb	   *schema;
	JsonSchema *compiled;
} SchemaCache;

/*
 * Is the schema argument a literal?  Then it cannot change while this
 * FmgrInfo lives.  (Not get_fn_expr_arg_stable: PL/pgSQL re-evaluates one
 * expression with new Param values, keeping fn_extra.)
 */
static bool
schema_arg_is_const(FunctionCallInfo fcinfo)
{
	Node	   *expr = fcinfo->flinfo->fn_expr;
	List	   *args;

	if (expr == NULL || !IsA(expr, FuncExpr))
		return false;
	args = ((FuncExpr *) expr)->args;
	return list_length(args) >= 1 && IsA(linitial(args), Const);
}

/*
 * The compiled form of `schema` for this call site: compiled on first use
 * and again only when a call passes another schema (a memcmp decides).
 */
static JsonSchema *
cached_schema(FunctionCallInfo fcinfo, Jsonb *schema)
{
	SchemaCache *cache = fcinfo->flinfo->fn_extra;
	MemoryContext cxt;

	/* a constant schema argument cannot change during this FmgrInfo's life */
	if (cache && cache->constant)
		return cache->compiled;
	if (cache && VARSIZE(cache->schema) == VARSIZE(schema) &&
		memcmp(cache->schema, schema, VARSIZE(schema)) == 0)
		return cache->compiled;
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SchemaCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->cxt)
		MemoryContextDelete(cache->cxt);
	cache->cxt = NULL;
	cache->compiled = NULL;
	cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "phoenix compiled JSON Schema",
								ALLOCSET_SMALL_SIZES);
	/* compile first: a malformed schema ERRORs and leaves the cache empty */
	cache->compiled = jsonschema_compile(schema, cxt);
	cache->schema = MemoryContextAlloc(cxt, VARSIZE(schema));
	memcpy(cache->schema, schema, VARSIZE(schema));
	cache->cxt = cxt;
	cache->constant = schema_arg_is_const(fcinfo);
	return cache->compiled;
}

PG_FUNCTION_INFO_V1(phoenix_schema_errors);
PG_FUNCTION_INFO_V1(phoenix_schema_valid);

/*
 * phoenix.schema_errors(schema jsonb, instance jsonb)
 *   RETURNS TABLE(path text, keyword text, message text)
 * One row per validation error (at most SCHEMA_ERRORS_MAX); none when valid.
 */
Datum
phoenix_schema_errors(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *schema = PG_GETARG_JSONB_P(0);
	Jsonb	   *instance = PG_GETARG_JSONB_P(1);
	JsonSchema *js;
	List	   *errors = NIL;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	js = cached_schema(fcinfo, schema);
	jsonschema_validate(js, instance, &errors, SCHEMA_ERRORS_MAX);
	foreach(lc, errors)
	{
		JsonSchemaError *e = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(e->path);
		values[1] = CStringGetTextDatum(e->keyword);
		values[2] = CStringGetTextDatum(e->message);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/*
 * phoenix.schema_valid(schema jsonb, instance jsonb) RETURNS boolean
 * The validator's yes/no, stopping at the first error: for CHECK
 * constraints and filters.
 */
Datum
phoenix_schema_valid(PG_FUNCTION_ARGS)
{
	Jsonb	   *schema = PG_GETARG_JSONB_P(0);
	Jsonb	   *instance = PG_GETARG_JSONB_P(1);

	PG_RETURN_BOOL(jsonschema_validate(cached_schema(fcinfo, schema), instance, NULL, 0));
}
