/*
 * registry.h — the schema registry: event types, their versions and compiled
 * schemas, cached per backend.
 *
 * The cache is keyed by event type name and holds the newest version only
 * (events are always validated against it).  It is dropped whenever a
 * registry change sends a relcache invalidation for
 * phoenix.event_type_versions; entries handed out stay valid until the end of
 * the current transaction even if an invalidation arrives meanwhile.
 */
#ifndef PHOENIX_REGISTRY_H
#define PHOENIX_REGISTRY_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "json/jsonschema.h"

/* How a CSV value of a top-level property is typed (from the schema). */
typedef enum PhxFieldKind
{
	PHX_FIELD_STRING = 0,		/* also: unknown / no type given */
	PHX_FIELD_NUMBER,			/* "number" or "integer" */
	PHX_FIELD_BOOLEAN
} PhxFieldKind;

/* The current version of an event type, compiled. */
typedef struct PhxEventType
{
	char	   *name;
	int32		version;
	Jsonb	   *schema_doc;		/* the schema as registered */
	JsonSchema *schema;			/* compiled once per (type, version) */
	char	   *entity;			/* entity it sets, or NULL */
	char	   *key_field;		/* payload field holding the entity key */
	int			nsets;
	char	  **set_fields;		/* payload field ... */
	char	  **set_attributes; /* ... sets this entity attribute */
	char	   *time_field;		/* payload field with the effective time, or NULL */
	int			nprops;			/* top-level properties of the schema */
	char	  **prop_names;
	PhxFieldKind *prop_kinds;
} PhxEventType;

/* The current version of an event type; NULL when unknown and missing_ok. */
extern PhxEventType *registry_event_type(const char *name, bool missing_ok);

/* How a CSV column named `field` is typed by the type's schema. */
extern PhxFieldKind registry_field_kind(PhxEventType *type, const char *field);

extern void RegistryInit(void);

#endif							/* PHOENIX_REGISTRY_H */
