/*
 * kafka_worker.c — the Kafka background workers: a launcher that keeps one
 * worker per database with subscriptions or publications, and that worker,
 * which consumes batches into the event log exactly once.
 *
 * Exactly once: a batch's events and the next offset of every partition in
 * it are written in ONE transaction (phoenix.kafka_offsets); on assignment
 * the consumer seeks to the stored offsets, and inside the batch transaction
 * the offset rows are locked and any message below the stored offset is
 * skipped, so neither a crash at any instant nor a rebalance (another member
 * of the group applying the same partition) can apply a message twice or
 * skip one.  Kafka's own committed offsets are not used.
 *
 * The worker never holds a transaction while it waits on the network:
 * messages are collected with non-blocking polls, then applied.  Waiting is
 * WaitLatchOrSocket on a pipe librdkafka writes to when a consumer queue
 * becomes non-empty, so SIGTERM, SIGHUP and configuration changes are served
 * at once.  An ERROR is recorded in phoenix.kafka_subscription_state and
 * ends the worker; the launcher restarts it with exponential backoff.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "emit.h"
#include "kafka.h"
#include "kafka_publish.h"
#include "kafka_worker.h"
#include "phoenix.h"
#include "plan.h"

/*
 * Most appliers per database (phoenix.kafka_workers): each is a member of
 * every subscription's consumer group, so the group spreads partitions over
 * them, and each commits a partition's offsets with that partition's events.
 */
#define KAFKA_MAX_WORKERS	8

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
	List	   *options;		/* DefElem */
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

/* GUCs */
static int	kafka_max_databases = 8;
static int	kafka_batch_size = 5000;
static int	kafka_workers = 1;
static int	kafka_max_message_bytes = 1048576;
static int	kafka_restart_delay = 1;
static int	kafka_max_restart_delay = 60;
static int	kafka_error_interval = 5;

static KafkaShared *kafka_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* per-backend: what to tell the worker at commit */
static bool notify_registered = false;
static bool notify_config = false;
static bool notify_outbox = false;

/* worker state */
static int	my_slot = -1;
static int	my_index = 0;		/* which of the database's workers: 0 publishes */
static int	wake_pipe[2] = {-1, -1};
static MemoryContext worker_cxt = NULL;
static MemoryContext loop_cxt = NULL;

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
static MemoryContext emit_cxt = NULL;
static List *consumers = NIL;	/* Consumer * */
static const char *current_subscription = NULL;	/* for error records */
static SPIPlanPtr plan_subscription_lock = NULL;
static SPIPlanPtr plan_offsets_init = NULL;
static SPIPlanPtr plan_offsets_lock = NULL;
static SPIPlanPtr plan_offsets_read = NULL;
static SPIPlanPtr plan_offsets_store = NULL;
static SPIPlanPtr plan_stats = NULL;
static SPIPlanPtr plan_dead_letter = NULL;
static SPIPlanPtr plan_state = NULL;

static void kafka_shmem_request(void);
static void kafka_shmem_startup(void);
static Size kafka_shmem_size(void);
static KafkaDbSlot *slot_for(Oid dboid, bool create);
static void notify_xact_callback(XactEvent event, void *arg);
static void launcher_register(void);
static void launcher_tend(KafkaDbSlot *s, int i, int k, BackgroundWorkerHandle **h,
						  TimestampTz now, long *wait_ms);
static List *database_list(void);
static int	backoff_ms(int failures);
static void worker_detach(int code, Datum arg);
static uint32 slot_generation(void);
static bool take_outbox_flag(void);
static void worker_reload(uint32 generation);
static List *load_subscriptions(void);
static Consumer *consumer_start(Subscription *sub);
static void consumer_reset_cb(void *arg);
static void worker_close_consumers(int code, Datum arg);
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
						 rd_kafka_topic_partition_list_t *parts, void *opaque);
static void assign_stored_offsets(Consumer *c, rd_kafka_topic_partition_list_t *parts);
static void drop_pending(Consumer *c, rd_kafka_topic_partition_list_t *parts);
static bool consume_batch(Consumer *c);
static void apply_batch(Consumer *c);
static void apply_messages(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
						   int64 *accepted, int64 *dead);
static void apply_slice(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
						int64 *accepted, int64 *dead);
static const char *message_event_type(Consumer *c, rd_kafka_message_t *msg, const char *raw);
static char *header_text(rd_kafka_message_t *msg, const char *name);
static char *payload_field(const char *raw, int len, const char *field);
static bool json_parses(const char *raw, int len);
static void dead_letter(Consumer *c, rd_kafka_message_t *msg, const char *event_type,
						const char *reason, const char *sqlstate);
static void record_state(const char *subscription, const char *error, bool with_assignment,
						 rd_kafka_topic_partition_list_t *assignment);
static void record_client_errors(Consumer *c);
static Datum int4_array(int32 *values, int n);
static Datum int8_array(int64 *values, int n);
static void drain_pipe(void);
static char *message_position(Consumer *c, rd_kafka_message_t *msg);

/*
 * GUCs; with shared_preload_libraries also shared memory and the launcher.
 */
