/*
 * relcache.h — Phoenix's subsystems hear of relcache invalidations through
 * one callback (PostgreSQL has room for only ten per backend, shared with
 * every other loaded library).
 */
#ifndef PHOENIX_COMMON_RELCACHE_H
#define PHOENIX_COMMON_RELCACHE_H

#include "utils/inval.h"

extern void phoenix_relcache_callback(RelcacheCallbackFunction func, Datum arg);

#endif
