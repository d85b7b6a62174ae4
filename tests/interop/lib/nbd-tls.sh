# Sourced after nbd-server.sh by tests/interop/test-nbd-tls-*.sh: a
# throwaway PKI made with the `openssl` command, and `cryptblk serve` with
# TLS in the background.
#
#   tls_pki                  $PKI/ca-cert.pem, server-cert.pem (localhost,
#                            127.0.0.1), server-key.pem; libnbd certificate
#                            directories (ca-cert.pem, client-cert.pem,
#                            client-key.pem): $PKI/client (signed by the CA),
#                            $PKI/nocert (no client certificate), $PKI/other
#                            (a client certificate of another CA)
#   tls_serve NBD [ARGS...]  serve a fresh image ($TMP/img, 8 MiB of data) with
#                            the server certificate on --nbd NBD; waits until
#                            it listens; nbd_stop stops it
# shellcheck disable=SC2034 # PKI is for the sourcing test
nbd_need_serve
nbd_need openssl

PKI="$TMP/pki"

# tls_cert NAME CA-PREFIX EXTENSIONS: key and certificate NAME signed by CA.
tls_cert() {
	local name=$1 ca=$2 ext=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$PKI/$name-key.pem" -out "$PKI/$name.csr" -subj "/CN=$name" 2>/dev/null
	printf '%b' "$ext" >"$PKI/$name.ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca-cert.pem" -CAkey "$PKI/$ca-key.pem" \
		-set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 \
		-extfile "$PKI/$name.ext" -out "$PKI/$name-cert.pem" 2>/dev/null
}

tls_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -sha256 \
		-keyout "$PKI/$1-key.pem" -out "$PKI/$1-cert.pem" -subj "/CN=cryptblk test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

tls_pki() {
	local client_ext='keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
	mkdir -p "$PKI"
	tls_ca ca
	tls_cert server ca 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n'
	tls_cert client ca "$client_ext"
	# Same CA name, another key: only the signature tells them apart.
	tls_ca otherca
	tls_cert otherclient otherca "$client_ext"
	mkdir -p "$PKI/client" "$PKI/nocert" "$PKI/other"
	cp "$PKI/ca-cert.pem" "$PKI/client/"
	cp "$PKI/client-cert.pem" "$PKI/client-key.pem" "$PKI/client/"
	cp "$PKI/ca-cert.pem" "$PKI/nocert/"
	cp "$PKI/ca-cert.pem" "$PKI/other/"
	cp "$PKI/otherclient-cert.pem" "$PKI/other/client-cert.pem"
	cp "$PKI/otherclient-key.pem" "$PKI/other/client-key.pem"
}

tls_serve() {
	local nbd=$1
	shift
	[ -f "$TMP/img" ] || nbd_luks_image "$TMP/img" $((8 * 1024 * 1024)) 512
	rm -f "$TMP/pid"
	"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "$nbd" --threads 2 \
		--tls-cert "$PKI/server-cert.pem" --tls-key "$PKI/server-key.pem" \
		--pid-file "$TMP/pid" "$@" &
	SERVER_PID=$!
	for _ in $(seq 1 400); do
		[ -s "$TMP/pid" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited early" >&2; exit 1; }
		sleep 0.05
	done
	echo "server never listened" >&2
	exit 1
}

# A free TCP port on 127.0.0.1.
tls_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
