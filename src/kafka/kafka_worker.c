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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "ingest/emit.h"
#include "kafka/kafka.h"
#include "kafka/kafka_publish.h"
#include "kafka/kafka_worker.h"
#include "common/phoenix.h"
#include "common/plan.h"

#include "kafka/kafka_worker_int.h"


KafkaShared *kafka_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* per-backend: what to tell the worker at commit */
static bool notify_registered = false;
static bool notify_config = false;
static bool notify_outbox = false;

/* worker state */
int	kafka_worker_slot = -1;
static int	my_index = 0;		/* which of the database's workers: 0 publishes */
int	wake_pipe[2] = {-1, -1};
MemoryContext worker_cxt = NULL;
static MemoryContext loop_cxt = NULL;
static bool has_role = false;	/* runs as KAFKA_WORKER_ROLE */

MemoryContext emit_cxt = NULL;
static List *consumers = NIL;	/* Consumer * */
const char *current_subscription = NULL;	/* for error records */
SPIPlanPtr plan_subscription_lock = NULL;
SPIPlanPtr plan_offsets_init = NULL;
SPIPlanPtr plan_offsets_lock = NULL;
static SPIPlanPtr plan_offsets_read = NULL;
SPIPlanPtr plan_offsets_store = NULL;
SPIPlanPtr plan_stats = NULL;
SPIPlanPtr plan_dead_letter = NULL;
SPIPlanPtr plan_state = NULL;

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
static bool worker_become_role(void);
static uint32 slot_generation(void);
static bool take_outbox_flag(void);
static void worker_reload(uint32 generation);
static List *load_subscriptions(void);
static Consumer *consumer_try_start(Subscription *sub);
static Consumer *consumer_start(Subscription *sub, MemoryContext cxt);
static void consumer_reset_cb(void *arg);
static void worker_close_consumers(int code, Datum arg);
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
						 rd_kafka_topic_partition_list_t *parts, void *opaque);
static void assign_stored_offsets(Consumer *c, rd_kafka_topic_partition_list_t *parts);

/*
 * GUCs; with shared_preload_libraries also shared memory and the launcher.
 */
