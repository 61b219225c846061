/*
 * schemacompat.c — schema evolution rules for event types: is a new JSON
 * Schema backward / forward / fully compatible with the registered ones?
 *
 * The rules are Confluent Schema Registry's for JSON Schema.  compare() asks
 * one question — can a reader using schema R accept everything a writer
 * using schema W produced? — on the two compiled schemas (jsonschema_int.h).
 * Backward is compare(W = old, R = new); forward is compare(W = new,
 * R = old); full is both.  The content model of an object decides what a
 * property change means:
 *
 *   open            additionalProperties absent or true: any other property
 *                   may already be in the data, with any value;
 *   closed          additionalProperties false: nothing else was written;
 *   partially open  additionalProperties is a schema: others were written,
 *                   valid against it.
 *
 * The first incompatibility found is reported, with the JSON path of the
 * field and Confluent's name of the rule.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#include "json/jsonschema_int.h"
#include "json/schemacompat.h"

typedef struct CompatContext
{
	const char *writer;			/* "old" / "new": whose data is read */
	const char *reader;			/* the schema that reads it */
	char	   *problem;		/* the first incompatibility, or NULL */
	List	   *in_progress;	/* pairs (W, R) being compared: cycles via $ref */
} CompatContext;

static bool compare(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path);

static bool incompatible(CompatContext *cx, const char *path, const char *rule, const char *fmt,...) pg_attribute_printf(4, 5);

/* Record the first incompatibility: "<path>: <what> (<RULE>)".  Returns false. */
static bool
incompatible(CompatContext *cx, const char *path, const char *rule, const char *fmt,...)
{
	va_list		ap;
	char	   *what;

	if (cx->problem)
		return false;
	va_start(ap, fmt);
	what = jsonschema_vformat(fmt, ap);
	va_end(ap);
	cx->problem = psprintf("%s: %s (%s)", path, what, rule);
	return false;
}

/* Follow pure "$ref" nodes (a "$ref" and nothing else) to their target. */
static SchemaNode *
deref(SchemaNode *n)
{
	for (int steps = 0; n->ref && steps < 1000; steps++)
	{
		bool		pure = !n->types && !n->has_const && n->nenum < 0 && !n->minimum &&
			!n->maximum && !n->exclusive_minimum && !n->exclusive_maximum &&
			n->min_length < 0 && n->max_length < 0 && !n->pattern_re &&
			n->format == JSF_NONE && n->nprops == 0 && !n->additional && !n->items;

		if (!pure)
			break;
		n = n->ref;
	}
	return n;
}

static char *
child_path(const char *path, const char *name, int namelen)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, path);
	jsonschema_append_path_key(&buf, name, namelen);
	return buf.data;
}

/* Every JSON type the node admits (JST_ALL without "type"). */
static uint32
admitted_types(SchemaNode *n)
{
	return n->types ? n->types : JST_ALL;
}

/* Does a reader admitting `r` accept every type in `w`? (integer is a number) */
static bool
types_covered(uint32 w, uint32 r)
{
	if ((r & JST_NUMBER) && (w & JST_INTEGER))
		w &= ~JST_INTEGER;
	return (w & ~r) == 0;
}

static char *
types_text(uint32 t)
{
	static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
	StringInfoData buf;

	if (t == JST_ALL)
		return "unrestricted";
	initStringInfo(&buf);
	for (int i = 0; i < lengthof(names); i++)
		if (t & (1 << i))
			appendStringInfo(&buf, "%s%s", buf.len ? " or " : "", names[i]);
	return buf.data;
}

/*
 * A finite writer (const or enum): compatible exactly when the reader accepts
 * each value, which the validator can answer.
 */
static bool
compare_values(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path)
{
	int			n = w->has_const ? 1 : w->nenum;

	for (int i = 0; i < n; i++)
	{
		JsonbValue *v = w->has_const ? &w->const_value : &w->enum_values[i];

		if (w->has_const && w->nenum >= 0)
		{
			/* const and enum together: only the const counts, if in the enum */
			bool		in_enum = false;

			for (int j = 0; j < w->nenum && !in_enum; j++)
				in_enum = jsonschema_value_equal(v, &w->enum_values[j]);
			if (!in_enum)
				return true;
		}
		if (!jsonschema_node_valid(r, v))
			return incompatible(cx, path, r->nenum >= 0 || r->has_const ? "ENUM_ARRAY_NARROWED" : "TYPE_CHANGED",
								"the %s schema allows %s, which the %s schema rejects",
								cx->writer, jsonschema_value_text(v), cx->reader);
	}
	return true;
}

