/*
 * kafka_fdw.c — the phoenix_kafka foreign-data wrapper: a Kafka topic as a
 * foreign table, for interactive SQL over streams.
 *
 * A server holds brokers and librdkafka options, a user mapping may add
 * options (credentials), a foreign table names a topic.  Columns are matched
 * by name: partition, offset, key, value, timestamp, headers.  Conditions on
 * partition (=, IN) and offset (=, <, <=, >, >=) with constants restrict what
 * is fetched; every condition is still checked locally.  A scan reads each
 * selected partition from its start offset up to the high watermark taken at
 * scan start, and then ends, however fast producers write.
 */
#include "postgres.h"

#include "common/guc.h"
#include "access/nbtree.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "kafka/kafka.h"
#include "common/phoenix.h"

/* The columns a foreign table may have, matched by name. */
typedef enum KafkaColumn
{
	KCOL_PARTITION,
	KCOL_OFFSET,
	KCOL_KEY,
	KCOL_VALUE,
	KCOL_TIMESTAMP,
	KCOL_HEADERS,
	KCOL_NONE
} KafkaColumn;

static const char *const column_names[] = {
	"partition", "offset", "key", "value", "timestamp", "headers"
};

/*
 * What planning found pushable, kept in fdw_private as a List:
 *   [0] Boolean: partitions restricted?  [1] IntList of partitions
 *   [2] String: lowest offset (inclusive)  [3] String: highest (exclusive)
 */
typedef struct KafkaPushdown
{
	bool		has_partitions;
	List	   *partitions;		/* IntList; empty + has_partitions = nothing */
	int64		offset_lo;
	int64		offset_hi;
} KafkaPushdown;

/* Per-partition progress of a scan. */
typedef struct KafkaPartitionScan
{
	int32		partition;
	int64		next;			/* first offset wanted */
	int64		end;			/* high watermark at scan start */
	bool		done;
} KafkaPartitionScan;

typedef struct KafkaScanState
{
	MemoryContext cxt;			/* owns the client: freed on reset/abort */
	char	   *topic;
	char	   *brokers;
	List	   *options;		/* DefElem: server + user mapping options */
	char	   *what;			/* "foreign table \"x\"" */
	KafkaPushdown push;
	KafkaColumn *columns;		/* per attribute */
	FmgrInfo   *infuncs;		/* input functions for key/value */
	Oid		   *ioparams;
	Oid		   *typids;
	KafkaClient *client;		/* NULL until the first row is asked for */
	KafkaPartitionScan *parts;
	int			nparts;
	int			remaining;
} KafkaScanState;

PG_FUNCTION_INFO_V1(phoenix_kafka_fdw_handler);
PG_FUNCTION_INFO_V1(phoenix_kafka_fdw_validator);

static void kafkaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
static void kafkaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
static ForeignScan *kafkaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
										ForeignPath *best_path, List *tlist, List *scan_clauses,
										Plan *outer_plan);
static void kafkaExplainForeignScan(ForeignScanState *node, ExplainState *es);
static void kafkaBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *kafkaIterateForeignScan(ForeignScanState *node);
static void kafkaReScanForeignScan(ForeignScanState *node);
static void kafkaEndForeignScan(ForeignScanState *node);

static KafkaColumn column_kind(const char *attname);
static List *user_mapping_options(Oid serverid);
static void check_column_types(Relation rel);
static KafkaPushdown extract_pushdown(RelOptInfo *baserel, Relation rel);
static void push_partitions(KafkaPushdown *push, List *values);
static List *pushdown_to_list(KafkaPushdown *push);
static KafkaPushdown pushdown_from_list(List *l);
static bool const_int64(Node *node, int64 *value);
static void scan_start(KafkaScanState *st);
static void fill_slot(KafkaScanState *st, TupleTableSlot *slot, rd_kafka_message_t *msg);
static Datum bytes_datum(KafkaScanState *st, int attno, const void *data, size_t len);
static Datum headers_datum(rd_kafka_message_t *msg);

