/*
 * forget_int.h — what the parts of the forget subsystem share: the person a
 * pseudonym belongs to, keyed hashes, value periods, the event type fields
 * forget reads, the tombstone cache and running as the extension owner.
 *
 *   forget.c        phoenix.forget and its steps
 *   forget_scrub.c  the write paths' hooks, the tombstone and type caches
 *   forget_hash.c   the secret, keyed hashes, pseudonyms, JSON and text scrubbing
 */
#ifndef PHOENIX_FORGET_INT_H
#define PHOENIX_FORGET_INT_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define FORGET_HASH_LEN		32	/* SHA-256 */

/*
 * The person whose values are pseudonymised: an entity key, known by its
 * keyed hash (a tombstone keeps no key in clear).  Pseudonyms derive from
 * the person and the value, so two people with one name get different ones
 * and one person's value gets the same one everywhere.
 */
typedef struct ForgetPerson
{
	const char *entity;
	uint8		key_hash[FORGET_HASH_LEN];
} ForgetPerson;

/*
 * Valid periods, half-open [from, to), sorted and disjoint: where a person
 * held a value (minus where someone else held it, see forget.c).
 */
typedef struct ForgetPeriods
{
	int			n;
	TimestampTz *from;
	TimestampTz *to;
} ForgetPeriods;

/* A payload field that can make an event about an entity key. */
typedef struct ForgetRef
{
	char	   *field;
	int32		entity_id;
	char	   *entity;
	char	   *attribute;		/* by-attribute ref; NULL: holds the key */
} ForgetRef;

/* What forget and the hooks need to know about one event type. */
typedef struct ForgetType
{
	char	   *name;
	List	   *refs;			/* ForgetRef *: fields that name an entity */
	List	   *pii_fields;		/* char *: top-level fields holding PII */
	List	   *pii_sets;		/* ForgetRef *: fields an entity event sets into PII */
	List	   *time_fields;	/* char *: the payload's effective time, per version */
} ForgetType;

/* Saved state while running as the extension owner. */
typedef struct OwnerContext
{
	Oid			save_userid;
	int			save_sec;
	int			guc_level;
} OwnerContext;

/* forget_hash.c */
extern void forget_person_init(ForgetPerson *p, const char *entity, const char *key);
extern void forget_key_hash(const char *entity, const char *key, uint8 *out);
extern void forget_value_hash(const char *value, int len, uint8 *out);
extern bool forget_is_pseudonym(const char *s, int len);
extern char *forget_pseudonym(const ForgetPerson *p, const char *value, int len);
extern Jsonb *forget_scrub_jsonb(const ForgetPerson *p, Jsonb *doc, List *fields, bool *changed);
extern char *forget_scrub_text(const ForgetPerson *p, const char *s, List *values, bool *changed);
extern bool forget_str_in_list(List *list, const char *s, int len);
extern void forget_add_unique(List **list, const char *s);
extern Jsonb *forget_parse_json_quietly(const char *raw);
extern char *forget_hex(const uint8 *bytes, int len);
extern bytea *forget_hash_bytea(const uint8 *hash);
extern Oid	forget_phoenix_relid(const char *relname);
extern Oid	forget_owner(void);
extern void forget_as_owner_begin(OwnerContext *oc, bool pin_search_path);
extern void forget_as_owner_end(OwnerContext *oc);
extern void forget_secret_create(void);
extern void forget_secret_reset(void);


/* periods from the arrays of lower and upper bounds of a tstzmultirange */
extern ForgetPeriods *forget_periods_from_arrays(Datum lowers, bool lnull, Datum uppers, bool unull);
extern bool forget_periods_contain(const ForgetPeriods *p, TimestampTz t);

/* forget_scrub.c */
extern List *forget_type_list(void);	/* ForgetType *, loaded */
extern ForgetType *forget_type_lookup(const char *name);
extern bool forget_payload_time(ForgetType *type, Jsonb *payload, TimestampTz *at);
extern void forget_tomb_add_key(int32 entity_id, const uint8 *key_hash);
extern void forget_tomb_add_value(int32 entity_id, const char *attribute, const char *value,
								  const uint8 *key_hash, const char *periods);
extern void forget_tomb_invalidate(void);

#endif							/* PHOENIX_FORGET_INT_H */
