#!/usr/bin/env bash
# The volume key of a serving process appears nowhere in its core image:
# not whole, not either XTS half, not any quarter; nor does the passphrase,
# nor either of them (raw or in hex) in the server's output. The core is
# taken with gdb's gcore while the server runs, after nbdcopy has written
# and read through it, with --crypto openssl and threads:2, for a 512-bit
# and a 256-bit key. gcore leaves out MADV_DONTDUMP mappings (it reads the
# dd flag in /proc/PID/smaps), as the kernel does for a real core dump.
#
# The control: the same server with OpenSSL's secure heap turned off
# (CRYPTBLK_SECURE_HEAP_KIB=0) leaves the key halves in its core, found by
# the same search. And a serve run as an unprivileged user is not dumpable:
# its /proc/PID files belong to root.
. "$(dirname "$0")/lib/luks-common.sh"
need gcore nbdcopy python3
# (Not `ldd | grep -q`: under pipefail an early grep exit fails the pipe.)
if [[ "$(ldd "$CRYPTBLK" 2>/dev/null)" == *libasan* ]]; then
	# ASan's allocator and shadow mappings would make a core of many GiB.
	echo "SKIP: sanitizer build; run this test against the release build"
	exit 77
fi
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: gcore of a non-dumpable process needs root (CAP_SYS_PTRACE)"
	exit 77
fi
SERVER_PID=
cleanup() {
	[ -z "$SERVER_PID" ] || kill -KILL "$SERVER_PID" 2>/dev/null || true
	rm -rf "$TMP" "${NOBODY_DIR:-}"
}
trap cleanup EXIT

# The number of times each secret's pieces occur in FILE, one "name count"
# line per piece: the key, its halves and quarters, the passphrase, and (for
# text logs) their hex.
search() { # file
	python3 - "$1" "$TMP/vk" "$TMP/key" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
vk, pw = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
n = len(vk)
pieces = {"key": vk, "passphrase": pw}
for i in range(2):
    pieces["half%d" % i] = vk[i * n // 2:(i + 1) * n // 2]
for i in range(4):
    pieces["quarter%d" % i] = vk[i * n // 4:(i + 1) * n // 4]
for name, p in list(pieces.items()):
    pieces[name + "-hex"] = p.hex().encode()
    pieces[name + "-HEX"] = p.hex().upper().encode()
for name, p in pieces.items():
    print(name, data.count(p))
PY
}

# serve_core KEYBITS CRYPTO [ENV...]: format, serve, copy data through,
# take a core; leaves the counts in $TMP/found (core) and $TMP/logfound.
serve_core() {
	local bits=$1 crypto=$2 sock="$TMP/s.sock"
	shift 2
	rm -f "$TMP/v.img" "$TMP/vk" "$TMP/vk.check" "$sock" "$TMP"/core.*
	# A passphrase and a volume key that occur nowhere but in their files.
	python3 -c 'import os; print("pw-" + os.urandom(12).hex(), end="")' >"$TMP/key"
	head -c $((bits / 8)) /dev/urandom >"$TMP/vk"
	"$CRYPTBLK" format "$TMP/v.img" --size 24M --volume-key-file "$TMP/vk" \
		--key-file "$TMP/key" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode >/dev/null
	cb_volume_key "$TMP/v.img" "$TMP/key" "$TMP/vk.check"
	cmp -s "$TMP/vk" "$TMP/vk.check" || fail "the volume is not keyed with $TMP/vk"
	env "$@" "$CRYPTBLK" serve "$TMP/v.img" --key-file "$TMP/key" --nbd "unix:$sock" \
		--crypto "$crypto" --threads 2 >"$TMP/out.log" 2>"$TMP/err.log" &
	SERVER_PID=$!
	wait_socket "$sock" "$SERVER_PID" "$TMP/err.log"
	head -c 2M /dev/urandom >"$TMP/data"
	nbdcopy "$TMP/data" "nbd+unix:///?socket=$sock"
	nbdcopy "nbd+unix:///?socket=$sock" "$TMP/back"
	cmp -s -n $((2 << 20)) "$TMP/back" "$TMP/data" || fail "data read back differs"
	gcore -o "$TMP/core" "$SERVER_PID" >"$TMP/gcore.log" 2>&1 ||
		fail "gcore: $(cat "$TMP/gcore.log")"
	[ -s "$TMP/core.$SERVER_PID" ] || fail "no core written"
	search "$TMP/core.$SERVER_PID" >"$TMP/found"
	rm -f "$TMP/core.$SERVER_PID"
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || fail "serve exited with $?"
	SERVER_PID=
	cat "$TMP/out.log" "$TMP/err.log" >"$TMP/all.log"
	search "$TMP/all.log" >"$TMP/logfound"
}

for run in "512 openssl" "512 threads:2" "256 openssl" "256 threads:2"; do
	# shellcheck disable=SC2086
	serve_core $run
	awk -v run="$run" '$2 != 0 { print "FAIL: " run ": " $1 " found " $2 " times in the core"; bad = 1 }
		END { exit bad }' "$TMP/found" >&2 || exit 1
	awk -v run="$run" '$2 != 0 { print "FAIL: " run ": " $1 " in the output"; bad = 1 }
		END { exit bad }' "$TMP/logfound" >&2 || exit 1
done

# The control: without the secure heap, OpenSSL's key schedules (whose first
# round keys are the key bytes) are in the core, and the search finds them.
serve_core 512 openssl CRYPTBLK_SECURE_HEAP_KIB=0
for piece in half0 half1; do
	awk -v p="$piece" '$1 == p && $2 > 0 { ok = 1 } END { exit !ok }' "$TMP/found" ||
		fail "control: $piece not found in the core of a server without the secure heap"
done

# Not dumpable: the files of a non-dumpable process belong to root, even
# when it runs as another user.
if command -v setpriv >/dev/null; then
	NOBODY_DIR=$(mktemp -d /tmp/cryptblk-nobody.XXXXXX)
	chmod 0777 "$NOBODY_DIR"
	cp "$TMP/v.img" "$TMP/key" "$NOBODY_DIR/"
	chmod 0666 "$NOBODY_DIR/v.img" "$NOBODY_DIR/key"
	asnobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	"${asnobody[@]}" "$CRYPTBLK" serve "$NOBODY_DIR/v.img" --key-file "$NOBODY_DIR/key" \
		--nbd "unix:$NOBODY_DIR/s.sock" --threads 1 2>"$TMP/err.log" &
	SERVER_PID=$!
	wait_socket "$NOBODY_DIR/s.sock" "$SERVER_PID" "$TMP/err.log"
	"${asnobody[@]}" sleep 5 &
	control=$!
	for _ in $(seq 100); do # until setpriv has switched and exec'ed
		[ "$(readlink "/proc/$control/exe")" = "$(readlink -f "$(command -v sleep)")" ] && break
		sleep 0.02
	done
	[ "$(stat -c %u "/proc/$control/status")" = 65534 ] || fail "control: /proc of nobody"
	[ "$(stat -c %u "/proc/$SERVER_PID/status")" = 0 ] || fail "serve is dumpable"
	kill "$control"
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || fail "serve as nobody exited with $?"
	SERVER_PID=
fi
echo "PASS"