/*
 * FDW handler: planning and execution callbacks.
 */
Datum
phoenix_kafka_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *r = makeNode(FdwRoutine);

	r->GetForeignRelSize = kafkaGetForeignRelSize;
	r->GetForeignPaths = kafkaGetForeignPaths;
	r->GetForeignPlan = kafkaGetForeignPlan;
	r->ExplainForeignScan = kafkaExplainForeignScan;
	r->BeginForeignScan = kafkaBeginForeignScan;
	r->IterateForeignScan = kafkaIterateForeignScan;
	r->ReScanForeignScan = kafkaReScanForeignScan;
	r->EndForeignScan = kafkaEndForeignScan;
	PG_RETURN_POINTER(r);
}

/*
 * Validator: server and user mapping options are librdkafka properties
 * (plus brokers on the server), each checked by librdkafka itself; a foreign
 * table takes topic only.
 */
Datum
phoenix_kafka_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;
	bool		has_topic = false;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (catalog == ForeignTableRelationId)
		{
			if (strcmp(d->defname, "topic") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("invalid option \"%s\" for a phoenix_kafka foreign table", d->defname),
						 errhint("A foreign table takes only \"topic\"; librdkafka options belong to the server or user mapping.")));
			if (defGetString(d)[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"topic\" must not be empty")));
			has_topic = true;
		}
		else if (catalog == ForeignServerRelationId || catalog == UserMappingRelationId)
		{
			const char *what = catalog == ForeignServerRelationId ? "a phoenix_kafka server"
				: "a phoenix_kafka user mapping";

			if (catalog == ForeignServerRelationId && strcmp(d->defname, "brokers") == 0)
				continue;
			kafka_check_option(d->defname, defGetString(d), what);
			kafka_check_option_setter(d->defname, what);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("phoenix_kafka takes no options here"),
					 errhint("Options go on the server (brokers, librdkafka properties), user mapping or foreign table (topic).")));
	}
	if (catalog == ForeignTableRelationId && !has_topic)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a phoenix_kafka foreign table needs the option \"topic\"")));
	PG_RETURN_VOID();
}

static KafkaColumn
column_kind(const char *attname)
{
	for (int i = 0; i < KCOL_NONE; i++)
		if (strcmp(attname, column_names[i]) == 0)
			return (KafkaColumn) i;
	return KCOL_NONE;
}

/*
 * Column names and types are checked when the table is first planned: a
 * typo then fails with a hint instead of silently yielding NULLs.
 */
static void
check_column_types(Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		KafkaColumn k;
		bool		ok;

		if (att->attisdropped)
			continue;
		k = column_kind(NameStr(att->attname));
		switch (k)
		{
			case KCOL_PARTITION:
				ok = att->atttypid == INT4OID || att->atttypid == INT8OID;
				break;
			case KCOL_OFFSET:
				ok = att->atttypid == INT8OID;
				break;
			case KCOL_TIMESTAMP:
				ok = att->atttypid == TIMESTAMPTZOID;
				break;
			case KCOL_HEADERS:
				ok = att->atttypid == JSONBOID;
				break;
			case KCOL_KEY:
			case KCOL_VALUE:
				ok = true;		/* text, jsonb, bytea or any type with text input */
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
						 errmsg("column \"%s\" of foreign table \"%s\" is not a Kafka message field",
								NameStr(att->attname), RelationGetRelationName(rel)),
						 errhint("Columns are matched by name: partition, offset, key, value, timestamp, headers.")));
		}
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" of foreign table \"%s\" has type %s",
							NameStr(att->attname), RelationGetRelationName(rel),
							format_type_be(att->atttypid)),
					 errhint("Use integer or bigint for partition, bigint for offset, timestamptz for timestamp and jsonb for headers.")));
	}
}

