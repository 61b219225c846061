/*
 * jsonschema.c — JSON Schema (draft 2020-12 subset) compiled once, validated
 * many times, in C.
 *
 * A schema is compiled into a tree of SchemaNodes (jsonschema_int.h): object
 * schemas carry one table of property names sorted in jsonb key order, so
 * validating an object is a single merge of that table with the instance's
 * keys; regular expressions are compiled once; "$ref"s are resolved to nodes
 * (cycles are fine: a node is compiled once per schema location).  The
 * validator walks the instance's jsonb containers in place through their
 * JEntry arrays: no iterator, no re-parsing, and no allocation on the path
 * of a valid instance.
 *
 * Unknown keywords are annotations and ignored, as the specification says;
 * 2020-12 keywords that Phoenix does not implement ("allOf", "minItems", ...)
 * are refused when the schema is compiled, so that no constraint is silently
 * left unchecked.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_collation_d.h"
#include "common/hashfn.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "json/jsonformat.h"
#include "json/jsonschema.h"
#include "json/jsonschema_int.h"
#include "json/regexcost.h"

/* Errors reported by phoenix.schema_errors() for one instance, at most. */

/* ----------------------------------------------------------------------
 * Walking jsonb containers in place
 * ----------------------------------------------------------------------
 */

/* Where the data of a container with `nentries` JEntries begins. */
static inline char *
container_base(JsonbContainer *c, int nentries)
{
	return (char *) &c->children[nentries];
}

/*
 * Fill *v with the value of JEntry `e` whose data lies in [off, end) from
 * `base`.  Strings and numerics point into the container; nested containers
 * become jbvBinary.  This is jsonb_util.c's fillJsonbValue, which is static.
 */
static void
entry_value(JEntry e, char *base, uint32 off, uint32 end, JsonbValue *v)
{
	if (JBE_ISSTRING(e))
	{
		v->type = jbvString;
		v->val.string.val = base + off;
		v->val.string.len = end - off;
	}
	else if (JBE_ISNUMERIC(e))
	{
		v->type = jbvNumeric;
		v->val.numeric = (Numeric) (base + INTALIGN(off));
	}
	else if (JBE_ISBOOL_TRUE(e) || JBE_ISBOOL_FALSE(e))
	{
		v->type = jbvBool;
		v->val.boolean = JBE_ISBOOL_TRUE(e);
	}
	else if (JBE_ISNULL(e))
		v->type = jbvNull;
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = (JsonbContainer *) (base + INTALIGN(off));
		v->val.binary.len = end - INTALIGN(off);
	}
}

#include "json/jsonschema_walk.h"

void
walk_init(Walk *w, JsonbContainer *c)
{
	w->c = c;
	w->n = JsonContainerSize(c);
	w->i = 0;
	w->key_off = 0;
	if (JsonContainerIsObject(c))
	{
		w->base = container_base(c, w->n * 2);
		w->val_off = w->n > 0 ? getJsonbOffset(c, w->n) : 0;
	}
	else
	{
		w->base = container_base(c, w->n);
		w->val_off = 0;
	}
}

/* Next array element; false at the end. */
bool
walk_elem(Walk *w, JsonbValue *v)
{
	JEntry		e;
	uint32		end;

	if (w->i >= w->n)
		return false;
	e = w->c->children[w->i];
	end = w->val_off;
	JBE_ADVANCE_OFFSET(end, e);
	entry_value(e, w->base, w->val_off, end, v);
	w->val_off = end;
	w->i++;
	return true;
}

/* Next object pair; false at the end.  Keys come in jsonb order. */
bool
walk_pair(Walk *w, JsonbValue *key, JsonbValue *val)
{
	JEntry		ke,
				ve;
	uint32		kend,
				vend;

	if (w->i >= w->n)
		return false;
	ke = w->c->children[w->i];
	ve = w->c->children[w->i + w->n];
	kend = w->key_off;
	JBE_ADVANCE_OFFSET(kend, ke);
	vend = w->val_off;
	JBE_ADVANCE_OFFSET(vend, ve);
	entry_value(ke, w->base, w->key_off, kend, key);
	entry_value(ve, w->base, w->val_off, vend, val);
	w->key_off = kend;
	w->val_off = vend;
	w->i++;
	return true;
}

/* The top-level value of a jsonb datum (raw scalars unwrapped). */
void
jsonb_root_value(Jsonb *jb, JsonbValue *v)
{
	JsonbContainer *c = &jb->root;

	if (JsonContainerIsScalar(c))
	{
		Walk		w;

		walk_init(&w, c);
		walk_elem(&w, v);
	}
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = c;
		v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
}

const char *
type_name(uint32 t)
{
	switch (t)
	{
		case JST_NULL:
			return "null";
		case JST_BOOLEAN:
			return "boolean";
		case JST_OBJECT:
			return "object";
		case JST_ARRAY:
			return "array";
		case JST_NUMBER:
			return "number";
		case JST_STRING:
			return "string";
		case JST_INTEGER:
			return "integer";
	}
	return "?";
}

