#!/usr/bin/env bash
# TCP on loopback serves; a non-loopback address without TLS is refused
# unless --insecure-plaintext.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdinfo python3

nbd_luks_image "$TMP/img" $((1024 * 1024)) 512
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "tcp:127.0.0.1:$port" \
	--run "test \"\$uri\" = 'nbd://127.0.0.1:$port/' && nbdinfo --size \"\$uri\"" >"$TMP/size"
[ "$(cat "$TMP/size")" = $((1024 * 1024)) ]
rc=0
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "tcp:0.0.0.0:$port" \
	--run true 2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] || { echo "non-loopback listen: exit $rc, not 1" >&2; exit 1; }
grep -q 'insecure-plaintext' "$TMP/err"
echo ok