static bool
compare_numbers(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path)
{
	/* a lower bound of the reader must be implied by one of the writer */
	if (r->minimum &&
		!(w->minimum && jsonschema_numeric_cmp(w->minimum, r->minimum) >= 0) &&
		!(w->exclusive_minimum && jsonschema_numeric_cmp(w->exclusive_minimum, r->minimum) >= 0))
		return incompatible(cx, path, w->minimum || w->exclusive_minimum ? "MINIMUM_INCREASED" : "MINIMUM_ADDED",
							"the %s schema's minimum %s rejects smaller numbers the %s schema allows",
							cx->reader, jsonschema_numeric_text(r->minimum), cx->writer);
	if (r->exclusive_minimum &&
		!(w->minimum && jsonschema_numeric_cmp(w->minimum, r->exclusive_minimum) > 0) &&
		!(w->exclusive_minimum && jsonschema_numeric_cmp(w->exclusive_minimum, r->exclusive_minimum) >= 0))
		return incompatible(cx, path, w->minimum || w->exclusive_minimum ? "EXCLUSIVE_MINIMUM_INCREASED" : "EXCLUSIVE_MINIMUM_ADDED",
							"the %s schema's exclusiveMinimum %s rejects numbers the %s schema allows",
							cx->reader, jsonschema_numeric_text(r->exclusive_minimum), cx->writer);
	if (r->maximum &&
		!(w->maximum && jsonschema_numeric_cmp(w->maximum, r->maximum) <= 0) &&
		!(w->exclusive_maximum && jsonschema_numeric_cmp(w->exclusive_maximum, r->maximum) <= 0))
		return incompatible(cx, path, w->maximum || w->exclusive_maximum ? "MAXIMUM_DECREASED" : "MAXIMUM_ADDED",
							"the %s schema's maximum %s rejects larger numbers the %s schema allows",
							cx->reader, jsonschema_numeric_text(r->maximum), cx->writer);
	if (r->exclusive_maximum &&
		!(w->maximum && jsonschema_numeric_cmp(w->maximum, r->exclusive_maximum) < 0) &&
		!(w->exclusive_maximum && jsonschema_numeric_cmp(w->exclusive_maximum, r->exclusive_maximum) <= 0))
		return incompatible(cx, path, w->maximum || w->exclusive_maximum ? "EXCLUSIVE_MAXIMUM_DECREASED" : "EXCLUSIVE_MAXIMUM_ADDED",
							"the %s schema's exclusiveMaximum %s rejects numbers the %s schema allows",
							cx->reader, jsonschema_numeric_text(r->exclusive_maximum), cx->writer);
	return true;
}

static bool
compare_strings(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path)
{
	if (r->min_length > 0 && w->min_length < r->min_length)
		return incompatible(cx, path, w->min_length >= 0 ? "MIN_LENGTH_INCREASED" : "MIN_LENGTH_ADDED",
							"the %s schema's minLength %s rejects shorter strings the %s schema allows",
							cx->reader, jsonschema_numeric_text(r->min_length_num), cx->writer);
	if (r->max_length >= 0 && (w->max_length < 0 || w->max_length > r->max_length))
		return incompatible(cx, path, w->max_length >= 0 ? "MAX_LENGTH_DECREASED" : "MAX_LENGTH_ADDED",
							"the %s schema's maxLength %s rejects longer strings the %s schema allows",
							cx->reader, jsonschema_numeric_text(r->max_length_num), cx->writer);
	if (r->pattern && (!w->pattern || strcmp(w->pattern, r->pattern) != 0))
		return incompatible(cx, path, w->pattern ? "PATTERN_CHANGED" : "PATTERN_ADDED",
							"the %s schema's pattern %s may reject strings the %s schema allows",
							cx->reader, quote_literal_cstr(r->pattern), cx->writer);
	if (r->format != JSF_NONE && w->format != r->format)
		return incompatible(cx, path, w->format != JSF_NONE ? "FORMAT_CHANGED" : "FORMAT_ADDED",
							"the %s schema's format \"%s\" rejects strings the %s schema allows",
							cx->reader, r->format_name, cx->writer);
	return true;
}