/*
 * JSON equality, as "const" and "enum" need it: numbers by value (1 == 1.0),
 * objects regardless of key order (jsonb keeps them sorted), no coercion
 * between types (false != 0).
 */
bool
jsonschema_value_equal(const JsonbValue *a, const JsonbValue *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return a->val.boolean == b->val.boolean;
		case jbvString:
			return a->val.string.len == b->val.string.len &&
				memcmp(a->val.string.val, b->val.string.val, a->val.string.len) == 0;
		case jbvNumeric:
			return jsonschema_numeric_cmp(a->val.numeric, b->val.numeric) == 0;
		case jbvBinary:
			return value_type(a) == value_type(b) &&
				compareJsonbContainers(a->val.binary.data, b->val.binary.data) == 0;
		default:
			return false;
	}
}

/*
 * Format a message from a va_list (the shared body of schema_error, report
 * and schemacompat's incompatible).
 */
char *
jsonschema_vformat(const char *fmt, va_list ap)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, ap);
		needed = appendStringInfoVA(&buf, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}

/*
 * Append one object key to a JSON path: ".key" when it is an identifier,
 * else quoted as jsonpath quotes it (."a b"), so paths can be fed back to
 * jsonb_path_query.
 */
void
jsonschema_append_path_key(StringInfo buf, const char *key, int keylen)
{
	bool		ident = keylen > 0;

	for (int j = 0; j < keylen && ident; j++)
	{
		char		c = key[j];

		ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			(j > 0 && c >= '0' && c <= '9');
	}
	appendStringInfoChar(buf, '.');
	if (ident)
		appendBinaryStringInfo(buf, key, keylen);
	else
	{
		char	   *k = pnstrdup(key, keylen);

		escape_json(buf, k);
		pfree(k);
	}
}

/* ----------------------------------------------------------------------
 * Formats: the parsers are in jsonformat.c (no server calls there, so a
 * libFuzzer target can run them alone); here they become dates and times.
 * ----------------------------------------------------------------------
 */

bool
jsonschema_parse_date(const char *s, int len, DateADT *result)
{
	int			y,
				m,
				d;

	if (!jsonformat_date(s, len, &y, &m, &d))
		return false;
	if (result)
		*result = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * RFC 3339 date-time (see jsonformat_datetime), and *result, when wanted,
 * the timestamptz it denotes; a leap second rolls into the next minute, as
 * timestamptz_in does it.
 */
bool
jsonschema_parse_datetime(const char *s, int len, TimestampTz *result)
{
	JsonFormatDateTime dt;
	struct pg_tm tm;
	int			tz;
	Timestamp	ts;

	if (!jsonformat_datetime(s, len, &dt))
		return false;
	if (!result)
		return true;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = dt.year;
	tm.tm_mon = dt.month;
	tm.tm_mday = dt.day;
	tm.tm_hour = dt.hour;
	tm.tm_min = dt.minute;
	tm.tm_sec = dt.second;
	tz = -dt.offset_seconds;	/* PostgreSQL counts seconds west */
	if (tm2timestamp(&tm, dt.microsecond, &tz, &ts) != 0 || !IS_VALID_TIMESTAMP(ts))
		return false;
	*result = ts;
	return true;
}

bool
format_ok(JsonSchemaFormat f, const char *s, int len)
{
	switch (f)
	{
		case JSF_DATE_TIME:
			return jsonformat_datetime(s, len, NULL);
		case JSF_DATE:
			return jsonformat_date(s, len, NULL, NULL, NULL);
		case JSF_EMAIL:
			return jsonformat_email(s, len);
		case JSF_UUID:
			return jsonformat_uuid(s, len);
		case JSF_NONE:
			break;
	}
	return true;
}

/* ----------------------------------------------------------------------
 * Compiling
 * ----------------------------------------------------------------------
 */

typedef struct LocationEntry
{
	const char *location;		/* hash key (the pointer) */
	SchemaNode *node;
} LocationEntry;

typedef struct CompileState
{
	JsonSchema *js;
	MemoryContext cxt;			/* where the compiled schema lives */
	HTAB	   *by_location;	/* "#/..." -> SchemaNode, so refs share nodes */
	List	   *pending;		/* nodes whose "$ref" is not resolved yet */
} CompileState;

/* The keywords of one schema object, gathered before any is compiled. */
typedef struct Keywords
{
	JsonbValue *type,
			   *properties,
			   *required,
			   *additional,
			   *items,
			   *enum_,
			   *const_,
			   *minimum,
			   *maximum,
			   *exclusive_minimum,
			   *exclusive_maximum,
			   *min_length,
			   *max_length,
			   *pattern,
			   *format,
			   *defs,
			   *ref,
			   *pii,
			   *default_,
			   *id;
} Keywords;

/*
 * Keywords of the 2020-12 vocabularies that Phoenix does not implement.  A
 * schema using one is refused rather than half-checked.
 */
static const char *const unsupported_keywords[] = {
	"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
	"prefixItems", "contains", "patternProperties", "propertyNames",
	"unevaluatedItems", "unevaluatedProperties", "multipleOf", "maxItems",
	"minItems", "uniqueItems", "maxContains", "minContains", "maxProperties",
	"minProperties", "dependentRequired", "$anchor", "$dynamicRef",
	"$dynamicAnchor", NULL
};

static SchemaNode *compile_node(CompileState *cs, JsonbValue *v, const char *location);

static uint32
location_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
location_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
free_regexes(void *arg)
{
	JsonSchema *js = (JsonSchema *) arg;
	ListCell   *lc;

	/* PostgreSQL 15's regex library allocates with malloc */
	foreach(lc, js->regexes)
		pg_regfree((regex_t *) lfirst(lc));
	js->regexes = NIL;
}

static void pg_attribute_noreturn()
schema_error(const char *location, const char *fmt,...) pg_attribute_printf(2, 3);

/* ERROR for a malformed schema, naming where in the schema. */
static void
schema_error(const char *location, const char *fmt,...)
{
	va_list		ap;
	char	   *msg;

	va_start(ap, fmt);
	msg = jsonschema_vformat(fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid JSON Schema at \"%s\": %s", location, msg),
			 errhint("Phoenix supports the JSON Schema 2020-12 keywords listed in its README.")));
}

