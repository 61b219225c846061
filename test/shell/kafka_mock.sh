#!/usr/bin/env bash
# The mock Kafka cluster helper: produce/consume with kcat, take a broker
# down and up, create topics on command.
set -euo pipefail
. "$PHOENIX_ROOT/test/kafka_lib.sh"
trap kafka_mock_stop EXIT
kafka_mock_start orders:4

[ "$(tr ',' '\n' <<<"$KAFKA_BOOTSTRAP" | wc -l)" = 3 ] || { echo "want 3 brokers: $KAFKA_BOOTSTRAP"; exit 1; }
seq 1 100 | awk '{ printf "k%d\t{\"n\":%d}\n", $1, $1 }' | kafka_produce orders
n=$(kcat -C -b "$KAFKA_BOOTSTRAP" -t orders -e -q -f '%s\n' | wc -l)
[ "$n" = 100 ] || { echo "consumed $n of 100"; exit 1; }
parts=$(kcat -C -b "$KAFKA_BOOTSTRAP" -t orders -e -q -f '%p\n' | sort -u | wc -l)
[ "$parts" = 4 ] || { echo "messages in $parts partitions, want 4"; exit 1; }

kafka_cmd topic events 2
kcat -L -b "$KAFKA_BOOTSTRAP" -t events | grep -q '2 partitions' || { kcat -L -b "$KAFKA_BOOTSTRAP" -t events; exit 1; }

# a broker down: its connections drop; up again: everything is readable
kafka_cmd down 2
kafka_cmd up 2
n=$(kcat -C -b "$KAFKA_BOOTSTRAP" -t orders -e -q -f '%s\n' | wc -l)
[ "$n" = 100 ] || { echo "after down/up consumed $n of 100"; exit 1; }

# bad commands are answered, not ignored
if kafka_cmd frobnicate 2>/dev/null; then echo "unknown command accepted"; exit 1; fi
echo ok
