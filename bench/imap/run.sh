#!/usr/bin/env bash
# bench/imap/run.sh — reproduce the IMAP benchmark (issue 5).
#
# Starts (or reuses) the private dovecot of .ci/servers, then runs
# BenchmarkIMAPOpen: it makes the INBOX of user carol hold exactly 50,000
# messages (seeding over LMTP once: about 8 minutes; later runs reuse them),
# and measures per run, with a fresh cache:
#   first screen   NewIMAP + SyncFolder until the newest screenful is listable
#   all envelopes  until every envelope is cached (what runs in the background)
#   later open     a new account on that cache: the list alone (account.ListView,
#                  what the message list holds), then list + resync
#                  (CONDSTORE port 11143), and the same on the port without
#                  CONDSTORE/QRESYNC (11144: UID/FLAGS fallback)
#   resync 100     SyncFolder after 100 new messages were delivered
#   heap           peak live heap during the first and the later open, and
#                  the heap held with the 50,000-envelope cache and a list view
#
# With PEERS=1 it then times whole processes in the same way, each in a
# 200x50 tmux pane until the newest message is on screen, and reads each
# one's peak RSS (VmHWM) SETTLE seconds later (default 15): mailbag with
# an empty cache and again with its cache, neomutt without and with its
# header cache, and aerc.
#
#   bash bench/imap/run.sh             # 3 runs
#   RUNS=5 bash bench/imap/run.sh
#   PEERS=1 bash bench/imap/run.sh     # also time aerc and neomutt (needs tmux,
#                                      # apt-get install -y aerc neomutt tmux)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-3}"
if ! bash .ci/servers status >/dev/null 2>&1; then
	bash .ci/servers install
	bash .ci/servers start
fi
go test -run '^$' -bench '^BenchmarkIMAPOpen$' -benchtime "${runs}x" -timeout 60m -v ./bench/imap/ |
	grep -E 'run [0-9]+:|seeded|Benchmark|ok|FAIL'

[ "${PEERS:-0}" = 1 ] || exit 0

env_json="${MAILBAG_TEST_SERVERS:-/tmp/mailbag-servers/env.json}"
ca=$(sed -n 's/.*"ca_file": *"\([^"]*\)".*/\1/p' "$env_json")
port=$(sed -n 's/.*"imaps": *\([0-9]*\).*/\1/p' "$env_json")
pass=secret-carol
newest="benchmark message [0-9]"
settle="${SETTLE:-15}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# timed NAME CMD…: seconds until envelopes ($newest) show in a 200x50 tmux pane.
timed() {
	local name=$1; shift
	local sess="mbbench-$name-$$"
	local start end
	start=$(date +%s.%N)
	tmux new-session -d -s "$sess" -x 200 -y 50 "$*"
	for _ in $(seq 1 3000); do
		if tmux capture-pane -p -t "$sess" 2>/dev/null | grep -Eq "$newest"; then
			end=$(date +%s.%N)
			local pid rss
			pid=$(tmux list-panes -t "$sess" -F '#{pane_pid}')
			# Peak RSS after the client has settled (mailbag keeps
			# fetching envelopes in the background after the first
			# screen; aerc fetches as the list scrolls).
			sleep "$settle"
			rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
			tmux kill-session -t "$sess"
			echo "$name: first screen $(echo "$end - $start" | bc) s, peak RSS ${rss} kB ${settle} s later"
			return
		fi
		sleep 0.01
	done
	tmux kill-session -t "$sess" 2>/dev/null || true
	echo "$name: newest message not seen within 30 s"
}

# mailbag itself, as a whole process in the same terminal harness: first
# open with an empty cache, then a later open with the cache.
go build -o "$work/mailbag" .
cat >"$work/mailbag.toml" <<EOM
[accounts.bench]
address = "carol@example.test"
maildir = "$work/mb"
[accounts.bench.imap]
host = "127.0.0.1"
port = $port
tls = "tls"
username = "carol"
password = "$pass"
ca_file = "$ca"
EOM
chmod 600 "$work/mailbag.toml"
timed mailbag-cold "$work/mailbag" --config "$work/mailbag.toml"
timed mailbag-cached "$work/mailbag" --config "$work/mailbag.toml"

if command -v neomutt >/dev/null; then
	cat >"$work/neomuttrc" <<EON
set folder = "imaps://carol@127.0.0.1:$port/"
set imap_user = carol
set imap_pass = "$pass"
set spoolfile = "+INBOX"
set ssl_ca_certificates_file = "$ca"
set sort = date
set header_cache = "$work/hcache"
set message_cachedir = "$work/bcache"
EON
	timed neomutt-cold neomutt -n -F "$work/neomuttrc"
	timed neomutt-hcache neomutt -n -F "$work/neomuttrc"
fi
if command -v aerc >/dev/null; then
	mkdir -p "$work/aerc"
	cat >"$work/aerc/accounts.conf" <<EOA
[bench]
source = imaps://carol:$pass@127.0.0.1:$port
outgoing = /bin/true
default = INBOX
from = carol@example.test
EOA
	chmod 600 "$work/aerc/accounts.conf"
	touch "$work/aerc/aerc.conf" "$work/aerc/binds.conf"
	# aerc trusts the system roots only: SSL_CERT_FILE points it at the CA.
	timed aerc env XDG_CONFIG_HOME="$work" SSL_CERT_FILE="$ca" aerc
fi
