/*
 * phoenix.c — module entry point: PG_MODULE_MAGIC and _PG_init, which only
 * calls each subsystem's init function.
 */
#include "postgres.h"

#include "fmgr.h"

#include "asof_scan.h"
#include "catalog.h"
#include "changeseq.h"
#include "emit.h"
#include "export.h"
#include "forget.h"
#include "kafka.h"
#include "phoenix.h"
#include "projection.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	CatalogInit();
	KafkaInit();
	ChangeSeqInit();
	ExportInit();
	ProjectionInit();
	EmitInit();
	ForgetInit();
	AsofScanInit();
}
