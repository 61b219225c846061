/*
 * jsonschema.c — JSON Schema validation in C.
 * (Stub until the validator lands: accepts everything.)
 */
#include "postgres.h"

#include "jsonschema.h"

struct JsonSchema
{
	int			unused;
};

JsonSchema *
jsonschema_compile(Jsonb *schema, MemoryContext cxt)
{
	return MemoryContextAllocZero(cxt, sizeof(JsonSchema));
}

bool
jsonschema_validate(JsonSchema *schema, Jsonb *instance, List **errors, int max_errors)
{
	return true;
}

List *
jsonschema_pii_fields(JsonSchema *schema)
{
	return NIL;
}
