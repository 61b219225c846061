/*
 * projdef.c — create_projection's compiler: parses and validates a
 * projection's declared columns, enrichment steps and derived columns
 * (against the source type's JSON Schema and the entity catalog), generates
 * the row computation's SQL, and creates the reporting table, its indexes
 * and its catalog rows.
 */
#include "postgres.h"

#include "common/guc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/backend_progress.h"

#include "projection/arrival.h"
#include "projection/cascade.h"
#include "timeline/catalog.h"
#include "json/jsonfast.h"
#include "common/phoenix.h"
#include "common/owner.h"
#include "common/plan.h"
#include "projection/derive.h"
#include "projection/projdef.h"
#include "projection/projection.h"
#include "timeline/timeline.h"

static Oid	schema_path_type(Jsonb *schema, DefColumn *col, const char *pathtext, const char *source);
static bool str_member(List *list, const char *s);
static void add_column(ProjDef *def, DefColumn *col, const char *context);
static char *build_row_sql(ProjDef *def, bool set_based, bool with_derive, int only);
static char *build_payload_src(ProjDef *def, bool from_log);
static char *column_list(ProjDef *def, bool out);
static void index_chain_parent(DefStep *s, StringInfo buf);


/* Columns every reporting table has besides the declared ones. */
static const char *const fixed_columns[] = {
	"event_id", "effective_at", "received_at", "updated_at", "change_seq", NULL
};

/* ... and every reporting table of a recurring source (series.c). */
static const char *const series_columns[] = {
	"occurrence_id", "series_id", "occurrence_date", NULL
};


/* ====================================================================== */
/* Definition: parsing and validation                                     */
/* ====================================================================== */

JsonbValue *
projdef_jb_get(JsonbContainer *c, const char *key)
{
	JsonbValue	k;

	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(c, JB_FOBJECT, &k);
}

/*
 * The members of a JSON object: returns the keys (char *) and sets *values to
 * the matching JsonbValue *s.  ERROR naming `what` when c is not an object.
 */
List *
projdef_jb_pairs(JsonbContainer *c, const char *what, List **values)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *keys = NIL;

	*values = NIL;
	if (!JsonContainerIsObject(c))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what)));
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			keys = lappend(keys, pnstrdup(v.val.string.val, v.val.string.len));
		else if (tok == WJB_VALUE)
		{
			JsonbValue *copy = palloc(sizeof(JsonbValue));

			*copy = v;
			*values = lappend(*values, copy);
		}
	}
	return keys;
}

char *
projdef_jb_text(JsonbValue *v, const char *what)
{
	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON string", what)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The schema of the source event type's newest version; ERROR if no such type. */
Jsonb *
projdef_source_schema(const char *source)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(source)};
	bool		isnull;
	int			ret;

	ret = SPI_execute_with_args("SELECT schema FROM phoenix.event_type_versions WHERE event_type = $1"
								" ORDER BY version DESC LIMIT 1", 1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("event type \"%s\" does not exist", source),
				 errhint("Register it with phoenix.create_event_type(); phoenix.event_types_v lists the types.")));
	return DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Follow a local "$ref" ("#" or "#/$defs/name") to the schema it names. */
static JsonbContainer *
schema_deref(Jsonb *root, JsonbContainer *node)
{
	for (int depth = 0; depth < 16 && node != NULL; depth++)
	{
		JsonbValue *ref = projdef_jb_get(node, "$ref");
		char	   *r;
		JsonbValue *defs,
				   *target;

		if (ref == NULL || ref->type != jbvString)
			return node;
		r = pnstrdup(ref->val.string.val, ref->val.string.len);
		if (strcmp(r, "#") == 0)
		{
			node = &root->root;
			continue;
		}
		if (strncmp(r, "#/$defs/", 8) != 0 ||
			(defs = projdef_jb_get(&root->root, "$defs")) == NULL || defs->type != jbvBinary ||
			(target = projdef_jb_get(defs->val.binary.data, r + 8)) == NULL || target->type != jbvBinary)
			return NULL;
		node = target->val.binary.data;
	}
	return node;
}

/* Type of a JSON scalar as Phoenix stores it. */
static Oid
json_scalar_oid(const char *jtype, const char *format)
{
	if (strcmp(jtype, "string") == 0)
	{
		if (format && strcmp(format, "date-time") == 0)
			return TIMESTAMPTZOID;
		if (format && strcmp(format, "date") == 0)
			return DATEOID;
		return TEXTOID;
	}
	if (strcmp(jtype, "integer") == 0)
		return INT8OID;
	if (strcmp(jtype, "number") == 0)
		return FLOAT8OID;
	if (strcmp(jtype, "boolean") == 0)
		return BOOLOID;
	return InvalidOid;
}

/*
 * The column type of a payload path, from the event type's schema: walk
 * "properties" along the path (through local $refs) and map the JSON type
 * (and format) of the leaf to a scalar SQL type.
 */
