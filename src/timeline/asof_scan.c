/*
 * asof_scan.c — phoenix.asof_join(...) in FROM as a custom scan.
 *
 * A set-returning function in FROM is a FunctionScan, which runs the
 * function to completion into a tuplestore and then reads it back: for a
 * million joined rows, writing and re-reading them costs about a quarter of
 * the join.  The as-of join already makes its rows a few hundred at a time
 * (asof_join_next), so when the planner meets a call of it that depends on
 * no other relation of the query (no LATERAL reference), this file offers a
 * custom scan path that returns each row as it is made: the same function,
 * arguments and rows, without the tuplestore.  The function scan path stays
 * available; ours is cheaper by the tuplestore's work, so the planner takes
 * it unless it needs a rescan-friendly plan (it then adds a Material node on
 * top, or keeps the function scan, as costs say).
 *
 * The hook only sees queries planned after the library is loaded; with
 * phoenix in shared_preload_libraries (as documented) that is every query.
 * Otherwise the first queries of a session may still use the function scan,
 * with the same result.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "timeline/asof.h"
#include "timeline/asof_scan.h"

#define ASOF_SCAN_NAME	"PhoenixAsofJoin"

/* Executor state: the function's arguments and the join once started. */
typedef struct AsofScanState
{
	CustomScanState css;
	List	   *args;			/* ExprStates of entity, query, known_at */
	AsofJoin   *join;			/* NULL until the first row is asked for */
} AsofScanState;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

static void asof_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
								  RangeTblEntry *rte);
static bool is_asof_join(Oid funcid);
static bool uses_whole_row(RelOptInfo *rel);
static Plan *asof_plan_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
							List *tlist, List *clauses, List *custom_plans);
static Node *asof_create_state(CustomScan *cscan);
static void asof_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *asof_exec(CustomScanState *node);
static TupleTableSlot *asof_next(ScanState *ss);
static bool asof_recheck(ScanState *ss, TupleTableSlot *slot);
static void asof_end(CustomScanState *node);
static void asof_rescan(CustomScanState *node);
static void asof_start(AsofScanState *state);

static const CustomPathMethods asof_path_methods = {
	.CustomName = ASOF_SCAN_NAME,
	.PlanCustomPath = asof_plan_path,
};

static const CustomScanMethods asof_scan_methods = {
	.CustomName = ASOF_SCAN_NAME,
	.CreateCustomScanState = asof_create_state,
};

static const CustomExecMethods asof_exec_methods = {
	.CustomName = ASOF_SCAN_NAME,
	.BeginCustomScan = asof_begin,
	.ExecCustomScan = asof_exec,
	.EndCustomScan = asof_end,
	.ReScanCustomScan = asof_rescan,
};

void
AsofScanInit(void)
{
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = asof_set_rel_pathlist;
	/* by name, so that plans copied to parallel workers can be read back */
	RegisterCustomScanMethods(&asof_scan_methods);
}

/* ---------- planning ---------- */

/*
 * set_rel_pathlist_hook: beside the function scan of a lone, non-LATERAL
 * phoenix.asof_join(...) call (no ORDINALITY, no whole-row reference), add
 * the custom scan path.  It costs what the function scan costs, less half a
 * tuple's CPU per row for the tuplestore write and read it avoids; it is
 * never parallel (the join runs its own query).
 */
static void
asof_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	RangeTblFunction *rtfunc;
	Path	   *fscan = NULL;
	CustomPath *cpath;
	ListCell   *lc;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);
	if (rte->rtekind != RTE_FUNCTION || rel->reloptkind != RELOPT_BASEREL ||
		rte->funcordinality || list_length(rte->functions) != 1 ||
		!bms_is_empty(rel->lateral_relids))
		return;
	rtfunc = linitial_node(RangeTblFunction, rte->functions);
	if (!IsA(rtfunc->funcexpr, FuncExpr) ||
		!is_asof_join(((FuncExpr *) rtfunc->funcexpr)->funcid) ||
		rtfunc->funccolnames == NIL || uses_whole_row(rel))
		return;
	foreach(lc, rel->pathlist)
	{
		Path	   *path = (Path *) lfirst(lc);

		if (path->pathtype == T_FunctionScan && path->param_info == NULL)
			fscan = path;
	}
	if (fscan == NULL)
		return;

	cpath = makeNode(CustomPath);
	cpath->path.pathtype = T_CustomScan;
	cpath->path.parent = rel;
	cpath->path.pathtarget = rel->reltarget;
	cpath->path.param_info = NULL;
	cpath->path.parallel_aware = false;
	cpath->path.parallel_safe = false;
	cpath->path.parallel_workers = 0;
	cpath->path.rows = fscan->rows;
	cpath->path.startup_cost = fscan->startup_cost;
	cpath->path.total_cost = fscan->total_cost - 0.5 * cpu_tuple_cost * rel->tuples;
	cpath->path.pathkeys = NIL;
	cpath->flags = 0;
	cpath->methods = &asof_path_methods;
	add_path(rel, &cpath->path);
}

/*
 * Is funcid phoenix.asof_join?  Recognized by what it runs (our library's
 * phoenix_asof_join), not by name or a cached OID: nothing to invalidate
 * when the extension is dropped and created again.
 */