/* open: no additionalProperties, or true (compiled away to NULL) */
static bool
is_open(SchemaNode *n)
{
	return n->additional == NULL;
}

static bool
is_closed(SchemaNode *n)
{
	return n->additional != NULL && n->additional->always_false;
}

/* compare() in a scratch context: does it hold, without recording anything? */
static bool
compare_quietly(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path, char **why)
{
	CompatContext sub = *cx;

	sub.problem = NULL;
	if (compare(&sub, w, r, path))
		return true;
	*why = sub.problem;
	return false;
}

/* A property only the writer declares. */
static bool
property_removed(CompatContext *cx, SchemaNode *w, SchemaNode *r, SchemaProp *wp, const char *path)
{
	char	   *why;

	if (is_open(r))
		return true;			/* PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL */
	if (!is_closed(r))
	{
		if (compare_quietly(cx, wp->schema, r->additional, path, &why))
			return true;		/* PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL */
		return incompatible(cx, path, "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
							"\"%.*s\" is declared only in the %s schema, and the %s schema's additionalProperties does not accept its values: %s",
							wp->namelen, wp->name, cx->writer, cx->reader, why);
	}
	if (deref(wp->schema)->always_false)
		return true;			/* PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL */
	return incompatible(cx, path, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
						"\"%.*s\" is declared only in the %s schema, and the %s schema does not allow additional properties",
						wp->namelen, wp->name, cx->writer, cx->reader);
}

/* A property only the reader declares. */
static bool
property_added(CompatContext *cx, SchemaNode *w, SchemaNode *r, SchemaProp *rp, const char *path)
{
	char	   *why;

	if (is_open(w))
	{
		if (deref(rp->schema)->trivial)
			return true;		/* PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL */
		return incompatible(cx, path, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
							"\"%.*s\" is declared only in the %s schema, but the %s schema allows additional properties, so its data may hold \"%.*s\" with any value (only an empty schema, {}, accepts them all)",
							rp->namelen, rp->name, cx->reader, cx->writer, rp->namelen, rp->name);
	}
	if (!is_closed(w) && !compare_quietly(cx, w->additional, rp->schema, path, &why))
		return incompatible(cx, path, "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
							"\"%.*s\" is declared only in the %s schema, and values the %s schema's additionalProperties allows for it are rejected: %s",
							rp->namelen, rp->name, cx->reader, cx->writer, why);
	return true;				/* OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL; required: below */
}

static bool
compare_objects(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path)
{
	int			i = 0,
				j = 0;

	/* properties: a merge of the two sorted name tables */
	while (i < w->nprops || j < r->nprops)
	{
		SchemaProp *wp = i < w->nprops ? &w->props[i] : NULL;
		SchemaProp *rp = j < r->nprops ? &r->props[j] : NULL;
		int			c;
		char	   *ppath;

		if (wp && rp)
			c = jsonschema_key_cmp(wp->name, wp->namelen, rp->name, rp->namelen);
		else
			c = wp ? -1 : 1;
		ppath = c <= 0 ? child_path(path, wp->name, wp->namelen) : child_path(path, rp->name, rp->namelen);
		if (c == 0 && wp->schema && rp->schema)
		{
			if (!compare(cx, wp->schema, rp->schema, ppath))
				return false;
		}
		else if (c <= 0 && wp->schema && (c < 0 || !rp->schema))
		{
			if (!property_removed(cx, w, r, wp, ppath))
				return false;
		}
		else if (c >= 0 && rp->schema && (c > 0 || !wp->schema))
		{
			if (!property_added(cx, w, r, rp, ppath))
				return false;
		}
		/* required: newly required names need a default */
		if (c >= 0 && rp->required && !(c == 0 && wp->required) &&
			!(rp->schema && deref(rp->schema)->has_default))
			return incompatible(cx, ppath,
								c == 0 && wp->schema ? "REQUIRED_ATTRIBUTE_ADDED" : "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
								"\"%.*s\" is required by the %s schema without a default, but not by the %s schema",
								rp->namelen, rp->name, cx->reader, cx->writer);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}

	/* additionalProperties: the content model itself */
	if (is_closed(w) || (w->additional == NULL && r->additional == NULL))
		return true;			/* ADDITIONAL_PROPERTIES_ADDED / EXTENDED, or unchanged */
	if (r->additional == NULL)
		return true;			/* ADDITIONAL_PROPERTIES_EXTENDED */
	if (is_closed(r))
		return incompatible(cx, path, "ADDITIONAL_PROPERTIES_REMOVED",
							"the %s schema allows additional properties, the %s schema does not",
							cx->writer, cx->reader);
	if (w->additional == NULL)
		return incompatible(cx, path, "ADDITIONAL_PROPERTIES_NARROWED",
							"the %s schema allows additional properties of any value, the %s schema constrains them",
							cx->writer, cx->reader);
	return compare(cx, w->additional, r->additional, psprintf("%s.*", path));
}

