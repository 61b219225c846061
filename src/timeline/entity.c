/*
 * entity.c — the SQL API of bitemporal entities: create_entity, drop_entity,
 * put, retract, get, history.
 *
 * create_entity writes the catalog and generates, per entity, in schema
 * phoenix_entity:
 *   <e>_history  the typed history table: key, attributes, valid_from,
 *                valid_to, recorded_from, recorded_to (current knowledge:
 *                recorded_to = 'infinity'), with a GiST exclusion constraint
 *                so no two current versions of a key overlap in valid time;
 *   <e>          a view of the state valid now, as known now;
 *   <e>_at(key, valid_at) and <e>_asof(key, valid_at, known_at)
 *                inlinable SQL functions for as-of joins.
 * Writes go through the timeline engine (timeline.c).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "timeline/catalog.h"
#include "common/phoenix.h"
#include "common/plan.h"
#include "common/rowwriter.h"
#include "timeline/timeline.h"

/* Entity names get suffixes (_history, _asof): leave room under NAMEDATALEN. */
#define ENTITY_NAME_MAX		40

PG_FUNCTION_INFO_V1(phoenix_create_entity);
PG_FUNCTION_INFO_V1(phoenix_drop_entity);
PG_FUNCTION_INFO_V1(phoenix_put);
PG_FUNCTION_INFO_V1(phoenix_retract);
PG_FUNCTION_INFO_V1(phoenix_get);
PG_FUNCTION_INFO_V1(phoenix_history);

static char *arg_text(FunctionCallInfo fcinfo, int argno, const char *what);
static void check_attribute_name(const char *entity, const char *key, const char *name);
static void create_entity_objects(const char *name, const char *key, List *attnames, List *types);
static char *exclusion_name(const char *name, const char *key);
static void spi_exec(const char *sql, int expected);
static Jsonb *version_to_jsonb(PhxEntity *entity, HeapTuple tup, TupleDesc desc,
							   const AttrNumber *attnos);
static AttrNumber *column_range(int first, int n);
static bool get_version(PhxEntity *entity, const char *key, TimestampTz valid_at,
						bool current, TimestampTz known_at, Jsonb **result);
static void prepare_get_plans(PhxEntity *entity);
static TimelineAssertion *begin_assertion(FunctionCallInfo fcinfo, PhxEntity **entity, char **key);

/*
 * create_entity(name, key, attributes jsonb, pii text[], refs jsonb) → regclass
 */