/* "#/a" + key, with JSON-pointer escapes (~0 for ~, ~1 for /). */
static char *
location_child(const char *parent, const char *key, int keylen)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, parent);
	appendStringInfoChar(&buf, '/');
	for (int i = 0; i < keylen; i++)
	{
		if (key[i] == '~')
			appendStringInfoString(&buf, "~0");
		else if (key[i] == '/')
			appendStringInfoString(&buf, "~1");
		else
			appendStringInfoChar(&buf, key[i]);
	}
	return buf.data;
}

static char *
jbv_cstring(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static bool
key_is(const JsonbValue *k, const char *name)
{
	int			len = strlen(name);

	return k->val.string.len == len && memcmp(k->val.string.val, name, len) == 0;
}

static Numeric
keyword_number(JsonbValue *v, const char *location, const char *kw)
{
	if (v->type != jbvNumeric)
		schema_error(location, "\"%s\" must be a number", kw);
	return v->val.numeric;
}

/* minLength / maxLength: a non-negative integer (2.0 counts), clamped. */
static int64
keyword_length(JsonbValue *v, const char *location, const char *kw)
{
	char	   *text;
	int64		result;

	if (v->type != jbvNumeric || !jsonschema_numeric_is_integral(v->val.numeric) ||
		jsonschema_numeric_cmp(v->val.numeric, DatumGetNumeric(DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))) < 0)
		schema_error(location, "\"%s\" must be a non-negative integer", kw);
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	result = strtoll(text, NULL, 10);
	if (errno == ERANGE)
		result = PG_INT64_MAX;
	return result;
}

static uint32
type_bit(JsonbValue *v, const char *location)
{
	static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};

	if (v->type == jbvString)
		for (int i = 0; i < lengthof(names); i++)
			if (key_is(v, names[i]))
				return 1 << i;
	schema_error(location, "\"type\" must be one of null, boolean, object, array, number, string, integer");
}

static void
compile_type(SchemaNode *n, JsonbValue *v)
{
	StringInfoData text;

	if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		Walk		w;
		JsonbValue	elem;

		walk_init(&w, v->val.binary.data);
		while (walk_elem(&w, &elem))
		{
			uint32		bit = type_bit(&elem, n->location);

			if (n->types & bit)
				schema_error(n->location, "\"type\" lists \"%s\" twice", type_name(bit));
			n->types |= bit;
		}
		if (n->types == 0)
			schema_error(n->location, "\"type\" must not be an empty array");
	}
	else
		n->types = type_bit(v, n->location);

	initStringInfo(&text);
	for (uint32 bit = 1; bit <= JST_INTEGER; bit <<= 1)
		if (n->types & bit)
			appendStringInfo(&text, "%s%s", text.len ? " or " : "", type_name(bit));
	n->types_text = text.data;
	/* "number" already admits integers */
	if (n->types & JST_NUMBER)
		n->types &= ~JST_INTEGER;
}

static int
prop_cmp(const void *a, const void *b)
{
	const SchemaProp *pa = a,
			   *pb = b;

	return jsonschema_key_cmp(pa->name, pa->namelen, pb->name, pb->namelen);
}