static Oid
schema_path_type(Jsonb *schema, DefColumn *col, const char *pathtext, const char *source)
{
	JsonbContainer *node = &schema->root;
	JsonbValue *v;
	char	   *jtype = NULL;
	char	   *format = NULL;
	Oid			typid;

	for (int i = 0; i < col->npath; i++)
	{
		JsonbValue *props;

		node = schema_deref(schema, node);
		props = projdef_jb_get(node, "properties");
		v = props && props->type == jbvBinary ? projdef_jb_get(props->val.binary.data, col->path[i]) : NULL;
		if (v == NULL || v->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("path \"%s\" of column \"%s\" is not in the schema of event type \"%s\"",
							pathtext, col->name, source),
					 errhint("Name a property declared in the schema (phoenix.event_types_v shows it), with dots between nested fields.")));
		node = v->val.binary.data;
	}
	node = schema_deref(schema, node);
	v = projdef_jb_get(node, "type");
	if (v && v->type == jbvString)
		jtype = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		/* ["string", "null"]: the non-null member decides. */
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM && e.type == jbvString && jtype == NULL &&
				!(e.val.string.len == 4 && strncmp(e.val.string.val, "null", 4) == 0))
				jtype = pnstrdup(e.val.string.val, e.val.string.len);
	}
	v = projdef_jb_get(node, "format");
	if (v && v->type == jbvString)
		format = pnstrdup(v->val.string.val, v->val.string.len);
	typid = jtype ? json_scalar_oid(jtype, format) : InvalidOid;
	if (!OidIsValid(typid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" (path \"%s\" of event type \"%s\") is not a scalar with a known type",
						col->name, pathtext, source),
				 errdetail("Reporting tables hold scalar types only; the schema says \"%s\".",
						   jtype ? jtype : "no type"),
				 errhint("Map a scalar field, or give the type: {\"%s\": {\"path\": \"%s\", \"type\": \"text\"}}.",
						 col->name, pathtext)));
	return typid;
}

DefColumn *
projdef_find_column(ProjDef *def, const char *name)
{
	ListCell   *lc;

	foreach(lc, def->columns)
	{
		DefColumn  *c = lfirst(lc);

		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* Add an output column: a valid identifier, not fixed, not taken. */
static void
add_column(ProjDef *def, DefColumn *col, const char *context)
{
	catalog_check_identifier(col->name, "column", NAMEDATALEN - 1);
	for (int i = 0; fixed_columns[i]; i++)
		if (strcmp(col->name, fixed_columns[i]) == 0 ||
			(def->recurring && i < lengthof(series_columns) - 1 && strcmp(col->name, series_columns[i]) == 0))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("column \"%s\" (%s) of projection \"%s\" is one every reporting table has",
							col->name, context, def->name),
					 errhint("Choose another name.")));
	if (projdef_find_column(def, col->name) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_COLUMN),
				 errmsg("column \"%s\" (%s) of projection \"%s\" is defined twice",
						col->name, context, def->name),
				 errhint("Rename one of them (an enrichment takes \"as\": \"<prefix>\" for its column names).")));
	def->columns = lappend(def->columns, col);
}

/*
 * The path text of a mapped column's definition: "a.b" or {"path": "a.b",
 * "type": t} (*typname set when a type is given).
 */
char *
projdef_mapped_path(JsonbValue *v, const char *what, char **typname)
{
	*typname = NULL;
	if (v->type != jbvBinary)
		return projdef_jb_text(v, what);
	if (projdef_jb_get(v->val.binary.data, "type"))
		*typname = projdef_jb_text(projdef_jb_get(v->val.binary.data, "type"), psprintf("%s.type", what));
	return projdef_jb_text(projdef_jb_get(v->val.binary.data, "path"), psprintf("%s.path", what));
}

/* A dot-separated path (a leading "$." allowed) as its members. */
char **
projdef_split_path(const char *path, int *npath)
{
	char	  **parts = palloc(sizeof(char *) * (strlen(path) + 1));
	char	   *save = NULL;

	*npath = 0;
	for (char *tok = strtok_r(pstrdup(strncmp(path, "$.", 2) == 0 ? path + 2 : path), ".", &save);
		 tok; tok = strtok_r(NULL, ".", &save))
		parts[(*npath)++] = tok;
	return parts;
}

/*
 * columns: {"column": "path"} or {"column": {"path": "a.b", "type": "text"}}.
 * Paths are dot-separated (a leading "$." is allowed).
 */
void
projdef_parse_columns(ProjDef *def, Jsonb *columns, Jsonb *schema)
{
	List	   *vals;
	List	   *keys = projdef_jb_pairs(&columns->root, "columns", &vals);
	ListCell   *lk,
			   *lv;

	forboth(lk, keys, lv, vals)
	{
		DefColumn  *col = palloc0(sizeof(DefColumn));
		JsonbValue *v = lfirst(lv);
		char	   *path;
		char	   *typname = NULL;
		char	   *what = psprintf("columns.%s", (char *) lfirst(lk));

		col->name = lfirst(lk);
		col->step = -1;
		path = projdef_mapped_path(v, what, &typname);
		col->path = projdef_split_path(path, &col->npath);
		if (col->npath == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of projection \"%s\" has an empty path", col->name, def->name)));
		/* The path must exist in the schema even when the type is given. */
		col->typid = schema_path_type(schema, col, path, def->source);
		if (typname)
		{
			col->typid = catalog_scalar_type(typname, psprintf("column \"%s\" of projection \"%s\"",
															   col->name, def->name));
			col->explicit_type = true;
		}
		add_column(def, col, "mapped");
	}
	def->nmapped = list_length(def->columns);
}

/*
 * enrich: [{"entity": e, "key": column, "by": attribute?, "as": prefix?,
 *           "attributes": {"attr": "event_time" | "current"} | ["attr", ...]}]
 */