Datum
phoenix_create_entity(PG_FUNCTION_ARGS)
{
	char	   *name = arg_text(fcinfo, 0, "entity name");
	char	   *key = arg_text(fcinfo, 1, "key");
	Jsonb	   *attributes;
	Jsonb	   *refs = phx_jsonb_arg(fcinfo, 4);
	List	   *attnames = NIL,
			   *types = NIL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *attname = NULL;
	int			entity_id;
	char	   *history;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("attributes of entity \"%s\" must not be null", name),
				 errhint("Pass a JSON object of attribute names and types, e.g. '{\"name\":\"text\"}'.")));
	attributes = PG_GETARG_JSONB_P(2);
	catalog_check_identifier(name, "entity", ENTITY_NAME_MAX);
	catalog_check_identifier(key, "key", NAMEDATALEN - 1);
	if (!JB_ROOT_IS_OBJECT(attributes) || JB_ROOT_IS_SCALAR(attributes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attributes of entity \"%s\" must be a JSON object of names and types", name),
				 errhint("E.g. '{\"name\":\"text\",\"active\":\"boolean\"}'.")));

	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			attname = pnstrdup(v.val.string.val, v.val.string.len);
			check_attribute_name(name, key, attname);
		}
		else if (tok == WJB_VALUE)
		{
			char	   *typname;
			char	   *context = psprintf("attribute \"%s\" of entity \"%s\"", attname, name);

			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("type of %s must be a string such as \"text\"", context)));
			typname = pnstrdup(v.val.string.val, v.val.string.len);
			attnames = lappend(attnames, attname);
			types = lappend_oid(types, catalog_scalar_type(typname, context));
		}
	}
	if (attnames == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity \"%s\" needs at least one attribute", name)));

	SPI_connect();
	if (catalog_entity(name, true) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("entity \"%s\" already exists", name),
				 errhint("Use phoenix.drop_entity() first to redefine it.")));

	/* catalog rows */
	{
		Datum		args[2] = {CStringGetTextDatum(name), CStringGetTextDatum(key)};

		if (SPI_execute_with_args("INSERT INTO phoenix.entities (name, key_name) VALUES ($1, $2) "
								  "RETURNING entity_id", 2, (Oid[]) {TEXTOID, TEXTOID},
								  args, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "phoenix: inserting entity failed");
		entity_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
												&(bool) {false}));
	}
	for (int i = 0; i < list_length(attnames); i++)
	{
		Datum		args[4] = {Int32GetDatum(entity_id), CStringGetTextDatum(list_nth(attnames, i)),
			ObjectIdGetDatum(list_nth_oid(types, i)), Int32GetDatum(i + 1)};

		SPI_execute_with_args("INSERT INTO phoenix.attributes (entity_id, name, type, position) "
							  "VALUES ($1, $2, $3, $4)", 4,
							  (Oid[]) {INT4OID, TEXTOID, REGTYPEOID, INT4OID},
							  args, NULL, false, 0);
	}

	/* PII flags: each must name an attribute */
	if (!PG_ARGISNULL(3))
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			Datum		args[2] = {Int32GetDatum(entity_id), nulls[i] ? (Datum) 0 : elems[i]};

			if (nulls[i] ||
				SPI_execute_with_args("UPDATE phoenix.attributes SET pii = true WHERE entity_id = $1 AND name = $2",
									  2, (Oid[]) {INT4OID, TEXTOID}, args, NULL, false, 0) != SPI_OK_UPDATE ||
				SPI_processed != 1)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("pii names \"%s\", which is not an attribute of entity \"%s\"",
								nulls[i] ? "NULL" : TextDatumGetCString(elems[i]), name)));
		}
	}

	/* refs: {"attribute": "entity"} — the referenced entity must exist */
	if (refs != NULL)
	{
		if (!JB_ROOT_IS_OBJECT(refs) || JB_ROOT_IS_SCALAR(refs))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refs of entity \"%s\" must be a JSON object {\"attribute\": \"entity\"}", name)));
		it = JsonbIteratorInit(&refs->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				attname = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE)
			{
				char	   *target;
				Datum		args[3];

				if (v.type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("ref \"%s\" of entity \"%s\" must name an entity", attname, name)));
				target = pnstrdup(v.val.string.val, v.val.string.len);
				if (strcmp(target, name) != 0 && catalog_entity(target, true) == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_OBJECT),
							 errmsg("ref \"%s\" of entity \"%s\" names entity \"%s\", which does not exist",
									attname, name, target),
							 errhint("Create entity \"%s\" first.", target)));
				args[0] = Int32GetDatum(entity_id);
				args[1] = CStringGetTextDatum(attname);
				args[2] = CStringGetTextDatum(target);
				if (SPI_execute_with_args("UPDATE phoenix.attributes SET ref_entity = $3 "
										  "WHERE entity_id = $1 AND name = $2", 3,
										  (Oid[]) {INT4OID, TEXTOID, TEXTOID}, args, NULL,
										  false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_COLUMN),
							 errmsg("ref \"%s\" is not an attribute of entity \"%s\"", attname, name)));
			}
		}
	}

	create_entity_objects(name, key, attnames, types);
	catalog_invalidate();
	history = psprintf("%s.%s", quote_identifier(PHOENIX_ENTITY_SCHEMA),
					   quote_identifier(psprintf("%s_history", name)));
	SPI_finish();
	PG_RETURN_DATUM(DirectFunctionCall1(regclassin, CStringGetDatum(history)));
}

/* drop_entity(name) */
Datum
phoenix_drop_entity(PG_FUNCTION_ARGS)
{
	char	   *name = arg_text(fcinfo, 0, "entity name");
	PhxEntity  *entity;
	StringInfoData sql;
	Datum		args[1];

	SPI_connect();
	entity = catalog_entity(name, false);
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT e.name, a.name FROM phoenix.attributes a "
							  "JOIN phoenix.entities e USING (entity_id) "
							  "WHERE a.ref_entity = $1 AND e.name <> $1 ORDER BY 1, 2",
							  1, (Oid[]) {TEXTOID}, args, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop entity \"%s\": attribute \"%s\" of entity \"%s\" references it",
						name, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Drop the referencing entity first.")));

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "DROP FUNCTION %1$s.%2$s; DROP FUNCTION %1$s.%3$s; "
					 "DROP VIEW %1$s.%4$s; DROP TABLE %5$s",
					 quote_identifier(PHOENIX_ENTITY_SCHEMA),
					 quote_identifier(psprintf("%s_at", name)),
					 quote_identifier(psprintf("%s_asof", name)),
					 quote_identifier(name), entity->history_table);
	spi_exec(sql.data, SPI_OK_UTILITY);
	SPI_execute_with_args("DELETE FROM phoenix.assertions WHERE entity_id = "
						  "(SELECT entity_id FROM phoenix.entities WHERE name = $1)",
						  1, (Oid[]) {TEXTOID}, args, NULL, false, 0);
	SPI_execute_with_args("DELETE FROM phoenix.entities WHERE name = $1", 1, (Oid[]) {TEXTOID},
						  args, NULL, false, 0);
	catalog_invalidate();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * The shared start of put and retract: the entity and key arguments, SPI,
 * and an empty assertion about that key.
 */
