#!/usr/bin/env bash
# nbdcopy over TLS on TCP with client certificates: random data in and back
# out, with 32 MiB requests and with several connections at once.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
. "$SRCDIR/tests/interop/lib/nbd-tls.sh"
nbd_need nbdcopy cmp python3

size=$((64 * 1024 * 1024))
tls_pki
nbd_luks_image "$TMP/img" "$size" 4096
port=$(tls_port)
tls_serve "tcp:127.0.0.1:$port" --tls-ca "$PKI/ca-cert.pem"
uri="nbds://localhost:$port/?tls-certificates=$PKI/client"

head -c "$size" /dev/urandom >"$TMP/in"
nbdcopy --request-size=$((32 * 1024 * 1024)) --requests=4 "$TMP/in" "$uri"
nbdcopy --request-size=$((32 * 1024 * 1024)) --requests=4 "$uri" "$TMP/out"
cmp "$TMP/in" "$TMP/out"

head -c "$size" /dev/urandom >"$TMP/in2"
nbdcopy --connections=4 --requests=64 --request-size=65536 "$TMP/in2" "$uri"
nbdcopy --connections=4 --requests=64 "$uri" "$TMP/out2"
cmp "$TMP/in2" "$TMP/out2"
nbd_stop
echo ok
