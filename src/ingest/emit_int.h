/*
 * emit_int.h — internal to ingest/: what the emit engine (emit.c) shares
 * with the reader of emit_batch's input (emit_batch.c).
 */
#ifndef PHOENIX_EMIT_INT_H
#define PHOENIX_EMIT_INT_H

#include "postgres.h"

#include <sys/time.h>
#include "common/guc.h"
#include "access/nbtree.h"
#include "access/toast_compression.h"
#include "access/toast_internals.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "timeline/catalog.h"
#include "common/compat.h"
#include "ingest/emit.h"
#include "ingest/eventlog.h"
#include "ingest/recurrence.h"
#include "json/jsonfast.h"
#include "json/jsonschema.h"
#include "common/phoenix.h"
#include "ingest/ingest_hooks.h"
#include "registry/registry.h"
#include "json/softparse.h"
#include "timeline/timeline.h"

typedef struct BatchState
{
	const char *source;
	EmitItem   *chunk;
	int			n;
	int			index;
	EmitCounts	counts;
	MemoryContext chunk_cxt;
} BatchState;


extern void emit_batch_add(BatchState *bs, JsonbValue *elem);
extern void emit_batch_flush(BatchState *bs);
extern bool emit_batch_read_fast(BatchState *bs, text *events);
extern void emit_batch_not_an_array(text *events);
extern void emit_batch_text_not_an_array(void);
extern bool emit_refuse(EmitItem *item, bool raise, int sqlerrcode, const char *hint, const char *fmt,...) pg_attribute_printf(5, 6);

#endif							/* PHOENIX_EMIT_INT_H */
