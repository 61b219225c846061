/*
 * registry.c — the schema registry: create_event_type / drop_event_type and
 * the per-backend cache of compiled current versions.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "timeline/catalog.h"
#include "json/jsonschema.h"
#include "common/relcache.h"
#include "common/owner.h"
#include "common/phoenix.h"
#include "registry/registry.h"
#include "json/schemacompat.h"

#define EVENT_TYPE_NAME_MAX		63

typedef struct RegistryCacheEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	PhxEventType *type;
} RegistryCacheEntry;

/* The cache: entries live in registry_cxt, dropped as a whole on invalidation. */
static HTAB *registry_cache = NULL;
static MemoryContext registry_cxt = NULL;
static bool registry_stale = false;
static Oid	registry_versions_relid = InvalidOid;
static SPIPlanPtr plan_load_current = NULL;

static void registry_relcache_callback(Datum arg, Oid relid);
static Oid	versions_relid(void);
static void registry_drop_stale(void);
static PhxEventType *registry_load(const char *name);
static PhxEventType *registry_found_or_error(const char *name, PhxEventType *type, bool missing_ok);
static void check_catalog_row(PhxEventType *type, Jsonb *sets);
static void fill_property_kinds(PhxEventType *type);
static PhxFieldKind kind_of_property(JsonbValue *propschema);
static JsonbValue *object_member(Jsonb *obj, const char *key);
static void check_event_type_name(const char *name);
static char *check_compatibility_name(const char *mode);
static void check_field_declared(const char *type, Jsonb *schema, const char *field, const char *what);
static void check_entity_mapping(const char *type, Jsonb *schema, const char *entity,
								 const char *key_field, Jsonb *sets);
static void check_attribute_owner(const char *type, PhxEntity *entity, const char *attname);
static void check_refs(const char *type, Jsonb *schema, Jsonb *refs);
static void check_recurrence(const char *type, Jsonb *schema, Jsonb *recurrence, const char *time_field,
							 const char *entity);
static RecurrenceFields *recurrence_fields(Jsonb *recurrence);
static bool nullable_text_eq(const char *a, const char *b);
static bool nullable_jsonb_eq(Jsonb *a, Jsonb *b);

PG_FUNCTION_INFO_V1(phoenix_create_event_type);
PG_FUNCTION_INFO_V1(phoenix_drop_event_type);

/*
 * create_event_type(name, schema, entity, key_field, sets, time_field, refs,
 * compatibility, recurrence) → version.  Registers version 1, or a new version when the
 * schema changed compatibly under the type's mode; re-registering the current
 * definition unchanged returns its version.  Serialized by a lock on
 * phoenix.event_types.
 */
