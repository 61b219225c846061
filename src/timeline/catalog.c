/*
 * catalog.c — the per-backend cache of Phoenix's entity catalog, and the
 * identifier and type checks that every DDL path shares.
 *
 * Entities are looked up by name on every write, so their metadata and the
 * prepared plans of their timelines are cached.  The cache is dropped when a
 * relcache invalidation for phoenix.entities arrives (catalog_invalidate()
 * sends one from every function that changes the catalog).  Entries may be in
 * use by the running statement when that happens, so a dropped cache is only
 * freed at the end of the transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/relcache.h"
#include "common/keywords.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "timeline/catalog.h"
#include "common/owner.h"
#include "common/phoenix.h"

typedef struct EntityCacheEntry
{
	char		name[NAMEDATALEN];
	PhxEntity  *entity;
} EntityCacheEntry;

/* The live cache: hash by name, and the context that holds every entry. */
static HTAB *entity_cache = NULL;
static MemoryContext entity_cache_cxt = NULL;
static bool entity_cache_stale = false;
static Oid	entities_relid = InvalidOid;

/* Caches dropped during this transaction, freed at its end. */
static List *retired_caches = NIL;	/* of MemoryContext, in TopMemoryContext */
static List *retired_plans = NIL;	/* of SPIPlanPtr */

/* Scalar types an attribute may have: BigQuery-readable, comparable. */
static const char *const scalar_types[] = {
	"text", "boolean", "smallint", "integer", "bigint", "numeric", "real",
	"double precision", "date", "timestamp with time zone",
	"timestamp without time zone", NULL
};

static void entity_cache_invalidate_cb(Datum arg, Oid relid);
static void entity_cache_xact_cb(XactEvent event, void *arg);
static void entity_cache_reset(void);
static void entity_cache_retire(void);
static PhxEntity *entity_load(const char *name);
static Oid	phoenix_entities_relid(void);
static void history_columns(PhxEntity *entity);

void
CatalogInit(void)
{
	phoenix_relcache_callback(entity_cache_invalidate_cb, (Datum) 0);
	RegisterXactCallback(entity_cache_xact_cb, NULL);
}

/*
 * Look up an entity by name.  The result lives until the cache is dropped,
 * which is never before the end of the current transaction.
 */
PhxEntity *
catalog_entity(const char *name, bool missing_ok)
{
	EntityCacheEntry *entry;
	bool		found;
	PhxEntity  *entity;

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("entity name must not be null")));
	if (entity_cache_stale)
		entity_cache_retire();
	if (entity_cache == NULL)
		entity_cache_reset();

	if (strlen(name) < NAMEDATALEN)
	{
		entry = hash_search(entity_cache, name, HASH_FIND, &found);
		if (found)
			return entry->entity;
	}

	entity = entity_load(name);
	if (entity == NULL)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("entity \"%s\" does not exist", name),
				 errhint("Create it with phoenix.create_entity(); phoenix.entity_catalog lists the entities.")));
	}
	entry = hash_search(entity_cache, entity->name, HASH_ENTER, &found);
	entry->entity = entity;
	return entity;
}

PhxEntity *
catalog_entity_by_id(int32 id, bool missing_ok)
{
	char	   *name = NULL;
	int			ret;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	PhxAsOwner	as;

	values[0] = Int32GetDatum(id);
	phx_as_owner_begin(&as);
	SPI_connect();
	ret = SPI_execute_with_args("SELECT name FROM phoenix.entities WHERE entity_id = $1",
								1, argtypes, values, NULL, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (name)
		name = MemoryContextStrdup(CurTransactionContext, name);
	SPI_finish();
	phx_as_owner_end(&as);
	if (name == NULL)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("entity with id %d does not exist", id)));
	}
	return catalog_entity(name, missing_ok);
}

int
catalog_attribute_index(PhxEntity *entity, const char *attname)
{
	for (int i = 0; i < entity->natts; i++)
		if (strcmp(entity->atts[i].name, attname) == 0)
			return i;
	return -1;
}

void
catalog_invalidate(void)
{
	Oid			relid = phoenix_entities_relid();

	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	entity_cache_stale = true;
}