/* "properties" and "required" become one sorted name table. */
static void
compile_object(CompileState *cs, SchemaNode *n, JsonbValue *props, JsonbValue *req)
{
	int			cap = 0;
	Walk		w;
	JsonbValue	k,
				v;

	if (props && (props->type != jbvBinary || !JsonContainerIsObject(props->val.binary.data)))
		schema_error(n->location, "\"properties\" must be an object");
	if (req && (req->type != jbvBinary || !JsonContainerIsArray(req->val.binary.data)))
		schema_error(n->location, "\"required\" must be an array of strings");
	if (props)
		cap += JsonContainerSize(props->val.binary.data);
	if (req)
		cap += JsonContainerSize(req->val.binary.data);
	if (cap == 0)
		return;
	n->props = palloc0(sizeof(SchemaProp) * cap);

	if (props)
	{
		char	   *ploc = location_child(n->location, "properties", 10);

		/* keys arrive sorted and unique: the table stays sorted */
		walk_init(&w, props->val.binary.data);
		while (walk_pair(&w, &k, &v))
		{
			SchemaProp *p = &n->props[n->nprops++];

			p->name = k.val.string.val;
			p->namelen = k.val.string.len;
			p->schema = compile_node(cs, &v, location_child(ploc, p->name, p->namelen));
		}
		n->ndeclared = n->nprops;
	}
	if (req)
	{
		walk_init(&w, req->val.binary.data);
		while (walk_elem(&w, &v))
		{
			SchemaProp	key,
					   *p;

			if (v.type != jbvString)
				schema_error(n->location, "\"required\" must be an array of strings");
			key.name = v.val.string.val;
			key.namelen = v.val.string.len;
			p = bsearch(&key, n->props, n->ndeclared, sizeof(SchemaProp), prop_cmp);
			if (p == NULL)
			{
				/* required but not declared: an extra entry, found by a scan */
				for (int i = n->ndeclared; i < n->nprops && p == NULL; i++)
					if (prop_cmp(&key, &n->props[i]) == 0)
						p = &n->props[i];
				if (p == NULL)
				{
					p = &n->props[n->nprops++];
					p->name = key.name;
					p->namelen = key.namelen;
				}
			}
			if (!p->required)
				n->nrequired++;
			p->required = true;
		}
	}
	qsort(n->props, n->nprops, sizeof(SchemaProp), prop_cmp);
}

static void
compile_enum(SchemaNode *n, JsonbValue *v)
{
	Walk		w;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		schema_error(n->location, "\"enum\" must be an array");
	walk_init(&w, v->val.binary.data);
	n->nenum = 0;
	n->enum_values = palloc(sizeof(JsonbValue) * Max(w.n, 1));
	while (walk_elem(&w, &n->enum_values[n->nenum]))
		n->nenum++;
}

/* ECMA-262 Unicode property names Phoenix maps onto POSIX classes. */
static const char *
property_class(const char *name, int len)
{
	static const struct
	{
		const char *prop;
		const char *cls;
	}			map[] = {
		{"L", "alpha"}, {"Letter", "alpha"}, {"Alphabetic", "alpha"},
		{"Lu", "upper"}, {"Uppercase_Letter", "upper"}, {"Uppercase", "upper"},
		{"Ll", "lower"}, {"Lowercase_Letter", "lower"}, {"Lowercase", "lower"},
		{"N", "digit"}, {"Nd", "digit"}, {"Decimal_Number", "digit"}, {"digit", "digit"},
		{"P", "punct"}, {"Punctuation", "punct"},
		{"White_Space", "space"}, {"space", "space"},
	};

	for (int i = 0; i < lengthof(map); i++)
		if (strlen(map[i].prop) == len && memcmp(map[i].prop, name, len) == 0)
			return map[i].cls;
	return NULL;
}

/*
 * Translate the ECMA-262 escapes whose meaning differs in PostgreSQL's ARE
 * dialect: \d and \w are ASCII-only in ECMA-262 (ARE follows the collation),
 * and \p{Letter}-style property escapes become POSIX classes.  Everything
 * else is passed through; ARE covers the rest of the common syntax.
 */
