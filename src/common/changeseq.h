/*
 * changeseq.h — change numbers for reporting rows, and the watermark that
 * keeps incremental pulls from skipping rows whose transaction commits late.
 *
 * Every insert or update of a reporting row takes its change_seq from
 * changeseq_next() (SQL: phoenix.next_change_seq()).  A transaction's first
 * allocation is recorded in shared memory until the transaction ends, so
 * changeseq_safe() (SQL: phoenix.safe_change_seq()) can return the highest
 * change number below which no transaction is still running: every row
 * numbered at or below it is committed (or gone with an abort) at the moment
 * of the call.  A pull that takes its snapshot after that moment sees them
 * all, so "change_seq > last AND change_seq <= watermark" never skips a row.
 */
#ifndef PHOENIX_CHANGESEQ_H
#define PHOENIX_CHANGESEQ_H

#include "postgres.h"

/* The next change number (nextval of phoenix.change_seq), registering the
 * calling transaction as an in-flight writer on its first call. */
extern int64 changeseq_next(void);

/*
 * The highest change number n such that every transaction that allocated a
 * number <= n has ended.  0 when nothing was allocated yet.  ERROR when the
 * library is not preloaded (no shared memory to track writers).
 */
extern int64 changeseq_safe(void);

/* Request shared memory and register the transaction callback. */
extern void ChangeSeqInit(void);

#endif							/* PHOENIX_CHANGESEQ_H */