void
KafkaWorkerInit(void)
{
	DefineCustomIntVariable("phoenix.kafka_max_databases",
							"Databases that may have a Kafka worker at the same time.",
							"One background worker per database with subscriptions or publications; each takes a max_worker_processes slot.",
							&kafka_max_databases, 8, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_batch_size",
							"Most Kafka messages applied in one transaction per subscription.",
							NULL, &kafka_batch_size, 5000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_workers",
							"Background workers per database that apply Kafka subscriptions.",
							"Each joins every subscription's consumer group, which spreads the topic's partitions over them; only the first publishes.",
							&kafka_workers, 1, 1, KAFKA_MAX_WORKERS,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_max_message_bytes",
							"Largest Kafka message a subscription accepts; larger ones are dead-lettered.",
							"A subscription's max_message_bytes overrides it.",
							&kafka_max_message_bytes, 1048576, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_restart_delay",
							"First delay before a failed Kafka worker is restarted; doubles with each failure.",
							NULL, &kafka_restart_delay, 1, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_max_restart_delay",
							"Longest delay before a failed Kafka worker is restarted.",
							NULL, &kafka_max_restart_delay, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("phoenix.kafka_error_interval",
							"Shortest interval between two broker errors recorded for one subscription.",
							"Broker errors (connection refused, ...) are retried by librdkafka; they are written to phoenix.subscription_status at most this often.",
							&kafka_error_interval, 5, 0, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	MarkGUCPrefixReserved("phoenix");

	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = kafka_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = kafka_shmem_startup;
	launcher_register();
}

bool
kafka_worker_available(void)
{
	return kafka_shared != NULL;
}

static Size
kafka_shmem_size(void)
{
	return add_size(offsetof(KafkaShared, slots),
					mul_size(sizeof(KafkaDbSlot), kafka_max_databases));
}

static void
kafka_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(kafka_shmem_size());
	RequestNamedLWLockTranche("phoenix_kafka", 1);
}

static void
kafka_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	kafka_shared = ShmemInitStruct("phoenix_kafka", kafka_shmem_size(), &found);
	if (!found)
	{
		memset(kafka_shared, 0, kafka_shmem_size());
		kafka_shared->lock = &(GetNamedLWLockTranche("phoenix_kafka"))->lock;
		kafka_shared->nslots = kafka_max_databases;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The slot of a database (taking a free one when `create`); lock held. */
static KafkaDbSlot *
slot_for(Oid dboid, bool create)
{
	KafkaDbSlot *free_slot = NULL;

	for (int i = 0; i < kafka_shared->nslots; i++)
	{
		KafkaDbSlot *s = &kafka_shared->slots[i];

		if (s->dboid == dboid)
			return s;
		if (s->dboid == InvalidOid && free_slot == NULL)
			free_slot = s;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(KafkaDbSlot));
	free_slot->dboid = dboid;
	return free_slot;
}

/*
 * Called from the catalog trigger and the outbox trigger: remember to wake
 * the worker when (and only if) the transaction commits.
 */
void
kafka_notify_worker(bool config_changed)
{
	if (!notify_registered)
	{
		RegisterXactCallback(notify_xact_callback, NULL);
		notify_registered = true;
	}
	if (config_changed)
		notify_config = true;
	else
		notify_outbox = true;
}

static void
notify_xact_callback(XactEvent event, void *arg)
{
	KafkaDbSlot *s;

	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		notify_config = notify_outbox = false;
		return;
	}
	if (event != XACT_EVENT_COMMIT || (!notify_config && !notify_outbox) || kafka_shared == NULL)
		return;

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	s = slot_for(MyDatabaseId, notify_config);
	if (s != NULL)
	{
		if (notify_config)
		{
			s->generation++;
			s->wanted = true;
			s->next_start = 0;
			if (kafka_shared->launcher_latch)
				SetLatch(kafka_shared->launcher_latch);
		}
		if (notify_outbox)
			s->outbox_dirty = true;
		for (int k = 0; k < KAFKA_MAX_WORKERS; k++)
			if (s->latch[k])
				SetLatch(s->latch[k]);
	}
	LWLockRelease(kafka_shared->lock);
	if (s == NULL && notify_config)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no Kafka worker slot is free for database %u", MyDatabaseId),
				 errhint("Raise phoenix.kafka_max_databases and restart the server.")));
	notify_config = notify_outbox = false;
}

/* ---------------------------------------------------------------- launcher */

static void
launcher_register(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "phoenix");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "phoenix_kafka_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "phoenix kafka launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "phoenix kafka launcher");
	RegisterBackgroundWorker(&bgw);
}

/*
 * The launcher: at start it asks every database (a worker that finds
 * nothing to do exits at once and is not asked again until a subscription
 * or publication is created there); then it keeps a worker running for each
 * database that wants one, restarting failed ones with backoff.
 */
void
phoenix_kafka_launcher_main(Datum arg)
{
	BackgroundWorkerHandle **handles;
	List	   *dbs;
	ListCell   *lc;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("phoenix kafka launcher");

	handles = MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) *
									 kafka_shared->nslots * KAFKA_MAX_WORKERS);
	dbs = database_list();
	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	kafka_shared->launcher_latch = MyLatch;
	foreach(lc, dbs)
	{
		KafkaDbSlot *s = slot_for(lfirst_oid(lc), true);

		if (s)
			s->wanted = true;
	}
	LWLockRelease(kafka_shared->lock);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		wait_ms = 10000;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < kafka_shared->nslots; i++)
		{
			KafkaDbSlot *s = &kafka_shared->slots[i];
			BackgroundWorkerHandle **h = &handles[i * KAFKA_MAX_WORKERS];
			bool		any = false;

			if (s->dboid == InvalidOid)
				continue;
			for (int k = 0; k < KAFKA_MAX_WORKERS; k++)
			{
				launcher_tend(s, i, k, &h[k], now, &wait_ms);
				any |= h[k] != NULL;
			}
			if (!s->wanted && !any)
				s->dboid = InvalidOid;
		}
		LWLockRelease(kafka_shared->lock);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Worker k of database slot i (lock held): notice that it stopped (counting
 * a failure when it was still wanted), start it when wanted and due, stop
 * it when phoenix.kafka_workers was lowered below k.  Worker 0 runs while
 * the database wants one (it decides when there is nothing left to do);
 * the others only while it has subscriptions (publishing is worker 0's).
 */
static void
launcher_tend(KafkaDbSlot *s, int i, int k, BackgroundWorkerHandle **h,
			  TimestampTz now, long *wait_ms)
{
	pid_t		pid;
	bool		wanted = s->wanted && (k == 0 || (k < kafka_workers && s->subscribed));
	BackgroundWorker bgw;

	if (*h && GetBackgroundWorkerPid(*h, &pid) == BGWH_STOPPED)
	{
		pfree(*h);
		*h = NULL;
		s->pid[k] = 0;
		s->latch[k] = NULL;
		if (wanted)
		{
			/* it died wanting to run: an error (recorded) or a kill */
			s->failures++;
			s->next_start = TimestampTzPlusMilliseconds(now, backoff_ms(s->failures));
		}
	}
	if (*h && !wanted && k > 0)
		TerminateBackgroundWorker(*h);
	if (!wanted || *h != NULL)
		return;
	if (s->next_start > now)
	{
		*wait_ms = Min(*wait_ms, Max(10, TimestampDifferenceMilliseconds(now, s->next_start)));
		return;
	}
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "phoenix");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "phoenix_kafka_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "phoenix kafka worker %d for database %u", k, s->dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "phoenix kafka worker");
	bgw.bgw_main_arg = Int32GetDatum(i * KAFKA_MAX_WORKERS + k);
	bgw.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&bgw, h))
	{
		*h = NULL;
		s->next_start = TimestampTzPlusMilliseconds(now, 1000);
		*wait_ms = Min(*wait_ms, 1000);
		ereport(LOG,
				(errmsg("phoenix kafka launcher could not start a worker for database %u", s->dboid),
				 errhint("Raise max_worker_processes.")));
	}
}

