/*
 * emit.c — the one generic mutation.
 * (Stub until the emit work lands.)
 */
#include "postgres.h"

#include "emit.h"

EmitCounts
emit_bulk(EmitInput *inputs, int ninputs)
{
	elog(ERROR, "emit_bulk is not implemented yet");
}
