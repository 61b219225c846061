# Phoenix — PGXS build.  `make demo` runs the tour, `make test` every suite.
EXTENSION   = phoenix
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" phoenix.control)
MODULE_big  = phoenix
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
# The install script is assembled from one fragment per concern (src/sql/NN_*.sql)
# so that each concern keeps its SQL beside its C.
DATA_built  = phoenix--$(EXTVERSION).sql
# Frozen install scripts of released versions (scripts/release.sh), and upgrade
# scripts: upgrade/phoenix--A--B.sql plus the grants fragment, which every
# upgrade re-applies to whatever objects it created.
DATA        = $(wildcard releases/phoenix--*.sql)
UPGRADES    = $(patsubst upgrade/%,%,$(wildcard upgrade/phoenix--*--*.sql))
DATA_built += $(UPGRADES)
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS   = -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
SHLIB_LINK  = -lrdkafka
EXTRA_CLEAN = results regression.diffs regression.out test/isolation/output_iso test/kafka_mock bench/send_params

# `make installcheck` (after `make install`, against a server you run with
# shared_preload_libraries = 'phoenix,pg_cron'): the pg_regress files of sql/
# (each creates a database of its own) and the isolation specs of
# test/isolation/.  `make test` runs these and every other suite from nothing.
REGRESS        = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation/output_iso

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
# No LLVM bitcode: JIT inlining of Phoenix is not worth a clang dependency.
with_llvm = no
# PGXS tracks no header dependencies: rebuild every object when a header
# changes, so that no object keeps an old struct layout.
$(OBJS): $(wildcard src/*/*.h)

phoenix--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

$(UPGRADES): phoenix--%.sql: upgrade/phoenix--%.sql src/sql/90_grants.sql
	cat $^ > $@

# Test helper: librdkafka's mock Kafka cluster (3 brokers on loopback) as a
# standalone program, since a mock cluster lives in the process that made it.
# Shell tests and benchmarks build it through test/kafka_lib.sh.
test/kafka_mock: test/kafka_mock.c
	$(CC) $(CFLAGS_SL_NONE) -O2 -Wall -Wextra -Werror -o $@ $< -lrdkafka

# Bench helper: sends each input line as the bound parameter of one
# statement (extended protocol), as an application's driver would.
bench/send_params: bench/send_params.c
	$(CC) -O2 -Wall -Wextra -Werror -I$(shell $(PG_CONFIG) --includedir) -o $@ $< -L$(shell $(PG_CONFIG) --libdir) -lpq

.PHONY: demo test bench api kafka_mock
kafka_mock: test/kafka_mock
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
bench:
	bash scripts/bench.sh
# The Universal API (GraphQL, api/) against the demo cluster or DATABASE_URL.
api:
	bash scripts/api.sh
