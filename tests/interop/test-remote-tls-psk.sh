#!/usr/bin/env bash
# TLS to the remote (nbds://, a pre-shared key named in the URI): nbdkit
# requires TLS on TCP; cryptblk formats and serves over nbds:// and the data
# round-trips; the same remote refuses plain nbd:// and a wrong key, and the
# command says so in one line and exits 4 (no such device).
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
nbd_need nbdcopy cmp python3 od
if ! nbdkit --dump-config | grep -q '^tls=yes'; then
	echo "skip: nbdkit without TLS" >&2
	exit 77
fi

psk() { # file: a PSK file for user alice with a random 256-bit key
	printf 'alice:%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$1"
	chmod 600 "$1"
}
psk "$TMP/keys.psk"
psk "$TMP/wrong.psk"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nbdkit -f -i 127.0.0.1 -p "$port" --tls=require --tls-psk="$TMP/keys.psk" memory 40M \
	2>"$TMP/remote.err" &
REMOTE_PID=$!
for _ in $(seq 1 100); do
	nbdinfo --size "nbds://alice@127.0.0.1:$port/?tls-psk-file=$TMP/keys.psk" >/dev/null 2>&1 &&
		break
	sleep 0.05
done

rc=0
"$CRYPTBLK" dump "nbd://127.0.0.1:$port/" 2>"$TMP/plain.err" || rc=$?
[ "$rc" -eq 4 ] || fail "plain nbd:// to a TLS-only remote: exit $rc"
[ "$(wc -l <"$TMP/plain.err")" -eq 1 ] || fail "not one line: $(cat "$TMP/plain.err")"
grep -q "^cryptblk: nbd://127.0.0.1:$port/: " "$TMP/plain.err" || fail "$(cat "$TMP/plain.err")"
rc=0
"$CRYPTBLK" dump "nbds://alice@127.0.0.1:$port/?tls-psk-file=$TMP/wrong.psk" 2>/dev/null || rc=$?
[ "$rc" -eq 4 ] || fail "wrong pre-shared key: exit $rc"

REMOTE_URI="nbds://alice@127.0.0.1:$port/?tls-psk-file=$TMP/keys.psk"
remote_format
remote_serve --threads 2
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/in"
nbdcopy "$TMP/in" "$URI"
nbdcopy "$URI" "$TMP/out"
cmp -n $((4 * 1024 * 1024)) "$TMP/in" "$TMP/out" || fail "round trip over TLS"
nbd_stop
echo ok