void
projdef_parse_enrich(ProjDef *def, Jsonb *enrich)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	if (!JsonContainerIsArray(&enrich->root))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("enrich of projection \"%s\" must be a JSON array of enrichments", def->name)));
	it = JsonbIteratorInit(&enrich->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		DefStep    *s;
		JsonbContainer *c;
		JsonbValue *av;
		char	   *what;

		if (tok != WJB_ELEM)
			continue;
		n++;
		what = psprintf("enrichment %d of projection \"%s\"", n, def->name);
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be a JSON object", what)));
		c = v.val.binary.data;
		s = palloc0(sizeof(DefStep));
		s->given = n;
		s->by_att = -1;
		s->entity = catalog_entity(projdef_jb_text(projdef_jb_get(c, "entity"), psprintf("\"entity\" of %s", what)), false);
		s->key_column = projdef_jb_text(projdef_jb_get(c, "key"), psprintf("\"key\" of %s", what));
		s->prefix = projdef_jb_get(c, "as") ? projdef_jb_text(projdef_jb_get(c, "as"), psprintf("\"as\" of %s", what))
			: s->entity->name;
		if (projdef_jb_get(c, "by"))
		{
			s->by = projdef_jb_text(projdef_jb_get(c, "by"), psprintf("\"by\" of %s", what));
			s->by_att = catalog_attribute_index(s->entity, s->by);
			if (s->by_att < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("\"by\" of %s: entity \"%s\" has no attribute \"%s\"",
								what, s->entity->name, s->by)));
		}
		av = projdef_jb_get(c, "attributes");
		if (av == NULL || av->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s needs \"attributes\": {\"attribute\": \"event_time\" | \"current\"}", what)));
		if (JsonContainerIsArray(av->val.binary.data))
		{
			JsonbIterator *ai = JsonbIteratorInit(av->val.binary.data);
			JsonbValue	e;
			JsonbIteratorToken t2;

			while ((t2 = JsonbIteratorNext(&ai, &e, true)) != WJB_DONE)
				if (t2 == WJB_ELEM)
				{
					s->atts = lappend_int(s->atts, catalog_attribute_index(s->entity, projdef_jb_text(&e, psprintf("attribute of %s", what))));
					s->modes = lappend_int(s->modes, 0);
					if (llast_int(s->atts) < 0)
						ereport(ERROR,
								(errcode(ERRCODE_UNDEFINED_COLUMN),
								 errmsg("%s: entity \"%s\" has no attribute \"%s\"", what,
										s->entity->name, projdef_jb_text(&e, "attribute"))));
				}
		}
		else
		{
			List	   *vals;
			List	   *keys = projdef_jb_pairs(av->val.binary.data, "attributes", &vals);
			ListCell   *lk,
					   *lv;

			forboth(lk, keys, lv, vals)
			{
				int			a = catalog_attribute_index(s->entity, lfirst(lk));
				char	   *mode = projdef_jb_text(lfirst(lv), psprintf("mode of attribute \"%s\" in %s", (char *) lfirst(lk), what));

				if (a < 0)
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_COLUMN),
							 errmsg("%s: entity \"%s\" has no attribute \"%s\"", what,
									s->entity->name, (char *) lfirst(lk)),
							 errhint("phoenix.entity_catalog lists the attributes of each entity.")));
				if (strcmp(mode, "event_time") != 0 && strcmp(mode, "current") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("%s: unknown mode \"%s\" for attribute \"%s\"", what, mode,
									(char *) lfirst(lk)),
							 errhint("Use \"event_time\" (as of the row's effective time) or \"current\" (the value valid now).")));
				s->atts = lappend_int(s->atts, a);
				s->modes = lappend_int(s->modes, strcmp(mode, "current") == 0);
			}
		}
		if (s->atts == NIL && s->by == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s enriches with no attribute", what)));
		def->steps = lappend(def->steps, s);
	}
}

/*
 * Resolve each step's key column (a mapped column, or one produced by another
 * step: chained), order the steps so that producers come first, reject
 * cycles, and add every step's output columns.
 */