static bool
compare_arrays(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path)
{
	char	   *ipath = psprintf("%s[*]", path);

	if (r->items == NULL)
		return true;
	if (w->items == NULL)
		return incompatible(cx, ipath, "ITEMS_NARROWED",
							"the %s schema allows items of any value, the %s schema constrains them",
							cx->writer, cx->reader);
	return compare(cx, w->items, r->items, ipath);
}

/* The JSON types a node admits, "integer" spelled out when "number" is there. */
static uint32
expanded_types(SchemaNode *n)
{
	uint32		t = admitted_types(n);

	return (t & JST_NUMBER) ? (t | JST_INTEGER) : t;
}

static Numeric
tighter(Numeric a, Numeric b, bool lower)
{
	if (a == NULL || b == NULL)
		return a ? a : b;
	return (jsonschema_numeric_cmp(a, b) > 0) == lower ? a : b;
}

/*
 * The union of two sorted property tables: a name keeps a schema from
 * either side (the data satisfies both) and is required if either says so.
 */
static void
merge_props(SchemaNode *m, SchemaNode *a, SchemaNode *b)
{
	int			i = 0,
				j = 0;

	m->props = palloc(sizeof(SchemaProp) * Max(a->nprops + b->nprops, 1));
	m->nprops = m->ndeclared = m->nrequired = 0;
	while (i < a->nprops || j < b->nprops)
	{
		SchemaProp *pa = i < a->nprops ? &a->props[i] : NULL;
		SchemaProp *pb = j < b->nprops ? &b->props[j] : NULL;
		SchemaProp *out = &m->props[m->nprops++];
		int			c = pa && pb ? jsonschema_key_cmp(pa->name, pa->namelen, pb->name, pb->namelen) : (pa ? -1 : 1);

		*out = c <= 0 ? *pa : *pb;
		if (c == 0)
		{
			out->schema = pa->schema ? pa->schema : pb->schema;
			out->required = pa->required || pb->required;
		}
		if (out->schema)
			m->ndeclared++;
		if (out->required)
			m->nrequired++;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
}

/*
 * A writer with "$ref" and keywords of its own only wrote data valid against
 * both.  Merge them into one node that keeps, keyword by keyword, the
 * tighter of the two (or the one present), so compare() sees every
 * constraint the writer's data satisfies.  Taking one part's constraints is
 * always sound; merging makes the verdict exact in the common cases.
 */
static SchemaNode *
merge_writer(SchemaNode *own, SchemaNode *target)
{
	SchemaNode *m = palloc(sizeof(SchemaNode));
	uint32		t;

	*m = *own;
	m->ref = target->ref;
	if (target->always_false)
		m->always_false = true;
	t = expanded_types(own) & expanded_types(target);
	if (t & JST_NUMBER)
		t &= ~JST_INTEGER;
	if (t == 0)
		m->always_false = true;
	m->types = (t == JST_ALL) ? 0 : t;
	if (!m->has_const && m->nenum < 0)
	{
		m->has_const = target->has_const;
		m->const_value = target->const_value;
		m->nenum = target->nenum;
		m->enum_values = target->enum_values;
	}
	m->minimum = tighter(own->minimum, target->minimum, true);
	m->exclusive_minimum = tighter(own->exclusive_minimum, target->exclusive_minimum, true);
	m->maximum = tighter(own->maximum, target->maximum, false);
	m->exclusive_maximum = tighter(own->exclusive_maximum, target->exclusive_maximum, false);
	if (target->min_length > m->min_length)
		m->min_length = target->min_length, m->min_length_num = target->min_length_num;
	if (target->max_length >= 0 && (m->max_length < 0 || target->max_length < m->max_length))
		m->max_length = target->max_length, m->max_length_num = target->max_length_num;
	if (!m->pattern)
		m->pattern = target->pattern, m->pattern_re = target->pattern_re;
	if (m->format == JSF_NONE)
		m->format = target->format, m->format_name = target->format_name;
	merge_props(m, own, target);
	/* the tighter content model: closed, else either's additionalProperties */
	if (m->additional == NULL || (target->additional && target->additional->always_false))
		m->additional = target->additional;
	if (m->items == NULL)
		m->items = target->items;
	m->trivial = false;
	return m;
}

/*
 * Can a reader with schema `r` accept every instance valid under `w` at
 * `path`?  Sound for the supported keywords: a "yes" is never wrong.
 */
static bool
compare(CompatContext *cx, SchemaNode *w, SchemaNode *r, const char *path)
{
	uint32		wt,
				rt;
	ListCell   *lc;
	bool		ok;

	check_stack_depth();
	w = deref(w);
	r = deref(r);
	if (r->trivial)
		return true;

	/*
	 * A recursive schema: assume the pair holds while it is being proved.
	 * (Compared as compiled, before merge_writer makes new nodes.)
	 */
	foreach(lc, cx->in_progress)
	{
		SchemaNode **pair = lfirst(lc);

		if (pair[0] == w && pair[1] == r)
			return true;
	}
	{
		SchemaNode **pair = palloc(sizeof(SchemaNode *) * 2);

		pair[0] = w;
		pair[1] = r;
		cx->in_progress = lcons(pair, cx->in_progress);
	}
	for (int steps = 0; w->ref && !w->always_false && steps < 100; steps++)
		w = merge_writer(w, deref(w->ref));
	if (w->always_false)
		ok = true;
	else if (r->always_false)
		ok = incompatible(cx, path, "SCHEMA_NARROWED", "the %s schema allows no value here", cx->reader);
	/* a reader with "$ref" and keywords of its own must accept through both */
	else if (r->ref && !compare(cx, w, r->ref, path))
		ok = false;
	else if (w->has_const || w->nenum >= 0)
		ok = compare_values(cx, w, r, path);
	else if (r->has_const || r->nenum >= 0)
		ok = incompatible(cx, path, r->has_const ? "CONST_ADDED" : "ENUM_ARRAY_ADDED",
						  "the %s schema restricts the value to %s, the %s schema did not",
						  cx->reader, r->has_const ? "a constant" : "an enum", cx->writer);
	else
	{
		wt = admitted_types(w);
		rt = admitted_types(r);
		if (!types_covered(wt, rt))
			ok = incompatible(cx, path, types_covered(rt, wt) ? "TYPE_NARROWED" : "TYPE_CHANGED",
							  "type is %s in the %s schema but %s in the %s schema",
							  types_text(wt), cx->writer, types_text(rt), cx->reader);
		else
			ok = (!(wt & (JST_NUMBER | JST_INTEGER)) || compare_numbers(cx, w, r, path)) &&
				(!(wt & JST_STRING) || compare_strings(cx, w, r, path)) &&
				(!(wt & JST_OBJECT) || compare_objects(cx, w, r, path)) &&
				(!(wt & JST_ARRAY) || compare_arrays(cx, w, r, path));
	}
	cx->in_progress = list_delete_first(cx->in_progress);
	return ok;
}

static char *
check_one(JsonSchema *old_js, JsonSchema *new_js, bool backward)
{
	CompatContext cx;

	memset(&cx, 0, sizeof(cx));
	cx.writer = backward ? "old" : "new";
	cx.reader = backward ? "new" : "old";
	if (backward)
		compare(&cx, old_js->root, new_js->root, "$");
	else
		compare(&cx, new_js->root, old_js->root, "$");
	return cx.problem;
}

/*
 * The check itself, with every allocation in a private context; only the
 * message is copied out into the caller's context.
 */
static char *
check_compiled(Jsonb *old_schema, Jsonb *new_schema, SchemaCompatDirection direction)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(caller, "phoenix schema compatibility",
											  ALLOCSET_DEFAULT_SIZES);
	JsonSchema *old_js;
	JsonSchema *new_js;
	char	   *problem = NULL;
	const char *label = NULL;

	MemoryContextSwitchTo(cxt);
	old_js = jsonschema_compile(old_schema, cxt);
	new_js = jsonschema_compile(new_schema, cxt);
	if (direction != SCHEMA_COMPAT_FORWARD)
	{
		problem = check_one(old_js, new_js, true);
		label = "the new schema cannot read data written with the old one";
	}
	if (!problem && direction != SCHEMA_COMPAT_BACKWARD)
	{
		problem = check_one(old_js, new_js, false);
		label = "the old schema cannot read data written with the new one";
	}
	MemoryContextSwitchTo(caller);
	if (problem)
		problem = psprintf("%s: %s", label, problem);
	MemoryContextDelete(cxt);
	return problem;
}

