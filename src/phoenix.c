/*
 * phoenix.c — module entry point: PG_MODULE_MAGIC and _PG_init, which only
 * calls each subsystem's init function.
 */
#include "postgres.h"

#include "fmgr.h"

#include "timeline/asof_scan.h"
#include "timeline/catalog.h"
#include "common/changeseq.h"
#include "common/guc.h"
#include "ingest/emit.h"
#include "export/export.h"
#include "forget/forget.h"
#include "kafka/kafka.h"
#include "common/phoenix.h"
#include "projection/live_rows.h"
#include "projection/projection.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	phoenix_guc_define();
	CatalogInit();
	KafkaInit();
	ChangeSeqInit();
	ExportInit();
	ProjectionInit();
	LiveRowsInit();
	EmitInit();
	ForgetInit();
	AsofScanInit();
}