void
projdef_resolve_steps(ProjDef *def)
{
	int			nsteps = list_length(def->steps);
	DefStep   **steps = palloc(sizeof(DefStep *) * Max(nsteps, 1));
	int		   *state = palloc0(sizeof(int) * Max(nsteps, 1));
	List	   *ordered = NIL;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, def->steps)
		steps[i++] = lfirst(lc);

	/* Which step produces each step's key column? */
	for (i = 0; i < nsteps; i++)
	{
		DefStep    *s = steps[i];

		s->depends_on = -1;
		if (projdef_find_column(def, s->key_column) != NULL)
			continue;
		for (int j = 0; j < nsteps && s->depends_on < 0; j++)
		{
			ListCell   *la;
			size_t		plen = strlen(steps[j]->prefix);

			if (strncmp(s->key_column, steps[j]->prefix, plen) != 0 || s->key_column[plen] != '_')
				continue;
			foreach(la, steps[j]->atts)
				if (strcmp(s->key_column + plen + 1, steps[j]->entity->atts[lfirst_int(la)].name) == 0)
					s->depends_on = j;
			if (steps[j]->by && strcmp(s->key_column + plen + 1, steps[j]->entity->key_name) == 0)
				s->depends_on = j;
		}
		if (s->depends_on < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key \"%s\" of enrichment %d (entity \"%s\") of projection \"%s\" names no column",
							s->key_column, s->given, s->entity->name, def->name),
					 errhint("A key names a mapped column, or a column <entity>_<attribute> of another enrichment.")));
	}

	/*
	 * Each step depends on at most one other, so following depends_on from a
	 * step either reaches a step keyed by the payload (its depth) or loops.
	 */
	for (i = 0; i < nsteps; i++)
	{
		int			cur = i;
		int			hops = 0;

		while (steps[cur]->depends_on >= 0 && hops <= nsteps)
		{
			cur = steps[cur]->depends_on;
			hops++;
		}
		if (hops > nsteps)
		{
			StringInfoData cyc;
			int			start = cur;

			initStringInfo(&cyc);
			do
			{
				appendStringInfo(&cyc, "%s(%s) → ", steps[cur]->entity->name, steps[cur]->key_column);
				cur = steps[cur]->depends_on;
			} while (cur != start);
			appendStringInfo(&cyc, "%s(%s)", steps[cur]->entity->name, steps[cur]->key_column);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("chained keys of projection \"%s\" form a cycle: %s", def->name, cyc.data),
					 errhint("Each enrichment's key must come from the payload or from an enrichment that does not depend on it.")));
		}
		state[i] = hops;
		steps[i]->parent = steps[i]->depends_on >= 0 ? steps[steps[i]->depends_on] : NULL;
	}
	for (int depth = 0; list_length(ordered) < nsteps; depth++)
		for (i = 0; i < nsteps; i++)
			if (state[i] == depth)
				ordered = lappend(ordered, steps[i]);
	def->steps = ordered;

	/* Output columns, in evaluation order, and key types. */
	i = 0;
	foreach(lc, def->steps)
	{
		DefStep    *s = lfirst(lc);
		DefColumn  *kc = projdef_find_column(def, s->key_column);
		Oid			want = s->by ? s->entity->atts[s->by_att].typid : TEXTOID;
		ListCell   *la,
				   *lm;

		s->order = i;
		if (kc == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key \"%s\" of enrichment %d (entity \"%s\") of projection \"%s\" names no column",
							s->key_column, s->given, s->entity->name, def->name)));
		if (kc->typid != want)
		{
			if (kc->step < 0 && !kc->explicit_type)
				kc->typid = want;	/* keys are stored as the entity compares them */
			else
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("key \"%s\" of enrichment %d of projection \"%s\" has type %s, entity \"%s\" matches on %s",
								s->key_column, s->given, def->name, format_type_be(kc->typid),
								s->entity->name, format_type_be(want))));
		}
		forboth(la, s->atts, lm, s->modes)
		{
			DefColumn  *col = palloc0(sizeof(DefColumn));
			PhxAttribute *att = &s->entity->atts[lfirst_int(la)];

			col->name = psprintf("%s_%s", s->prefix, att->name);
			col->typid = att->typid;
			col->step = i;
			col->attno = lfirst_int(la);
			col->current = lfirst_int(lm) != 0;
			s->has_event_time |= !col->current;
			s->has_current |= col->current;
			add_column(def, col, psprintf("enrichment %d", s->given));
		}
		if (s->by)
		{
			DefColumn  *col = palloc0(sizeof(DefColumn));

			col->name = psprintf("%s_%s", s->prefix, s->entity->key_name);
			col->typid = TEXTOID;
			col->step = i;
			col->attno = -1;
			add_column(def, col, psprintf("matched key of enrichment %d", s->given));
			s->match_column = col->name;
		}
		else
			s->match_column = s->key_column;
		i++;
	}
}

/* derive: {"column": "SQL expression over the row's columns"} */
void
projdef_parse_derive(ProjDef *def, Jsonb *derive)
{
	List	   *vals;
	List	   *keys = projdef_jb_pairs(&derive->root, "derive", &vals);
	ListCell   *lk,
			   *lv;

	forboth(lk, keys, lv, vals)
	{
		char	   *name = lfirst(lk);
		catalog_check_identifier(name, "column", NAMEDATALEN - 1);
		if (projdef_find_column(def, name) || str_member(def->derive_names, name))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("derived column \"%s\" of projection \"%s\" is already a column", name, def->name)));
		for (int i = 0; fixed_columns[i]; i++)
			if (strcmp(name, fixed_columns[i]) == 0 ||
				(def->recurring && i < lengthof(series_columns) - 1 && strcmp(name, series_columns[i]) == 0))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("derived column \"%s\" of projection \"%s\" is one every reporting table has",
								name, def->name)));
		def->derive_names = lappend(def->derive_names, name);
		def->derive_exprs = lappend(def->derive_exprs,
									projdef_jb_text(lfirst(lv), psprintf("derive.%s", name)));
	}
}

/* ====================================================================== */
/* Definition: SQL generation                                             */
/* ====================================================================== */