char *
schemacompat_check(Jsonb *old_schema, Jsonb *new_schema, SchemaCompatDirection direction)
{
	return check_compiled(old_schema, new_schema, direction);
}

typedef struct CompatMode
{
	const char *name;
	bool		none;
	SchemaCompatDirection direction;
	bool		transitive;
} CompatMode;

static const CompatMode compat_modes[] = {
	{"backward", false, SCHEMA_COMPAT_BACKWARD, false},
	{"backward_transitive", false, SCHEMA_COMPAT_BACKWARD, true},
	{"forward", false, SCHEMA_COMPAT_FORWARD, false},
	{"forward_transitive", false, SCHEMA_COMPAT_FORWARD, true},
	{"full", false, SCHEMA_COMPAT_FULL, false},
	{"full_transitive", false, SCHEMA_COMPAT_FULL, true},
	{"none", true, SCHEMA_COMPAT_FULL, false},
};

static const CompatMode *
find_mode(const char *mode)
{
	for (int i = 0; i < lengthof(compat_modes); i++)
		if (pg_strcasecmp(compat_modes[i].name, mode) == 0)
			return &compat_modes[i];
	return NULL;
}

bool
schemacompat_mode_valid(const char *mode)
{
	return mode != NULL && find_mode(mode) != NULL;
}