static char *
ecma_to_are(const char *src, int len)
{
	StringInfoData buf;
	bool		in_bracket = false;

	initStringInfo(&buf);
	for (int i = 0; i < len; i++)
	{
		char		c = src[i];

		if (c == '\\' && i + 1 < len)
		{
			char		e = src[++i];
			const char *cls = NULL;

			if ((e == 'p' || e == 'P') && i + 1 < len && src[i + 1] == '{')
			{
				const char *close = memchr(src + i + 2, '}', len - i - 2);

				if (close)
					cls = property_class(src + i + 2, close - (src + i + 2));
				if (cls)
				{
					if (in_bracket)
						appendStringInfo(&buf, "[:%s:]", cls);
					else
						appendStringInfo(&buf, "[%s[:%s:]]", e == 'P' ? "^" : "", cls);
					i = close - src;
					continue;
				}
			}
			if (e == 'd' || e == 'w' || ((e == 'D' || e == 'W') && !in_bracket))
			{
				const char *set = (e == 'd' || e == 'D') ? "0-9" : "A-Za-z0-9_";

				if (in_bracket)
					appendStringInfoString(&buf, set);
				else
					appendStringInfo(&buf, "[%s%s]", (e == 'D' || e == 'W') ? "^" : "", set);
				continue;
			}
			appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, e);
			continue;
		}
		if (c == '[' && !in_bracket)
		{
			in_bracket = true;
			appendStringInfoChar(&buf, c);
			/* a leading ] or ^] is literal */
			if (i + 1 < len && src[i + 1] == '^')
				appendStringInfoChar(&buf, src[++i]);
			if (i + 1 < len && src[i + 1] == ']')
				appendStringInfoChar(&buf, src[++i]);
			continue;
		}
		if (c == '[' && in_bracket && i + 1 < len && (src[i + 1] == ':' || src[i + 1] == '.' || src[i + 1] == '='))
		{
			/* a POSIX class inside brackets: copy through its closing ":]" */
			const char *end = NULL;

			for (int j = i + 2; j + 1 < len && !end; j++)
				if (src[j] == src[i + 1] && src[j + 1] == ']')
					end = src + j + 1;
			if (end)
			{
				appendBinaryStringInfo(&buf, src + i, end - (src + i) + 1);
				i = end - src;
				continue;
			}
		}
		if (c == ']' && in_bracket)
			in_bracket = false;
		appendStringInfoChar(&buf, c);
	}
	return buf.data;
}

/*
 * The collation a pattern is compiled with.  Only character classes
 * ([[:alpha:]], from \p{Letter} too) and embedded options depend on it:
 * those get ICU's root locale when the server has it, so that classes know
 * every script whatever the database's locale (else the database default).
 * Every other pattern gets the C collation, which pg_regexec sets up for
 * free on each call.
 */
static Oid
pattern_collation(const char *are)
{
	Oid			coll;

	if (strstr(are, "[:") == NULL && strstr(are, "(?") == NULL)
		return C_COLLATION_OID;
	coll = get_collation_oid(list_make1(makeString("und-x-icu")), true);
	return OidIsValid(coll) ? coll : DEFAULT_COLLATION_OID;
}

/*
 * The "pattern" cost budget (jsonschema_int.h): patterns too large, or with
 * back-references, are refused when the schema is compiled.
 */
static void
pattern_budget_check(SchemaNode *n, regex_t *re)
{
	n->pattern_size = Max(regex_automaton_size(re), 1);
	n->pattern_lookaround = (re->re_info & REG_ULOOKAROUND) != 0;
	if (re->re_info & REG_UBACKREF)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid JSON Schema at \"%s\": \"pattern\" %s uses a back-reference",
						n->location, quote_literal_cstr(n->pattern)),
				 errdetail("Matching back-references can take time exponential in the string's length."),
				 errhint("Write the pattern without back-references (\\1 ... \\9).")));
	if (n->pattern_size > PATTERN_MAX_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid JSON Schema at \"%s\": \"pattern\" %s is too complex",
						n->location, quote_literal_cstr(n->pattern)),
				 errdetail("Its automata have " INT64_FORMAT " states and arcs; the limit is %d.",
						   n->pattern_size, PATTERN_MAX_SIZE),
				 errhint("Use smaller bounded repetitions ({m,n}) and fewer alternatives.")));
}

static void
compile_pattern(CompileState *cs, SchemaNode *n, JsonbValue *v)
{
	pg_wchar   *wide;
	char	   *are;
	int			wlen;
	int			rc;
	regex_t    *re;

	if (v->type != jbvString)
		schema_error(n->location, "\"pattern\" must be a string");
	n->pattern = jbv_cstring(v);
	are = ecma_to_are(v->val.string.val, v->val.string.len);
	wide = palloc((strlen(are) + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(are, wide, strlen(are));
	re = MemoryContextAlloc(cs->cxt, sizeof(regex_t));
	rc = pg_regcomp(re, wide, wlen, REG_ADVANCED | REG_NOSUB, pattern_collation(are));
	pfree(wide);
	if (rc != REG_OKAY)
	{
		char		msg[128];

		pg_regerror(rc, re, msg, sizeof(msg));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("invalid JSON Schema at \"%s\": \"pattern\" %s is not a valid regular expression: %s",
						n->location, quote_literal_cstr(n->pattern), msg),
				 errhint("Patterns are ECMA-262 regular expressions as PostgreSQL's ARE dialect reads them (\\d, \\w and \\p{Letter} included; lookbehind and named groups are not).")));
	}
	{
		MemoryContext old = MemoryContextSwitchTo(cs->cxt);

		cs->js->regexes = lappend(cs->js->regexes, re);
		MemoryContextSwitchTo(old);
	}
	n->pattern_re = re;
	pattern_budget_check(n, re);
	n->pattern_memo = MemoryContextAlloc(cs->cxt, sizeof(PatternMemo));
	for (int i = 0; i < PATTERN_MEMO_SLOTS; i++)
		n->pattern_memo->slot[i].len = -1;
}

