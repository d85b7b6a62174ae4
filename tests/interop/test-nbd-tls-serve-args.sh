#!/usr/bin/env bash
# serve's TLS options: half a certificate or an unusable file is refused
# with exit 1 before the passphrase is asked; with TLS a non-loopback TCP
# address is allowed without --insecure-plaintext, and $uri says nbds.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
. "$SRCDIR/tests/interop/lib/nbd-tls.sh"
nbd_need nbdinfo python3

tls_pki
nbd_luks_image "$TMP/img" $((1024 * 1024)) 512
expect() {
	local pattern=$1 rc=0
	shift
	"$CRYPTBLK" serve "$TMP/img" --nbd "unix:$TMP/s" "$@" </dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" -eq 1 ] || { echo "serve $*: exit $rc, not 1" >&2; exit 1; }
	grep -q -- "$pattern" "$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
	! grep -qi passphrase "$TMP/err"
}
cert=(--tls-cert "$PKI/server-cert.pem")
key=(--tls-key "$PKI/server-key.pem")
expect 'go together' "${cert[@]}"
expect 'go together' "${key[@]}"
expect 'go together' --tls-ca "$PKI/ca-cert.pem"
expect "certificate $TMP/nope: No such file" --tls-cert "$TMP/nope" "${key[@]}"
expect 'does not match\|usable with the certificate' "${cert[@]}" --tls-key "$PKI/client-key.pem"
expect "CA $PKI/server-key.pem" "${cert[@]}" "${key[@]}" --tls-ca "$PKI/server-key.pem"
[ ! -e "$TMP/s" ]

port=$(tls_port)
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "tcp:0.0.0.0:$port" \
	"${cert[@]}" "${key[@]}" \
	--run "test \"\$uri\" = 'nbds://0.0.0.0:$port/' &&
		nbdinfo --size 'nbds://localhost:$port/?tls-certificates=$PKI/nocert'" >"$TMP/size"
[ "$(cat "$TMP/size")" = $((1024 * 1024)) ]
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$TMP/s" "${cert[@]}" "${key[@]}" \
	--run "test \"\$uri\" = 'nbds+unix:///?socket=$TMP/s'"
echo ok