void
catalog_check_identifier(const char *name, const char *what, int maxlen)
{
	int			kwnum;

	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s name must not be empty", what)));
	if ((int) strlen(name) > maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name \"%.40s...\" is too long", what, name),
				 errdetail("The name has %d characters; at most %d are allowed.",
						   (int) strlen(name), maxlen)));
	for (const char *p = name; *p; p++)
	{
		bool		ok = (*p >= 'a' && *p <= 'z') || *p == '_' ||
			(p != name && *p >= '0' && *p <= '9');

		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid %s name \"%s\"", what, name),
					 errhint("Use lower-case letters, digits and underscores, starting with a letter or underscore.")));
	}
	kwnum = ScanKeywordLookup(name, &ScanKeywords);
	if (kwnum >= 0 && ScanKeywordCategories[kwnum] == RESERVED_KEYWORD)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("%s name \"%s\" is a reserved SQL word", what, name),
				 errhint("Choose another name, e.g. \"%s_\".", name)));
}

Oid
catalog_scalar_type(const char *typname, const char *context)
{
	Oid			typid;
	int32		typmod;
	char	   *canonical;
	StringInfoData supported;

	/* Only simple type names reach the parser: no SQL can hide in them. */
	for (const char *p = typname; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == ' ' || *p == '_'))
			goto unsupported;
	parseTypeString(typname, &typid, &typmod, true);
	if (!OidIsValid(typid))
		goto unsupported;
	canonical = format_type_be(typid);
	for (int i = 0; scalar_types[i]; i++)
		if (strcmp(canonical, scalar_types[i]) == 0)
			return typid;

unsupported:
	initStringInfo(&supported);
	for (int i = 0; scalar_types[i]; i++)
		appendStringInfo(&supported, "%s%s", i ? ", " : "", scalar_types[i]);
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("unsupported type \"%s\" for %s", typname, context),
			 errdetail("Supported types: %s.", supported.data)));
	return InvalidOid;			/* keep compiler quiet */
}

/* ---------- cache internals ---------- */

static Oid
phoenix_entities_relid(void)
{
	if (!OidIsValid(entities_relid))
	{
		Oid			nsp = get_namespace_oid(PHOENIX_SCHEMA, true);

		if (OidIsValid(nsp))
			entities_relid = get_relname_relid("entities", nsp);
	}
	return entities_relid;
}

static void
entity_cache_invalidate_cb(Datum arg, Oid relid)
{
	/*
	 * relid 0 means "everything" (our invalidation queue overflowed): the
	 * extension may have been dropped and created again meanwhile, so the
	 * catalog's own OID must be looked up again too, or we would never match
	 * the new one and keep entities whose tables are gone.
	 */
	if (relid == InvalidOid || relid == entities_relid)
	{
		entity_cache_stale = true;
		entities_relid = InvalidOid;
	}
}

