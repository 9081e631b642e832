#!/usr/bin/env bash
# bench/pop3/run.sh — reproduce the POP3 download benchmark.
#
# Starts (or reuses) the private dovecot of .ci/servers, then runs
# BenchmarkPOP3Download: it seeds 10,000 messages of 10–20 KB into the
# "bench" user over LMTP, times (a) a bare client (transport/pop3,
# pipelined) that only RETRs every message into memory, then (b) mailbag's
# full POP3 sync that stores every message durably in a fresh maildir and
# deletes it from the server; it reseeds before every pair. It prints
# messages/second for both and the time ratio mailbag/bare (target ≤ 1.0).
#
#   bash bench/pop3/run.sh            # 3 pairs of runs
#   RUNS=5 bash bench/pop3/run.sh
#   MAILBAG_BENCH_MESSAGES=2000 bash bench/pop3/run.sh
#
# Needs root (doveadm empties the bench user between runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-3}"
if ! bash .ci/servers status >/dev/null 2>&1; then
	bash .ci/servers install
	bash .ci/servers start
fi
go test -run '^$' -bench '^BenchmarkPOP3Download$' -benchtime "${runs}x" -timeout 60m -v ./bench/pop3/ |
	grep -E 'run [0-9]+:|seeded|Benchmark|ok|FAIL'
