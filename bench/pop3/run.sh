#!/usr/bin/env bash
# bench/pop3/run.sh — reproduce the POP3 download benchmark.
#
# Starts (or reuses) the private dovecot of .ci/servers, then runs
# BenchmarkPOP3Download: it seeds 10,000 messages of 10–20 KB into the
# "bench" user over LMTP, then times on that mailbox (a) the plain bare
# client: transport/pop3 sending one RETR and reading its answer before
# the next, every message into memory; (b) the same client pipelined;
# (c) mailbag's full POP3 sync that stores every message durably in a
# fresh maildir and deletes it from the server. It reseeds before every
# triple and prints messages/second for each, the time ratio
# mailbag / plain bare (target ≤ 1.0) and mailbag / pipelined bare.
#
#   bash bench/pop3/run.sh            # 3 triples of runs
#   RUNS=5 bash bench/pop3/run.sh
#   MAILBAG_BENCH_MESSAGES=2000 bash bench/pop3/run.sh
#   SERVER_DISK=shared bash bench/pop3/run.sh
#
# The bench user's server-side mail lives on a file system of its own (a
# loop-mounted ext4 image, in memory when /dev/shm allows, mounted over
# its mail directory for the run), as a real server's disk is not its
# client's: on one shared ext4 without a journal, the server removing
# 10,000 files makes the client's file creation skip those inodes for
# minutes (see settle in pop3_bench_test.go). SERVER_DISK=shared keeps the
# server on the same file system as the client, and then every run waits
# 365 s first; so does a machine where mount fails.
#
# Removing the maildirs at the end costs the next invocation the same
# (see settle in pop3_bench_test.go), so one started within 365 s of the
# last one's end waits first.
#
# Needs root (doveadm empties the bench user between runs; mount).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-3}"
stamp="${MAILBAG_BENCH_DIR:-${TMPDIR:-/tmp}}/mailbag-pop3-bench.removed"
age=365 # seconds; settle in pop3_bench_test.go waits as long
if [[ -f "$stamp" ]]; then
	wait=$(($(stat -c %Y "$stamp") + age - $(date +%s)))
	if ((wait > 0)); then
		echo "waiting ${wait}s: the last run's maildirs were removed $((age - wait))s ago (see settle)"
		sleep "$wait"
	fi
fi
if ! bash .ci/servers status >/dev/null 2>&1; then
	bash .ci/servers install
	bash .ci/servers start
fi
# The maildirs of every run stay until the test process has ended (see
# settle in pop3_bench_test.go); a second invocation within a few minutes
# pays for removing them.
work="$(mktemp -d "${MAILBAG_BENCH_DIR:-${TMPDIR:-/tmp}}/mailbag-pop3-bench.XXXXXX")"
mnt=""
cleanup() {
	if [[ -n "$mnt" ]]; then
		umount "$mnt" || umount -l "$mnt"
	fi
	rm -rf "$work"
	touch "$stamp"
	if [[ -n "${img_dir:-}" && "$img_dir" != "$work" ]]; then
		rm -rf "$img_dir"
	fi
}
trap cleanup EXIT
if [[ "${SERVER_DISK:-own}" != shared ]]; then
	env_json="${MAILBAG_TEST_SERVERS:-${MAILBAG_SERVERS_DIR:-/tmp/mailbag-servers}/env.json}"
	root="$(sed -n 's/.*"mail_root": "\([^"]*\)".*/\1/p' "$env_json")"
	[[ -n "$root" ]] || { echo "no mail_root in $env_json" >&2; exit 1; }
	box="$root/bench"
	mkdir -p "$box"
	owner="$(stat -c %u:%g "$box")"
	# The image goes to memory when it can (/dev/shm): in a file on the
	# client's disk the server's writes would be flushed by the client's
	# syncfs(2).
	img_dir="$work"
	if [[ "$(stat -f -c %T /dev/shm 2>/dev/null)" == tmpfs ]]; then
		img_dir="$(mktemp -d /dev/shm/mailbag-pop3-bench.XXXXXX)"
	fi
	img="$img_dir/server.img"
	truncate -s 2G "$img"
	mkfs.ext4 -q -F "$img"
	if mount -o loop "$img" "$box"; then
		mnt="$box"
		chown "$owner" "$box"
		chmod 700 "$box"
		export MAILBAG_BENCH_SERVER_DISK=own
		echo "server mail on its own file system ($box, a loop-mounted ext4 in $img_dir)"
	else
		echo "cannot mount a file system for the server; it shares the client's disk"
	fi
else
	echo "server mail on the client's file system (SERVER_DISK=shared)"
fi
MAILBAG_BENCH_DIR="$work" go test -run '^$' -bench '^BenchmarkPOP3Download$' -benchtime "${runs}x" -timeout 60m -v ./bench/pop3/ |
	grep -E 'run [0-9]+:|seeded|waiting|Benchmark|ok|FAIL'
