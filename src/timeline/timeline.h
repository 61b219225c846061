/*
 * timeline.h — the one timeline engine: turns assertions into bitemporal
 * versions of an entity key.  Every write path (put, retract, entity events
 * from emit/CSV/Kafka, forget) goes through timeline_apply().
 *
 * Semantics (docs/design.md, §2 "Time"): an open assertion covers
 * [valid_from, next open assertion of the same attribute); a bounded one
 * covers [valid_from, valid_to); at any effective time an attribute's value is
 * that of the most recently recorded covering assertion.  Because the new
 * assertion is always the most recently recorded, applying it splices its
 * values over its coverage and leaves everything else as it was.
 */
#ifndef PHOENIX_TIMELINE_H
#define PHOENIX_TIMELINE_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#include "timeline/catalog.h"

/* One assertion about one key.  Arrays have entity->natts entries. */
typedef struct TimelineAssertion
{
	TimestampTz valid_from;
	TimestampTz valid_to;		/* ignored when is_open */
	bool		is_open;
	bool	   *asserted;		/* which attributes this assertion speaks for */
	Datum	   *values;			/* value of each asserted attribute */
	bool	   *isnull;			/* NULL = absent */
	const char *origin;			/* 'put', 'retract', 'event:<position>', ... */
} TimelineAssertion;

/*
 * One elementary window of valid time whose attribute values changed,
 * reported to the cascade.  old_/new_exists is false where the key had no
 * version (absent) before/after.  Arrays have entity->natts entries.
 */
typedef struct TimelineChange
{
	TimestampTz valid_from;
	TimestampTz valid_to;
	bool		old_exists;
	bool		new_exists;
	Datum	   *old_values;
	bool	   *old_isnull;
	Datum	   *new_values;
	bool	   *new_isnull;
	bool	   *changed;		/* attribute i differs between old and new */
} TimelineChange;

/*
 * Apply one assertion to (entity, key).  Takes a transaction-scoped advisory
 * lock on the key, records the assertion, closes superseded versions in
 * recorded time, inserts the new ones, and hands the list of TimelineChange
 * to cascade_timeline_changed().  Returns that list (palloc'd in the caller's
 * context).  Must be called inside SPI_connect/SPI_finish.
 */
extern List *timeline_apply(PhxEntity *entity, const char *key, TimelineAssertion *assertion);

/*
 * Take the transaction-scoped lock that serializes writers of one key
 * (timeline_apply takes it too; forget holds it while it rewrites history).
 */
extern void timeline_lock_key(PhxEntity *entity, const char *key);

/*
 * Wait for every transaction writing `entity` to finish, and make new
 * writers wait until this transaction ends (create_projection: its fill
 * must see every change that will not cascade into its new table;
 * drop_projection: no writer may still cascade into the table it drops).
 * Call it between timeline_pause_writers and timeline_resume_writers.
 */
extern void timeline_keep_writers_out(PhxEntity *entity);

/*
 * Every writer (an entity write, an arrival of events) first joins the
 * database's writers: a lock shared among them, taken before any of the
 * entity or event-type locks they hold to the end of their transaction.
 * timeline_pause_writers waits for every writer in progress and keeps new
 * ones from starting until timeline_resume_writers; in between,
 * create_projection (and drop_projection) takes its entities' and source
 * type's locks, none held
 * by anyone else then, so it never holds some of them while waiting for
 * another, which a writer mixing entity and fact events could hold while
 * waiting for the first: no deadlock.
 */
extern void timeline_join_writers(void);
extern void timeline_pause_writers(void);
extern void timeline_resume_writers(void);

/*
 * The btree on (key, valid_from) of the entity's history table `rel`, whose
 * history columns (entity->history_cols) are at `attnums`; InvalidOid if
 * someone dropped it.  Cached in the entity, checked against the table's
 * index list on every call.
 */
extern Oid	timeline_history_btree(PhxEntity *entity, Relation rel, const AttrNumber *attnums);

/* A fresh assertion with nothing asserted (arrays zeroed), open by default. */
extern TimelineAssertion *timeline_new_assertion(PhxEntity *entity);

/*
 * Fill `assertion` from a jsonb object {attribute: value, ...}: each member
 * must name an attribute of the entity; scalars are converted with the
 * attribute type's input function; JSON null asserts absence.  ERRORs name
 * the entity and attribute (undefined_column, invalid_text_representation).
 */
extern void timeline_values_from_jsonb(PhxEntity *entity, Jsonb *attributes,
									   TimelineAssertion *assertion);

/* Convert one jsonb scalar to an attribute's type (ERROR on mismatch). */
extern Datum timeline_datum_from_jsonb(PhxEntity *entity, int attno, JsonbValue *v, bool *isnull);

/* The JSON form of an attribute value (numbers and booleans native, dates ISO 8601). */
extern void timeline_jsonb_value(PhxAttribute *att, Datum value, JsonbValue *out);

/*
 * What the timeline engine lets the layers above it do, without knowing
 * them.  Both are registered in _PG_init; one never registered raises an
 * error when called, so a missing registration cannot silently skip work.
 *
 * timeline_changed: the timeline of (entity, key) changed over the windows
 *   in `changes` (TimelineChange *, sorted, non-overlapping); the cascade
 *   re-enriches dependent projection rows.  Called inside SPI, in the
 *   writer's transaction, after the versions are written.
 * timeline_scrub_assertion: an assertion about (entity, key) before anything
 *   is stored; forget pseudonymises a forgotten key's PII in place.  Called
 *   with the key's lock held, inside SPI.
 */
typedef void (*timeline_changed_hook_type) (PhxEntity *entity, const char *key, List *changes);
typedef void (*timeline_scrub_assertion_hook_type) (PhxEntity *entity, const char *key,
													TimelineAssertion *assertion);

extern void timeline_register_changed_hook(timeline_changed_hook_type hook);
extern void timeline_register_scrub_assertion_hook(timeline_scrub_assertion_hook_type hook);

#endif							/* PHOENIX_TIMELINE_H */
