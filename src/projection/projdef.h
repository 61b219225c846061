/*
 * projdef.h — a projection's definition while create_projection compiles it
 * (projdef.c): the declared columns and enrichment steps, parsed and
 * validated against the source type's schema and the entities, and the SQL
 * generated from them.  Used only by projection.c's create_projection; the
 * cached, compiled form that arrivals and the cascade use is Projection
 * (projection.h).
 */
#ifndef PHOENIX_PROJDEF_H
#define PHOENIX_PROJDEF_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "timeline/catalog.h"

/* A column of the table and where its value comes from. */
typedef struct DefColumn
{
	char	   *name;
	Oid			typid;
	int			step;			/* -1: mapped from the payload (or fixed) */
	int			attno;			/* attribute index in the step's entity, -1: matched key */
	bool		current;
	bool		explicit_type;	/* mapped column whose type was given */
	int			npath;
	char	  **path;
} DefColumn;

typedef struct DefStep
{
	int			given;			/* position in the enrich array (1-based) */
	PhxEntity  *entity;
	char	   *prefix;
	char	   *key_column;
	char	   *by;
	int			by_att;
	List	   *atts;			/* of int (attribute index) */
	List	   *modes;			/* of int: 1 = current */
	int			depends_on;		/* index of the step producing key_column, -1 mapped */
	struct DefStep *parent;		/* that step (NULL: keyed by the payload) */
	int			order;			/* evaluation order */
	bool		has_event_time;
	bool		has_current;
	char	   *match_column;
} DefStep;

typedef struct ProjDef
{
	char	   *name;
	char	   *source;
	bool		latest;
	char	   *latest_key;
	int			fillfactor;		/* of the reporting table (PROJ_DEFAULT_FILLFACTOR) */
	List	   *columns;		/* DefColumn *: mapped, then enriched */
	int			nmapped;
	List	   *steps;			/* DefStep *, in evaluation order after sorting */
	List	   *derive_names;
	List	   *derive_exprs;
	List	   *derive_types;	/* of Oid */
	bool		recurring;		/* source is a booking series type (series.c) */
	Interval   *horizon;		/* recurring: how far ahead series are materialised */
} ProjDef;

extern JsonbValue *projdef_jb_get(JsonbContainer *c, const char *key);
extern List *projdef_jb_pairs(JsonbContainer *c, const char *what, List **values);
extern char *projdef_jb_text(JsonbValue *v, const char *what);
extern Jsonb *projdef_source_schema(const char *source);
extern DefColumn *projdef_find_column(ProjDef *def, const char *name);
extern char *projdef_mapped_path(JsonbValue *v, const char *what, char **typname);
extern char ** projdef_split_path(const char *path, int *npath);
extern void projdef_parse_columns(ProjDef *def, Jsonb *columns, Jsonb *schema);
extern void projdef_parse_enrich(ProjDef *def, Jsonb *enrich);
extern void projdef_resolve_steps(ProjDef *def);
extern void projdef_parse_derive(ProjDef *def, Jsonb *derive);
extern void projdef_analyze_derive(ProjDef *def);
extern void projdef_create_table(ProjDef *def, const char *schema, Interval *fresh_for, const char *qtable);
extern void projdef_create_indexes(ProjDef *def, const char *qtable);
extern int32 projdef_store_definition(ProjDef *def, const char *schema, Interval *fresh_for,
				 Jsonb *columns, Jsonb *enrich, Jsonb *derive);
extern const char *projection_key_collation(Oid typid);
extern const char *projdef_pk_column(ProjDef *def);

#endif							/* PHOENIX_PROJDEF_H */