/* Is the C string in the list?  (list_member compares Nodes.) */
static bool
str_member(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

static DefStep *
step_at(ProjDef *def, int order)
{
	return (DefStep *) list_nth(def->steps, order);
}

/* The SQL expression of a column inside the row computation. */
static char *
column_ref(ProjDef *def, const char *name, const bool *affected)
{
	DefColumn  *c = projdef_find_column(def, name);
	DefStep    *s;

	/* payload columns, and columns of steps a recomputation leaves alone */
	if (c == NULL || c->step < 0 || (affected && !affected[c->step]))
		return psprintf("s.%s", quote_identifier(name));
	s = step_at(def, c->step);
	if (c->attno < 0)
		return psprintf("e%d.%s", c->step, quote_identifier(s->entity->key_name));
	return psprintf("%c%d.%s", c->current ? 'c' : 'e', c->step,
					quote_identifier(s->entity->atts[c->attno].name));
}

/* "h.a, h.b" for the attributes of a step read in one mode. */
static char *
step_select_list(DefStep *s, bool current)
{
	StringInfoData buf;
	ListCell   *la,
			   *lm;

	initStringInfo(&buf);
	forboth(la, s->atts, lm, s->modes)
		if ((lfirst_int(lm) != 0) == current)
			appendStringInfo(&buf, "%sh.%s", buf.len ? ", " : "",
							 quote_identifier(s->entity->atts[lfirst_int(la)].name));
	if (!current && s->by)
		appendStringInfo(&buf, "%sh.%s", buf.len ? ", " : "", quote_identifier(s->entity->key_name));
	return buf.data;
}

/*
 * The row computation: %SRC% (event_id, effective_at, received_at, mapped
 * columns) joined to the history tables of every step, in evaluation order.
 * `set_based` chooses range joins over per-row index lookups (by-matches stay
 * lookups: they must pick one entity).  With `with_derive`, the derived
 * columns are computed over the result.
 */
static char *
build_row_sql(ProjDef *def, bool set_based, bool with_derive, int only)
{
	StringInfoData sel;
	StringInfoData from;
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;
	bool	   *affected = NULL;

	/*
	 * A recomputation for one step (`only`) looks up that step and the steps
	 * chained from it; every other column is read back from the row (%SRC%
	 * then holds every column of the table).
	 */
	if (only >= 0)
	{
		affected = palloc0(sizeof(bool) * list_length(def->steps));
		affected[only] = true;
		foreach(lc, def->steps)
		{
			DefStep    *s = lfirst(lc);
			DefColumn  *kc = projdef_find_column(def, s->key_column);

			if (kc && kc->step >= 0 && affected[kc->step])
				affected[s->order] = true;
		}
	}

	initStringInfo(&sel);
	initStringInfo(&from);
	appendStringInfoString(&sel, "SELECT s.event_id, s.effective_at, s.received_at");
	if (def->recurring)
		appendStringInfoString(&sel, ", s.occurrence_id, s.series_id, s.occurrence_date");
	appendStringInfoString(&from, " FROM (%SRC%) s");
	foreach(lc, def->columns)
	{
		DefColumn  *c = lfirst(lc);

		appendStringInfo(&sel, ", %s AS %s", column_ref(def, c->name, affected), quote_identifier(c->name));
	}
	foreach(lc, def->steps)
	{
		DefStep    *s = lfirst(lc);
		const char *key = quote_identifier(s->entity->key_name);
		const char *match = s->by ? quote_identifier(s->entity->atts[s->by_att].name) : key;
		char	   *keyexpr;
		char	   *curkey;

		if (affected && !affected[i])
		{
			i++;
			continue;
		}
		keyexpr = psprintf("(%s)::%s", column_ref(def, s->key_column, affected),
									   format_type_be(s->by ? s->entity->atts[s->by_att].typid : TEXTOID));
		curkey = s->by ? psprintf("e%d.%s", i, key) : keyexpr;
		if (s->by || (s->has_event_time && !set_based))
			appendStringInfo(&from,
							 " LEFT JOIN LATERAL (SELECT %s FROM %s h WHERE h.%s = %s"
							 " AND h.recorded_to = 'infinity' AND h.valid_from <= s.effective_at"
							 " AND h.valid_to > s.effective_at ORDER BY %s LIMIT 1) e%d ON true",
							 step_select_list(s, false), s->entity->history_table, match, keyexpr,
							 s->by ? psprintf("h.%s", key) : "h.valid_from DESC", i);
		else if (s->has_event_time)
			appendStringInfo(&from,
							 " LEFT JOIN %s e%d ON e%d.%s = %s AND e%d.recorded_to = 'infinity'"
							 " AND e%d.valid_from <= s.effective_at AND e%d.valid_to > s.effective_at",
							 s->entity->history_table, i, i, key, keyexpr, i, i, i);
		if (s->has_current && !set_based)
			appendStringInfo(&from,
							 " LEFT JOIN LATERAL (SELECT %s FROM %s h WHERE h.%s = %s"
							 " AND h.recorded_to = 'infinity' AND h.valid_from <= now()"
							 " AND h.valid_to > now() ORDER BY h.valid_from DESC LIMIT 1) c%d ON true",
							 step_select_list(s, true), s->entity->history_table, key, curkey, i);
		else if (s->has_current)
			appendStringInfo(&from,
							 " LEFT JOIN %s c%d ON c%d.%s = %s AND c%d.recorded_to = 'infinity'"
							 " AND c%d.valid_from <= now() AND c%d.valid_to > now()",
							 s->entity->history_table, i, i, key, curkey, i, i, i);
		i++;
	}
	/* a recomputation writes its result back to the row it read: by ctid */
	if (only >= 0)
		appendStringInfoString(&sel, ", s.ctid");
	appendStringInfoString(&sel, from.data);
	if (!with_derive || def->derive_names == NIL)
		return sel.data;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT x.*");
	{
		ListCell   *ln,
				   *le;

		forboth(ln, def->derive_names, le, def->derive_exprs)
			appendStringInfo(&buf, ", (\n%s\n) AS %s", (char *) lfirst(le),
							 quote_identifier(lfirst(ln)));
	}
	appendStringInfo(&buf, " FROM (%s) x", sel.data);
	return buf.data;
}

/*
 * The %SRC% of arrivals (four parallel arrays: ids, effective and received
 * times, payloads) or of a log range ($1 < position <= $2): mapped columns
 * cast from the payload.  For kind 'latest', only the most recent event per
 * key (greatest effective time, then latest position) survives.
 */
static char *
build_payload_src(ProjDef *def, bool from_log)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT e.event_id, e.effective_at, e.received_at");
	/* a recurring source's log is read by series.c, never by this SQL */
	if (def->recurring)
		appendStringInfoString(&buf, from_log ? ", NULL::text AS occurrence_id, NULL::text AS series_id,"
							   " NULL::date AS occurrence_date"
							   : ", e.occurrence_id, e.series_id, e.occurrence_date");
	foreach(lc, def->columns)
	{
		DefColumn  *c = lfirst(lc);

		if (i++ >= def->nmapped)
			break;
		/* ->> for one member: #>> deconstructs its path array on every row */
		if (c->npath == 1)
			appendStringInfo(&buf, ", (e.payload ->> %s", quote_literal_cstr(c->path[0]));
		else
		{
			appendStringInfoString(&buf, ", (e.payload #>> ARRAY[");
			for (int k = 0; k < c->npath; k++)
				appendStringInfo(&buf, "%s%s", k ? ", " : "", quote_literal_cstr(c->path[k]));
			appendStringInfoChar(&buf, ']');
		}
		appendStringInfo(&buf, ")::%s AS %s", format_type_be(c->typid), quote_identifier(c->name));
	}
	if (from_log)
		appendStringInfo(&buf, ", e.position AS ord FROM phoenix.event_log e WHERE e.event_type = %s"
						 " AND e.position > $1 AND e.position <= $2", quote_literal_cstr(def->source));
	else if (def->recurring)
		appendStringInfoString(&buf, ", e.ord FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[],"
							   " $4::jsonb[], $5::text[], $6::text[], $7::date[]) WITH ORDINALITY"
							   " AS e(event_id, effective_at, received_at, payload, occurrence_id, series_id,"
							   " occurrence_date, ord)");
	else
		appendStringInfoString(&buf, ", e.ord FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[],"
							   " $4::jsonb[]) WITH ORDINALITY AS e(event_id, effective_at, received_at, payload, ord)");
	if (!def->latest)
		return buf.data;
	return psprintf("SELECT DISTINCT ON (l.%1$s) l.* FROM (%2$s) l WHERE l.%1$s IS NOT NULL"
					" ORDER BY l.%1$s, l.effective_at DESC, l.ord DESC",
					quote_identifier(def->latest_key), buf.data);
}

