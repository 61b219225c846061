/*
 * catalog.h — Phoenix's catalog of entities and their attributes, cached per
 * backend.
 *
 * The cache is keyed by entity name and dropped whenever a function that
 * changes the catalog calls catalog_invalidate() (which sends a relcache
 * invalidation for phoenix.entities to every backend at commit).
 */
#ifndef PHOENIX_CATALOG_H
#define PHOENIX_CATALOG_H

#include "postgres.h"

#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

/* One attribute of an entity (a typed column of its history table). */
typedef struct PhxAttribute
{
	char	   *name;
	Oid			typid;
	int32		typmod;
	int16		typlen;
	bool		typbyval;
	Oid			typinput;		/* input function, for JSON scalars as text */
	Oid			typioparam;
	Oid			typoutput;
	bool		pii;
	char	   *ref_entity;		/* entity whose key this attribute holds, or NULL */
} PhxAttribute;

/* An entity: its key, attributes and the prepared plans of its timeline. */
typedef struct PhxEntity
{
	int32		id;
	char	   *name;
	char	   *key_name;
	char	   *history_table;	/* quoted, schema-qualified */
	Oid			history_relid;
	int			natts;
	PhxAttribute *atts;			/* natts entries, in column order */
	/* the history columns the timeline writes: key, attributes, valid_from,
	 * valid_to, recorded_from, recorded_to; their types; the table in errors */
	int			history_ncols;
	const char **history_cols;
	Oid		   *history_types;
	const char *history_what;
	Oid			history_btree;	/* its btree on (key, valid_from), found on first use */
	Oid			assertions_relid;	/* phoenix.assertions */
	/* plans owned by the cache entry (SPI_keepplan), made on first use */
	SPIPlanPtr	plan_next_open; /* open assertions after a time */
	SPIPlanPtr	plan_get;		/* version at (valid_at, known_at) */
	SPIPlanPtr	plan_get_current;	/* version at valid_at, current knowledge */
} PhxEntity;

/* Positions in history_cols (and in arrays of column numbers built from it). */
#define HISTORY_KEY					0
#define HISTORY_ATT(i)				(1 + (i))
#define HISTORY_VALID_FROM(e)		((e)->natts + 1)
#define HISTORY_VALID_TO(e)			((e)->natts + 2)
#define HISTORY_RECORDED_FROM(e)	((e)->natts + 3)
#define HISTORY_RECORDED_TO(e)		((e)->natts + 4)

/* Look up an entity by name; ERROR (undefined_object) unless missing_ok. */
extern PhxEntity *catalog_entity(const char *name, bool missing_ok);
/* Look up an entity by id (for rows that store entity_id). */
extern PhxEntity *catalog_entity_by_id(int32 id, bool missing_ok);
/* Index of an attribute by name, or -1. */
extern int	catalog_attribute_index(PhxEntity *entity, const char *attname);
/* Drop every cached entity, here and (at commit) in every backend. */
extern void catalog_invalidate(void);

/*
 * Identifier checks shared by every DDL path: ERROR with a SQLSTATE when the
 * name is not a plain lower-case identifier (invalid_name), is a reserved
 * word (reserved_name) or is longer than maxlen (name_too_long).  `what`
 * names the kind of object in the message ("entity", "attribute", ...).
 */
extern void catalog_check_identifier(const char *name, const char *what, int maxlen);

/* Resolve a type name to a scalar type Phoenix stores; ERROR otherwise. */
extern Oid	catalog_scalar_type(const char *typname, const char *context);

extern void CatalogInit(void);

#endif							/* PHOENIX_CATALOG_H */