static void
compile_format(SchemaNode *n, JsonbValue *v)
{
	if (v->type != jbvString)
		schema_error(n->location, "\"format\" must be a string");
	n->format_name = jbv_cstring(v);
	if (strcmp(n->format_name, "date-time") == 0)
		n->format = JSF_DATE_TIME;
	else if (strcmp(n->format_name, "date") == 0)
		n->format = JSF_DATE;
	else if (strcmp(n->format_name, "email") == 0)
		n->format = JSF_EMAIL;
	else if (strcmp(n->format_name, "uuid") == 0)
		n->format = JSF_UUID;
	/* other formats are annotations, as the specification allows */
}

/* Sort one schema object's keys into *kw; refuse unsupported keywords. */
static void
gather_keywords(SchemaNode *n, JsonbContainer *obj, Keywords *kw)
{
	Walk		w;
	JsonbValue	k,
				v;
	static const struct
	{
		const char *name;
		size_t		offset;
	}			known[] = {
		{"type", offsetof(Keywords, type)},
		{"properties", offsetof(Keywords, properties)},
		{"required", offsetof(Keywords, required)},
		{"additionalProperties", offsetof(Keywords, additional)},
		{"items", offsetof(Keywords, items)},
		{"enum", offsetof(Keywords, enum_)},
		{"const", offsetof(Keywords, const_)},
		{"minimum", offsetof(Keywords, minimum)},
		{"maximum", offsetof(Keywords, maximum)},
		{"exclusiveMinimum", offsetof(Keywords, exclusive_minimum)},
		{"exclusiveMaximum", offsetof(Keywords, exclusive_maximum)},
		{"minLength", offsetof(Keywords, min_length)},
		{"maxLength", offsetof(Keywords, max_length)},
		{"pattern", offsetof(Keywords, pattern)},
		{"format", offsetof(Keywords, format)},
		{"$defs", offsetof(Keywords, defs)},
		{"$ref", offsetof(Keywords, ref)},
		{"x-pii", offsetof(Keywords, pii)},
		{"default", offsetof(Keywords, default_)},
		{"$id", offsetof(Keywords, id)},
	};

	memset(kw, 0, sizeof(*kw));
	walk_init(&w, obj);
	while (walk_pair(&w, &k, &v))
	{
		bool		found = false;

		for (int i = 0; i < lengthof(known) && !found; i++)
			if (key_is(&k, known[i].name))
			{
				JsonbValue **slot = (JsonbValue **) ((char *) kw + known[i].offset);

				*slot = palloc(sizeof(JsonbValue));
				**slot = v;
				found = true;
			}
		for (int i = 0; !found && unsupported_keywords[i]; i++)
			if (key_is(&k, unsupported_keywords[i]))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("invalid JSON Schema at \"%s\": keyword \"%s\" is not supported",
								n->location, unsupported_keywords[i]),
						 errhint("Phoenix supports type, properties, required, additionalProperties, items, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, format, $defs and $ref.")));
	}
}

static SchemaNode *
compile_subschema(CompileState *cs, SchemaNode *n, JsonbValue *v, const char *kw)
{
	return compile_node(cs, v, location_child(n->location, kw, strlen(kw)));
}

/*
 * Compile the schema `v` found at `location` (a boolean or an object), or
 * return the node already compiled there.  Nodes are registered before their
 * children are compiled, so recursive "$ref"s terminate.
 */