static bool
is_asof_join(Oid funcid)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	bool		result = false;

	if (!HeapTupleIsValid(tup))
		return false;
	if (((Form_pg_proc) GETSTRUCT(tup))->prolang == ClanguageId)
	{
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
		Datum		bin;

		if (!isnull && strcmp(TextDatumGetCString(src), "phoenix_asof_join") == 0)
		{
			bin = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
			result = !isnull && strstr(TextDatumGetCString(bin), "phoenix") != NULL;
		}
	}
	ReleaseSysCache(tup);
	return result;
}

/*
 * Does the query use the function's row as a whole (SELECT t FROM ... t)?
 * The scan's tuple lists the columns one by one, so leave those to the
 * function scan.
 */
static bool
uses_whole_row(RelOptInfo *rel)
{
	Bitmapset  *attrs = NULL;
	ListCell   *lc;

	pull_varattnos((Node *) rel->reltarget->exprs, rel->relid, &attrs);
	foreach(lc, rel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause, rel->relid, &attrs);
	return bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);
}

/*
 * The plan: a scan of no relation (scanrelid 0) whose tuple is the
 * function's columns (custom_scan_tlist, so setrefs points the target list
 * and quals at it) and whose custom_exprs are the function's arguments.
 */
static Plan *
asof_plan_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
			   List *tlist, List *clauses, List *custom_plans)
{
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	RangeTblFunction *rtfunc = linitial_node(RangeTblFunction, rte->functions);
	CustomScan *cscan = makeNode(CustomScan);
	List	   *scan_tlist = NIL;
	ListCell   *ltype,
			   *ltypmod,
			   *lcoll;
	AttrNumber	attno = 0;

	forthree(ltype, rtfunc->funccoltypes, ltypmod, rtfunc->funccoltypmods,
			 lcoll, rtfunc->funccolcollations)
	{
		Var		   *var = makeVar(rel->relid, ++attno, lfirst_oid(ltype),
								  lfirst_int(ltypmod), lfirst_oid(lcoll), 0);

		scan_tlist = lappend(scan_tlist, makeTargetEntry((Expr *) var, attno, NULL, false));
	}
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = extract_actual_clauses(clauses, false);
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_scan_tlist = scan_tlist;
	cscan->custom_exprs = ((FuncExpr *) rtfunc->funcexpr)->args;
	cscan->custom_relids = bms_make_singleton(rel->relid);
	cscan->methods = &asof_scan_methods;
	return &cscan->scan.plan;
}

/* ---------- execution ---------- */

static Node *
asof_create_state(CustomScan *cscan)
{
	AsofScanState *state = palloc0(sizeof(AsofScanState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &asof_exec_methods;
	return (Node *) state;
}

/* Compile the arguments; the join itself starts with the first row asked for. */
static void
asof_begin(CustomScanState *node, EState *estate, int eflags)
{
	AsofScanState *state = (AsofScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;

	state->args = ExecInitExprList(cscan->custom_exprs, &node->ss.ps);
}

static TupleTableSlot *
asof_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, asof_next, asof_recheck);
}

/* The next joined row, as a virtual tuple over the join's output arrays. */
static TupleTableSlot *
asof_next(ScanState *ss)
{
	AsofScanState *state = (AsofScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	int			natts = slot->tts_tupleDescriptor->natts;
	Datum	   *values;
	bool	   *nulls;

	if (state->join == NULL)
		asof_start(state);
	ExecClearTuple(slot);
	if (!asof_join_next(state->join, &values, &nulls))
		return slot;
	memcpy(slot->tts_values, values, sizeof(Datum) * natts);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * natts);
	return ExecStoreVirtualTuple(slot);
}

/* Nothing to recheck: the scan never returns rows of an EvalPlanQual test. */
static bool
asof_recheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

/*
 * Evaluate the arguments (in per-tuple memory: asof_join_begin keeps
 * nothing of them) and start the join in the query's memory.
 */
static void
asof_start(AsofScanState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	MemoryContext old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	Datum		args[3] = {0, 0, 0};
	bool		nulls[3] = {true, true, true};
	int			i = 0;
	ListCell   *lc;

	foreach(lc, state->args)
	{
		args[i] = ExecEvalExpr((ExprState *) lfirst(lc), econtext, &nulls[i]);
		i++;
	}
	if (nulls[0] || nulls[1])
		asof_join_null_argument();
	state->join = asof_join_begin(TextDatumGetCString(args[0]), TextDatumGetCString(args[1]),
								  nulls[2], nulls[2] ? 0 : DatumGetTimestampTz(args[2]),
								  state->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor,
								  state->css.ss.ps.state->es_query_cxt);
	MemoryContextSwitchTo(old);
}

static void
asof_end(CustomScanState *node)
{
	AsofScanState *state = (AsofScanState *) node;

	if (state->join != NULL)
		asof_join_end(state->join);
	state->join = NULL;
}

/* Rescan: run the join again (its arguments may have changed). */
static void
asof_rescan(CustomScanState *node)
{
	asof_end(node);
	ExecScanReScan(&node->ss);
}