char *
schemacompat_check_mode(List *older_schemas_newest_first, Jsonb *new_schema, const char *mode)
{
	const CompatMode *m = mode ? find_mode(mode) : NULL;
	ListCell   *lc;

	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown schema compatibility mode \"%s\"", mode ? mode : "(null)"),
				 errhint("Use backward, forward, full or none, or backward_transitive, forward_transitive or full_transitive.")));
	if (m->none)
		return NULL;
	foreach(lc, older_schemas_newest_first)
	{
		int			back = foreach_current_index(lc);
		char	   *problem = schemacompat_check((Jsonb *) lfirst(lc), new_schema, m->direction);

		if (problem)
			return back == 0 ? psprintf("%s (mode %s, against the latest version)", problem, m->name) :
				psprintf("%s (mode %s, against the schema %d version%s before the latest)",
						 problem, m->name, back, back == 1 ? "" : "s");
		if (!m->transitive)
			break;
	}
	return NULL;
}

PG_FUNCTION_INFO_V1(phoenix_schema_compatibility);

/*
 * phoenix.schema_compatibility(old jsonb, new jsonb, mode text DEFAULT 'backward')
 *   RETURNS TABLE(compatible boolean, message text)
 * One row: whether `new` may follow `old` under `mode`, and why not.  `old`
 * may be a JSON array of older schemas, newest first, for the _transitive
 * modes.
 */
Datum
phoenix_schema_compatibility(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *old_schema = PG_GETARG_JSONB_P(0);
	Jsonb	   *new_schema = PG_GETARG_JSONB_P(1);
	char	   *mode = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *problem;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	List	   *older = NIL;

	InitMaterializedSRF(fcinfo, 0);
	/* a schema is never an array: an array is the history, newest first */
	if (JB_ROOT_IS_ARRAY(old_schema) && !JB_ROOT_IS_SCALAR(old_schema))
	{
		int			n = JB_ROOT_COUNT(old_schema);

		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("no older schema to compare with"),
					 errhint("Pass the older schema, or an array of older schemas, newest first.")));
		for (int i = 0; i < n; i++)
			older = lappend(older, JsonbValueToJsonb(getIthJsonbValueFromContainer(&old_schema->root, i)));
	}
	else
		older = list_make1(old_schema);
	problem = schemacompat_check_mode(older, new_schema, mode);
	values[0] = BoolGetDatum(problem == NULL);
	if (problem)
		values[1] = CStringGetTextDatum(problem);
	else
		nulls[1] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PG_RETURN_NULL();
}