static SchemaNode *
compile_node(CompileState *cs, JsonbValue *v, const char *location)
{
	SchemaNode *n;
	LocationEntry *entry;
	bool		found;
	Keywords	kw;

	check_stack_depth();
	entry = hash_search(cs->by_location, &location, HASH_ENTER, &found);
	if (found)
		return entry->node;
	n = palloc0(sizeof(SchemaNode));
	entry->location = n->location = location;
	entry->node = n;
	cs->js->nnodes++;
	n->nenum = -1;
	n->min_length = n->max_length = -1;

	if (v->type == jbvBool)
	{
		n->trivial = v->val.boolean;
		n->always_false = !v->val.boolean;
		return n;
	}
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		schema_error(location, "a schema must be an object or a boolean");

	gather_keywords(n, v->val.binary.data, &kw);

	if (kw.id && strcmp(location, "#") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("invalid JSON Schema at \"%s\": \"$id\" is only supported at the root", location),
				 errhint("Use \"$defs\" and \"$ref\": \"#/$defs/name\" for reusable parts.")));
	if (kw.defs)
	{
		Walk		w;
		JsonbValue	k,
					d;
		char	   *dloc = location_child(location, "$defs", 5);

		if (kw.defs->type != jbvBinary || !JsonContainerIsObject(kw.defs->val.binary.data))
			schema_error(location, "\"$defs\" must be an object");
		walk_init(&w, kw.defs->val.binary.data);
		while (walk_pair(&w, &k, &d))
			compile_node(cs, &d, location_child(dloc, k.val.string.val, k.val.string.len));
	}
	if (kw.ref)
	{
		if (kw.ref->type != jbvString)
			schema_error(location, "\"$ref\" must be a string");
		n->ref_text = jbv_cstring(kw.ref);
		cs->pending = lappend(cs->pending, n);
	}
	if (kw.type)
		compile_type(n, kw.type);
	if (kw.const_)
	{
		n->has_const = true;
		n->const_value = *kw.const_;
	}
	if (kw.enum_)
		compile_enum(n, kw.enum_);
	if (kw.minimum)
		n->minimum = keyword_number(kw.minimum, location, "minimum");
	if (kw.maximum)
		n->maximum = keyword_number(kw.maximum, location, "maximum");
	if (kw.exclusive_minimum)
		n->exclusive_minimum = keyword_number(kw.exclusive_minimum, location, "exclusiveMinimum");
	if (kw.exclusive_maximum)
		n->exclusive_maximum = keyword_number(kw.exclusive_maximum, location, "exclusiveMaximum");
	if (kw.min_length)
	{
		n->min_length = keyword_length(kw.min_length, location, "minLength");
		n->min_length_num = kw.min_length->val.numeric;
	}
	if (kw.max_length)
	{
		n->max_length = keyword_length(kw.max_length, location, "maxLength");
		n->max_length_num = kw.max_length->val.numeric;
	}
	if (kw.pattern)
		compile_pattern(cs, n, kw.pattern);
	if (kw.format)
		compile_format(n, kw.format);
	if (kw.properties || kw.required)
		compile_object(cs, n, kw.properties, kw.required);
	if (kw.additional)
	{
		n->additional = compile_subschema(cs, n, kw.additional, "additionalProperties");
		if (n->additional->trivial)
			n->additional = NULL;
	}
	if (kw.items)
	{
		if (kw.items->type == jbvBinary && JsonContainerIsArray(kw.items->val.binary.data))
			schema_error(location, "\"items\" must be a schema (the array form is \"prefixItems\" in 2020-12, which is not supported)");
		n->items = compile_subschema(cs, n, kw.items, "items");
		if (n->items->trivial)
			n->items = NULL;
	}
	if (kw.pii)
	{
		if (kw.pii->type != jbvBool)
			schema_error(location, "\"x-pii\" must be a boolean");
		n->pii = kw.pii->val.boolean;
	}
	n->has_default = kw.default_ != NULL;

	n->trivial = !n->ref_text && !n->types && !n->has_const && n->nenum < 0 &&
		!n->minimum && !n->maximum && !n->exclusive_minimum && !n->exclusive_maximum &&
		n->min_length < 0 && n->max_length < 0 && !n->pattern_re && n->format == JSF_NONE &&
		n->nprops == 0 && !n->additional && !n->items;
	return n;
}

/*
 * Decode a "$ref" fragment into a canonical location ("#/a/b", JSON-pointer
 * escaped), or ERROR if the reference is not local.
 */
static char *
ref_location(SchemaNode *n, List **tokens)
{
	const char *ref = n->ref_text;
	StringInfoData frag;
	char	   *result = "#";
	char	   *p;

	if (ref[0] != '#')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("invalid JSON Schema at \"%s\": \"$ref\" \"%s\" is not a local reference", n->location, ref),
				 errhint("Only references within the schema (\"#\", \"#/$defs/name\") are supported.")));
	/* URI fragment: percent-decode first */
	initStringInfo(&frag);
	for (p = (char *) ref + 1; *p; p++)
	{
		if (*p == '%' && isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2]))
		{
			char		hex[3] = {p[1], p[2], 0};

			appendStringInfoChar(&frag, (char) strtol(hex, NULL, 16));
			p += 2;
		}
		else
			appendStringInfoChar(&frag, *p);
	}
	*tokens = NIL;
	if (frag.len == 0)
		return result;
	if (frag.data[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("invalid JSON Schema at \"%s\": \"$ref\" \"%s\" is not a JSON pointer", n->location, ref),
				 errhint("Anchors are not supported; write \"#/$defs/name\".")));
	/* split on "/", then unescape ~1 and ~0 (in that order, as RFC 6901 says) */
	p = frag.data + 1;
	for (;;)
	{
		char	   *slash = strchr(p, '/');
		StringInfoData tok;

		initStringInfo(&tok);
		for (char *q = p; *q && q != slash; q++)
		{
			if (q[0] == '~' && q[1] == '1')
				appendStringInfoChar(&tok, '/'), q++;
			else if (q[0] == '~' && q[1] == '0')
				appendStringInfoChar(&tok, '~'), q++;
			else
				appendStringInfoChar(&tok, *q);
		}
		*tokens = lappend(*tokens, tok.data);
		result = location_child(result, tok.data, tok.len);
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return result;
}