/* Error context naming the derived column being checked. */
static void
derive_errcontext(void *arg)
{
	char	  **names = arg;

	errcontext("derived column \"%s\" of projection \"%s\"", names[0], names[1]);
}

/*
 * Type each derived column and reject what cannot be recomputed safely: more
 * than one expression, subqueries, aggregates, set-returning or volatile
 * functions (which could write, or give another value on every cascade).
 */
void
projdef_analyze_derive(ProjDef *def)
{
	StringInfoData src;
	ListCell   *lc,
			   *ln,
			   *le;
	char	   *tmpl;
	const char *at;
	char	   *inner;

	if (def->derive_names == NIL)
		return;
	initStringInfo(&src);
	appendStringInfoString(&src, "SELECT NULL::text AS event_id, NULL::timestamptz AS effective_at,"
						   " NULL::timestamptz AS received_at");
	if (def->recurring)
		appendStringInfoString(&src, ", NULL::text AS occurrence_id, NULL::text AS series_id,"
							   " NULL::date AS occurrence_date");
	foreach(lc, def->columns)
	{
		DefColumn  *c = lfirst(lc);

		if (c->step < 0)
			appendStringInfo(&src, ", NULL::%s AS %s", format_type_be(c->typid), quote_identifier(c->name));
	}
	appendStringInfoString(&src, " WHERE false");
	tmpl = build_row_sql(def, true, false, -1);
	at = strstr(tmpl, "%SRC%");
	inner = psprintf("%.*s%s%s", (int) (at - tmpl), tmpl, src.data, at + 5);

	forboth(ln, def->derive_names, le, def->derive_exprs)
	{
		char	   *names[2] = {lfirst(ln), def->name};
		ErrorContextCallback cb = {error_context_stack, derive_errcontext, names};
		SPIPlanPtr	plan;
		List	   *sources;
		CachedPlanSource *ps;
		Query	   *q;
		const char *why = NULL;
		Oid			typid;

		error_context_stack = &cb;
		plan = SPI_prepare(psprintf("SELECT (\n%s\n) FROM (%s) x", (char *) lfirst(le), inner), 0, NULL);
		if (plan == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("derived column \"%s\" of projection \"%s\" is not a valid expression",
							names[0], def->name)));
		sources = SPI_plan_get_plan_sources(plan);
		ps = list_length(sources) == 1 ? linitial(sources) : NULL;
		q = ps && list_length(ps->query_list) == 1 ? linitial(ps->query_list) : NULL;
		if (q == NULL || q->commandType != CMD_SELECT || list_length(q->targetList) != 1 ||
			list_length(q->rtable) != 1)
			why = "it must be one expression over the row's columns";
		else if (q->hasSubLinks || q->hasAggs || q->hasWindowFuncs || q->hasTargetSRFs ||
				 q->cteList != NIL)
			why = "subqueries, aggregates, window and set-returning functions are not allowed";
		if (why)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("derived column \"%s\" of projection \"%s\" is not allowed: %s",
							names[0], def->name, why),
					 errhint("A derived column is an immutable expression over the row, e.g. \"(effective_at AT TIME ZONE site_timezone)::date\".")));
		/* what it may call: immutable built-ins only (42501 otherwise) */
		derive_check_expr((Node *) linitial_node(TargetEntry, q->targetList)->expr, names[0], def->name);
		typid = ps->resultDesc->attrs[0].atttypid;
		if (typid == UNKNOWNOID)
			typid = TEXTOID;
		typid = catalog_scalar_type(format_type_be(typid),
									psprintf("derived column \"%s\" of projection \"%s\"", names[0], def->name));
		def->derive_types = lappend_oid(def->derive_types, typid);
		SPI_freeplan(plan);
		error_context_stack = cb.previous;
	}
}