Datum
phoenix_create_event_type(PG_FUNCTION_ARGS)
{
	char	   *name = phx_text_arg(fcinfo, 0);
	Jsonb	   *schema = phx_jsonb_arg(fcinfo, 1);
	char	   *entity = phx_text_arg(fcinfo, 2);
	char	   *key_field = phx_text_arg(fcinfo, 3);
	Jsonb	   *sets = phx_jsonb_arg(fcinfo, 4);
	char	   *time_field = phx_text_arg(fcinfo, 5);
	Jsonb	   *refs = phx_jsonb_arg(fcinfo, 6);
	char	   *compat = phx_text_arg(fcinfo, 7);
	Jsonb	   *recurrence = phx_jsonb_arg(fcinfo, 8);
	Oid			argtypes[8] = {TEXTOID, JSONBOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, JSONBOID, TEXTOID};
	Datum		values[8];
	char		nulls[8];
	int32		version;

	if (name == NULL || schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event type name and schema must not be null")));
	check_event_type_name(name);
	if (!JB_ROOT_IS_OBJECT(schema) || JB_ROOT_IS_SCALAR(schema))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schema of event type \"%s\" must be a JSON object", name)));
	/* compiling checks the schema itself; the result is discarded */
	(void) jsonschema_compile(schema, CurrentMemoryContext);
	if (compat)
		compat = check_compatibility_name(compat);
	if (time_field)
		check_field_declared(name, schema, time_field, "time_field");
	check_entity_mapping(name, schema, entity, key_field, sets);
	if (refs)
		check_refs(name, schema, refs);
	if (recurrence)
		check_recurrence(name, schema, recurrence, time_field, entity);

	SPI_connect();
	/* one registration at a time: versions are numbered max + 1 */
	LockRelationOid(get_relname_relid("event_types", get_namespace_oid(PHOENIX_SCHEMA, false)),
					ShareRowExclusiveLock);

	values[0] = CStringGetTextDatum(name);
	nulls[0] = ' ';
	if (SPI_execute_with_args("SELECT entity, compatibility FROM phoenix.event_types WHERE name = $1",
							  1, argtypes, values, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read phoenix.event_types");

	if (SPI_processed == 0)
	{
		values[1] = CStringGetTextDatum(entity ? entity : "");
		nulls[1] = entity ? ' ' : 'n';
		values[2] = CStringGetTextDatum(compat ? compat : "backward");
		nulls[2] = ' ';
		if (SPI_execute_with_args("INSERT INTO phoenix.event_types (name, entity, compatibility) VALUES ($1, $2, $3)",
								  3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID},
								  values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into phoenix.event_types");
		version = 1;
	}
	else
	{
		char	   *old_entity = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *mode = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		List	   *older = NIL;
		uint64		i;
		bool		isnull;
		Oid			verargtypes[1] = {TEXTOID};

		if (!nullable_text_eq(old_entity, entity))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event type \"%s\" is registered for entity \"%s\", not \"%s\"",
							name, old_entity ? old_entity : "(none)", entity ? entity : "(none)"),
					 errhint("An event type keeps its entity across versions; drop it with phoenix.drop_event_type or register a new type.")));
		if (compat && strcmp(compat, mode) != 0)
		{
			values[1] = CStringGetTextDatum(compat);
			nulls[1] = ' ';
			if (SPI_execute_with_args("UPDATE phoenix.event_types SET compatibility = $2 WHERE name = $1",
									  2, (Oid[]) {TEXTOID, TEXTOID}, values, nulls, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update phoenix.event_types");
			mode = compat;
		}

		if (SPI_execute_with_args("SELECT version, schema, key_field, sets, time_field, refs, recurrence "
								  "FROM phoenix.event_type_versions WHERE event_type = $1 ORDER BY version DESC",
								  1, verargtypes, values, nulls, true, 0) != SPI_OK_SELECT || SPI_processed == 0)
			elog(ERROR, "event type \"%s\" has no versions", name);

		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) + 1;
		for (i = 0; i < SPI_processed; i++)
			older = lappend(older, DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 2, &isnull)));

		/* the current definition again: nothing to register */
		{
			HeapTuple	cur = SPI_tuptable->vals[0];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		n4,
						n6,
						n7;
			Datum		cur_sets = SPI_getbinval(cur, td, 4, &n4);
			Datum		cur_refs = SPI_getbinval(cur, td, 6, &n6);
			Datum		cur_recurrence = SPI_getbinval(cur, td, 7, &n7);

			/* occurrence rows are keyed by what the fields say: they stay */
			if (!nullable_jsonb_eq(n7 ? NULL : DatumGetJsonbP(cur_recurrence), recurrence))
				ereport(ERROR,
						(errcode(ERRCODE_PHOENIX_INCOMPATIBLE_SCHEMA),
						 errmsg("event type \"%s\" must keep its recurrence across versions", name),
						 errdetail("Version %d has recurrence %s.", version - 1,
								   n7 ? "(none)" : JsonbToCString(NULL, &DatumGetJsonbP(cur_recurrence)->root, 0)),
						 errhint("Give the same recurrence, or register a new event type.")));

			if (nullable_jsonb_eq((Jsonb *) linitial(older), schema) &&
				nullable_text_eq(SPI_getvalue(cur, td, 3), key_field) &&
				nullable_jsonb_eq(n4 ? NULL : DatumGetJsonbP(cur_sets), sets) &&
				nullable_text_eq(SPI_getvalue(cur, td, 5), time_field) &&
				nullable_jsonb_eq(n6 ? NULL : DatumGetJsonbP(cur_refs), refs))
			{
				SPI_finish();
				PG_RETURN_INT32(version - 1);
			}
		}

		{
			char	   *why = schemacompat_check_mode(older, schema, mode);

			if (why)
				ereport(ERROR,
						(errcode(ERRCODE_PHOENIX_INCOMPATIBLE_SCHEMA),
						 errmsg("new schema of event type \"%s\" is not %s compatible: %s",
								name, mode, why),
						 errdetail("Version %d is the current version.", version - 1),
						 strstr(why, "(PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL)") ?
						 errhint("A schema that allows additional properties stays open: declare the new property with an empty schema ({}), or send it as a new event type, or register with compatibility => 'none' (logged events keep the version they were validated against; new events whose values a projection's column cannot hold are dead-lettered).") :
						 errhint("Make the change compatible (a new required property needs a \"default\"), or register it with compatibility => 'none'.")));
		}
	}

	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	values[2] = JsonbPGetDatum(schema);
	values[3] = key_field ? CStringGetTextDatum(key_field) : (Datum) 0;
	values[4] = sets ? JsonbPGetDatum(sets) : (Datum) 0;
	values[5] = time_field ? CStringGetTextDatum(time_field) : (Datum) 0;
	values[6] = refs ? JsonbPGetDatum(refs) : (Datum) 0;
	values[7] = recurrence ? JsonbPGetDatum(recurrence) : (Datum) 0;
	memset(nulls, ' ', sizeof(nulls));
	nulls[3] = key_field ? ' ' : 'n';
	nulls[4] = sets ? ' ' : 'n';
	nulls[5] = time_field ? ' ' : 'n';
	nulls[6] = refs ? ' ' : 'n';
	nulls[7] = recurrence ? ' ' : 'n';
	if (SPI_execute_with_args("INSERT INTO phoenix.event_type_versions "
							  "(event_type, version, schema, key_field, sets, time_field, refs, recurrence) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
							  8, (Oid[]) {TEXTOID, INT4OID, JSONBOID, TEXTOID, JSONBOID, TEXTOID, JSONBOID, JSONBOID},
							  values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into phoenix.event_type_versions");

	CacheInvalidateRelcacheByRelid(versions_relid());
	SPI_finish();
	PG_RETURN_INT32(version);
}

/*
 * drop_event_type(name): unregister the type and its versions.  Its events
 * stay in the log and its dead letters stay replayable once it is registered
 * again.
 */
Datum
phoenix_drop_event_type(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		values[1] = {PG_GETARG_DATUM(0)};

	SPI_connect();
	if (SPI_execute_with_args("DELETE FROM phoenix.event_types WHERE name = $1",
							  1, (Oid[]) {TEXTOID}, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from phoenix.event_types");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("event type \"%s\" does not exist", name),
				 errhint("See phoenix.event_types_v for the registered types.")));
	CacheInvalidateRelcacheByRelid(versions_relid());
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * The current version of `name`, compiled, from the cache or loaded (one
 * prepared query, one schema compilation per version per backend).
 */
PhxEventType *
registry_event_type(const char *name, bool missing_ok)
{
	RegistryCacheEntry *entry;
	bool		found;

	if (registry_stale)
		registry_drop_stale();
	if (strlen(name) >= NAMEDATALEN)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("event type \"%s\" does not exist", name)));
	}
	if (registry_cache == NULL)
	{
		HASHCTL		ctl;

		registry_cxt = AllocSetContextCreate(CacheMemoryContext, "phoenix event type cache",
											 ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(RegistryCacheEntry);
		ctl.hcxt = registry_cxt;
		registry_cache = hash_create("phoenix event types", 64, &ctl,
									 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	entry = hash_search(registry_cache, name, HASH_FIND, &found);
	if (!found)
	{
		PhxEventType *type = registry_load(name);

		/*
		 * An invalidation that arrived during the load may have made the
		 * result out of date: use it for this call, but don't keep it.
		 */
		if (!registry_stale)
		{
			entry = hash_search(registry_cache, name, HASH_ENTER, &found);
			entry->type = type; /* NULL remembers "unknown" until the next change */
		}
		return registry_found_or_error(name, type, missing_ok);
	}
	return registry_found_or_error(name, entry->type, missing_ok);
}

static PhxEventType *
registry_found_or_error(const char *name, PhxEventType *type, bool missing_ok)
{
	if (type == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("event type \"%s\" does not exist", name),
				 errhint("Register it with phoenix.create_event_type.")));
	return type;
}

PhxFieldKind
registry_field_kind(PhxEventType *type, const char *field)
{
	int			i;

	for (i = 0; i < type->nprops; i++)
		if (strcmp(type->prop_names[i], field) == 0)
			return type->prop_kinds[i];
	return PHX_FIELD_STRING;
}

void
RegistryInit(void)
{
	phoenix_relcache_callback(registry_relcache_callback, (Datum) 0);
}

/* Registry tables changed (or all relcache was reset): mark the cache stale. */
static void
registry_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == registry_versions_relid)
	{
		registry_stale = true;
		registry_versions_relid = InvalidOid;
	}
}

