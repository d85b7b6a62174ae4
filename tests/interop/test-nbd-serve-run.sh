#!/usr/bin/env bash
# --run: the command sees $uri and $unixsocket, the server exits with the
# command's status once it ends.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdinfo

nbd_luks_image "$TMP/img" $((1024 * 1024)) 512
run() { "$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$TMP/s" "$@"; }
run --export-name vol --run "test \"\$unixsocket\" = '$TMP/s' &&
	test \"\$uri\" = 'nbd+unix:///vol?socket=$TMP/s' &&
	test \"\$(nbdinfo --size \"\$uri\")\" = $((1024 * 1024))"
rc=0
run --run 'exit 7' || rc=$?
[ "$rc" -eq 7 ] || { echo "exit status $rc, not 7" >&2; exit 1; }
[ ! -e "$TMP/s" ]
echo ok
