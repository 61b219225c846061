/*
 * forget_int.h — internal to forget/: what its files share.
 */
#ifndef PHOENIX_FORGET_INT_H
#define PHOENIX_FORGET_INT_H

#include "postgres.h"

#include "common/guc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "projection/cascade.h"
#include "timeline/catalog.h"
#include "ingest/emit.h"
#include "forget/forget.h"
#include "json/jsonfast.h"
#include "json/jsonschema.h"
#include "common/phoenix.h"
#include "projection/projection.h"
#include "timeline/timeline.h"

#define HASH_LEN			32	/* SHA-256 */
#define PSEUDONYM_BYTES		10	/* 80 bits shown: collisions are negligible */
#define PSEUDONYM_PREFIX	"forgotten-"
#define PSEUDONYM_DOMAIN	"@forgotten.invalid"
#define RAW_MAX_WORDS		6	/* longest value recognised in free text, in words */

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
} ForgetType;

/* Entry of the tombstone set: (entity, attribute or "" for the key, hash). */
typedef struct TombKey
{
	int32		entity_id;
	char		attribute[NAMEDATALEN];
	uint8		hash[HASH_LEN];
} TombKey;

/* Memo of keyed hashes: the HMAC input (domain NUL a NUL b), zero-padded. */
#define HASH_MEMO_INPUT		96
#define HASH_MEMO_MAX		65536
typedef struct HashMemoKey
{
	uint16		len;
	char		input[HASH_MEMO_INPUT];
} HashMemoKey;

typedef struct HashMemoEntry
{
	HashMemoKey key;
	uint8		hash[HASH_LEN];
} HashMemoEntry;

/* Saved state while running as the extension owner. */
typedef struct OwnerContext
{
	Oid			save_userid;
	int			save_sec;
	int			guc_level;
} OwnerContext;

/* One table's count in forget's result. */
typedef struct ScrubCount
{
	char	   *relation;
	int64		rows;
} ScrubCount;

extern MemoryContext tomb_cxt;
extern MemoryContext types_cxt;
extern bool tomb_valid;
extern bool types_valid;
extern HTAB *tomb_set;
extern HTAB *tomb_any_value;
extern int64 tomb_count;
extern List *tomb_entities;
extern List *type_list;
extern uint8 *table_secret;
extern int	table_secret_len;
extern Oid	forgotten_relid;
extern MemoryContext hash_memo_cxt;
extern HTAB *hash_memo;
extern int	hash_memo_count;
extern uint8 *memo_secret;
extern int	memo_secret_len;
extern Oid	versions_relid;
extern Oid	entities_relid;

extern void value_hash(const char *value, int len, uint8 *out);
extern void key_hash(const char *entity, const char *key, uint8 *out);
extern bool is_pseudonym(const char *s, int len);
extern char *pseudonym(const char *value, int len);
extern Jsonb *scrub_jsonb(Jsonb *doc, List *fields, List *null_fields, bool *changed);
extern bool str_in_list(List *list, const char *s, int len);
extern char *scrub_text_values(const char *s, List *values, bool *changed);
extern Jsonb *parse_json_quietly(const char *raw);
extern bool payload_about_forgotten(ForgetType *type, Jsonb *payload);
extern void forget_inval_cb(Datum arg, Oid relid);
extern void forget_xact_cb(XactEvent event, void *arg);
extern Oid phoenix_relid(const char *relname);
extern void lock_writers(void);
extern void tomb_load(void);
extern bool tomb_has(int32 entity_id, const char *attribute, const uint8 *hash);
extern bool tomb_entity(int32 entity_id);
extern void tomb_add_values(int32 entity_id, const char *attribute, List *values);
extern void types_load(void);
extern ForgetType *type_lookup(const char *name);
extern void type_add_unique(List **list, const char *s);
extern Oid phoenix_owner(void);
extern void as_owner_begin(OwnerContext *oc, bool pin_search_path);
extern void as_owner_end(OwnerContext *oc);
extern List *add_count(List *counts, const char *relation, int64 rows);
extern Jsonb *counts_jsonb(List *counts);
extern ArrayType *text_array(List *strings);
extern char *hex(const uint8 *bytes, int len);
extern bytea *hash_bytea(const uint8 *hash);
extern List *text_list(ArrayType *arr);

#endif							/* PHOENIX_FORGET_INT_H */