/* The reporting table (primary key only), the _fresh view and grants. */
void
projdef_create_table(ProjDef *def, const char *schema, Interval *fresh_for, const char *qtable)
{
	StringInfoData buf;
	char	   *view = NULL;
	ListCell   *lc,
			   *lt;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE TABLE %s (event_id text NOT NULL, effective_at timestamptz NOT NULL,"
					 " received_at timestamptz NOT NULL", qtable);
	/* one row per occurrence of a series: "<series>@<local wall time>" */
	if (def->recurring)
		appendStringInfoString(&buf, ", occurrence_id text NOT NULL, series_id text NOT NULL,"
							   " occurrence_date date NOT NULL");
	foreach(lc, def->columns)
	{
		DefColumn  *c = lfirst(lc);

		appendStringInfo(&buf, ", %s %s%s", quote_identifier(c->name), format_type_be(c->typid),
						 def->latest && strcmp(c->name, def->latest_key) == 0 ? " NOT NULL" : "");
	}
	forboth(lc, def->derive_names, lt, def->derive_types)
		appendStringInfo(&buf, ", %s %s", quote_identifier(lfirst(lc)), format_type_be(lfirst_oid(lt)));
	appendStringInfo(&buf, ", updated_at timestamptz NOT NULL, change_seq bigint NOT NULL, PRIMARY KEY (%s))"
					 " WITH (fillfactor = %d);",
					 quote_identifier(projdef_pk_column(def)), def->fillfactor);
	/* a series' rows are found by it on every amendment (and during the fill) */
	if (def->recurring)
		appendStringInfo(&buf, "CREATE INDEX ON %s (series_id%s);", qtable, projection_key_collation(TEXTOID));
	/* by-matches look the attribute up in the history (also during the fill) */
	foreach(lc, def->steps)
	{
		DefStep    *s = lfirst(lc);

		if (s->by)
		{
			char	   *idx = psprintf("%s_%s_asof", s->entity->name, s->by);

			if (strlen(idx) >= NAMEDATALEN)
				idx[NAMEDATALEN - 1] = '\0';
			appendStringInfo(&buf, "CREATE INDEX IF NOT EXISTS %s ON %s (%s, valid_from) WHERE recorded_to = 'infinity';",
							 quote_identifier(idx), s->entity->history_table, quote_identifier(s->by));
		}
	}
	appendStringInfo(&buf, "COMMENT ON TABLE %s IS %s;", qtable,
					 quote_literal_cstr(psprintf("Phoenix projection %s of %s events", def->name, def->source)));
	if (fresh_for)
	{
		view = psprintf("%s.%s", quote_identifier(schema),
						quote_identifier(psprintf("%s_fresh", def->name)));
		appendStringInfo(&buf, "CREATE VIEW %1$s AS SELECT * FROM %2$s WHERE effective_at > now() - %3$s::interval;"
						 "COMMENT ON VIEW %1$s IS %4$s;",
						 view, qtable,
						 quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(fresh_for)))),
						 quote_literal_cstr(psprintf("Phoenix: rows of %s recent enough to show", def->name)));
	}
	if (SPI_execute(buf.data, false, 0) < 0)
		elog(ERROR, "cannot create the table of projection \"%s\"", def->name);
	/* read-only for every role: rows change only through Phoenix's functions */
	phx_grant_runtime_privileges(qtable, 'r');
	if (view)
		phx_grant_runtime_privileges(view, 'r');
}

/*
 * A chained step (site keyed by floor_site_id) has no index on its key
 * column: the cascade reaches its rows through the parent's history (the
 * floors that held the site, projection.c's chain_filter), looked up by the
 * attribute the chain follows.
 */
static void
index_chain_parent(DefStep *s, StringInfo buf)
{
	DefStep    *parent = s->parent;
	PhxEntity  *pe = parent->entity;
	const char *attr = s->key_column + strlen(parent->prefix) + 1;
	char	   *idx;

	if (strcmp(attr, pe->key_name) == 0)
		return;					/* a by-step's matched key: (key, valid_from) */
	idx = psprintf("%s_%s_asof", pe->name, attr);
	if (strlen(idx) >= NAMEDATALEN)
		idx[NAMEDATALEN - 1] = '\0';
	appendStringInfo(buf, "CREATE INDEX IF NOT EXISTS %s ON %s (%s, valid_from) WHERE recorded_to = 'infinity';",
					 quote_identifier(idx), pe->history_table, quote_identifier(attr));
}

/*
 * The indexes the cascade looks rows up by.  Built after the initial fill:
 * one sort per index beats maintaining them row by row.  Text keys are
 * indexed under collation "C" (see key_collation).  A key's entries differ
 * by their effective time, so a (key, effective_at) index holds no
 * duplicates to merge: without deduplication a full leaf page is split at
 * once instead of first being searched for duplicates in vain (1.2% of
 * ingest's CPU, bench/README).
 *
 * change_seq is deliberately not indexed: it changes on every rewrite, so an
 * index on it (even BRIN, before PostgreSQL 16) would make every cascade
 * update a non-HOT one, a new entry in every index of the table — most of a
 * cascade's cost.  Without it, a cascade that changes enriched columns only
 * rewrites rows in place (HOT), and an incremental pull (change_seq > N) is
 * one sequential scan; a table pulled often relative to its size can have
 * the index added by hand (README).
 */
void
projdef_create_indexes(ProjDef *def, const char *qtable)
{
	StringInfoData buf;
	ListCell   *lc;
	List	   *indexed = NIL;

	initStringInfo(&buf);

	foreach(lc, def->steps)
	{
		DefStep    *s = lfirst(lc);

		if (s->parent)
			index_chain_parent(s, &buf);
		else if (!str_member(indexed, s->key_column))
		{
			appendStringInfo(&buf, "CREATE INDEX ON %s (%s%s, effective_at) WITH (deduplicate_items = off);", qtable,
							 quote_identifier(s->key_column),
							 projection_key_collation(projdef_find_column(def, s->key_column)->typid));
			indexed = lappend(indexed, s->key_column);
		}
		if (s->has_current && !str_member(indexed, s->match_column))
		{
			appendStringInfo(&buf, "CREATE INDEX ON %s (%s%s);", qtable, quote_identifier(s->match_column),
							 projection_key_collation(TEXTOID));
			indexed = lappend(indexed, s->match_column);
		}
	}
	if (buf.len > 0 && SPI_execute(buf.data, false, 0) < 0)
		elog(ERROR, "cannot index the table of projection \"%s\"", def->name);
}

