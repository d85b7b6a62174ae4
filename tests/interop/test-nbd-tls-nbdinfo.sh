#!/usr/bin/env bash
# nbdinfo over TLS on a unix socket sees the export; nbdinfo without TLS is
# refused during the handshake with libnbd's "requires TLS" error.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
. "$SRCDIR/tests/interop/lib/nbd-tls.sh"
nbd_need nbdinfo

tls_pki
tls_serve "unix:$TMP/s"
nbdinfo "nbds+unix:///?socket=$TMP/s&tls-certificates=$PKI/client" >"$TMP/info"
grep -q 'with TLS' "$TMP/info" || { cat "$TMP/info" >&2; exit 1; }
grep -q "export-size: $((8 * 1024 * 1024))" "$TMP/info"

# Without TLS: refused. libnbd names the reason when it negotiates by
# itself (--size); in option mode (plain nbdinfo) it reports NBD_OPT_GO's
# NBD_REP_ERR_TLS_REQD as "not supported".
for args in --size ""; do
	rc=0
	# shellcheck disable=SC2086
	nbdinfo $args "nbd+unix:///?socket=$TMP/s" >/dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" -ne 0 ] || { echo "nbdinfo $args: served without TLS" >&2; exit 1; }
	if [ -n "$args" ] && ! grep -q 'server requires TLS' "$TMP/err"; then
		cat "$TMP/err" >&2
		exit 1
	fi
done
nbd_stop
echo ok