static void
kafkaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Relation	rel = table_open(foreigntableid, NoLock);
	KafkaPushdown *push = palloc(sizeof(KafkaPushdown));

	check_column_types(rel);
	*push = extract_pushdown(baserel, rel);
	table_close(rel, NoLock);
	baserel->fdw_private = push;

	/* a guess: a bounded offset range says how much we read */
	if (push->has_partitions && push->partitions == NIL)
		baserel->rows = 0;
	else if (push->offset_hi != PG_INT64_MAX && push->offset_lo >= 0)
		baserel->rows = Max(1, Min(push->offset_hi - push->offset_lo, 100000)) *
			(push->has_partitions ? list_length(push->partitions) : 1);
	else
		baserel->rows = 10000;
}

static void
kafkaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	/* network cost: a fixed start-up plus a per-message cost */
	Cost		startup = 1000;
	Cost		total = startup + baserel->rows * (cpu_tuple_cost * 10);

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
													   startup, total, NIL, NULL, NULL, NIL));
}

/*
 * Every restriction stays a local qual (so results are right whatever we
 * push); the pushdown only narrows what is fetched.
 */
static ForeignScan *
kafkaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
					ForeignPath *best_path, List *tlist, List *scan_clauses,
					Plan *outer_plan)
{
	KafkaPushdown *push = (KafkaPushdown *) baserel->fdw_private;

	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid, NIL,
							pushdown_to_list(push), NIL, NIL, outer_plan);
}

/*
 * Pushable conditions: partition = c, partition IN (...), offset op c with
 * op among = < <= > >=, constants of any integer type, either side.
 */
static KafkaPushdown
extract_pushdown(RelOptInfo *baserel, Relation rel)
{
	KafkaPushdown push = {false, NIL, 0, PG_INT64_MAX};
	TupleDesc	tupdesc = RelationGetDescr(rel);
	ListCell   *lc;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *clause = ri->clause;
		Var		   *var = NULL;
		Node	   *other = NULL;
		Oid			opno = InvalidOid;
		bool		var_on_left = true;
		bool		is_array = false;
		KafkaColumn k;
		int			strategy;
		Oid			lefttype,
					righttype;
		int64		value;

		if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
		{
			OpExpr	   *op = (OpExpr *) clause;
			Node	   *l = linitial(op->args),
					   *r = lsecond(op->args);

			opno = op->opno;
			if (IsA(l, Var))
				var = (Var *) l, other = r;
			else if (IsA(r, Var))
				var = (Var *) r, other = l, var_on_left = false;
		}
		else if (IsA(clause, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) clause)->useOr)
		{
			ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) clause;

			opno = op->opno;
			if (IsA(linitial(op->args), Var))
				var = linitial(op->args), other = lsecond(op->args), is_array = true;
		}
		if (var == NULL || var->varno != baserel->relid || var->varattno <= 0 ||
			!IsA(other, Const) || ((Const *) other)->constisnull)
			continue;
		k = column_kind(NameStr(TupleDescAttr(tupdesc, var->varattno - 1)->attname));
		if (k != KCOL_PARTITION && k != KCOL_OFFSET)
			continue;
		/* the integer btree family knows = < <= > >= across int2/4/8 */
		if (!op_in_opfamily(opno, INTEGER_BTREE_FAM_OID))
			continue;
		get_op_opfamily_properties(opno, INTEGER_BTREE_FAM_OID, false,
								   &strategy, &lefttype, &righttype);
		if (!var_on_left)
			strategy = BTCommuteStrategyNumber(strategy);

		if (is_array)
		{
			ArrayType  *arr = DatumGetArrayTypeP(((Const *) other)->constvalue);
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			int16		typlen;
			bool		typbyval;
			char		typalign;
			List	   *values = NIL;

			if (k != KCOL_PARTITION || strategy != BTEqualStrategyNumber)
				continue;
			get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
			deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign,
							  &elems, &nulls, &n);
			for (int i = 0; i < n; i++)
			{
				Const	   *c;

				if (nulls[i])
					continue;
				c = makeConst(ARR_ELEMTYPE(arr), -1, InvalidOid, typlen, elems[i], false, typbyval);
				if (const_int64((Node *) c, &value) && value >= 0 && value <= PG_INT32_MAX)
					values = list_append_unique_int(values, (int) value);
			}
			push_partitions(&push, values);
			continue;
		}
		if (!const_int64(other, &value))
			continue;
		if (k == KCOL_PARTITION)
		{
			if (strategy == BTEqualStrategyNumber)
				push_partitions(&push, (value >= 0 && value <= PG_INT32_MAX)
								? list_make1_int((int) value) : NIL);
			continue;
		}
		switch (strategy)
		{
			case BTEqualStrategyNumber:
				push.offset_lo = Max(push.offset_lo, value);
				push.offset_hi = Min(push.offset_hi, value == PG_INT64_MAX ? value : value + 1);
				break;
			case BTGreaterEqualStrategyNumber:
				push.offset_lo = Max(push.offset_lo, value);
				break;
			case BTGreaterStrategyNumber:
				push.offset_lo = Max(push.offset_lo, value == PG_INT64_MAX ? value : value + 1);
				break;
			case BTLessStrategyNumber:
				push.offset_hi = Min(push.offset_hi, value);
				break;
			case BTLessEqualStrategyNumber:
				push.offset_hi = Min(push.offset_hi, value == PG_INT64_MAX ? value : value + 1);
				break;
		}
	}
	return push;
}