static Oid
versions_relid(void)
{
	if (!OidIsValid(registry_versions_relid))
		registry_versions_relid = get_relname_relid("event_type_versions",
													get_namespace_oid(PHOENIX_SCHEMA, false));
	return registry_versions_relid;
}

/*
 * Forget the cache.  Entries may still be in use by a batch of the current
 * transaction, so their memory is handed to the transaction instead of being
 * freed now.
 */
static void
registry_drop_stale(void)
{
	registry_stale = false;
	if (registry_cxt == NULL)
		return;
	if (IsTransactionState())
		MemoryContextSetParent(registry_cxt, TopTransactionContext);
	else
		MemoryContextDelete(registry_cxt);
	registry_cxt = NULL;
	registry_cache = NULL;
}

/* Read the newest version of `name` and compile it into the cache context. */
static PhxEventType *
registry_load(const char *name)
{
	PhxEventType *type = NULL;
	Datum		values[1];
	bool		isnull;
	PhxAsOwner	as;

	(void) versions_relid();	/* so the callback recognizes its invalidations */
	phx_as_owner_begin(&as);	/* any role's first statement may need the catalog */
	SPI_connect();
	if (plan_load_current == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		SPIPlanPtr	plan = SPI_prepare("SELECT v.version, v.schema, t.entity, v.key_field, v.sets, v.time_field, v.recurrence "
									   "FROM phoenix.event_type_versions v "
									   "JOIN phoenix.event_types t ON t.name OPERATOR(pg_catalog.=) v.event_type "
									   "WHERE v.event_type OPERATOR(pg_catalog.=) $1 "
									   "ORDER BY v.version DESC LIMIT 1", 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		plan_load_current = plan;
	}
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_plan(plan_load_current, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read phoenix.event_type_versions");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	td = SPI_tuptable->tupdesc;
		MemoryContext oldcxt = MemoryContextSwitchTo(registry_cxt);
		Datum		d;

		type = palloc0(sizeof(PhxEventType));
		type->name = pstrdup(name);
		type->version = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		type->schema_doc = DatumGetJsonbPCopy(SPI_getbinval(tup, td, 2, &isnull));
		type->entity = SPI_getvalue(tup, td, 3);
		type->key_field = SPI_getvalue(tup, td, 4);
		type->time_field = SPI_getvalue(tup, td, 6);
		d = SPI_getbinval(tup, td, 7, &isnull);
		if (!isnull)
			type->recurrence = recurrence_fields(DatumGetJsonbP(d));
		d = SPI_getbinval(tup, td, 5, &isnull);
		check_catalog_row(type, isnull ? NULL : DatumGetJsonbP(d));
		if (!isnull)
		{
			Jsonb	   *sets = DatumGetJsonbP(d);
			JsonbIterator *it = JsonbIteratorInit(&sets->root);
			JsonbValue	v;
			JsonbIteratorToken tok;
			int			cap = JB_ROOT_COUNT(sets);

			type->set_fields = palloc(sizeof(char *) * Max(cap, 1));
			type->set_attributes = palloc(sizeof(char *) * Max(cap, 1));
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
					type->set_fields[type->nsets] = pnstrdup(v.val.string.val, v.val.string.len);
				else if (tok == WJB_VALUE && v.type == jbvString)
					type->set_attributes[type->nsets++] = pnstrdup(v.val.string.val, v.val.string.len);
			}
		}
		MemoryContextSwitchTo(oldcxt);
		/* the compiled form lives as long as the cache entry */
		type->schema = jsonschema_compile(type->schema_doc, registry_cxt);
		oldcxt = MemoryContextSwitchTo(registry_cxt);
		fill_property_kinds(type);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
	phx_as_owner_end(&as);
	return type;
}

/*
 * Refuse a catalog row that create_event_type could never have written
 * (only the owner can write the catalog, but a hand-made change must give a
 * clean error, not a crash in emit): an entity needs key_field and a
 * non-empty sets object of attribute names; the schema is a JSON object or
 * boolean.
 */
static void
check_catalog_row(PhxEventType *type, Jsonb *sets)
{
	const char *why = NULL;

	if (type->entity != NULL && type->key_field == NULL)
		why = "it has an entity but no key_field";
	else if (type->entity != NULL && (sets == NULL || !JB_ROOT_IS_OBJECT(sets) || JB_ROOT_COUNT(sets) == 0))
		why = "it has an entity but sets is not an object of payload fields and attributes";
	else if (sets != NULL && !JB_ROOT_IS_OBJECT(sets))
		why = "sets is not an object";
	else if (!JB_ROOT_IS_OBJECT(type->schema_doc))
	{
		JsonbValue	v;

		if (!JsonbExtractScalar(&type->schema_doc->root, &v) || v.type != jbvBool)
			why = "its schema is neither a JSON object nor a boolean";
	}
	if (why)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("event type \"%s\" (version %d) is not valid in phoenix.event_type_versions: %s",
						type->name, type->version, why),
				 errhint("Register the type again with phoenix.create_event_type, which checks what it stores.")));
}