static Datum
text_array(List *items)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(items), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, items)
		d[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* "a,b,c": the source columns (out = false) or the recomputed ones (true). */
static char *
column_list(ProjDef *def, bool out)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	if (!out)
		appendStringInfoString(&buf, def->recurring ? "event_id,effective_at,received_at,occurrence_id,series_id,occurrence_date"
							   : "event_id,effective_at,received_at");
	foreach(lc, def->columns)
	{
		DefColumn  *c = lfirst(lc);

		if ((c->step >= 0) == out)
			appendStringInfo(&buf, "%s%s", buf.len ? "," : "", c->name);
	}
	if (out)
		foreach(lc, def->derive_names)
			appendStringInfo(&buf, "%s%s", buf.len ? "," : "", (char *) lfirst(lc));
	return buf.data;
}

/* Write the catalog rows; returns the projection id. */
int32
projdef_store_definition(ProjDef *def, const char *schema, Interval *fresh_for,
				 Jsonb *columns, Jsonb *enrich, Jsonb *derive)
{
	Oid			pt[18] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INTERVALOID,
		JSONBOID, JSONBOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INTERVALOID};
	Datum		pv[18];
	char		pn[18];
	Oid			st[12] = {INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID,
		TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, TEXTOID};
	Datum		sv[12];
	char		sn[12];
	int32		id;
	bool		isnull;
	ListCell   *lc;

	memset(pn, ' ', sizeof(pn));
	pv[0] = CStringGetTextDatum(def->name);
	pv[1] = CStringGetTextDatum(schema);
	pv[2] = CStringGetTextDatum(def->name);
	pv[3] = CStringGetTextDatum(def->source);
	pv[4] = CStringGetTextDatum(def->latest ? "latest" : "events");
	pv[5] = def->latest_key ? CStringGetTextDatum(def->latest_key) : (Datum) 0;
	pn[5] = def->latest_key ? ' ' : 'n';
	pv[6] = fresh_for ? IntervalPGetDatum(fresh_for) : (Datum) 0;
	pn[6] = fresh_for ? ' ' : 'n';
	pv[7] = JsonbPGetDatum(columns);
	pv[8] = JsonbPGetDatum(enrich);
	pv[9] = JsonbPGetDatum(derive);
	pv[10] = CStringGetTextDatum(projdef_pk_column(def));
	pv[11] = CStringGetTextDatum(column_list(def, false));
	pv[12] = CStringGetTextDatum(column_list(def, true));
	pv[13] = CStringGetTextDatum(build_row_sql(def, false, true, -1));
	pv[14] = CStringGetTextDatum(build_row_sql(def, true, true, -1));
	pv[15] = CStringGetTextDatum(build_payload_src(def, false));
	pv[16] = CStringGetTextDatum(build_payload_src(def, true));
	pv[17] = def->recurring ? IntervalPGetDatum(def->horizon) : (Datum) 0;
	pn[17] = def->recurring ? ' ' : 'n';
	if (SPI_execute_with_args("INSERT INTO phoenix.projections (name, schema_name, table_name, source, kind,"
							  " latest_key, fresh_for, columns, enrich, derive, pk_column, src_columns,"
							  " out_columns, row_lateral, row_join, payload_src, log_src, horizon)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
							  " RETURNING projection_id", 18, pt, pv, pn, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "cannot record projection \"%s\"", def->name);
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	foreach(lc, def->steps)
	{
		DefStep    *s = lfirst(lc);
		DefColumn  *kc = projdef_find_column(def, s->key_column);
		List	   *et = NIL,
				   *cur = NIL,
				   *path = NIL;
		ListCell   *la,
				   *lm;

		forboth(la, s->atts, lm, s->modes)
		{
			if (lfirst_int(lm))
				cur = lappend(cur, s->entity->atts[lfirst_int(la)].name);
			else
				et = lappend(et, s->entity->atts[lfirst_int(la)].name);
		}
		for (int k = 0; kc->step < 0 && k < kc->npath; k++)
			path = lappend(path, kc->path[k]);
		memset(sn, ' ', sizeof(sn));
		sv[0] = Int32GetDatum(id);
		sv[1] = Int32GetDatum(s->order + 1);
		sv[2] = CStringGetTextDatum(s->entity->name);
		sv[3] = CStringGetTextDatum(s->prefix);
		sv[4] = CStringGetTextDatum(s->key_column);
		sv[5] = path ? text_array(path) : (Datum) 0;
		sn[5] = path ? ' ' : 'n';
		sv[6] = s->by ? CStringGetTextDatum(s->by) : (Datum) 0;
		sn[6] = s->by ? ' ' : 'n';
		sv[7] = CStringGetTextDatum(s->match_column);
		sv[8] = text_array(et);
		sv[9] = text_array(cur);
		sv[10] = CStringGetTextDatum(build_row_sql(def, false, true, s->order));
		sv[11] = CStringGetTextDatum(build_row_sql(def, true, true, s->order));
		if (SPI_execute_with_args("INSERT INTO phoenix.projection_steps (projection_id, step, entity, prefix,"
								  " key_column, key_path, by_attribute, match_column, event_time, current,"
								  " row_lateral, row_join)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
								  12, st, sv, sn, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "cannot record the steps of projection \"%s\"", def->name);
	}
	return id;
}

/* The primary key: the latest key, an occurrence (recurring source), or the event. */
const char *
projdef_pk_column(ProjDef *def)
{
	if (def->latest)
		return def->latest_key;
	return def->recurring ? "occurrence_id" : "event_id";
}
