/*
 * forget.h — erasure that keeps the aggregates: phoenix.forget, its
 * tombstones, and the hooks that scrub late writes about a forgotten key.
 *
 * A PII value is replaced by a stable pseudonym, a keyed HMAC-SHA256 under
 * a per-database secret (phoenix.forget_secret, or the GUC of the same name)
 * of the person (entity, key) and the value: the same value of one person
 * becomes the same pseudonym in their history, event payloads and reporting
 * rows, so by-attribute joins still match after erasure, while two people
 * with one name get different pseudonyms.
 *
 * A value identifies a person by value (their email in a visit's hostEmail)
 * only inside the valid periods in which they held it, matched exactly —
 * the rule enrichment's "by" lookups use.
 *
 * Every write path calls one of the hooks before it stores anything (the
 * ingest layer and the timeline engine, which sit below forget, reach them
 * through the hooks ForgetInit registers: ingest_hooks.h, timeline.h):
 *   emit (SQL, CSV, Kafka: emit_bulk)  forget_scrub_payload() on each payload
 *                                      that passed validation, before it is
 *                                      hashed, logged, applied or projected;
 *                                      forget_scrub_raw() on the raw text of
 *                                      refused input before it is dead-lettered;
 *   the timeline engine                forget_scrub_assertion() on every
 *                                      assertion (put, retract, entity events).
 * When nothing was ever forgotten each hook costs one test of a cached flag.
 *
 * Higher layers that keep copies of rows forget rewrote (the Kafka outbox)
 * register a scrubber in their _PG_init: forget calls it at the end.
 */
#ifndef PHOENIX_FORGET_H
#define PHOENIX_FORGET_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "timeline/catalog.h"
#include "timeline/timeline.h"

/*
 * The payload of an event of `event_type`, effective at `effective_at`, with
 * its PII fields pseudonymised when the event is about a forgotten key (a
 * refs field or the key field holds the key, or a by-attribute refs field
 * holds a value the key held at `effective_at`); NULL when the payload needs
 * no change.  Call inside SPI.
 */
extern Jsonb *forget_scrub_payload(const char *event_type, Jsonb *payload, TimestampTz effective_at);

/*
 * Refused input (the raw text of a dead letter, which may not even be JSON):
 * a copy with every value a forgotten key held at the input's time (its
 * type's time field when readable, else now) replaced by its pseudonym, and,
 * when it parses as a payload about a forgotten key, its PII fields scrubbed
 * as forget_scrub_payload() does.  NULL when unchanged.  `event_type` may be
 * NULL.  Call inside SPI.
 */
extern char *forget_scrub_raw(const char *event_type, const char *raw);

/*
 * An assertion about (entity, key): when the key was forgotten, its PII
 * values are pseudonymised in place (values of non-text PII attributes
 * become absent) and their keyed hashes join the tombstone.  Called by
 * timeline_apply() with the key's lock held.  Call inside SPI.
 */
extern void forget_scrub_assertion(PhxEntity *entity, const char *key, TimelineAssertion *a);

/*
 * A scrubber of a higher layer: called by forget, as the extension owner
 * inside SPI, after every row about the person was rewritten in this
 * transaction; returns how many of its rows it scrubbed (forget reports
 * them under `relation` and re-analyzes that table).
 */
typedef int64 (*ForgetScrubber) (void);
extern void forget_register_scrubber(const char *relation, ForgetScrubber scrubber);

/* Cache invalidation callbacks of the hooks. */
extern void ForgetHooksInit(void);
extern void ForgetInit(void);

#endif							/* PHOENIX_FORGET_H */
