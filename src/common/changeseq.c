/*
 * changeseq.c — change numbers of reporting rows and the safe watermark for
 * incremental pulls ("export only up to the oldest running writer").
 *
 * The problem: change_seq comes from a sequence, which hands out numbers when
 * a row is written, not when its transaction commits.  A writer that takes 41
 * and commits after a writer that took 42 makes a pull of "change_seq > 40"
 * that ran in between see 42 but not 41; the next pull, "change_seq > 42",
 * then skips 41 forever.
 *
 * The cure: each backend has a slot in shared memory holding the first change
 * number its current transaction allocated (0 when none).  The slot is set
 * under an exclusive LWLock together with that first nextval, and cleared by
 * the transaction callback after commit or abort (COMMIT callbacks run after
 * the transaction became visible in the proc array).  The watermark, read
 * under the same lock in shared mode, is
 *
 *     min(last number handed out, min over set slots - 1)
 *
 * so every number at or below it belongs to a transaction that has ended.
 * A query whose snapshot is taken after the watermark was computed (a later
 * statement, or phoenix.export, which takes a fresh snapshot) therefore sees
 * every committed row at or below it.
 *
 * Prepared transactions would carry their rows past the end of the backend's
 * transaction, so PREPARE TRANSACTION is refused after a change number was
 * allocated.
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

#include "common/changeseq.h"
#include "common/phoenix.h"
#include "common/relcache.h"

#define CHANGESEQ_TRANCHE	"phoenix_change_seq"
#define CHANGESEQ_SEQUENCE	"change_seq"

typedef struct ChangeSeqShared
{
	LWLock	   *lock;			/* first allocations vs. watermark readers */
	int			nslots;
	pg_atomic_uint64 first_seq[FLEXIBLE_ARRAY_MEMBER];	/* by pgprocno; 0 = idle */
} ChangeSeqShared;

static ChangeSeqShared *shared = NULL;
static bool slot_in_use = false;	/* this backend's slot is set */
static Oid	changeseq_relid_cached = InvalidOid;	/* see changeseq_relid */

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

PG_FUNCTION_INFO_V1(phoenix_next_change_seq);
PG_FUNCTION_INFO_V1(phoenix_safe_change_seq);

static int	changeseq_nslots(void);
static Size changeseq_shmem_size(void);
static void changeseq_shmem_request(void);
static void changeseq_shmem_startup(void);
static void changeseq_xact_callback(XactEvent event, void *arg);
static Oid	changeseq_relid(void);
static void changeseq_relcache_callback(Datum arg, Oid relid);
static int64 changeseq_last_value(Oid seqrelid);

/* SQL: phoenix.next_change_seq() — for reporting rows written from SQL. */
Datum
phoenix_next_change_seq(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(changeseq_next());
}

/* SQL: phoenix.safe_change_seq() — the watermark for incremental pulls. */
Datum
phoenix_safe_change_seq(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(changeseq_safe());
}

/*
 * The next change number.  The first one of a transaction is taken under the
 * exclusive lock and published in this backend's slot before the lock is
 * released, so no watermark reader can see the number handed out without the
 * slot that holds it back.  Later allocations of the same transaction need no
 * lock: the slot already bounds the watermark below them.  Permissions on the
 * sequence are not checked: whoever may write a reporting row may number it.
 */
int64
changeseq_next(void)
{
	Oid			seqrelid = changeseq_relid();
	int64		value;

	if (shared == NULL || slot_in_use)
		return nextval_internal(seqrelid, false);

	/* heavyweight lock first: never wait for one while holding the LWLock */
	LockRelationOid(seqrelid, RowExclusiveLock);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	value = nextval_internal(seqrelid, false);
	pg_atomic_write_u64(&shared->first_seq[MyProc->pgprocno], (uint64) value);
	slot_in_use = true;
	LWLockRelease(shared->lock);
	return value;
}

/*
 * The highest change number below which no transaction is still running.
 * Takes the lock in shared mode, so readers never wait for one another and
 * writers wait only for the length of one nextval.
 */