/* Databases that accept connections (a transaction over pg_database). */
static List *
database_list(void)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate)
			continue;
		old = MemoryContextSwitchTo(TopMemoryContext);
		result = lappend_oid(result, db->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

static int
backoff_ms(int failures)
{
	int64		ms = (int64) kafka_restart_delay * 1000;

	for (int i = 1; i < failures && ms < (int64) kafka_max_restart_delay * 1000; i++)
		ms *= 2;
	return (int) Min(ms, (int64) kafka_max_restart_delay * 1000);
}

/* ------------------------------------------------------------------ worker */

/*
 * The worker of one database.  Main loop: reload on configuration change,
 * collect and apply one batch per consumer, publish outboxes, else sleep on
 * latch and wake pipe.
 */
void
phoenix_kafka_worker_main(Datum arg)
{
	Oid			dboid;
	volatile uint32 loaded_generation = 0;
	volatile bool loaded = false;

	my_slot = DatumGetInt32(arg) / KAFKA_MAX_WORKERS;
	my_index = DatumGetInt32(arg) % KAFKA_MAX_WORKERS;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	dboid = kafka_shared->slots[my_slot].dboid;
	kafka_shared->slots[my_slot].pid[my_index] = MyProcPid;
	kafka_shared->slots[my_slot].latch[my_index] = MyLatch;
	LWLockRelease(kafka_shared->lock);
	on_shmem_exit(worker_detach, (Datum) 0);
	if (dboid == InvalidOid)
		proc_exit(0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("phoenix kafka worker");
	/* registered after the connection's own: runs first, while it is up */
	before_shmem_exit(worker_close_consumers, (Datum) 0);

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "phoenix kafka worker",
									   ALLOCSET_DEFAULT_SIZES);
	if (pipe(wake_pipe) != 0 ||
		fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK) != 0 ||
		fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the Kafka worker's wake-up pipe: %m")));

	loop_cxt = AllocSetContextCreate(worker_cxt, "phoenix kafka loop", ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		for (;;)
		{
			uint32		generation;
			bool		busy = false;
			ListCell   *lc;

			/* everything of one round lives in loop_cxt */
			MemoryContextSwitchTo(loop_cxt);
			MemoryContextReset(loop_cxt);
			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}
			generation = slot_generation();
			if (!loaded || generation != loaded_generation)
			{
				worker_reload(generation);
				loaded_generation = generation;
				loaded = true;
			}

			foreach(lc, consumers)
				busy |= consume_batch((Consumer *) lfirst(lc));
			if (my_index == 0)
				busy |= publish_step(take_outbox_flag());

			if (!busy)
			{
				pgstat_report_activity(STATE_IDLE, NULL);
				(void) WaitLatchOrSocket(MyLatch,
										 WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
										 wake_pipe[0], 1000, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				drain_pipe();
			}
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* record the error where operators look, then let the launcher restart us */
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(worker_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		if (current_subscription)
			record_state(current_subscription, edata->message, false, NULL);
		RESUME_INTERRUPTS();
		ReThrowError(edata);
	}
	PG_END_TRY();
}

static void
worker_detach(int code, Datum arg)
{
	if (kafka_shared == NULL || my_slot < 0)
		return;
	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	if (kafka_shared->slots[my_slot].pid[my_index] == MyProcPid)
	{
		kafka_shared->slots[my_slot].pid[my_index] = 0;
		kafka_shared->slots[my_slot].latch[my_index] = NULL;
	}
	LWLockRelease(kafka_shared->lock);
}

/* Whether a commit wrote to an outbox since we last asked (and clear it). */
static bool
take_outbox_flag(void)
{
	bool		dirty;

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	dirty = kafka_shared->slots[my_slot].outbox_dirty;
	kafka_shared->slots[my_slot].outbox_dirty = false;
	LWLockRelease(kafka_shared->lock);
	return dirty;
}

static uint32
slot_generation(void)
{
	uint32		g;

	LWLockAcquire(kafka_shared->lock, LW_SHARED);
	g = kafka_shared->slots[my_slot].generation;
	LWLockRelease(kafka_shared->lock);
	return g;
}

/*
 * Bring consumers (and publishers) in line with the catalog.  The
 * generation was read before the catalog, so a change committed meanwhile
 * is seen next time round.  With nothing to do the worker exits — unless a
 * change arrived since, which the generation tells.
 */
static void
worker_reload(uint32 generation)
{
	List	   *subs;
	List	   *kept = NIL;
	List	   *old_consumers;
	ListCell   *lc;
	bool		publishing;

	MemoryContext old = CurrentMemoryContext;

	pgstat_report_activity(STATE_RUNNING, "phoenix kafka: loading configuration");
	SetCurrentStatementStartTimestamp();	/* see kafka_txn_begin */
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	/* no extension, or one from before Kafka support: nothing to run */
	if (!OidIsValid(get_extension_oid("phoenix", true)) ||
		!OidIsValid(get_relname_relid("kafka_subscriptions", get_namespace_oid(PHOENIX_SCHEMA, true))))
	{
		subs = NIL;
		publishing = false;
	}
	else
	{
		subs = load_subscriptions();
		/* one publisher per database keeps each key's changes in order */
		publishing = my_index == 0 && publish_reload(worker_cxt);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(old);

	/*
	 * Whether the database has subscriptions (the launcher then runs the
	 * other workers) and whether this worker has anything to do; when not
	 * (and no change arrived meanwhile, as the generation tells), it says so
	 * and exits, which the launcher does not count as a failure.
	 */
	{
		bool		idle = subs == NIL && !publishing;
		bool		changed;

		LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
		idle &= kafka_shared->slots[my_slot].generation == generation;
		changed = kafka_shared->slots[my_slot].subscribed != (subs != NIL);
		if (my_index == 0 || idle)
			kafka_shared->slots[my_slot].subscribed = subs != NIL;
		if (idle && my_index == 0)
			kafka_shared->slots[my_slot].wanted = false;
		LWLockRelease(kafka_shared->lock);
		if ((changed || idle) && kafka_shared->launcher_latch)
			SetLatch(kafka_shared->launcher_latch);
		if (idle)
			proc_exit(0);
	}

	/* the consumer list outlives this round: it lives in worker_cxt */
	MemoryContextSwitchTo(worker_cxt);

	/* stop consumers whose subscription went away, changed or was paused */
	foreach(lc, consumers)
	{
		Consumer   *c = (Consumer *) lfirst(lc);
		bool		same = false;
		ListCell   *lc2;

		foreach(lc2, subs)
			if (strcmp(((Subscription *) lfirst(lc2))->fingerprint, c->sub.fingerprint) == 0)
				same = true;
		if (same)
			kept = lappend(kept, c);
		else
			MemoryContextDelete(c->cxt);
	}
	old_consumers = consumers;
	consumers = kept;
	foreach(lc, subs)
	{
		Subscription *sub = (Subscription *) lfirst(lc);
		bool		running = false;
		ListCell   *lc2;

		foreach(lc2, consumers)
			if (strcmp(((Consumer *) lfirst(lc2))->sub.fingerprint, sub->fingerprint) == 0)
				running = true;
		if (!running)
			consumers = lappend(consumers, consumer_start(sub));
	}
	list_free(old_consumers);
	MemoryContextSwitchTo(old);
}

/* Enabled subscriptions, copied into worker_cxt.  Inside a transaction. */
static List *
load_subscriptions(void)
{
	List	   *result = NIL;
	int			ret;

	SPI_connect();
	ret = SPI_execute("SELECT name, topic, event_type, event_type_header, event_type_field,"
					  " event_id_header, brokers, group_id, options,"
					  " coalesce(max_message_bytes, 0), md5(row(s.*)::text)"
					  " FROM phoenix.kafka_subscriptions s WHERE enabled ORDER BY name",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(worker_cxt);
		Subscription *sub = palloc0(sizeof(Subscription));
		bool		isnull;
		Datum		d;

		sub->name = SPI_getvalue(tup, desc, 1);
		sub->topic = SPI_getvalue(tup, desc, 2);
		sub->event_type = SPI_getvalue(tup, desc, 3);
		sub->type_header = SPI_getvalue(tup, desc, 4);
		sub->type_field = SPI_getvalue(tup, desc, 5);
		sub->id_header = SPI_getvalue(tup, desc, 6);
		sub->brokers = SPI_getvalue(tup, desc, 7);
		sub->group_id = SPI_getvalue(tup, desc, 8);
		d = SPI_getbinval(tup, desc, 9, &isnull);
		sub->options = kafka_options_from_jsonb(isnull ? NULL : DatumGetJsonbP(d),
												psprintf("subscription \"%s\"", sub->name));
		sub->max_bytes = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		sub->fingerprint = SPI_getvalue(tup, desc, 11);
		result = lappend(result, sub);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * A consumer in its own memory context: deleting the context destroys
 * pending messages, then the client (reset callbacks run last-in first-out).
 */
static Consumer *
consumer_start(Subscription *sub)
{
	MemoryContext cxt = AllocSetContextCreate(worker_cxt, "phoenix kafka consumer",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Consumer   *c = palloc0(sizeof(Consumer));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	char	   *what = psprintf("subscription \"%s\"", sub->name);
	List	   *options;
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t err;

	c->cxt = cxt;
	c->sub = *sub;
	c->source = psprintf("kafka:%s", sub->name);
	c->topic_len = strlen(sub->topic);
	c->maxpending = kafka_batch_size;
	c->pending = palloc(sizeof(rd_kafka_message_t *) * c->maxpending);

	/* our defaults first, so that the subscription's options override them */
	options = list_make2(makeDefElem("auto.offset.reset", (Node *) makeString("earliest"), -1),
						 makeDefElem("session.timeout.ms", (Node *) makeString("10000"), -1));
	options = list_concat(options, sub->options);
	conf = kafka_make_conf(sub->brokers, options, what);
	kafka_conf_set_internal(conf, "group.id", sub->group_id);
	kafka_conf_set_internal(conf, "enable.auto.commit", "false");
	kafka_conf_set_internal(conf, "enable.auto.offset.store", "false");
	kafka_conf_set_internal(conf, "enable.partition.eof", "false");
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	c->client = kafka_client_create(RD_KAFKA_CONSUMER, conf, cxt, what);
	c->client->owner = c;
	cb->func = consumer_reset_cb;
	cb->arg = c;
	MemoryContextRegisterResetCallback(cxt, cb);

	rd_kafka_poll_set_consumer(c->client->rk);
	c->client->queue = rd_kafka_queue_get_consumer(c->client->rk);
	rd_kafka_queue_io_event_enable(c->client->queue, wake_pipe[1], "c", 1);

	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, sub->topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(c->client->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err)
		kafka_report(c->client, err, psprintf("could not subscribe %s to topic \"%s\"", what, sub->topic));
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * The consumer goes (its subscription changed or went away, or the worker
 * exits): free the collected messages, then leave the group, so that the
 * other members take over its partitions at once.  The client's own reset
 * callback destroys the handle afterwards.
 */
static void
consumer_reset_cb(void *arg)
{
	Consumer   *c = (Consumer *) arg;

	for (int i = 0; i < c->npending; i++)
		rd_kafka_message_destroy(c->pending[i]);
	c->npending = 0;
	c->closing = true;
	kafka_consumer_close(c->client, KAFKA_CLOSE_MS);
}

/*
 * Exit (SIGTERM, an ERROR, nothing left to do): close every consumer as
 * above.  Runs before the transaction is aborted but touches no table.
 */
static void
worker_close_consumers(int code, Datum arg)
{
	ListCell   *lc;

	foreach(lc, consumers)
		MemoryContextDelete(((Consumer *) lfirst(lc))->cxt);
	consumers = NIL;
}

/*
 * Called inside rd_kafka_consumer_poll (never inside a transaction).  On
 * assignment, seek to the offsets stored in phoenix.kafka_offsets; on
 * revocation, forget collected messages of the revoked partitions (their
 * new owner reads them from the stored offsets).  An ERROR here must not
 * unwind through librdkafka: it is caught, kept, and re-thrown by the
 * main loop.
 */
static void
rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	KafkaClient *client = (KafkaClient *) opaque;
	Consumer   *c = (Consumer *) client->owner;
	bool		cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && c->closing)
	{
		/* leaving: take nothing (this may run while exiting, outside any transaction) */
		if (cooperative)
			rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
		else
			rd_kafka_assign(rk, NULL);
	}
	else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
	{
		MemoryContext old = CurrentMemoryContext;

		PG_TRY();
		{
			assign_stored_offsets(c, parts);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(c->cxt);
			c->failure = CopyErrorData();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			MemoryContextSwitchTo(old);
		}
		PG_END_TRY();
		if (c->failure)
			return;				/* the main loop re-throws; nothing is assigned */
		if (cooperative)
			rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
	}
	else
	{
		drop_pending(c, parts);
		if (cooperative)
			rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
		else
			rd_kafka_assign(rk, NULL);
	}
}

/* Set each partition's start to its stored next offset, in a short transaction. */
static void
assign_stored_offsets(Consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	int32	   *ids = palloc(sizeof(int32) * Max(1, parts->cnt));
	Datum		args[3];
	int			ret;
	MemoryContext old;

	for (int i = 0; i < parts->cnt; i++)
	{
		ids[i] = parts->elems[i].partition;
		parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;	/* auto.offset.reset */
	}
	old = kafka_txn_begin();
	if (plan_offsets_read == NULL)
		plan_offsets_read = phoenix_prepare_kept("SELECT partition, next_offset FROM phoenix.kafka_offsets"
									  " WHERE group_id = $1 AND topic = $2 AND partition = ANY ($3)",
									  3, (Oid[]) {TEXTOID, TEXTOID, INT4ARRAYOID}, "the offset read");
	args[0] = CStringGetTextDatum(c->sub.group_id);
	args[1] = CStringGetTextDatum(c->sub.topic);
	args[2] = int4_array(ids, parts->cnt);
	ret = SPI_execute_plan(plan_offsets_read, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int32		p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		int64		next = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		for (int i = 0; i < parts->cnt; i++)
			if (parts->elems[i].partition == p)
				parts->elems[i].offset = next;
	}
	kafka_txn_commit(old);
	record_state(c->sub.name, NULL, true, parts);
}

static void
drop_pending(Consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	int			kept = 0;

	for (int i = 0; i < c->npending; i++)
	{
		rd_kafka_message_t *m = c->pending[i];

		if (parts == NULL || rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt), m->partition))
			rd_kafka_message_destroy(m);
		else
			c->pending[kept++] = m;
	}
	c->npending = kept;
}

/*
 * Collect what the consumer has (no waiting) up to phoenix.kafka_batch_size
 * and apply it.  Returns whether anything was consumed.
 */
static bool
consume_batch(Consumer *c)
{
	current_subscription = c->sub.name;
	if (c->maxpending < kafka_batch_size)
	{
		c->pending = repalloc(c->pending, sizeof(rd_kafka_message_t *) * kafka_batch_size);
		c->maxpending = kafka_batch_size;
	}
	while (c->npending < Min(c->maxpending, kafka_batch_size))
	{
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->client->rk, 0);

		if (msg == NULL)
			break;
		if (msg->err)
		{
			rd_kafka_resp_err_t err = msg->err;

			rd_kafka_message_destroy(msg);
			if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				continue;
			if (err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
				err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
				kafka_report(c->client, err, psprintf("subscription \"%s\" cannot consume", c->sub.name));
			/* transient (broker down, ...): librdkafka retries; we record it */
			snprintf(c->client->last_error, sizeof(c->client->last_error), "%s", rd_kafka_err2str(err));
			continue;
		}
		c->pending[c->npending++] = msg;
	}
	if (c->failure)
		ReThrowError(c->failure);
	record_client_errors(c);
	if (c->npending == 0)
		return false;
	apply_batch(c);
	return true;
}

/*
 * One transaction: lock the group's offset rows of the batch's partitions,
 * skip what is already applied, emit the rest partition by partition, store
 * the new offsets and counters, commit.  Only then are the messages freed.
 */
static void
apply_batch(Consumer *c)
{
	int			nparts = 0;
	int32	   *parts = palloc(sizeof(int32) * c->npending);
	int		   *msg_part = palloc(sizeof(int) * c->npending);	/* index in parts[] */
	int		   *fill;
	int64	   *stored;
	int64	   *next;
	int64	   *hw;
	int64	   *accepted;
	int64	   *dead;
	rd_kafka_message_t **run;	/* the messages to apply */
	int		   *run_part;		/* their partitions' indexes in parts[] */
	int			nrun = 0;
	Datum		args[9];
	int			ret;
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix kafka batch",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	/*
	 * The batch's partitions, in order of first appearance.  librdkafka
	 * hands out each fetch response's messages of a partition together, so
	 * the previous message's partition is tried first.
	 */
	for (int i = 0, j = -1; i < c->npending; i++)
	{
		int32		p = c->pending[i]->partition;

		if (j < 0 || parts[j] != p)
		{
			for (j = 0; j < nparts && parts[j] != p; j++)
				;
			if (j == nparts)
				parts[nparts++] = p;
		}
		msg_part[i] = j;
	}
	stored = palloc(sizeof(int64) * nparts);
	next = palloc(sizeof(int64) * nparts);
	hw = palloc(sizeof(int64) * nparts);
	accepted = palloc0(sizeof(int64) * nparts);
	dead = palloc0(sizeof(int64) * nparts);

	pgstat_report_activity(STATE_RUNNING, psprintf("phoenix kafka: applying %d messages of subscription %s",
												   c->npending, c->sub.name));
	old = kafka_txn_begin();
	MemoryContextSwitchTo(batch_cxt);

	if (plan_offsets_init == NULL)
	{
		plan_subscription_lock = phoenix_prepare_kept("SELECT 1 FROM phoenix.kafka_subscriptions WHERE name = $1 FOR KEY SHARE",
													  1, (Oid[]) {TEXTOID}, "the subscription lock");
		plan_offsets_init = phoenix_prepare_kept("INSERT INTO phoenix.kafka_offsets (group_id, topic, partition, next_offset)"
									  " SELECT $1, $2, p, 0 FROM unnest($3::int[]) p"
									  " ON CONFLICT DO NOTHING",
									  3, (Oid[]) {TEXTOID, TEXTOID, INT4ARRAYOID}, "the offset initialisation");
		plan_offsets_lock = phoenix_prepare_kept("SELECT partition, next_offset FROM phoenix.kafka_offsets"
									  " WHERE group_id = $1 AND topic = $2 AND partition = ANY ($3)"
									  " ORDER BY partition FOR UPDATE",
									  3, (Oid[]) {TEXTOID, TEXTOID, INT4ARRAYOID}, "the offset lock");
		plan_offsets_store = phoenix_prepare_kept("UPDATE phoenix.kafka_offsets o SET next_offset = v.n, updated_at = now()"
									   " FROM unnest($3::int[], $4::bigint[]) v(p, n)"
									   " WHERE o.group_id = $1 AND o.topic = $2 AND o.partition = v.p"
									   "   AND v.n > o.next_offset",
									   4, (Oid[]) {TEXTOID, TEXTOID, INT4ARRAYOID, INT8ARRAYOID}, "the offset update");
		plan_stats = phoenix_prepare_kept("INSERT INTO phoenix.kafka_partition_stats AS s"
							   " (subscription, partition, high_watermark, accepted, dead_lettered, batches, rate, last_batch_at)"
							   " SELECT $1, v.p, v.hw, v.a, v.d, 1, NULL, now()"
							   "   FROM unnest($2::int[], $3::bigint[], $4::bigint[], $5::bigint[]) v(p, hw, a, d)"
							   " ON CONFLICT (subscription, partition) DO UPDATE SET"
							   "  high_watermark = greatest(s.high_watermark, excluded.high_watermark),"
							   "  accepted = s.accepted + excluded.accepted,"
							   "  dead_lettered = s.dead_lettered + excluded.dead_lettered,"
							   "  batches = s.batches + 1,"
							   "  rate = (excluded.accepted + excluded.dead_lettered)"
							   "         / greatest(extract(epoch FROM now() - s.last_batch_at), 0.001)"
							   "         * 0.3 + coalesce(s.rate, 0) * 0.7,"
							   "  last_batch_at = now()",
							   5, (Oid[]) {TEXTOID, INT4ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}, "the partition counters");
	}
	/*
	 * The subscription's row first (drop_subscription deletes it before the
	 * offsets): a drop then waits for this batch, or this batch for the drop
	 * and finds the subscription gone, and the two never deadlock.
	 */
	args[0] = CStringGetTextDatum(c->sub.name);
	ret = SPI_execute_plan(plan_subscription_lock, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		/* dropped meanwhile: apply nothing; the reload stops the consumer */
		kafka_txn_commit(old);
		MemoryContextDelete(batch_cxt);
		drop_pending(c, NULL);
		return;
	}

	args[0] = CStringGetTextDatum(c->sub.group_id);
	args[1] = CStringGetTextDatum(c->sub.topic);
	args[2] = int4_array(parts, nparts);
	ret = SPI_execute_plan(plan_offsets_init, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	/* the row lock serializes members of one group on a partition */
	ret = SPI_execute_plan(plan_offsets_lock, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != nparts)
		elog(ERROR, "could not lock the offsets of subscription \"%s\"", c->sub.name);
	for (int j = 0; j < nparts; j++)
	{
		bool		isnull;
		int32		p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1, &isnull));
		int64		v = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &isnull));

		for (int k = 0; k < nparts; k++)
			if (parts[k] == p)
				stored[k] = v;
	}

	/*
	 * Messages arrive in offset order per partition.  The new ones of all
	 * partitions go to emit together, partition after partition, so that
	 * emit's fixed cost per call is paid per EMIT_SLICE messages rather
	 * than per partition (a batch of 5000 over 32 partitions has runs of
	 * about 150).
	 */
	run = palloc(sizeof(rd_kafka_message_t *) * c->npending);
	run_part = palloc(sizeof(int) * c->npending);
	/* a counting sort by partition, stable: fill[j] is where j's next goes */
	fill = palloc0(sizeof(int) * (nparts + 1));
	for (int i = 0; i < c->npending; i++)
		if (c->pending[i]->offset >= stored[msg_part[i]])
			fill[msg_part[i] + 1]++;
	for (int j = 0; j < nparts; j++)
	{
		fill[j + 1] += fill[j];
		next[j] = stored[j];
	}
	nrun = fill[nparts];
	for (int i = 0; i < c->npending; i++)
	{
		int			j = msg_part[i];

		if (c->pending[i]->offset < stored[j])
			continue;
		next[j] = c->pending[i]->offset + 1;
		run_part[fill[j]] = j;
		run[fill[j]++] = c->pending[i];
	}
	apply_messages(c, run, run_part, nrun, accepted, dead);
	for (int j = 0; j < nparts; j++)
	{
		int64		lo;

		if (rd_kafka_get_watermark_offsets(c->client->rk, c->sub.topic, parts[j], &lo, &hw[j]) != RD_KAFKA_RESP_ERR_NO_ERROR)
			hw[j] = next[j];
		hw[j] = Max(hw[j], next[j]);
	}

	args[3] = int8_array(next, nparts);
	ret = SPI_execute_plan(plan_offsets_store, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	args[0] = CStringGetTextDatum(c->sub.name);
	args[1] = int4_array(parts, nparts);
	args[2] = int8_array(hw, nparts);
	args[3] = int8_array(accepted, nparts);
	args[4] = int8_array(dead, nparts);
	ret = SPI_execute_plan(plan_stats, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));

	kafka_txn_commit(old);
	MemoryContextDelete(batch_cxt);

	for (int i = 0; i < c->npending; i++)
		rd_kafka_message_destroy(c->pending[i]);
	c->npending = 0;

	/* a good batch ends the backoff series */
	if (kafka_shared->slots[my_slot].failures != 0)
	{
		LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
		kafka_shared->slots[my_slot].failures = 0;
		LWLockRelease(kafka_shared->lock);
	}
}

/*
 * Emit messages (in offset order per partition), EMIT_SLICE at a time, each
 * slice in emit_cxt (reset after it; see EMIT_SLICE).  part[i] is the index
 * of message i's partition in accepted[] and dead[], which count outcomes.
 */
static void
apply_messages(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
			   int64 *accepted, int64 *dead)
{
	if (emit_cxt == NULL)
		emit_cxt = AllocSetContextCreate(worker_cxt, "phoenix kafka emit",
										 EMIT_CXT_KEEP, ALLOCSET_DEFAULT_INITSIZE,
										 ALLOCSET_DEFAULT_MAXSIZE);
	for (int off = 0; off < n; off += EMIT_SLICE)
	{
		MemoryContext old = MemoryContextSwitchTo(emit_cxt);

		apply_slice(c, msgs + off, part + off, Min(EMIT_SLICE, n - off), accepted, dead);
		MemoryContextSwitchTo(old);
		MemoryContextReset(emit_cxt);
	}
}

/*
 * Messages that cannot be events at all (no value, too large, not text) are
 * dead-lettered here; the rest go to emit_bulk, which validates and
 * dead-letters the others and marks them rejected.
 */
static void
apply_slice(Consumer *c, rd_kafka_message_t **msgs, int *part, int n,
			int64 *accepted, int64 *dead)
{
	EmitInput  *inputs = palloc0(sizeof(EmitInput) * n);
	int		   *input_part = palloc(sizeof(int) * n);
	int			ninputs = 0;
	int			max_bytes = c->sub.max_bytes > 0 ? c->sub.max_bytes : kafka_max_message_bytes;

	for (int i = 0; i < n; i++)
	{
		rd_kafka_message_t *m = msgs[i];
		EmitInput  *in = &inputs[ninputs];
		char	   *raw;

		CHECK_FOR_INTERRUPTS();
		if (m->payload == NULL)
		{
			dead_letter(c, m, message_event_type(c, m, NULL), "message has no value (a tombstone)", "22004");
			dead[part[i]]++;
			continue;
		}
		if (m->len > (size_t) max_bytes)
		{
			dead_letter(c, m, message_event_type(c, m, NULL),
						psprintf("message of %zu bytes exceeds the limit of %d bytes", m->len, max_bytes),
						"54000");
			dead[part[i]]++;
			continue;
		}
		/* text: no NUL inside, valid in the database encoding */
		if (memchr(m->payload, '\0', m->len) != NULL ||
			!pg_verifymbstr(m->payload, m->len, true))
		{
			dead_letter(c, m, message_event_type(c, m, NULL),
						psprintf("message is not valid %s text", GetDatabaseEncodingName()), "22021");
			dead[part[i]]++;
			continue;
		}
		raw = palloc(m->len + 1);
		memcpy(raw, m->payload, m->len);
		raw[m->len] = '\0';
		in->raw = raw;
		in->raw_len = m->len;
		in->event_type = message_event_type(c, m, raw);
		if (in->event_type == NULL && c->sub.type_field && !json_parses(raw, m->len))
		{
			/* the type was to come from the payload, which is not JSON */
			dead_letter(c, m, NULL, "message is not valid JSON", "22P02");
			dead[part[i]]++;
			continue;
		}
		in->event_id = c->sub.id_header ? header_text(m, c->sub.id_header) : NULL;
		if (in->event_id == NULL)
		{
			in->event_id = emit_ordered_event_id();
			in->event_id_generated = true;
		}
		in->source = c->source;
		in->source_position = message_position(c, m);
		input_part[ninputs++] = part[i];
	}
	if (ninputs == 0)
		return;
	(void) emit_bulk(inputs, ninputs);
	for (int i = 0; i < ninputs; i++)
	{
		if (inputs[i].rejected)
			dead[input_part[i]]++;
		else
			accepted[input_part[i]]++;
	}
}

/* The event type of a message: header, then payload field, then the fixed one. */
static const char *
message_event_type(Consumer *c, rd_kafka_message_t *msg, const char *raw)
{
	char	   *t;

	if (c->sub.type_header && (t = header_text(msg, c->sub.type_header)) != NULL)
		return t;
	if (c->sub.type_field && raw && (t = payload_field(raw, msg->len, c->sub.type_field)) != NULL)
		return t;
	return c->sub.event_type;
}

/* The last value of a header as text, or NULL (absent, null or not text). */
static char *
header_text(rd_kafka_message_t *msg, const char *name)
{
	rd_kafka_headers_t *hdrs;
	const void *val;
	size_t		size;
	char	   *s;

	if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		val == NULL || size == 0)
		return NULL;
	s = pnstrdup(val, size);
	if (strlen(s) != size || !pg_verifymbstr(s, size, true))
		return NULL;
	return s;
}