/* Walk the source document along `tokens`; ERROR when there is nothing there. */
static JsonbValue
ref_target(JsonSchema *js, SchemaNode *n, List *tokens)
{
	JsonbValue	cur;
	ListCell   *lc;

	jsonb_root_value(js->source, &cur);
	foreach(lc, tokens)
	{
		char	   *tok = lfirst(lc);
		JsonbValue	next;
		bool		ok = false;

		if (cur.type == jbvBinary && JsonContainerIsObject(cur.val.binary.data))
			ok = getKeyJsonValueFromContainer(cur.val.binary.data, tok, strlen(tok), &next) != NULL;
		else if (cur.type == jbvBinary && JsonContainerIsArray(cur.val.binary.data) &&
				 tok[0] && strspn(tok, "0123456789") == strlen(tok))
		{
			long		idx = strtol(tok, NULL, 10);
			Walk		w;

			walk_init(&w, cur.val.binary.data);
			while ((ok = walk_elem(&w, &next)) && w.i <= idx)
				;
			ok = ok && w.i == idx + 1;
		}
		if (!ok)
			schema_error(n->location, "\"$ref\" \"%s\" points at nothing", n->ref_text);
		cur = next;
	}
	return cur;
}

/* Resolve every "$ref" (compiling targets outside the known keywords). */
static void
resolve_refs(CompileState *cs)
{
	while (cs->pending != NIL)
	{
		SchemaNode *n = linitial(cs->pending);
		List	   *tokens;
		char	   *loc;
		LocationEntry *entry;

		cs->pending = list_delete_first(cs->pending);
		loc = ref_location(n, &tokens);
		entry = hash_search(cs->by_location, &loc, HASH_FIND, NULL);
		if (entry)
			n->ref = entry->node;
		else
		{
			JsonbValue	target = ref_target(cs->js, n, tokens);

			n->ref = compile_node(cs, &target, loc);
		}
	}
}

/*
 * A chain of "$ref"s that comes back to where it started never reaches a
 * keyword that consumes the instance: validation would not terminate.
 */
static void
check_ref_cycles(CompileState *cs)
{
	HASH_SEQ_STATUS seq;
	LocationEntry *entry;

	hash_seq_init(&seq, cs->by_location);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		SchemaNode *p = entry->node;

		for (int steps = 0; p && p->ref; steps++)
		{
			if (steps > cs->js->nnodes)
			{
				hash_seq_term(&seq);
				schema_error(entry->node->location, "\"$ref\" \"%s\" is part of a cycle of references",
							 entry->node->ref_text);
			}
			p = p->ref;
		}
	}
}

/* A node's "x-pii", looking through "$ref"s to the node that says it. */
static bool
node_is_pii(SchemaNode *n)
{
	for (int steps = 0; n && steps < 64; steps++, n = n->ref)
		if (n->pii)
			return true;
	return false;
}

JsonSchema *
jsonschema_compile(Jsonb *schema, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CompileState cs;
	HASHCTL		ctl;
	JsonbValue	root;
	JsonSchema *js = palloc0(sizeof(JsonSchema));

	MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

	cb->func = free_regexes;
	cb->arg = js;
	MemoryContextRegisterResetCallback(cxt, cb);

	js->source = palloc(VARSIZE(schema));
	memcpy(js->source, schema, VARSIZE(schema));

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(LocationEntry);
	ctl.hash = location_hash;
	ctl.match = location_match;
	ctl.hcxt = CurrentMemoryContext;
	cs.js = js;
	cs.cxt = cxt;
	cs.pending = NIL;
	cs.by_location = hash_create("phoenix JSON Schema locations", 64, &ctl,
								 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);

	jsonb_root_value(js->source, &root);
	js->root = compile_node(&cs, &root, "#");
	resolve_refs(&cs);
	check_ref_cycles(&cs);
	hash_destroy(cs.by_location);

	for (int i = 0; i < js->root->nprops; i++)
	{
		SchemaProp *p = &js->root->props[i];

		if (p->schema && node_is_pii(p->schema))
			js->pii_fields = lappend(js->pii_fields, pnstrdup(p->name, p->namelen));
	}
	MemoryContextSwitchTo(old);
	return js;
}

List *
jsonschema_pii_fields(JsonSchema *schema)
{
	return schema->pii_fields;
}

SchemaNode *
jsonschema_prop_lookup(SchemaNode *node, const char *name, int namelen)
{
	SchemaProp	key;
	SchemaProp *p;

	key.name = name;
	key.namelen = namelen;
	p = bsearch(&key, node->props, node->nprops, sizeof(SchemaProp), prop_cmp);
	return p ? p->schema : NULL;
}
