/*
 * projection.h — reporting tables fed by event types, enriched as of each
 * event's effective time.
 */
#ifndef PHOENIX_PROJECTION_H
#define PHOENIX_PROJECTION_H

#include "postgres.h"

#include "executor/spi.h"
#include "storage/lock.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "ingest/ingest_hooks.h"
#include "timeline/catalog.h"


/*
 * New events of `event_type` were logged: insert the rows of every projection
 * fed by that type (set-based, one statement per projection per batch; kind
 * 'latest' replaces older rows).  The events must not have rows yet.  Called
 * inside SPI, in the emitter's transaction.
 */
extern void projection_on_events(const char *event_type, int nevents, const EmittedEvent *events);

/*
 * Logged events whose payloads were rewritten (forget): recompute their rows,
 * replacing the existing ones.  Called inside SPI.
 */
extern void projection_on_rewritten_events(const char *event_type, int nevents, const EmittedEvent *events);

/*
 * The ways a projection row depends on an entity key, each with its own
 * recomputation statement (see cascade.c).
 */
typedef enum ProjDep
{
	PROJ_DEP_WINDOW,			/* key column = $1, effective_at in [$2, $3) */
	PROJ_DEP_BYVALS,			/* by column = ANY($1), effective_at in [$2, $3) */
	PROJ_DEP_CURRENT,			/* matched key column = $1 (any time) */
	PROJ_NDEPS
} ProjDep;

/* One enrichment step of a cached projection. */
typedef struct ProjStep
{
	int			step;
	char	   *entity;
	char	   *prefix;			/* output columns are <prefix>_<attribute> */
	char	   *key_column;		/* table column holding the key / by value */
	int			nkey_path;		/* > 0 when key_column is mapped from the payload */
	char	  **key_path;
	char	   *by_attribute;	/* NULL: match on the entity key */
	Oid			by_typid;		/* type of by_attribute */
	char	   *match_column;	/* table column holding the matched entity key */
	int			n_event_time;
	char	  **event_time;
	int			n_current;
	char	  **current;
	uint32		lock_class;		/* advisory lock class of what the step matches on */
	char	   *row_lateral;	/* recomputation of this step and its chain (%SRC%: all columns) */
	char	   *row_join;
	SPIPlanPtr	plan[PROJ_NDEPS];	/* recompute, index lookups (lazy) */
	SPIPlanPtr	count_plan[PROJ_NDEPS]; /* bounded count of candidate rows (lazy) */
	SPIPlanPtr	lock_plan[PROJ_NDEPS];	/* row locks on the candidate rows (lazy) */
	/*
	 * The window recomputation in C (cascade.c): true when only this step's
	 * own event_time columns can change (no by-match, no step chained from
	 * it, no derived column reading them).
	 */
	bool		window_in_c;
	Oid			window_index;	/* its index on (key_column, effective_at) (lazy) */
	SPIPlanPtr	versions_plan;	/* the key's versions overlapping a window (lazy) */
} ProjStep;

/* A column mapped from the payload: its path (as #>> follows it). */
typedef struct ProjMapped
{
	char	   *name;
	int			npath;
	char	  **path;
} ProjMapped;

struct ArrivalPlan;

/* Statements series.c prepares per projection (see SeriesPlan). */
#define PROJ_SERIES_NPLANS	6

/*
 * Reporting tables leave this much of each page free (100 - fillfactor %) so
 * that a cascade's rewrite of a row can stay on its page as a HOT update (no
 * new index entries).  85 suits rows whose keys arrive interleaved (a key's
 * rows lie one or two to a page, so a page has room for their new versions);
 * when a key's rows arrive together and fill whole pages, only 50 leaves room
 * to rewrite all of them in place (create_projection's fillfactor;
 * bench/scale.sh measures both, docs/sizing.md).
 */
#define PROJ_DEFAULT_FILLFACTOR	85

/* How far ahead a recurring projection materialises series by default. */
#define PROJ_DEFAULT_HORIZON	"400 days"