/* Intersect the partitions allowed so far with `values`. */
static void
push_partitions(KafkaPushdown *push, List *values)
{
	if (!push->has_partitions)
		push->partitions = values;
	else
		push->partitions = list_intersection_int(push->partitions, values);
	push->has_partitions = true;
}

static bool
const_int64(Node *node, int64 *value)
{
	Const	   *c = (Const *) node;

	if (!IsA(node, Const) || c->constisnull)
		return false;
	switch (c->consttype)
	{
		case INT2OID:
			*value = DatumGetInt16(c->constvalue);
			return true;
		case INT4OID:
			*value = DatumGetInt32(c->constvalue);
			return true;
		case INT8OID:
			*value = DatumGetInt64(c->constvalue);
			return true;
		default:
			return false;
	}
}

static List *
pushdown_to_list(KafkaPushdown *push)
{
	return list_make4(makeBoolean(push->has_partitions),
					  push->partitions,
					  makeString(psprintf(INT64_FORMAT, push->offset_lo)),
					  makeString(psprintf(INT64_FORMAT, push->offset_hi)));
}

static KafkaPushdown
pushdown_from_list(List *l)
{
	KafkaPushdown push;

	push.has_partitions = boolVal(linitial(l));
	push.partitions = (List *) lsecond(l);
	push.offset_lo = pg_strtoint64(strVal(lthird(l)));
	push.offset_hi = pg_strtoint64(strVal(lfourth(l)));
	return push;
}

/*
 * EXPLAIN shows the topic and what was pushed, so a user can see whether a
 * condition limits the read.
 */
static void
kafkaExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	KafkaPushdown push = pushdown_from_list(plan->fdw_private);
	ForeignTable *ft = GetForeignTable(RelationGetRelid(node->ss.ss_currentRelation));
	ListCell   *lc;

	foreach(lc, ft->options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "topic") == 0)
			ExplainPropertyText("Kafka Topic", defGetString(d), es);
	}
	if (push.has_partitions)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		foreach(lc, push.partitions)
			appendStringInfo(&buf, "%s%d", buf.len ? ", " : "", lfirst_int(lc));
		ExplainPropertyText("Kafka Partitions", buf.len ? buf.data : "none", es);
	}
	if (push.offset_lo > 0 || push.offset_hi != PG_INT64_MAX)
	{
		char	   *range;

		if (push.offset_hi == PG_INT64_MAX)
			range = psprintf(">= " INT64_FORMAT, push.offset_lo);
		else
			range = psprintf(">= " INT64_FORMAT " and < " INT64_FORMAT, push.offset_lo, push.offset_hi);
		ExplainPropertyText("Kafka Offsets", range, es);
	}
}