/* Record how each top-level property is typed, for CSV coercion. */
static void
fill_property_kinds(PhxEventType *type)
{
	JsonbValue *props = object_member(type->schema_doc, "properties");
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap;

	if (props == NULL || props->type != jbvBinary)
		return;
	cap = JsonContainerSize(props->val.binary.data);
	type->prop_names = palloc(sizeof(char *) * Max(cap, 1));
	type->prop_kinds = palloc(sizeof(PhxFieldKind) * Max(cap, 1));
	it = JsonbIteratorInit(props->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			type->prop_names[type->nprops] = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
			type->prop_kinds[type->nprops++] = kind_of_property(&v);
	}
}

/* "type" of one property schema → how a CSV value of it is typed. */
static PhxFieldKind
kind_of_property(JsonbValue *propschema)
{
	JsonbValue	key;
	JsonbValue	member;
	JsonbValue *t;

	if (propschema->type != jbvBinary || !JsonContainerIsObject(propschema->val.binary.data))
		return PHX_FIELD_STRING;
	key.type = jbvString;
	key.val.string.val = "type";
	key.val.string.len = 4;
	t = findJsonbValueFromContainer(propschema->val.binary.data, JB_FOBJECT, &key);
	if (t != NULL && t->type == jbvBinary && JsonContainerIsArray(t->val.binary.data))
	{
		/* a union such as ["integer","null"]: its first non-null member */
		JsonbIterator *it = JsonbIteratorInit(t->val.binary.data);
		JsonbIteratorToken tok;

		t = NULL;
		while ((tok = JsonbIteratorNext(&it, &member, true)) != WJB_DONE)
			if (tok == WJB_ELEM && member.type == jbvString &&
				!(member.val.string.len == 4 && strncmp(member.val.string.val, "null", 4) == 0))
			{
				t = &member;
				break;
			}
	}
	if (t == NULL || t->type != jbvString)
		return PHX_FIELD_STRING;
	if ((t->val.string.len == 6 && strncmp(t->val.string.val, "number", 6) == 0) ||
		(t->val.string.len == 7 && strncmp(t->val.string.val, "integer", 7) == 0))
		return PHX_FIELD_NUMBER;
	if (t->val.string.len == 7 && strncmp(t->val.string.val, "boolean", 7) == 0)
		return PHX_FIELD_BOOLEAN;
	return PHX_FIELD_STRING;
}