/* A projection as every backend caches it. */
typedef struct Projection
{
	int32		id;
	char	   *name;
	char	   *source;
	char	   *table;			/* quoted, schema-qualified */
	bool		latest;
	char	   *pk_column;
	char	   *src_columns;
	char	   *out_columns;
	char	   *row_lateral;
	char	   *row_join;
	char	   *payload_src;
	char	   *log_src;
	int			nsteps;
	ProjStep   *steps;
	SPIPlanPtr	insert_plan;	/* arrival of a small batch (lazy) */
	SPIPlanPtr	upsert_plan;	/* the same, replacing existing rows (lazy) */
	int			nmapped;
	ProjMapped *mapped;			/* the mapped columns, in table order */
	int			nderive;
	char	  **derive_names;	/* derived columns and their SQL expressions */
	char	  **derive_exprs;
	bool		derive_checked; /* derive_check_stored passed since loaded */
	/* rows of arriving events computed in C (arrival.c), made on first use */
	struct ArrivalPlan *arrival;
	bool		arrival_tried;	/* false until arrival.c has looked at it */
	/*
	 * A recurring source (booking series, series.c): one row per occurrence,
	 * materialised up to now + horizon; the statements series.c prepares.
	 */
	bool		recurring;
	Interval   *horizon;
	SPIPlanPtr	series_plans[PROJ_SERIES_NPLANS];
} Projection;

/*
 * The OID of the projection's table, locked in `lockmode` (InvalidOid when
 * missing_ok and the table is gone).
 */
extern Oid	projection_table_relid(Projection *p, LOCKMODE lockmode, bool missing_ok);

/* Every projection, from the per-backend cache (valid until end of xact). */
extern List *projection_cache_all(void);

/*
 * The projection `name` from the per-backend cache, or NULL.  The projection
 * layer owns phoenix.projections: other subsystems (export, forget, Kafka
 * publications) ask here instead of reading the table.
 */
extern Projection *projection_lookup(const char *name);

/* Row computation of `p` with %SRC% replaced by `src` (palloc'd). */
extern char *projection_row_sql(Projection *p, bool set_based, const char *src);

/* Statements over one dependency of one step (cascade.c runs them). */
extern char *projection_recompute_sql(Projection *p, ProjStep *s, ProjDep dep, bool set_based);
extern char *projection_count_sql(Projection *p, ProjStep *s, ProjDep dep);
extern char *projection_lock_sql(Projection *p, ProjStep *s, ProjDep dep);


/*
 * SPI_execute_plan of a prepared per-row lookup statement, planned with index
 * lookups into the history tables (never sequential scans of them).
 */
extern int	projection_execute_lookups(SPIPlanPtr plan, Datum *args, long count);

/*
 * Share-lock the entity keys the payloads name (before their rows are
 * computed, so that a concurrent change of those keys cascades into them).
 */
extern void projection_lock_payload_keys(Projection *p, int n, const EmittedEvent *events);

/*
 * A logged event from an SPI row whose columns first .. first + 4 are
 * event_id, effective_at, received_at, payload, position.
 */
extern void projection_event_from_row(HeapTuple t, TupleDesc d, int first, EmittedEvent *ev);

/*
 * Read the log rows of `query` (event_id, effective_at, received_at,
 * payload, position; $1 is `source`) through a cursor, `fetch` at a time,
 * handing each batch of events to `apply` (in a memory context reset after
 * each batch; `done` counts the events handed over so far, this batch
 * included).  Inside SPI.  Returns the number of events read.
 */
typedef void (*ProjectionLogBatch) (void *arg, int nevents, const EmittedEvent *events, int64 done);
extern int64 projection_read_log(const char *query, const char *source, int fetch,
								 ProjectionLogBatch apply, void *arg);

/* Advisory lock tag of (class, value): what writers and the cascade share. */
extern void projection_locktag(LOCKTAG *tag, uint32 lock_class, const char *value);
extern uint32 projection_lock_class(const char *entity, const char *attribute);
extern ProjStep *projection_chain_parent(Projection *p, ProjStep *s);
extern void projection_chain_columns(ProjStep *s, ProjStep *parent, PhxEntity *pe,
									 const char **where_col, const char **select_col);

extern void ProjectionInit(void);

#endif							/* PHOENIX_PROJECTION_H */
