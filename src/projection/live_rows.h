/*
 * live_rows.h — watched projections announce their changed rows after commit
 * (see live_rows.c).
 */
#ifndef PHOENIX_LIVE_ROWS_H
#define PHOENIX_LIVE_ROWS_H

extern void LiveRowsInit(void);

#endif