/* The member `key` of a jsonb object, or NULL. */
static JsonbValue *
object_member(Jsonb *obj, const char *key)
{
	JsonbValue	k;

	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&obj->root, JB_FOBJECT, &k);
}

/* Event type names: lower case letters, digits, '.', '_', '-'; short. */
static void
check_event_type_name(const char *name)
{
	const char *p;

	if (strlen(name) > EVENT_TYPE_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("event type name \"%s\" is longer than %d bytes", name, EVENT_TYPE_NAME_MAX)));
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9' && p > name) ||
			  ((*p == '.' || *p == '_' || *p == '-') && p > name)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid event type name \"%s\"", name),
					 errhint("Use lower-case letters, digits, '.', '_' and '-', starting with a letter, e.g. 'presence.detected'.")));
	if (*name == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("event type name must not be empty")));
}

/*
 * A compatibility mode the registry accepts; stored lower-case (the
 * validator is schemacompat's, which ignores case).
 */
static char *
check_compatibility_name(const char *mode)
{
	if (!schemacompat_mode_valid(mode))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown compatibility mode \"%s\"", mode),
				 errhint("Use backward, forward, full or none, optionally with _transitive.")));
	return str_tolower(mode, strlen(mode), DEFAULT_COLLATION_OID);
}

/* A field the registration names must be declared by the schema's properties. */
static void
check_field_declared(const char *type, Jsonb *schema, const char *field, const char *what)
{
	JsonbValue *props = object_member(schema, "properties");
	JsonbValue	k;

	if (props == NULL || props->type != jbvBinary || !JsonContainerIsObject(props->val.binary.data))
		return;
	k.type = jbvString;
	k.val.string.val = (char *) field;
	k.val.string.len = strlen(field);
	if (findJsonbValueFromContainer(props->val.binary.data, JB_FOBJECT, &k) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s \"%s\" of event type \"%s\" is not a property of its schema", what, field, type),
				 errhint("Declare \"%s\" under \"properties\" in the schema.", field)));
}

