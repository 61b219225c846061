/*
 * derive.c — the allowlist of derived-column expressions (see derive.h).
 *
 * Why an allowlist over the analysed tree rather than the text or a
 * volatility test: names resolve through the search path, operators and
 * casts hide function calls, a stable function may read any table or
 * setting (table_to_xml, current_setting), and a function of another schema
 * may be replaced after the projection was created.  Walking the analysed
 * expression sees every function that will run -- operators and casts
 * through check_functions_in_node, I/O conversions included -- and
 * refuses every node it does not know.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "common/compat.h"
#include "projection/derive.h"

/*
 * Immutable built-ins that still look outside their arguments (the server's
 * WAL timeline).  Refused by name; the rules below refuse everything else
 * that reads relations, settings or files, which is never immutable.
 */
static const char *const denied_functions[] = {
	"pg_walfile_name", "pg_walfile_name_offset", NULL
};

typedef struct DeriveWalk
{
	const char *column;
	const char *projection;
} DeriveWalk;

static bool derive_walker(Node *node, DeriveWalk *w);
static bool function_refused(Oid funcid, void *context);
static void refuse(DeriveWalk *w, const char *what, const char *name);
static bool builtin_type(Oid typid);

void
derive_check_expr(Node *expr, const char *column, const char *projection)
{
	DeriveWalk	w = {column, projection};

	(void) derive_walker(expr, &w);
}

void
derive_check_stored(const char *projection, const char *table, int n,
					char **names, char **exprs)
{
	PhxPinnedPath pinned = phx_pin_search_path();

	for (int i = 0; i < n; i++)
	{
		char	   *sql = psprintf("SELECT (\n%s\n) FROM %s", exprs[i], table);
		List	   *raw = pg_parse_query(sql);
		Query	   *q;

		if (list_length(raw) != 1)
			refuse(&(DeriveWalk) {names[i], projection}, "a statement", "that is not one expression");
		q = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, NULL, 0, NULL);
		if (q->commandType != CMD_SELECT || list_length(q->targetList) != 1 ||
			list_length(q->rtable) != 1 || q->hasSubLinks || q->hasAggs ||
			q->hasWindowFuncs || q->hasTargetSRFs || q->cteList != NIL)
			refuse(&(DeriveWalk) {names[i], projection}, "a query", "that is not one expression over the row");
		derive_check_expr((Node *) linitial_node(TargetEntry, q->targetList)->expr,
						  names[i], projection);
	}
	phx_unpin_search_path(pinned);
}

static bool
derive_walker(Node *node, DeriveWalk *w)
{
	if (node == NULL)
		return false;
	check_stack_depth();
	if (check_functions_in_node(node, function_refused, w))
		return true;			/* not reached: function_refused raised */
	if (IsA(node, List))
		return expression_tree_walker(node, derive_walker, (void *) w);
	switch (nodeTag(node))
	{
		case T_Var:
		case T_Const:
		case T_FuncExpr:
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
		case T_ScalarArrayOpExpr:
		case T_BoolExpr:
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_ArrayExpr:
		case T_RowExpr:
		case T_RowCompareExpr:
		case T_CollateExpr:
		case T_FieldSelect:
		case T_SubscriptingRef:
			break;
		case T_CoerceToDomain:
		case T_CoerceToDomainValue:
			refuse(w, "a cast to domain", format_type_be(exprType(node)));
			break;
		case T_SQLValueFunction:
			refuse(w, "the session value", "current_user, current_date and the like");
			break;
		default:
			refuse(w, "an expression of kind", psprintf("%d", (int) nodeTag(node)));
	}
	/* Every value is of a built-in type: the I/O and comparison run are ours. */
	if (!IsA(node, CaseWhen) && !builtin_type(exprType(node)))
		refuse(w, "a value of type", format_type_be(exprType(node)));
	return expression_tree_walker(node, derive_walker, (void *) w);
}

/* check_functions_in_node callback: raises for a function not allowed. */
static bool
function_refused(Oid funcid, void *context)
{
	DeriveWalk *w = context;
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	bool		ok;
	char	   *name;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	name = pstrdup(NameStr(proc->proname));
	ok = proc->pronamespace == PG_CATALOG_NAMESPACE &&
		proc->provolatile == PROVOLATILE_IMMUTABLE &&
		proc->prokind == PROKIND_FUNCTION && !proc->proretset && !proc->prosecdef;
	ReleaseSysCache(tup);
	for (int i = 0; ok && denied_functions[i]; i++)
		ok = strcmp(name, denied_functions[i]) != 0;
	if (!ok)
		refuse(w, "the function", psprintf("%s.%s", get_namespace_name(get_func_namespace(funcid)), name));
	return false;
}

static bool
builtin_type(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		ok;

	if (!HeapTupleIsValid(tup))
		return false;
	ok = ((Form_pg_type) GETSTRUCT(tup))->typnamespace == PG_CATALOG_NAMESPACE &&
		((Form_pg_type) GETSTRUCT(tup))->typtype != TYPTYPE_DOMAIN;
	ReleaseSysCache(tup);
	return ok;
}

static void
refuse(DeriveWalk *w, const char *what, const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("derived column \"%s\" of projection \"%s\" may not use %s %s",
					w->column, w->projection, what, name),
			 errdetail("Derived columns run with the extension owner's rights, so they may use only "
					   "immutable built-in functions and operators (pg_catalog) over the row's columns."),
			 errhint("Compute it from the row with built-ins, e.g. \"(effective_at AT TIME ZONE site_timezone)::date\" "
					 "or \"lower(email)\"; anything else belongs in a view over the reporting table.")));
}