/*
 * Gather options and column conversions.  The connection is made on the
 * first fetch, so EXPLAIN alone never talks to the cluster.
 */
static void
kafkaBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	ForeignTable *ft;
	ForeignServer *server;
	KafkaScanState *st;
	ListCell   *lc;
	MemoryContext old;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	st = palloc0(sizeof(KafkaScanState));
	st->cxt = AllocSetContextCreate(CurrentMemoryContext, "phoenix_kafka scan",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(st->cxt);
	ft = GetForeignTable(RelationGetRelid(rel));
	server = GetForeignServer(ft->serverid);
	st->what = psprintf("foreign table \"%s\"", RelationGetRelationName(rel));
	foreach(lc, ft->options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "topic") == 0)
			st->topic = defGetString(d);
	}
	foreach(lc, list_concat_copy(server->options, user_mapping_options(ft->serverid)))
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "brokers") == 0)
			st->brokers = defGetString(d);
		else
			st->options = lappend(st->options, d);
	}
	st->push = pushdown_from_list(plan->fdw_private);
	st->columns = palloc(sizeof(KafkaColumn) * tupdesc->natts);
	st->infuncs = palloc0(sizeof(FmgrInfo) * tupdesc->natts);
	st->ioparams = palloc0(sizeof(Oid) * tupdesc->natts);
	st->typids = palloc0(sizeof(Oid) * tupdesc->natts);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		Oid			infunc;

		st->columns[i] = att->attisdropped ? KCOL_NONE : column_kind(NameStr(att->attname));
		st->typids[i] = att->atttypid;
		if (st->columns[i] == KCOL_KEY || st->columns[i] == KCOL_VALUE)
		{
			getTypeInputInfo(att->atttypid, &infunc, &st->ioparams[i]);
			fmgr_info_cxt(infunc, &st->infuncs[i], st->cxt);
		}
	}
	MemoryContextSwitchTo(old);
	node->fdw_state = st;
}

/*
 * Options of the current user's mapping (or PUBLIC's), if there is one: a
 * mapping is optional here, unlike postgres_fdw, since many clusters need no
 * credentials.
 */
static List *
user_mapping_options(Oid serverid)
{
	HeapTuple	tp;
	List	   *options = NIL;
	Datum		datum;
	bool		isnull;

	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(GetUserId()),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		return NIL;
	datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		options = untransformRelOptions(datum);
	ReleaseSysCache(tp);
	return options;
}

/*
 * Connect, learn the partitions and their high watermarks, and assign each
 * selected partition from its first wanted offset.
 */
static void
scan_start(KafkaScanState *st)
{
	MemoryContext old = MemoryContextSwitchTo(st->cxt);
	rd_kafka_conf_t *conf;
	List	   *partitions;
	rd_kafka_topic_partition_list_t *assignment;
	rd_kafka_resp_err_t err;
	ListCell   *lc;
	int			n = 0;

	conf = kafka_make_conf(st->brokers, st->options, st->what);

	/*
	 * assign() wants a group.id although a scan never joins the group nor
	 * commits; end-of-partition events tell where a log ends early.
	 */
	kafka_conf_set_internal(conf, "group.id", "phoenix_kafka_fdw");
	kafka_conf_set_internal(conf, "enable.auto.commit", "false");
	kafka_conf_set_internal(conf, "enable.auto.offset.store", "false");
	kafka_conf_set_internal(conf, "enable.partition.eof", "true");
	st->client = kafka_client_create(RD_KAFKA_CONSUMER, conf, st->cxt, st->what);
	rd_kafka_poll_set_consumer(st->client->rk);

	partitions = kafka_topic_partitions(st->client, st->topic);
	if (st->push.has_partitions)
		partitions = list_intersection_int(partitions, st->push.partitions);
	st->parts = palloc0(sizeof(KafkaPartitionScan) * Max(1, list_length(partitions)));
	foreach(lc, partitions)
	{
		KafkaPartitionScan *p = &st->parts[n];
		int64		low,
					high;

		p->partition = lfirst_int(lc);
		kafka_watermarks(st->client, st->topic, p->partition, &low, &high);
		p->next = Max(low, st->push.offset_lo);
		p->end = Min(high, st->push.offset_hi);
		p->done = p->next >= p->end;
		if (!p->done)
			st->remaining++;
		n++;
	}
	st->nparts = n;

	assignment = rd_kafka_topic_partition_list_new(Max(1, st->remaining));
	for (int i = 0; i < n; i++)
		if (!st->parts[i].done)
			rd_kafka_topic_partition_list_add(assignment, st->topic, st->parts[i].partition)->offset =
				st->parts[i].next;
	err = rd_kafka_assign(st->client->rk, assignment);
	rd_kafka_topic_partition_list_destroy(assignment);
	if (err)
		kafka_report(st->client, err, psprintf("could not read Kafka topic \"%s\"", st->topic));
	MemoryContextSwitchTo(old);
}