/*
 * entity/key_field/sets: all or nothing; sets maps payload fields to
 * attributes of that one entity, and each attribute must be the entity's own
 * (single source of truth).
 */
static void
check_entity_mapping(const char *type, Jsonb *schema, const char *entity_name,
					 const char *key_field, Jsonb *sets)
{
	PhxEntity  *entity;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *field = NULL;

	if (entity_name == NULL)
	{
		if (key_field || sets)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event type \"%s\" has key_field or sets but no entity", type),
					 errhint("Name the entity whose attributes the event sets with entity => '...'.")));
		return;
	}
	entity = catalog_entity(entity_name, false);
	if (key_field == NULL || sets == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event type \"%s\" of entity \"%s\" needs key_field and sets", type, entity_name),
				 errhint("key_field names the payload field holding the %s key; sets maps payload fields to attributes, e.g. '{\"department\":\"department\"}'.",
						 entity_name)));
	check_field_declared(type, schema, key_field, "key_field");
	if (!JB_ROOT_IS_OBJECT(sets) || JB_ROOT_IS_SCALAR(sets) || JB_ROOT_COUNT(sets) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sets of event type \"%s\" must be a non-empty JSON object of field → attribute", type)));
	it = JsonbIteratorInit(&sets->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			field = pnstrdup(v.val.string.val, v.val.string.len);
			check_field_declared(type, schema, field, "sets field");
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sets of event type \"%s\": field \"%s\" must map to an attribute name", type, field)));
			check_attribute_owner(type, entity, pnstrdup(v.val.string.val, v.val.string.len));
		}
	}
}

/*
 * `attname` must be an attribute of `entity`.  When it belongs to another
 * entity instead, say which, and how the consumer gets it without copying:
 * by enrichment through the attribute of `entity` that refers to the owner.
 */
static void
check_attribute_owner(const char *type, PhxEntity *entity, const char *attname)
{
	Datum		values[1];
	uint64		i;
	char	   *owner = NULL;
	char	   *via = NULL;

	if (catalog_attribute_index(entity, attname) >= 0)
		return;

	SPI_connect();
	values[0] = CStringGetTextDatum(attname);
	if (SPI_execute_with_args("SELECT e.name FROM phoenix.attributes a "
							  "JOIN phoenix.entities e ON e.entity_id = a.entity_id "
							  "WHERE a.name = $1 ORDER BY 1", 1, (Oid[]) {TEXTOID}, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not search phoenix.attributes");
	for (i = 0; i < SPI_processed && owner == NULL; i++)
	{
		char	   *cand = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		PhxEntity  *other = catalog_entity(cand, true);

		if (other && strcmp(other->name, entity->name) != 0 &&
			catalog_attribute_index(other, attname) >= 0)
			owner = MemoryContextStrdup(TopTransactionContext, cand);
	}
	SPI_finish();

	if (owner == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("event type \"%s\" sets \"%s\", which is not an attribute of entity \"%s\"",
						type, attname, entity->name),
				 errhint("Add the attribute to entity \"%s\", or map the field to one of its attributes.",
						 entity->name)));
	for (i = 0; i < entity->natts; i++)
		if (entity->atts[i].ref_entity && strcmp(entity->atts[i].ref_entity, owner) == 0)
			via = entity->atts[i].name;
	ereport(ERROR,
			(errcode(ERRCODE_PHOENIX_OWNERSHIP_CONFLICT),
			 errmsg("event type \"%s\" of entity \"%s\" cannot set \"%s\": that attribute belongs to entity \"%s\"",
					type, entity->name, attname, owner),
			 errdetail("Each attribute has one source of truth: the event types registered for its own entity."),
			 via ? errhint("Set it with an event type of entity \"%s\"; %s consumers get it by enrichment through \"%s\".",
						   owner, entity->name, via)
			 : errhint("Set it with an event type of entity \"%s\" and get it by enrichment through a reference to %s.",
					   owner, owner)));
}

/* refs: {"field": "entity"} or {"field": "entity.attribute"}, checked against the catalog. */
static void
check_refs(const char *type, Jsonb *schema, Jsonb *refs)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *field = NULL;

	if (!JB_ROOT_IS_OBJECT(refs) || JB_ROOT_IS_SCALAR(refs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refs of event type \"%s\" must be a JSON object of field → entity", type)));
	it = JsonbIteratorInit(&refs->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *target;
		char	   *dot;
		PhxEntity  *entity;

		if (tok == WJB_KEY)
		{
			field = pnstrdup(v.val.string.val, v.val.string.len);
			check_field_declared(type, schema, field, "refs field");
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refs of event type \"%s\": field \"%s\" must name an entity or entity.attribute",
							type, field)));
		target = pnstrdup(v.val.string.val, v.val.string.len);
		dot = strchr(target, '.');
		if (dot)
			*dot = '\0';
		entity = catalog_entity(target, true);
		if (entity == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("refs of event type \"%s\": field \"%s\" refers to unknown entity \"%s\"",
							type, field, target),
					 errhint("Create the entity with phoenix.create_entity first.")));
		if (dot && catalog_attribute_index(entity, dot + 1) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("refs of event type \"%s\": field \"%s\" refers to \"%s.%s\", which is not an attribute of entity \"%s\"",
							type, field, target, dot + 1, target)));
	}
}