static TimelineAssertion *
begin_assertion(FunctionCallInfo fcinfo, PhxEntity **entity, char **key)
{
	char	   *name = arg_text(fcinfo, 0, "entity name");

	*key = arg_text(fcinfo, 1, "key");
	SPI_connect();
	*entity = catalog_entity(name, false);
	return timeline_new_assertion(*entity);
}

/* put(entity, key, attributes, valid_from, valid_to) */
Datum
phoenix_put(PG_FUNCTION_ARGS)
{
	PhxEntity  *entity;
	char	   *key;
	TimelineAssertion *a = begin_assertion(fcinfo, &entity, &key);

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s for entity \"%s\" key \"%s\" must not be null",
						PG_ARGISNULL(2) ? "attributes" : "valid_from", entity->name, key)));
	timeline_values_from_jsonb(entity, PG_GETARG_JSONB_P(2), a);
	a->valid_from = PG_GETARG_TIMESTAMPTZ(3);
	a->is_open = PG_ARGISNULL(4);
	if (!a->is_open)
		a->valid_to = PG_GETARG_TIMESTAMPTZ(4);
	a->origin = "put";
	timeline_apply(entity, key, a);
	SPI_finish();
	PG_RETURN_VOID();
}

/* retract(entity, key, valid_from, valid_to): every attribute absent over the period */
Datum
phoenix_retract(PG_FUNCTION_ARGS)
{
	PhxEntity  *entity;
	char	   *key;
	TimelineAssertion *a = begin_assertion(fcinfo, &entity, &key);

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("valid_from and valid_to for entity \"%s\" key \"%s\" must not be null",
						entity->name, key),
				 errhint("Use 'infinity' as valid_to for a retraction without end.")));
	for (int i = 0; i < entity->natts; i++)
	{
		a->asserted[i] = true;
		a->isnull[i] = true;
	}
	a->valid_from = PG_GETARG_TIMESTAMPTZ(2);
	a->valid_to = PG_GETARG_TIMESTAMPTZ(3);
	a->is_open = false;
	a->origin = "retract";
	timeline_apply(entity, key, a);
	SPI_finish();
	PG_RETURN_VOID();
}

