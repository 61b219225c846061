/*
 * jsonschema_int.h — the compiled form of a JSON Schema, shared by the
 * validator (jsonschema.c) and the compatibility checker (schemacompat.c).
 * Nothing outside those two files should include it: everyone else sees the
 * opaque JsonSchema of jsonschema.h.
 */
#ifndef PHOENIX_JSONSCHEMA_INT_H
#define PHOENIX_JSONSCHEMA_INT_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "fmgr.h"
#include "regex/regex.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "json/jsonschema.h"

/*
 * The "pattern" cost budget.  PostgreSQL's regex engine runs automata over
 * the string: one character costs at most one DFA cache miss, i.e. the
 * automata's states and arcs (regex_automaton_size), and a lookaround
 * constraint may rescan the rest of the string from every character.  So a
 * pattern of size S checks a string of L characters in about L * S steps
 * (L * L * S with lookaround).  Schemas whose patterns are larger than
 * PATTERN_MAX_SIZE, or use back-references (whose matching can take
 * exponential time), are refused when registered; a string whose check
 * would take more than PATTERN_COST_BUDGET steps fails the keyword with
 * that reason (the event is dead-lettered, the batch moves on).  Matching
 * also stops for a cancel or statement_timeout, as the engine checks for
 * interrupts.
 */

#define PATTERN_MAX_SIZE		20000
#define PATTERN_COST_BUDGET		INT64CONST(200000000)

/* JSON types as bits of SchemaNode.types ("integer" is its own bit). */
#define JST_NULL		0x01
#define JST_BOOLEAN		0x02
#define JST_OBJECT		0x04
#define JST_ARRAY		0x08
#define JST_NUMBER		0x10
#define JST_STRING		0x20
#define JST_INTEGER		0x40
#define JST_ALL			0x3F		/* every instance (integer is in number) */

typedef enum JsonSchemaFormat
{
	JSF_NONE = 0,
	JSF_DATE_TIME,
	JSF_DATE,
	JSF_EMAIL,
	JSF_UUID
} JsonSchemaFormat;

typedef struct SchemaNode SchemaNode;

/*
 * What a "pattern" answered for recently seen short strings.  Pattern-checked
 * fields tend to repeat a few values (floor ids, site codes), and a regex
 * run costs ten times a hash and a compare; the answer is a function of the
 * string alone, so a direct-mapped table of the last answers replaces most
 * runs.  Lives as long as the compiled schema.
 */
#define PATTERN_MEMO_SLOTS 64
#define PATTERN_MEMO_MAXLEN 32

typedef struct PatternMemoSlot
{
	int16		len;			/* -1: empty */
	bool		matches;
	char		str[PATTERN_MEMO_MAXLEN];
} PatternMemoSlot;

typedef struct PatternMemo
{
	PatternMemoSlot slot[PATTERN_MEMO_SLOTS];
} PatternMemo;

/*
 * One entry of an object schema's name table: a name from "properties" or
 * "required" (or both).  The table is sorted in jsonb key order (length,
 * then bytes) so that validation is a merge with the instance's keys.
 */
typedef struct SchemaProp
{
	const char *name;
	int			namelen;
	SchemaNode *schema;			/* NULL: only named by "required" */
	bool		required;
} SchemaProp;

struct SchemaNode
{
	const char *location;		/* JSON pointer in the schema: "#/properties/a" */
	bool		trivial;		/* accepts every instance (true, {}) */
	bool		always_false;	/* boolean schema false */
	bool		pii;			/* "x-pii": true */
	bool		has_default;	/* "default" present */

	SchemaNode *ref;			/* resolved "$ref", or NULL */
	const char *ref_text;		/* the "$ref" as written */

	uint32		types;			/* JST_* bits; 0 = no "type" keyword */
	const char *types_text;		/* "string or null", for messages */

	bool		has_const;
	JsonbValue	const_value;
	int			nenum;			/* -1: no "enum" */
	JsonbValue *enum_values;

	/* numbers; NULL when absent */
	Numeric		minimum;
	Numeric		maximum;
	Numeric		exclusive_minimum;
	Numeric		exclusive_maximum;

	/* strings; -1 when absent (clamped to INT64_MAX; the *_num as written) */
	int64		min_length;
	int64		max_length;
	Numeric		min_length_num;
	Numeric		max_length_num;
	const char *pattern;		/* source, NULL when absent */
	regex_t    *pattern_re;
	int64		pattern_size;	/* its automata's states and arcs */
	bool		pattern_lookaround; /* a lookaround constraint may rescan */
	PatternMemo *pattern_memo;	/* recent short strings' answers */
	JsonSchemaFormat format;
	const char *format_name;	/* as written, also when unknown */

	/* objects */
	int			nprops;			/* entries in props */
	int			ndeclared;		/* of which come from "properties" */
	int			nrequired;		/* of which are required */
	SchemaProp *props;
	SchemaNode *additional;		/* "additionalProperties", or NULL */

	/* arrays */
	SchemaNode *items;			/* NULL when absent */
};

struct JsonSchema
{
	SchemaNode *root;
	Jsonb	   *source;			/* private copy; compiled nodes point into it */
	List	   *regexes;		/* regex_t * to pg_regfree when cxt goes */
	List	   *pii_fields;
	int			nnodes;
};

/* Compare two jsonb object keys in jsonb's storage order. */
static inline int
jsonschema_key_cmp(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/* A number is an integer when it has no fractional part: 1.0 is one. */
static inline bool
jsonschema_numeric_is_integral(Numeric n)
{
	return DatumGetInt32(DirectFunctionCall1(numeric_min_scale, NumericGetDatum(n))) == 0;
}

static inline int
jsonschema_numeric_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a), NumericGetDatum(b)));
}

static inline char *
jsonschema_numeric_text(Numeric n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
}

/* The schema of property `name` in an object schema's table, or NULL. */
extern SchemaNode *jsonschema_prop_lookup(SchemaNode *node, const char *name, int namelen);
/* JSON equality: 1 == 1.0, key order irrelevant, no coercion between types. */
extern bool jsonschema_value_equal(const JsonbValue *a, const JsonbValue *b);
/* Is one value (a scalar or a jbvBinary container) valid against a node? */
extern bool jsonschema_node_valid(SchemaNode *node, const JsonbValue *value);
/* A value as JSON text, shortened, for messages. */
extern char *jsonschema_value_text(const JsonbValue *v);
extern char *jsonschema_vformat(const char *fmt, va_list ap) pg_attribute_printf(1, 0);
extern void jsonschema_append_path_key(StringInfo buf, const char *key, int keylen);

#endif							/* PHOENIX_JSONSCHEMA_INT_H */
