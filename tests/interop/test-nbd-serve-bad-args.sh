#!/usr/bin/env bash
# `cryptblk serve` refuses a malformed --nbd, an unknown --crypto or a
# --poll-us out of range with exit 1 before it asks for a passphrase (also
# more than one thread on a VFIO device's engine), and a wrong passphrase
# with 2.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve

nbd_luks_image "$TMP/img" $((1024 * 1024)) 512
expect() {
	local want=$1 pattern=$2 rc=0
	shift 2
	"$CRYPTBLK" serve "$TMP/img" "$@" </dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" -eq "$want" ] || { echo "serve $*: exit $rc, not $want" >&2; exit 1; }
	grep -q -- "$pattern" "$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
	! grep -qi passphrase "$TMP/err" || [ "$want" -eq 2 ]
}
expect 1 'not unix:PATH or tcp:HOST:PORT' --nbd "sock:$TMP/s"
expect 1 'no port' --nbd tcp:localhost
expect 1 'crypto nope' --nbd "unix:$TMP/s" --crypto nope
expect 1 'usage' --nbd "unix:$TMP/s" extra-argument
expect 1 'one thread' --nbd "unix:$TMP/s" --threads 2 --crypto virtio:0000:00:03.0
expect 1 'one thread' --ublk --queues 2 --crypto virtio:0000:00:03.0
expect 1 'poll-us 1001: not a number from 0 to 1000' --nbd "unix:$TMP/s" --poll-us 1001
expect 1 'poll-us 1us: not a number' --nbd "unix:$TMP/s" --poll-us 1us
expect 1 'poll-us -1: not a number' --nbd "unix:$TMP/s" --poll-us -1
printf 'not the passphrase' >"$TMP/wrong"
expect 2 '' --key-file "$TMP/wrong" --nbd "unix:$TMP/s"
[ ! -e "$TMP/s" ]
echo ok