/* get(entity, key, valid_at, known_at) → jsonb or NULL */
Datum
phoenix_get(PG_FUNCTION_ARGS)
{
	char	   *name = arg_text(fcinfo, 0, "entity name");
	char	   *key = arg_text(fcinfo, 1, "key");
	PhxEntity  *entity;
	Datum		args[3];
	Jsonb	   *result = NULL;
	bool		current = PG_ARGISNULL(3);

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("valid_at must not be null")));
	entity = catalog_entity(name, false);
	if (get_version(entity, key, PG_GETARG_TIMESTAMPTZ(2), current,
					current ? 0 : PG_GETARG_TIMESTAMPTZ(3), &result))
	{
		if (result == NULL)
			PG_RETURN_NULL();
		PG_RETURN_JSONB_P(result);
	}

	/* the history table has row level security or lost its btree: SQL */
	SPI_connect();
	prepare_get_plans(entity);
	args[0] = CStringGetTextDatum(key);
	args[1] = PG_GETARG_DATUM(2);
	args[2] = current ? (Datum) 0 : PG_GETARG_DATUM(3);
	if (SPI_execute_plan(current ? entity->plan_get_current : entity->plan_get,
						 args, current ? "  n" : NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: get failed");
	if (SPI_processed == 1)
	{
		Jsonb	   *j = version_to_jsonb(entity, SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 column_range(1, entity->natts));

		result = (Jsonb *) SPI_palloc(VARSIZE(j));
		memcpy(result, j, VARSIZE(j));
	}
	SPI_finish();
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}

/* history(entity, key, known_at) → (valid_from, valid_to, attributes, recorded_from, recorded_to) */
Datum
phoenix_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = arg_text(fcinfo, 0, "entity name");
	char	   *key = arg_text(fcinfo, 1, "key");
	PhxEntity  *entity;
	StringInfoData sql;
	Datum		args[2];
	AttrNumber *attnos;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	entity = catalog_entity(name, false);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT valid_from, valid_to, recorded_from, recorded_to");
	for (int i = 0; i < entity->natts; i++)
		appendStringInfo(&sql, ", %s", quote_identifier(entity->atts[i].name));
	appendStringInfo(&sql, " FROM %s WHERE %s = $1 AND %s ORDER BY valid_from",
					 entity->history_table, quote_identifier(entity->key_name),
					 PG_ARGISNULL(2) ? "recorded_to = 'infinity' AND $2 IS NULL"
					 : "recorded_from <= $2 AND recorded_to > $2");
	args[0] = CStringGetTextDatum(key);
	args[1] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	if (SPI_execute_with_args(sql.data, 2, (Oid[]) {TEXTOID, TIMESTAMPTZOID}, args,
							  PG_ARGISNULL(2) ? " n" : "  ", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "phoenix: history failed");
	attnos = column_range(5, entity->natts);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = SPI_getbinval(tup, desc, 1, &nulls[0]);
		values[1] = SPI_getbinval(tup, desc, 2, &nulls[1]);
		values[2] = JsonbPGetDatum(version_to_jsonb(entity, tup, desc, attnos));
		values[3] = SPI_getbinval(tup, desc, 3, &nulls[3]);
		values[4] = SPI_getbinval(tup, desc, 4, &nulls[4]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/* ---------- helpers ---------- */

static char *
arg_text(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
check_attribute_name(const char *entity, const char *key, const char *name)
{
	static const char *const reserved[] = {"valid_from", "valid_to", "recorded_from",
	"recorded_to", NULL};

	catalog_check_identifier(name, "attribute", NAMEDATALEN - 1);
	if (strcmp(name, key) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("attribute \"%s\" of entity \"%s\" has the name of its key", name, entity)));
	for (int i = 0; reserved[i]; i++)
		if (strcmp(name, reserved[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_RESERVED_NAME),
					 errmsg("attribute name \"%s\" of entity \"%s\" is reserved for the history table",
							name, entity)));
}

/*
 * The name PostgreSQL would give an exclusion constraint over (key, period):
 * <e>_history_<key>_tstzrange_excl.  The constraint also has a hash column
 * (below), which would otherwise change its name in every error message.
 */
static char *
exclusion_name(const char *name, const char *key)
{
	return ChooseRelationName(psprintf("%s_history", name), psprintf("%s_tstzrange", key),
							  "excl", get_namespace_oid(PHOENIX_ENTITY_SCHEMA, false), true);
}

/*
 * The history table (with its exclusion constraint and lookup index), the
 * current view and the as-of functions.  Names are quoted; the types come
 * from catalog_scalar_type, so nothing from the caller reaches SQL unquoted.
 */
static void
create_entity_objects(const char *name, const char *key, List *attnames, List *types)
{
	StringInfoData sql,
				cols;
	const char *nsp = quote_identifier(PHOENIX_ENTITY_SCHEMA);
	const char *qkey = quote_identifier(key);
	const char *hist = quote_identifier(psprintf("%s_history", name));

	initStringInfo(&cols);
	for (int i = 0; i < list_length(attnames); i++)
		appendStringInfo(&cols, ", %s", quote_identifier(list_nth(attnames, i)));

	initStringInfo(&sql);
	/* Keys compare bytewise (COLLATE "C"): faster btree and GiST, no locale surprises. */
	appendStringInfo(&sql, "CREATE TABLE %s.%s (%s text COLLATE \"C\" NOT NULL", nsp, hist, qkey);
	for (int i = 0; i < list_length(attnames); i++)
		appendStringInfo(&sql, ", %s %s", quote_identifier(list_nth(attnames, i)),
						 format_type_be_qualified(list_nth_oid(types, i)));
	/*
	 * No two current versions of a key overlap: GiST exclusion over (key =,
	 * period &&) among current versions.  Its columns are spelt for speed
	 * and to keep readers away from it:
	 *  - hashtext(key) leads because btree_gist's text keys are intervals of
	 *    strings that GiST clusters poorly: every insert computed string
	 *    penalties down the tree and every conflict check visited many pages
	 *    (40% of a put's CPU).  An int4 clusters like a btree and
	 *    compares in a few instructions.
	 *  - key || '' then makes the constraint exact (equal hashes of
	 *    different keys never conflict).  It is the key, spelt so that the
	 *    planner never matches "key = $1" to this index, which it would scan
	 *    whole without the hash; readers use the btree on (key, valid_from).
	 *  - tstzrange(valid_from, valid_to, '[)') is the half-open period, spelt
	 *    the same way for the same reason.
	 */
	appendStringInfo(&sql,
					 ", valid_from timestamptz NOT NULL, valid_to timestamptz NOT NULL"
					 ", recorded_from timestamptz NOT NULL"
					 ", recorded_to timestamptz NOT NULL DEFAULT 'infinity'"
					 ", CHECK (valid_from < valid_to), CHECK (recorded_from <= recorded_to)"
					 ", CONSTRAINT %s EXCLUDE USING gist"
					 " ((hashtext(%s)) WITH =, (%s || '') WITH =, tstzrange(valid_from, valid_to, '[)') WITH &&)"
					 " WHERE (recorded_to = 'infinity'))",
					 quote_identifier(exclusion_name(name, key)), qkey, qkey);
	spi_exec(sql.data, SPI_OK_UTILITY);

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE INDEX ON %1$s.%2$s (%3$s, valid_from);"
					 "COMMENT ON TABLE %1$s.%2$s IS %4$s",
					 nsp, hist, qkey,
					 quote_literal_cstr(psprintf("Phoenix: bitemporal history of entity %s "
												 "(current knowledge: recorded_to = infinity)", name)));
	spi_exec(sql.data, SPI_OK_UTILITY);

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE VIEW %1$s.%2$s AS SELECT %3$s%4$s, valid_from, valid_to FROM %1$s.%5$s "
					 "WHERE recorded_to = 'infinity' AND valid_from <= now() AND valid_to > now();"
					 "COMMENT ON VIEW %1$s.%2$s IS %6$s",
					 nsp, quote_identifier(name), qkey, cols.data, hist,
					 quote_literal_cstr(psprintf("Phoenix: entity %s as valid now, as known now", name)));
	spi_exec(sql.data, SPI_OK_UTILITY);

	/* Plain SQL, not strict, stable: the planner inlines these into joins. */
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE FUNCTION %1$s.%2$s(key text, valid_at timestamptz) "
					 "RETURNS SETOF %1$s.%3$s LANGUAGE sql STABLE AS "
					 "$f$ SELECT * FROM %1$s.%3$s h WHERE h.%4$s = $1 AND h.recorded_to = 'infinity' "
					 "AND h.valid_from <= $2 AND h.valid_to > $2 $f$;"
					 "COMMENT ON FUNCTION %1$s.%2$s(text, timestamptz) IS %6$s;"
					 "CREATE FUNCTION %1$s.%5$s(key text, valid_at timestamptz, known_at timestamptz) "
					 "RETURNS SETOF %1$s.%3$s LANGUAGE sql STABLE AS "
					 "$f$ SELECT * FROM %1$s.%3$s h WHERE h.%4$s = $1 AND h.recorded_from <= $3 "
					 "AND h.recorded_to > $3 AND h.valid_from <= $2 AND h.valid_to > $2 $f$;"
					 "COMMENT ON FUNCTION %1$s.%5$s(text, timestamptz, timestamptz) IS %7$s",
					 nsp, quote_identifier(psprintf("%s_at", name)), hist, qkey,
					 quote_identifier(psprintf("%s_asof", name)),
					 quote_literal_cstr(psprintf("Phoenix: the version of %s valid at valid_at, as known now", name)),
					 quote_literal_cstr(psprintf("Phoenix: the version of %s valid at valid_at, as known at known_at", name)));
	spi_exec(sql.data, SPI_OK_UTILITY);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "GRANT SELECT ON %1$s.%2$s, %1$s.%3$s TO phoenix_reader, phoenix_admin",
					 nsp, hist, quote_identifier(name));
	spi_exec(sql.data, SPI_OK_UTILITY);
}