static void
entity_cache_reset(void)
{
	HASHCTL		ctl;

	entity_cache_cxt = AllocSetContextCreate(TopMemoryContext, "Phoenix entity cache",
											 ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(EntityCacheEntry);
	ctl.hcxt = entity_cache_cxt;
	entity_cache = hash_create("Phoenix entities", 64, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	entity_cache_stale = false;
}

/* Move the live cache aside; it is freed when the transaction ends. */
static void
entity_cache_retire(void)
{
	HASH_SEQ_STATUS status;
	EntityCacheEntry *entry;
	MemoryContext old;

	entity_cache_stale = false;
	if (entity_cache == NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	hash_seq_init(&status, entity_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		SPIPlanPtr	plans[] = {entry->entity->plan_next_open, entry->entity->plan_get,
		entry->entity->plan_get_current};

		for (int i = 0; i < lengthof(plans); i++)
			if (plans[i])
				retired_plans = lappend(retired_plans, plans[i]);
	}
	retired_caches = lappend(retired_caches, entity_cache_cxt);
	MemoryContextSwitchTo(old);
	entity_cache = NULL;
	entity_cache_cxt = NULL;
}

static void
entity_cache_xact_cb(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	/* An aborted catalog change leaves cached state we cannot trust. */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		entity_cache_stale = true;
	if (entity_cache_stale)
		entity_cache_retire();
	foreach(lc, retired_plans)
		SPI_freeplan((SPIPlanPtr) lfirst(lc));
	foreach(lc, retired_caches)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(retired_plans);
	list_free(retired_caches);
	retired_plans = NIL;
	retired_caches = NIL;
}

/* Read one entity and its attributes from the catalog into the cache context. */
static PhxEntity *
entity_load(const char *name)
{
	PhxEntity  *entity = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	MemoryContext old;
	PhxAsOwner	as;

	if (!OidIsValid(phoenix_entities_relid()))
		return NULL;

	values[0] = CStringGetTextDatum(name);
	/* as the owner: any role's first statement may need the catalog */
	phx_as_owner_begin(&as);
	SPI_connect();
	ret = SPI_execute_with_args(
								"SELECT e.entity_id, e.key_name, a.name, a.type::oid, a.pii, a.ref_entity "
								"FROM phoenix.entities e LEFT JOIN phoenix.attributes a USING (entity_id) "
								"WHERE e.name = $1 ORDER BY a.position",
								1, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "phoenix: entity catalog lookup failed");
	if (SPI_processed > 0)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			natts = 0;
		Oid			nsp;
		char	   *relname;

		old = MemoryContextSwitchTo(entity_cache_cxt);
		entity = palloc0(sizeof(PhxEntity));
		entity->name = pstrdup(name);
		entity->id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], desc, 1, &isnull));
		entity->key_name = SPI_getvalue(SPI_tuptable->vals[0], desc, 2);
		entity->atts = palloc0(sizeof(PhxAttribute) * SPI_processed);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			PhxAttribute *att = &entity->atts[natts];
			char	   *attname = SPI_getvalue(tup, desc, 3);
			char		category;
			bool		preferred;

			if (attname == NULL)
				continue;		/* entity without attributes */
			att->name = attname;
			att->typid = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
			att->typmod = -1;
			get_typlenbyval(att->typid, &att->typlen, &att->typbyval);
			getTypeInputInfo(att->typid, &att->typinput, &att->typioparam);
			get_type_category_preferred(att->typid, &category, &preferred);
			{
				bool		varlena;

				getTypeOutputInfo(att->typid, &att->typoutput, &varlena);
			}
			att->pii = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
			att->ref_entity = SPI_getvalue(tup, desc, 6);
			natts++;
		}
		entity->natts = natts;
		relname = psprintf("%s_history", name);
		nsp = get_namespace_oid(PHOENIX_ENTITY_SCHEMA, false);
		entity->history_relid = get_relname_relid(relname, nsp);
		entity->history_table = psprintf("%s.%s", quote_identifier(PHOENIX_ENTITY_SCHEMA),
										 quote_identifier(relname));
		history_columns(entity);
		entity->assertions_relid = get_relname_relid("assertions",
													 get_namespace_oid(PHOENIX_SCHEMA, false));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	phx_as_owner_end(&as);
	return entity;
}

/* The columns of the history table the timeline engine writes (timeline.c). */
static void
history_columns(PhxEntity *entity)
{
	static const char *const periods[] = {"valid_from", "valid_to", "recorded_from", "recorded_to"};
	int			n = entity->natts + 5;

	entity->history_ncols = n;
	entity->history_cols = palloc(sizeof(char *) * n);
	entity->history_types = palloc(sizeof(Oid) * n);
	entity->history_cols[0] = entity->key_name;
	entity->history_types[0] = TEXTOID;
	for (int i = 0; i < entity->natts; i++)
	{
		entity->history_cols[1 + i] = entity->atts[i].name;
		entity->history_types[1 + i] = entity->atts[i].typid;
	}
	for (int i = 0; i < 4; i++)
	{
		entity->history_cols[entity->natts + 1 + i] = periods[i];
		entity->history_types[entity->natts + 1 + i] = TIMESTAMPTZOID;
	}
	entity->history_what = psprintf("history table of entity \"%s\"", entity->name);
}
