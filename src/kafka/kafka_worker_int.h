/*
 * kafka_worker_int.h — internal to kafka/: what the worker's launcher and
 * loop (kafka_worker.c) share with its consumers' batches (kafka_apply.c).
 */
#ifndef PHOENIX_KAFKA_WORKER_INT_H
#define PHOENIX_KAFKA_WORKER_INT_H

#include "postgres.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>
#include "common/guc.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "ingest/emit.h"
#include "kafka/kafka.h"
#include "kafka/kafka_publish.h"
#include "kafka/kafka_worker.h"
#include "common/phoenix.h"
#include "common/plan.h"

/* One database the launcher keeps workers for. */
typedef struct KafkaDbSlot
{
	Oid			dboid;			/* InvalidOid: free */
	bool		wanted;			/* keep a worker running */
	uint32		generation;		/* bumped by every committed config change */
	int			failures;		/* abnormal exits since the last good batch */
	TimestampTz next_start;		/* backoff: not before this */
	bool		outbox_dirty;	/* a commit wrote to a publication outbox */
	bool		subscribed;		/* worker 0 found subscriptions: start the others */
	pid_t		pid[KAFKA_MAX_WORKERS];	/* running workers, or 0 */
	Latch	   *latch[KAFKA_MAX_WORKERS];	/* their latches, or NULL */
} KafkaDbSlot;

typedef struct KafkaShared
{
	LWLock	   *lock;
	Latch	   *launcher_latch;
	int			nslots;
	KafkaDbSlot slots[FLEXIBLE_ARRAY_MEMBER];
} KafkaShared;

/* A subscription as the worker runs it (a row of phoenix.kafka_subscriptions). */
typedef struct Subscription
{
	char	   *name;
	char	   *topic;
	char	   *event_type;
	char	   *type_header;
	char	   *type_field;
	char	   *id_header;
	char	   *brokers;
	char	   *group_id;
	Jsonb	   *options_json;	/* librdkafka options, checked at start */
	int			max_bytes;		/* 0: phoenix.kafka_max_message_bytes */
	char	   *fingerprint;	/* everything above, to notice changes */
} Subscription;

/* A running consumer, with the batch it is collecting. */
typedef struct Consumer
{
	MemoryContext cxt;			/* deleting it closes the client */
	Subscription sub;
	KafkaClient *client;
	char	   *source;			/* "kafka:<name>" */
	int			topic_len;		/* strlen(sub.topic), for source positions */
	rd_kafka_message_t **pending;
	int			npending;
	int			maxpending;
	bool		error_dirty;	/* client->last_error not yet recorded */
	TimestampTz error_recorded_at;
	ErrorData  *failure;		/* an ERROR caught in the rebalance callback */
	bool		closing;		/* leaving the group: no more assignments */
} Consumer;

/*
 * Messages go to emit_bulk in slices of EMIT_SLICE, each in emit_cxt, which
 * is reset after every slice: parsing leaves a few kilobytes of garbage per
 * message that is dead once the slice is written.  The context's first
 * block, which a reset keeps, holds a whole slice of ordinary messages: a
 * context that grows per batch and is freed after it hands its memory back
 * to the C library and the kernel, and the next batch page-faults it in
 * again (about one fault per message).
 */
#define EMIT_SLICE		1000
#define EMIT_CXT_KEEP	(16 * 1024 * 1024)

extern KafkaShared *kafka_shared;
extern int	kafka_worker_slot;
extern int	wake_pipe[2];
extern MemoryContext worker_cxt;
extern MemoryContext emit_cxt;
extern const char *current_subscription;
extern SPIPlanPtr plan_subscription_lock;
extern SPIPlanPtr plan_offsets_init;
extern SPIPlanPtr plan_offsets_lock;
extern SPIPlanPtr plan_offsets_store;
extern SPIPlanPtr plan_stats;
extern SPIPlanPtr plan_dead_letter;
extern SPIPlanPtr plan_state;

extern bool consume_batch(Consumer *c);
extern void record_state(const char *subscription, const char *error, bool with_assignment,
			 rd_kafka_topic_partition_list_t *assignment);
extern Datum int4_array(int32 *values, int n);
extern void drain_pipe(void);
extern void drop_pending(Consumer *c, rd_kafka_topic_partition_list_t *parts);

#endif							/* PHOENIX_KAFKA_WORKER_INT_H */