static void
spi_exec(const char *sql, int expected)
{
	int			ret = SPI_execute(sql, false, 0);

	if (ret != expected)
		elog(ERROR, "phoenix: \"%s\" failed: %s", sql, SPI_result_code_string(ret));
}

/* The attributes of one history row (attribute i in column attnos[i]) as a jsonb object. */
static Jsonb *
version_to_jsonb(PhxEntity *entity, HeapTuple tup, TupleDesc desc, const AttrNumber *attnos)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < entity->natts; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, attnos[i], desc, &isnull);
		JsonbValue	k,
					v;

		if (isnull)
			continue;			/* absent */
		k.type = jbvString;
		k.val.string.val = entity->atts[i].name;
		k.val.string.len = strlen(entity->atts[i].name);
		pushJsonbValue(&state, WJB_KEY, &k);
		timeline_jsonb_value(&entity->atts[i], d, &v);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Column numbers first, first + 1, ... (n of them). */
static AttrNumber *
column_range(int first, int n)
{
	AttrNumber *attnos = palloc(sizeof(AttrNumber) * Max(n, 1));

	for (int i = 0; i < n; i++)
		attnos[i] = first + i;
	return attnos;
}

/*
 * get() without SQL: the btree on (key, valid_from) read backwards from
 * valid_at.  Versions known at one moment (current ones, or those known at
 * known_at) never overlap in valid time, so the first of them we meet is the
 * only one that can cover valid_at; closed or later-recorded versions are
 * skipped.  *result is NULL when the key did not exist then.  Returns false,
 * reading nothing, when SQL must do it: row level security on the history
 * table, or its btree is gone.  Reads with the active snapshot, as a
 * statement of a STABLE function would, with the caller's privileges.
 */
