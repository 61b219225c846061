/*
 * compat.h — every PG_VERSION_NUM shim in one place.
 *
 * Phoenix targets PostgreSQL 15; when 16–18 follow, the differences between
 * server versions go here and nowhere else.
 */
#ifndef PHOENIX_COMPAT_H
#define PHOENIX_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "Phoenix requires PostgreSQL 15 or later"
#endif

#endif							/* PHOENIX_COMPAT_H */
