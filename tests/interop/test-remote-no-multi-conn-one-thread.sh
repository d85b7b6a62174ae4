#!/usr/bin/env bash
# A remote that does not allow multi-conn (a flush on one connection need
# not cover writes on another) is served with one thread, so one
# connection: asking for more threads is refused before serving, the
# default serves, and data round-trips with a flush. With multi-conn the
# same request for two threads opens two connections to the remote.
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
nbd_need nbdcopy nbdinfo cmp

remote_start --filter=multi-conn memory 40M multi-conn-mode=disable
remote_format
rc=0
"$CRYPTBLK" serve "$REMOTE_URI" --key-file "$TMP/key" --nbd "unix:$TMP/x.sock" --threads 2 \
	2>"$TMP/refused.err" || rc=$?
[ "$rc" -eq 1 ] || fail "two threads over a remote without multi-conn: exit $rc"
grep -q 'multi-conn' "$TMP/refused.err" || fail "reason: $(cat "$TMP/refused.err")"

remote_serve
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/in"
nbdcopy --flush "$TMP/in" "$URI"
nbdcopy "$URI" "$TMP/out"
cmp -n $((4 * 1024 * 1024)) "$TMP/in" "$TMP/out" || fail "round trip"
nbd_stop

# With multi-conn, each of two threads reaches the remote on its own
# connection once both have served a request.
remote_kill
remote_start --filter=log memory 40M "logfile=$TMP/remote.log"
remote_format
before=$(wc -l <"$TMP/remote.log")
remote_serve --threads 2
nbdcopy --connections=2 --requests=8 "$TMP/in" "$URI"
nbdcopy --connections=2 "$URI" "$TMP/out2"
nbd_stop
cmp -n $((4 * 1024 * 1024)) "$TMP/in" "$TMP/out2" || fail "round trip with multi-conn"
conns=$(tail -n +$((before + 1)) "$TMP/remote.log" | grep -ao 'connection=[0-9]*' | sort -u | wc -l)
[ "$conns" -eq 2 ] || fail "expected two connections to the remote, saw $conns"
echo ok