/*
 * A top-level string field of a JSON object, found with the server's JSON
 * lexer (no jsonb is built; emit parses the payload once more anyway).
 * NULL when the text is not JSON or the field is absent or not a string.
 */
typedef struct FieldSearch
{
	const char *field;
	int			depth;
	bool		in_field;
	char	   *value;
} FieldSearch;

static void
field_object_start(void *state)
{
	((FieldSearch *) state)->depth++;
}

static void
field_object_end(void *state)
{
	((FieldSearch *) state)->depth--;
}

static void
field_start(void *state, char *fname, bool isnull)
{
	FieldSearch *fs = (FieldSearch *) state;

	fs->in_field = fs->depth == 1 && strcmp(fname, fs->field) == 0;
}

static void
field_scalar(void *state, char *token, JsonTokenType tokentype)
{
	FieldSearch *fs = (FieldSearch *) state;

	if (fs->in_field && fs->value == NULL && tokentype == JSON_TOKEN_STRING)
		fs->value = token;
	fs->in_field = false;
}

static bool
json_parses(const char *raw, int len)
{
	JsonSemAction sem;

	memset(&sem, 0, sizeof(sem));
	return pg_parse_json(makeJsonLexContextCstringLen((char *) raw, len, GetDatabaseEncoding(), false),
						 &sem) == JSON_SUCCESS;
}