static KafkaPartitionScan *
scan_partition(KafkaScanState *st, int32 partition)
{
	for (int i = 0; i < st->nparts; i++)
		if (st->parts[i].partition == partition)
			return &st->parts[i];
	return NULL;
}

/*
 * Next message below the high watermarks, in arrival order.  Polls are
 * short and interrupts are served between them; no progress for
 * phoenix.kafka_timeout ends the statement with an error.
 */
static TupleTableSlot *
kafkaIterateForeignScan(ForeignScanState *node)
{
	KafkaScanState *st = (KafkaScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	TimestampTz waiting_since = GetCurrentTimestamp();

	ExecClearTuple(slot);
	if (st->client == NULL)
		scan_start(st);

	while (st->remaining > 0)
	{
		rd_kafka_message_t *msg;
		KafkaPartitionScan *p;

		CHECK_FOR_INTERRUPTS();
		msg = rd_kafka_consumer_poll(st->client->rk, KAFKA_POLL_MS);
		if (msg == NULL)
		{
			if (TimestampDifferenceExceeds(waiting_since, GetCurrentTimestamp(), kafka_timeout_ms))
				kafka_report(st->client, RD_KAFKA_RESP_ERR__TIMED_OUT,
							 psprintf("timed out reading Kafka topic \"%s\"", st->topic));
			continue;
		}
		st->client->msg = msg;	/* freed by the client if we ERROR below */
		p = scan_partition(st, msg->partition);
		if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		{
			/* the log ends before the watermark (compaction, aborted txns) */
			if (p && !p->done)
				p->done = true, st->remaining--;
		}
		else if (msg->err)
		{
			rd_kafka_resp_err_t err = msg->err;

			if (err != RD_KAFKA_RESP_ERR__TRANSPORT && err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN &&
				err != RD_KAFKA_RESP_ERR__RESOLVE)
				kafka_report(st->client, err,
							 psprintf("could not read Kafka topic \"%s\"", st->topic));
			/* transient: librdkafka reconnects; the deadline bounds the wait */
		}
		else if (p && !p->done && msg->offset < p->end)
		{
			fill_slot(st, slot, msg);
			if (msg->offset + 1 >= p->end)
				p->done = true, st->remaining--;
			st->client->msg = NULL;
			rd_kafka_message_destroy(msg);
			return slot;
		}
		else if (p && !p->done)
			p->done = true, st->remaining--;
		st->client->msg = NULL;
		rd_kafka_message_destroy(msg);
		waiting_since = GetCurrentTimestamp();
	}
	return slot;
}

/* Turn a message into a virtual tuple, converting fields by column type. */
static void
fill_slot(KafkaScanState *st, TupleTableSlot *slot, rd_kafka_message_t *msg)
{
	TupleDesc	tupdesc = slot->tts_tupleDescriptor;
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		rd_kafka_timestamp_type_t tstype;
		int64		ms;

		nulls[i] = false;
		switch (st->columns[i])
		{
			case KCOL_PARTITION:
				values[i] = st->typids[i] == INT8OID ? Int64GetDatum(msg->partition)
					: Int32GetDatum(msg->partition);
				break;
			case KCOL_OFFSET:
				values[i] = Int64GetDatum(msg->offset);
				break;
			case KCOL_KEY:
				nulls[i] = msg->key == NULL;
				if (!nulls[i])
					values[i] = bytes_datum(st, i, msg->key, msg->key_len);
				break;
			case KCOL_VALUE:
				nulls[i] = msg->payload == NULL;
				if (!nulls[i])
					values[i] = bytes_datum(st, i, msg->payload, msg->len);
				break;
			case KCOL_TIMESTAMP:
				ms = rd_kafka_message_timestamp(msg, &tstype);
				nulls[i] = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ms < 0;
				if (!nulls[i])
					values[i] = TimestampTzGetDatum(time_t_to_timestamptz(ms / 1000) + (ms % 1000) * 1000);
				break;
			case KCOL_HEADERS:
				values[i] = headers_datum(msg);
				break;
			default:
				nulls[i] = true;
		}
	}
	ExecStoreVirtualTuple(slot);
}