static bool
nullable_text_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool
nullable_jsonb_eq(Jsonb *a, Jsonb *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(a), JsonbPGetDatum(b)));
}

/*
 * recurrence: {"rule": field, "timezone": field, "except": field, "series":
 * field}, rule and timezone required, each a property of the schema.  A
 * series' first occurrence is its effective time, so time_field is
 * required; it sets no entity attribute (its occurrences are facts).
 */
static void
check_recurrence(const char *type, Jsonb *schema, Jsonb *recurrence, const char *time_field,
				 const char *entity)
{
	static const char *const members[] = {"rule", "timezone", "except", "series", NULL};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (!JB_ROOT_IS_OBJECT(recurrence) || JB_ROOT_IS_SCALAR(recurrence))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recurrence of event type \"%s\" must be a JSON object naming payload fields", type),
				 errhint("E.g. recurrence => '{\"rule\":\"rrule\",\"timezone\":\"tz\",\"except\":\"skip\",\"series\":\"seriesId\"}'.")));
	it = JsonbIteratorInit(&recurrence->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			for (int i = 0; members[i]; i++)
				known |= strcmp(members[i], key) == 0;
			if (!known)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("recurrence of event type \"%s\" has an unknown member \"%s\"", type, key),
						 errhint("The members are rule, timezone, except and series.")));
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("recurrence member \"%s\" of event type \"%s\" must name a payload field", key, type)));
			check_field_declared(type, schema, pnstrdup(v.val.string.val, v.val.string.len),
								 psprintf("recurrence %s field", key));
		}
	}
	if (object_member(recurrence, "rule") == NULL || object_member(recurrence, "timezone") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recurrence of event type \"%s\" must name its rule and timezone fields", type)));
	if (time_field == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recurring event type \"%s\" needs a time_field (its first occurrence)", type),
				 errhint("Name the payload field holding the first occurrence's date-time (DTSTART).")));
	if (entity)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recurring event type \"%s\" cannot set attributes of entity \"%s\"", type, entity),
				 errhint("A series' occurrences are facts; register entity changes as their own event type.")));
}

/* The cached form of a registered recurrence (in the current context). */
static RecurrenceFields *
recurrence_fields(Jsonb *recurrence)
{
	RecurrenceFields *f = palloc0(sizeof(RecurrenceFields));
	const char *const names[] = {"rule", "timezone", "except", "series"};
	char	  **slots[] = {&f->rule, &f->timezone, &f->except, &f->series};

	for (int i = 0; i < 4; i++)
	{
		JsonbValue *v = object_member(recurrence, names[i]);

		if (v && v->type == jbvString)
			*slots[i] = pnstrdup(v->val.string.val, v->val.string.len);
	}
	return f;
}