static char *
payload_field(const char *raw, int len, const char *field)
{
	FieldSearch fs = {field, 0, false, NULL};
	JsonSemAction sem;
	JsonLexContext *lex;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &fs;
	sem.object_start = field_object_start;
	sem.object_end = field_object_end;
	sem.object_field_start = field_start;
	sem.scalar = field_scalar;
	lex = makeJsonLexContextCstringLen((char *) raw, len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return NULL;
	return fs.value;
}

/*
 * A message that cannot even be offered to emit: into phoenix.dead_letters
 * with the reason, its topic/partition/offset and as much of the raw value
 * as is text (an oversized value is cut to its first kilobyte).
 */
static void
dead_letter(Consumer *c, rd_kafka_message_t *msg, const char *event_type,
			const char *reason, const char *sqlstate)
{
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	StringInfoData raw;
	int			ret;

	if (plan_dead_letter == NULL)
		plan_dead_letter = phoenix_prepare_kept("INSERT INTO phoenix.dead_letters"
									 " (event_type, event_id, raw, reason, sqlstate, source, source_position)"
									 " VALUES ($1, $2, $3, $4, $5, $6, $7)",
									 7, (Oid[]) {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}, "the Kafka dead letter insert");
	initStringInfo(&raw);
	if (msg->payload != NULL)
	{
		size_t		keep = Min(msg->len, 1024);
		char	   *s = pnstrdup(msg->payload, keep);

		if (strlen(s) == keep && pg_verifymbstr(s, keep, true))
			appendBinaryStringInfo(&raw, s, keep);
		else
		{
			/* not text: keep it as bytea-style hex */
			appendStringInfoString(&raw, "\\x");
			for (size_t i = 0; i < Min(msg->len, 512); i++)
				appendStringInfo(&raw, "%02x", ((unsigned char *) msg->payload)[i]);
		}
	}
	args[0] = event_type ? CStringGetTextDatum(event_type) : (Datum) 0;
	nulls[0] = event_type ? ' ' : 'n';
	if (c->sub.id_header && header_text(msg, c->sub.id_header))
		args[1] = CStringGetTextDatum(header_text(msg, c->sub.id_header));
	else
		nulls[1] = 'n';
	args[2] = CStringGetTextDatum(raw.data);
	args[3] = CStringGetTextDatum(reason);
	args[4] = CStringGetTextDatum(sqlstate);
	args[5] = CStringGetTextDatum(c->source);
	args[6] = CStringGetTextDatum(message_position(c, msg));
	ret = SPI_execute_plan(plan_dead_letter, args, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/*
 * Broker errors librdkafka reported (and retries by itself) go to the
 * status view, at most every phoenix.kafka_error_interval.
 */
static void
record_client_errors(Consumer *c)
{
	TimestampTz now;

	if (c->client->last_error[0] == '\0')
		return;
	now = GetCurrentTimestamp();
	if (c->error_recorded_at != 0 &&
		!TimestampDifferenceExceeds(c->error_recorded_at, now, kafka_error_interval * 1000))
		return;
	record_state(c->sub.name, c->client->last_error, false, NULL);
	c->error_recorded_at = now;
	c->client->last_error[0] = '\0';
}

/*
 * Upsert the subscription's state row in its own short transaction (not
 * inside a batch: an error must be recorded even when the batch failed).
 */
static void
record_state(const char *subscription, const char *error, bool with_assignment,
			 rd_kafka_topic_partition_list_t *assignment)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int32	   *ids = NULL;
	int			n = assignment ? assignment->cnt : 0;
	int			ret;
	MemoryContext old = CurrentMemoryContext;

	PG_TRY();
	{
		(void) kafka_txn_begin();
		if (plan_state == NULL)
			plan_state = phoenix_prepare_kept("INSERT INTO phoenix.kafka_subscription_state AS s"
								   " (subscription, last_error, last_error_at, assigned, assigned_at)"
								   " SELECT name, $2, CASE WHEN $2 IS NOT NULL THEN now() END,"
								   "        CASE WHEN $3 THEN $4 END, CASE WHEN $3 THEN now() END"
								   "   FROM phoenix.kafka_subscriptions WHERE name = $1"
								   " ON CONFLICT (subscription) DO UPDATE SET"
								   "  last_error = coalesce(excluded.last_error, s.last_error),"
								   "  last_error_at = coalesce(excluded.last_error_at, s.last_error_at),"
								   "  assigned = CASE WHEN $3 THEN excluded.assigned ELSE s.assigned END,"
								   "  assigned_at = CASE WHEN $3 THEN excluded.assigned_at ELSE s.assigned_at END",
								   4, (Oid[]) {TEXTOID, TEXTOID, BOOLOID, INT4ARRAYOID}, "the subscription state");
		ids = palloc(sizeof(int32) * Max(1, n));
		for (int i = 0; i < n; i++)
			ids[i] = assignment->elems[i].partition;
		args[0] = CStringGetTextDatum(subscription);
		args[1] = error ? CStringGetTextDatum(error) : (Datum) 0;
		nulls[1] = error ? ' ' : 'n';
		args[2] = BoolGetDatum(with_assignment);
		args[3] = int4_array(ids, n);
		ret = SPI_execute_plan(plan_state, args, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		kafka_txn_commit(old);
	}
	PG_CATCH();
	{
		/* the state is informative: log and go on rather than loop on errors */
		MemoryContextSwitchTo(old);
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
}

static Datum
int4_array(int32 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(1, n));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

static Datum
int8_array(int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(1, n));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static void
drain_pipe(void)
{
	char		buf[256];

	while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
		;
}

/*
 * "topic/partition/offset", the source position of a message (without
 * psprintf's format parsing: this runs for every message).
 */
static char *
message_position(Consumer *c, rd_kafka_message_t *msg)
{
	int			topic_len = c->topic_len;
	char	   *out = palloc(topic_len + 2 * (MAXINT8LEN + 1) + 1);
	char	   *o = out + topic_len;

	memcpy(out, c->sub.topic, topic_len);
	*o++ = '/';
	o += pg_ltoa(msg->partition, o);
	*o++ = '/';
	o += pg_lltoa(msg->offset, o);
	*o = '\0';
	return out;
}