/*
 * Key or value bytes as the column's type: bytea as is, anything else
 * through the type's input function after an encoding check (input
 * functions trust their input to be valid in the server encoding).
 */
static Datum
bytes_datum(KafkaScanState *st, int attno, const void *data, size_t len)
{
	char	   *s;

	if (st->typids[attno] == BYTEAOID)
	{
		bytea	   *b = palloc(VARHDRSZ + len);

		SET_VARSIZE(b, VARHDRSZ + len);
		memcpy(VARDATA(b), data, len);
		return PointerGetDatum(b);
	}
	s = pnstrdup(data, len);
	if (strlen(s) != len || !pg_verifymbstr(s, len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("Kafka message at %s/%d/" INT64_FORMAT " is not valid %s text",
						st->topic, st->client->msg->partition, st->client->msg->offset,
						GetDatabaseEncodingName()),
				 errhint("Declare the column as bytea to read binary keys and values.")));
	return InputFunctionCall(&st->infuncs[attno], s, st->ioparams[attno], -1);
}

/* Headers as a jsonb object {name: value}; a repeated name keeps the last. */
static Datum
headers_datum(rd_kafka_message_t *msg)
{
	rd_kafka_headers_t *hdrs = NULL;
	JsonbParseState *state = NULL;
	JsonbValue *res;
	const char *name;
	const void *val;
	size_t		size;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
		{
			JsonbValue	k,
						v;
			char	   *s;

			k.type = jbvString;
			k.val.string.val = pstrdup(name);
			k.val.string.len = strlen(name);
			pushJsonbValue(&state, WJB_KEY, &k);
			if (val == NULL)
				v.type = jbvNull;
			else
			{
				/* binary header values are shown as \x hex, like bytea */
				s = pnstrdup(val, size);
				if (strlen(s) != size || !pg_verifymbstr(s, size, true))
				{
					StringInfoData hex;

					initStringInfo(&hex);
					appendStringInfoString(&hex, "\\x");
					for (size_t j = 0; j < size; j++)
						appendStringInfo(&hex, "%02x", ((const unsigned char *) val)[j]);
					s = hex.data;
				}
				v.type = jbvString;
				v.val.string.val = s;
				v.val.string.len = strlen(s);
			}
			pushJsonbValue(&state, WJB_VALUE, &v);
		}
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* Start over: a fresh client on the next fetch (new watermarks). */
static void
kafkaReScanForeignScan(ForeignScanState *node)
{
	KafkaScanState *st = (KafkaScanState *) node->fdw_state;

	if (st->client)
		kafka_client_close(st->client);
	st->client = NULL;
	st->remaining = 0;
	st->nparts = 0;
}

static void
kafkaEndForeignScan(ForeignScanState *node)
{
	KafkaScanState *st = (KafkaScanState *) node->fdw_state;

	/* deleting the context runs the client's reset callback */
	if (st)
		MemoryContextDelete(st->cxt);
}
