/*
 * live_rows.c — a watched projection announces its inserted and changed rows
 * after commit (the Universal API's projectionRows subscription).
 *
 * phoenix.enable_live_rows() attaches phoenix.live_rows_notify() to a
 * projection's table as an AFTER INSERT OR UPDATE row trigger, the first
 * time someone subscribes.  The trigger only collects the row's key (the
 * column named by its argument) and change_seq, per table, for the
 * transaction; just before commit they go out as NOTIFY
 * phoenix_live_rows_<table oid> with payloads {"k":[keys],"s":[change_seqs]}
 * of at most LIVE_PAYLOAD_MAX bytes.  NOTIFY is transactional, so nothing of
 * a transaction that rolls back is ever announced; a NOTIFY carries no row
 * data, which the API reads back with the subscriber's own privileges.
 *
 * Collecting and sending once per transaction (rather than a NOTIFY per row
 * from the trigger) keeps a batch or a cascade of thousands of rows to a few
 * notifications, and keeps rows of an outer transaction from being lost with
 * an aborted subtransaction's notifications.  Rows written by an aborted
 * subtransaction stay in the list: the reader skips keys whose change_seq is
 * not the announced one.
 *
 * A rebuild or a projection's first fill is not news (and would be one
 * announcement per row of the table): rows written while this backend
 * reports COPY progress for the table (fill_from_log) are not collected.
 *
 * Memory: the lists live in TopTransactionContext; the xact callback forgets
 * them at commit and abort.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/progress.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/backend_status.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "projection/live_rows.h"

/* NOTIFY payloads must stay under 8,000 bytes. */
#define LIVE_PAYLOAD_MAX	7800

/* The rows one transaction changed in one watched table. */
typedef struct LiveTable
{
	Oid			relid;
	AttrNumber	key_att;		/* the trigger's key column */
	AttrNumber	seq_att;		/* change_seq */
	List	   *payloads;		/* finished payloads (char *) */
	StringInfoData keys;		/* the current payload's "k" elements */
	StringInfoData seqs;		/* ... and its "s" elements */
	int			n;				/* rows in the current payload */
} LiveTable;

static List *live_tables = NIL;	/* of LiveTable *, in TopTransactionContext */

PG_FUNCTION_INFO_V1(phoenix_live_rows_notify);

static LiveTable *live_table(Relation rel, const char *key_column);
static void live_add(LiveTable *t, const char *key, int64 seq);
static void live_finish_payload(LiveTable *t);
static bool rebuilding(Oid relid);
static void live_rows_xact_cb(XactEvent event, void *arg);

void
LiveRowsInit(void)
{
	RegisterXactCallback(live_rows_xact_cb, NULL);
}

/*
 * phoenix.live_rows_notify(key_column): AFTER INSERT OR UPDATE, FOR EACH ROW.
 */
Datum
phoenix_live_rows_notify(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	LiveTable  *t;
	Datum		key,
				seq;
	bool		key_null,
				seq_null;
	Oid			typoutput;
	bool		typisvarlena;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || td->tg_trigger->tgnargs != 1 ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("phoenix.live_rows_notify() must be an AFTER INSERT OR UPDATE row trigger with one argument"),
				 errhint("Attach it with phoenix.enable_live_rows(projection).")));
	if (rebuilding(RelationGetRelid(td->tg_relation)))
		return PointerGetDatum(NULL);

	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	t = live_table(td->tg_relation, td->tg_trigger->tgargs[0]);
	key = heap_getattr(tup, t->key_att, RelationGetDescr(td->tg_relation), &key_null);
	seq = heap_getattr(tup, t->seq_att, RelationGetDescr(td->tg_relation), &seq_null);
	if (key_null || seq_null)
		return PointerGetDatum(NULL);	/* primary key and change_seq are NOT NULL */
	getTypeOutputInfo(TupleDescAttr(RelationGetDescr(td->tg_relation), t->key_att - 1)->atttypid,
					  &typoutput, &typisvarlena);
	live_add(t, OidOutputFunctionCall(typoutput, key), DatumGetInt64(seq));
	return PointerGetDatum(NULL);
}

/* The transaction's entry for a table, made on its first row. */
static LiveTable *
live_table(Relation rel, const char *key_column)
{
	Oid			relid = RelationGetRelid(rel);
	ListCell   *lc;
	LiveTable  *t;
	MemoryContext old;

	foreach(lc, live_tables)
	{
		t = lfirst(lc);
		if (t->relid == relid)
			return t;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	t = palloc0(sizeof(LiveTable));
	t->relid = relid;
	t->key_att = get_attnum(relid, key_column);
	t->seq_att = get_attnum(relid, "change_seq");
	if (t->key_att == InvalidAttrNumber || t->seq_att == InvalidAttrNumber ||
		TupleDescAttr(RelationGetDescr(rel), t->seq_att - 1)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" has no column \"%s\" or no bigint change_seq to announce",
						RelationGetRelationName(rel), key_column),
				 errhint("phoenix.live_rows_notify() belongs on projection tables (phoenix.enable_live_rows).")));
	initStringInfo(&t->keys);
	initStringInfo(&t->seqs);
	live_tables = lappend(live_tables, t);
	MemoryContextSwitchTo(old);
	return t;
}

/* Add one row; a payload about to outgrow a NOTIFY is finished first. */
static void
live_add(LiveTable *t, const char *key, int64 seq)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	StringInfoData k;

	initStringInfo(&k);
	escape_json(&k, key);
	/* {"k":[],"s":[]} plus separators and the number's up to 20 digits */
	if (t->n > 0 && t->keys.len + t->seqs.len + k.len + 40 > LIVE_PAYLOAD_MAX)
		live_finish_payload(t);
	if (t->n > 0)
	{
		appendStringInfoChar(&t->keys, ',');
		appendStringInfoChar(&t->seqs, ',');
	}
	appendBinaryStringInfo(&t->keys, k.data, k.len);
	appendStringInfo(&t->seqs, INT64_FORMAT, seq);
	t->n++;
	pfree(k.data);
	MemoryContextSwitchTo(old);
}

static void
live_finish_payload(LiveTable *t)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	t->payloads = lappend(t->payloads, psprintf("{\"k\":[%s],\"s\":[%s]}", t->keys.data, t->seqs.data));
	resetStringInfo(&t->keys);
	resetStringInfo(&t->seqs);
	t->n = 0;
	MemoryContextSwitchTo(old);
}

/* Is this backend filling the table from the log (rebuild, first fill)? */
static bool
rebuilding(Oid relid)
{
	return MyBEEntry != NULL && MyBEEntry->st_progress_command == PROGRESS_COMMAND_COPY &&
		MyBEEntry->st_progress_command_target == relid;
}

/*
 * Before commit (and before PreCommit_Notify, which queues what was
 * notified): one NOTIFY per payload.  At the end of any transaction the
 * lists are gone with TopTransactionContext.
 */
static void
live_rows_xact_cb(XactEvent event, void *arg)
{
	ListCell   *lc,
			   *lp;

	if (event == XACT_EVENT_PRE_COMMIT)
	{
		foreach(lc, live_tables)
		{
			LiveTable  *t = lfirst(lc);
			char		channel[NAMEDATALEN];

			if (t->n > 0)
				live_finish_payload(t);
			snprintf(channel, sizeof(channel), "phoenix_live_rows_%u", t->relid);
			foreach(lp, t->payloads)
				Async_Notify(channel, (const char *) lfirst(lp));
		}
		live_tables = NIL;
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
			 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_PREPARE)
		live_tables = NIL;
}
