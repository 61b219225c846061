/*
 * asof_scan.h — phoenix.asof_join(...) in FROM planned as a custom scan that
 * returns the joined rows as they are made, instead of a function scan that
 * materializes them all into a tuplestore first.
 */
#ifndef PHOENIX_ASOF_SCAN_H
#define PHOENIX_ASOF_SCAN_H

/* Install the planner hook and register the scan's methods (from _PG_init). */
extern void AsofScanInit(void);

#endif							/* PHOENIX_ASOF_SCAN_H */
