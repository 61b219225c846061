/*
 * jsonschema_walk.h — internal to json/: what the schema compiler and the
 * validator share (walking jsonb containers in place, value types, formats).
 */
#ifndef PHOENIX_JSONSCHEMA_WALK_H
#define PHOENIX_JSONSCHEMA_WALK_H

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

/* A cursor over the elements of an array or the pairs of an object. */
typedef struct Walk
{
	JsonbContainer *c;
	char	   *base;
	int			n;				/* elements, or pairs */
	int			i;
	uint32		key_off;		/* objects: offset of key i */
	uint32		val_off;		/* offset of element / value i */
} Walk;

/* JST_* bit of a value's JSON type (JST_NUMBER for every number). */
static inline uint32
value_type(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return JST_NULL;
		case jbvBool:
			return JST_BOOLEAN;
		case jbvNumeric:
			return JST_NUMBER;
		case jbvString:
			return JST_STRING;
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? JST_OBJECT : JST_ARRAY;
		default:
			return 0;
	}
}

/* Most errors schema_errors() reports for one instance. */
#define SCHEMA_ERRORS_MAX		1000

extern void walk_init(Walk *w, JsonbContainer *c);
extern bool walk_elem(Walk *w, JsonbValue *v);
extern bool walk_pair(Walk *w, JsonbValue *key, JsonbValue *val);
extern void jsonb_root_value(Jsonb *jb, JsonbValue *v);
extern const char *type_name(uint32 t);
extern char *jsonschema_vformat(const char *fmt, va_list ap);
extern void jsonschema_append_path_key(StringInfo buf, const char *key, int keylen);
extern bool format_ok(JsonSchemaFormat f, const char *s, int len);

#endif							/* PHOENIX_JSONSCHEMA_WALK_H */
