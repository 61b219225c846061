/*
 * export.h — phoenix.export: the rows of a reporting table changed since the
 * last export, as a BigQuery load file (NDJSON or CSV) plus a manifest,
 * written atomically into a server directory.
 */
#ifndef PHOENIX_EXPORT_H
#define PHOENIX_EXPORT_H

#include "postgres.h"

/* Register the transaction callback that removes files of aborted exports. */
extern void ExportInit(void);

#endif							/* PHOENIX_EXPORT_H */