void
KafkaWorkerInit(void)
{

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

	kafka_worker_slot = DatumGetInt32(arg) / KAFKA_MAX_WORKERS;
	my_index = DatumGetInt32(arg) % KAFKA_MAX_WORKERS;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	dboid = kafka_shared->slots[kafka_worker_slot].dboid;
	kafka_shared->slots[kafka_worker_slot].pid[my_index] = MyProcPid;
	kafka_shared->slots[kafka_worker_slot].latch[my_index] = MyLatch;
	LWLockRelease(kafka_shared->lock);
	on_shmem_exit(worker_detach, (Datum) 0);
	if (dboid == InvalidOid)
		proc_exit(0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	has_role = worker_become_role();
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
		kafka_timeout_disarm();
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

/*
 * Who the worker is for the rest of its life: the role phoenix_kafka
 * (NOLOGIN, created with the extension, holding only what the worker's own
 * statements need), with search_path pinned to pg_catalog, pg_temp above
 * any database or role setting, so that no object in another schema (a
 * writable public's `unnest(int[])`) is ever picked for a name.  PostgreSQL
 * 15 lets a background worker connect only as a role that may log in, so
 * it connects as the bootstrap superuser and changes its user at once,
 * outside any transaction: every transaction then starts, and after an
 * error returns, as phoenix_kafka.  Events themselves go through emit_bulk
 * with the extension owner's rights, as a writer's emit_batch does
 * (kafka_apply.c).  Returns false when the role does not exist (the
 * extension is not installed in this cluster): the worker then runs
 * nothing.
 */
static bool
worker_become_role(void)
{
	Oid			roleid;

	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	StartTransactionCommand();
	roleid = get_role_oid(KAFKA_WORKER_ROLE, true);
	CommitTransactionCommand();
	if (!OidIsValid(roleid))
		return false;
	SetUserIdAndSecContext(roleid, SECURITY_LOCAL_USERID_CHANGE);
	return true;
}

static void
worker_detach(int code, Datum arg)
{
	if (kafka_shared == NULL || kafka_worker_slot < 0)
		return;
	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	if (kafka_shared->slots[kafka_worker_slot].pid[my_index] == MyProcPid)
	{
		kafka_shared->slots[kafka_worker_slot].pid[my_index] = 0;
		kafka_shared->slots[kafka_worker_slot].latch[my_index] = NULL;
	}
	LWLockRelease(kafka_shared->lock);
}

/* Whether a commit wrote to an outbox since we last asked (and clear it). */
static bool
take_outbox_flag(void)
{
	bool		dirty;

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	dirty = kafka_shared->slots[kafka_worker_slot].outbox_dirty;
	kafka_shared->slots[kafka_worker_slot].outbox_dirty = false;
	LWLockRelease(kafka_shared->lock);
	return dirty;
}

static uint32
slot_generation(void)
{
	uint32		g;

	LWLockAcquire(kafka_shared->lock, LW_SHARED);
	g = kafka_shared->slots[kafka_worker_slot].generation;
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
	kafka_timeout_arm();
	/* no extension or role, or one from before Kafka support: nothing to run */
	if (!has_role || !OidIsValid(get_extension_oid("phoenix", true)) ||
		!OidIsValid(get_relname_relid("kafka_subscriptions", get_namespace_oid(PHOENIX_SCHEMA, true))))
	{
		subs = NIL;
		publishing = false;
	}
	else
	{
		subs = load_subscriptions();
		/* one publisher per database keeps each key's changes in order */
		publishing = my_index == 0 && publish_reload(worker_cxt, wake_pipe[1]);
	}
	kafka_timeout_disarm();
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
		idle &= kafka_shared->slots[kafka_worker_slot].generation == generation;
		changed = kafka_shared->slots[kafka_worker_slot].subscribed != (subs != NIL);
		if (my_index == 0 || idle)
			kafka_shared->slots[kafka_worker_slot].subscribed = subs != NIL;
		if (idle && my_index == 0)
			kafka_shared->slots[kafka_worker_slot].wanted = false;
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
		Consumer   *c;
		ListCell   *lc2;

		foreach(lc2, consumers)
			if (strcmp(((Consumer *) lfirst(lc2))->sub.fingerprint, sub->fingerprint) == 0)
				running = true;
		if (!running && (c = consumer_try_start(sub)) != NULL)
			consumers = lappend(consumers, c);
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
		/* checked when the consumer starts, where a refusal stops only it */
		sub->options_json = isnull ? NULL : DatumGetJsonbPCopy(d);
		sub->max_bytes = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		sub->fingerprint = SPI_getvalue(tup, desc, 11);
		result = lappend(result, sub);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * Start a subscription's consumer, outside any transaction.  When that
 * fails (options written into the catalog directly that Phoenix refuses, a
 * broker list librdkafka cannot read), the reason is recorded in the
 * subscription's state and the others run: one bad row never stops the
 * worker.  It is tried again at the next configuration change.
 */
static Consumer *
consumer_try_start(Subscription *sub)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(worker_cxt, "phoenix kafka consumer",
											  ALLOCSET_SMALL_SIZES);
	Consumer   *volatile c = NULL;
	ErrorData  *edata = NULL;

	PG_TRY();
	{
		c = consumer_start(sub, cxt);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	if (edata == NULL)
		return c;
	MemoryContextDelete(cxt);
	ereport(LOG,
			(errmsg("phoenix kafka: subscription \"%s\" cannot start: %s", sub->name, edata->message)));
	record_state(sub->name, edata->message, false, NULL);
	FreeErrorData(edata);
	return NULL;
}

/*
 * A consumer in its own memory context: deleting the context destroys
 * pending messages, then the client (reset callbacks run last-in first-out).
 */
static Consumer *
consumer_start(Subscription *sub, MemoryContext cxt)
{
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
	options = list_concat(options, kafka_options_from_jsonb(sub->options_json, what, false));
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
			kafka_timeout_disarm();
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

void
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