int64
changeseq_safe(void)
{
	Oid			seqrelid = changeseq_relid();
	int64		watermark;
	int			i;

	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the change_seq watermark needs phoenix in shared_preload_libraries"),
				 errdetail("In-flight writers are tracked in shared memory, which only a preloaded library can have."),
				 errhint("Add phoenix to shared_preload_libraries in postgresql.conf and restart the server.")));

	LockRelationOid(seqrelid, AccessShareLock);
	LWLockAcquire(shared->lock, LW_SHARED);
	watermark = changeseq_last_value(seqrelid);
	for (i = 0; i < shared->nslots; i++)
	{
		uint64		first = pg_atomic_read_u64(&shared->first_seq[i]);

		if (first != 0 && (int64) first - 1 < watermark)
			watermark = (int64) first - 1;
	}
	LWLockRelease(shared->lock);
	return watermark;
}

/*
 * Called from _PG_init.  Shared memory only when preloaded; the transaction
 * callback always (it is what clears the slot, and what refuses PREPARE).
 */
void
ChangeSeqInit(void)
{
	RegisterXactCallback(changeseq_xact_callback, NULL);
	phoenix_relcache_callback(changeseq_relcache_callback, (Datum) 0);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = changeseq_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = changeseq_shmem_startup;
}

/* One slot per PGPROC: every backend, auxiliary process and prepared xact. */
static int
changeseq_nslots(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static Size
changeseq_shmem_size(void)
{
	return add_size(offsetof(ChangeSeqShared, first_seq),
					mul_size(changeseq_nslots(), sizeof(pg_atomic_uint64)));
}

static void
changeseq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(changeseq_shmem_size());
	RequestNamedLWLockTranche(CHANGESEQ_TRANCHE, 1);
}

/* Attach (or create, in the postmaster) the slots; under AddinShmemInitLock. */
static void
changeseq_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("phoenix change_seq", changeseq_shmem_size(), &found);
	if (!found)
	{
		int			i;

		shared->lock = &(GetNamedLWLockTranche(CHANGESEQ_TRANCHE))->lock;
		shared->nslots = changeseq_nslots();
		for (i = 0; i < shared->nslots; i++)
			pg_atomic_init_u64(&shared->first_seq[i], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Clear the slot when the transaction is over.  XACT_EVENT_COMMIT runs after
 * ProcArrayEndTransaction, so by the time a reader no longer sees the slot,
 * every new snapshot sees the transaction's rows.  No lock is needed to clear:
 * a reader that still sees the slot is merely more cautious.
 */
static void
changeseq_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (slot_in_use)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed reporting rows"),
						 errdetail("The change_seq watermark tracks writers by backend, and a prepared transaction outlives it."),
						 errhint("Commit the transaction directly.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (slot_in_use)
			{
				if (shared != NULL)
					pg_atomic_write_u64(&shared->first_seq[MyProc->pgprocno], 0);
				slot_in_use = false;
			}
			break;
		default:
			break;
	}
}

/*
 * The OID of phoenix.change_seq, looked up by name once per backend: every
 * reporting row takes a number, and two catalog lookups a row were 1% of
 * ingest's CPU.  Any invalidation of the sequence (dropped with the
 * extension, recreated) or of the whole relcache forgets it.
 */
static Oid
changeseq_relid(void)
{
	Oid			nsp;
	Oid			relid;

	if (OidIsValid(changeseq_relid_cached))
		return changeseq_relid_cached;
	nsp = get_namespace_oid(PHOENIX_SCHEMA, false);
	relid = get_relname_relid(CHANGESEQ_SEQUENCE, nsp);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sequence %s.%s does not exist", PHOENIX_SCHEMA, CHANGESEQ_SEQUENCE),
				 errhint("Reinstall the phoenix extension.")));
	changeseq_relid_cached = relid;
	return relid;
}

static void
changeseq_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == changeseq_relid_cached)
		changeseq_relid_cached = InvalidOid;
}

/* The last number the sequence handed out, 0 when it has handed out none. */
static int64
changeseq_last_value(Oid seqrelid)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqrelid);
	fcinfo->args[0].isnull = false;
	result = pg_sequence_last_value(fcinfo);
	return fcinfo->isnull ? 0 : DatumGetInt64(result);
}