static bool
get_version(PhxEntity *entity, const char *key, TimestampTz valid_at, bool current,
			TimestampTz known_at, Jsonb **result)
{
	Relation	rel = table_open(entity->history_relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber *attnums = palloc(sizeof(AttrNumber) * entity->history_ncols);
	Oid			btree;
	Relation	index;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;

	*result = NULL;
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	rowwriter_columns(rel, entity->history_ncols, entity->history_cols, entity->history_types,
					  entity->history_what, attnums);
	btree = timeline_history_btree(entity, rel, attnums);
	if (rel->rd_rel->relrowsecurity || !OidIsValid(btree))
	{
		table_close(rel, NoLock);
		return false;
	}

	index = index_open(btree, AccessShareLock);
	ScanKeyInit(&keys[0], attnums[HISTORY_KEY], BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(key));
	ScanKeyInit(&keys[1], attnums[HISTORY_VALID_FROM(entity)], BTLessEqualStrategyNumber,
				F_TIMESTAMPTZ_LE, TimestampTzGetDatum(valid_at));
	scan = systable_beginscan_ordered(rel, index, GetActiveSnapshot(), 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, BackwardScanDirection)))
	{
		bool		isnull;
		TimestampTz rf = DatumGetTimestampTz(heap_getattr(tup, attnums[HISTORY_RECORDED_FROM(entity)],
														  desc, &isnull));
		TimestampTz rt = DatumGetTimestampTz(heap_getattr(tup, attnums[HISTORY_RECORDED_TO(entity)],
														  desc, &isnull));
		TimestampTz vt = DatumGetTimestampTz(heap_getattr(tup, attnums[HISTORY_VALID_TO(entity)],
														  desc, &isnull));

		if (current ? rt != DT_NOEND : !(rf <= known_at && known_at < rt))
			continue;			/* not known then */
		if (vt > valid_at)
			*result = version_to_jsonb(entity, tup, desc, &attnums[HISTORY_ATT(0)]);
		break;
	}
	systable_endscan_ordered(scan);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return true;
}

static void
prepare_get_plans(PhxEntity *entity)
{
	StringInfoData sql,
				cols;

	if (entity->plan_get)
		return;
	initStringInfo(&cols);
	for (int i = 0; i < entity->natts; i++)
		appendStringInfo(&cols, "%s%s", i ? ", " : "", quote_identifier(entity->atts[i].name));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT %s FROM %s WHERE %s = $1 AND valid_from <= $2 AND valid_to > $2 "
					 "AND recorded_to = 'infinity' AND $3 IS NULL",
					 cols.data, entity->history_table, quote_identifier(entity->key_name));
	entity->plan_get_current = phoenix_prepare_kept(sql.data, 3, (Oid[]) {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}, "get");
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT %s FROM %s WHERE %s = $1 AND valid_from <= $2 AND valid_to > $2 "
					 "AND recorded_from <= $3 AND recorded_to > $3",
					 cols.data, entity->history_table, quote_identifier(entity->key_name));
	entity->plan_get = phoenix_prepare_kept(sql.data, 3, (Oid[]) {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}, "get");
}
