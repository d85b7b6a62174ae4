#!/usr/bin/env bash
# With --tls-ca a client must present a certificate signed by that CA: a
# client without one, or with one from another CA, is refused.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
. "$SRCDIR/tests/interop/lib/nbd-tls.sh"
nbd_need nbdinfo

tls_pki
tls_serve "unix:$TMP/s" --tls-ca "$PKI/ca-cert.pem"
uri="nbds+unix:///?socket=$TMP/s&tls-certificates="
[ "$(nbdinfo --size "${uri}$PKI/client")" = $((8 * 1024 * 1024)) ]
for dir in nocert other; do
	rc=0
	nbdinfo --size "${uri}$PKI/$dir" >/dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" -ne 0 ] || { echo "client ($dir) was served" >&2; exit 1; }
	grep -qi 'tls\|certificate\|handshake' "$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
done
# still serving the right client after refusing the others
[ "$(nbdinfo --size "${uri}$PKI/client")" = $((8 * 1024 * 1024)) ]
nbd_stop
echo ok
