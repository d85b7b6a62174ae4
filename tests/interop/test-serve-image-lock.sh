#!/usr/bin/env bash
# One image, one writer: a serve holds a lock on its image (flock on the
# file), so a second serve, format, add-key and remove-key of the same image
# are refused with exit 5 and one line saying it is in use, and leave it
# unchanged; two `--readonly --shared-readonly` serves share an image, and a
# read-write serve is refused while they run. The lock goes with the
# server, even after kill -9; --no-image-lock serves ignore it. The unix
# socket is created mode 0600.
. "$(dirname "$0")/lib/luks-common.sh"
need nbdinfo

printf 'lock passphrase' >"$TMP/key"
img="$TMP/v.img"
"$CRYPTBLK" format "$img" --size 20M --key-file "$TMP/key" --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --batch-mode >/dev/null
ln "$img" "$TMP/link.img" # another name for the same file
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

start() { # name [serve options]: serve in the background, wait for its socket
	local sock="$TMP/$1.sock"
	shift
	"$CRYPTBLK" serve "$img" --key-file "$TMP/key" --nbd "unix:$sock" --threads 1 "$@" \
		2>"$TMP/serve.err" &
	pids+=($!)
	wait_socket "$sock" "${pids[-1]}" "$TMP/serve.err"
}

stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p"; done
	for p in "${pids[@]}"; do wait "$p" || fail "server $p exited with $?"; done
	pids=()
}

# refused REGEX CMD...: exit 5, one line matching REGEX, image unchanged.
refused() {
	local re=$1 rc=0 sum
	shift
	sum=$(sha256sum <"$img")
	# A serve that is wrongly let in is stopped by the timeout (exit 124).
	timeout 10 "$@" >/dev/null 2>"$TMP/err" </dev/null || rc=$?
	[ "$rc" -eq 5 ] || fail "$*: exit $rc, not 5: $(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$*: not one line: $(cat "$TMP/err")"
	grep -Eq "^cryptblk: $re" "$TMP/err" || fail "$*: '$(cat "$TMP/err")' lacks '$re'"
	[ "$(sha256sum <"$img")" = "$sum" ] || fail "$*: image changed"
}

busy="in use by another cryptblk process"
start a
[ "$(stat -c %a "$TMP/a.sock")" = 600 ] || fail "socket mode $(stat -c %a "$TMP/a.sock"), not 600"
for name in "$img" "$TMP/link.img"; do
	refused "serve: $name: $busy \(serves share an image only with --readonly --shared-readonly\)$" \
		"$CRYPTBLK" serve "$name" --key-file "$TMP/key" --nbd "unix:$TMP/b.sock"
	[ ! -e "$TMP/b.sock" ] || fail "a refused serve made its socket"
	refused "serve: $name: $busy that may write it$" "$CRYPTBLK" serve "$name" \
		--key-file "$TMP/key" --nbd "unix:$TMP/b.sock" --readonly --shared-readonly
	refused "serve: $name: $busy" "$CRYPTBLK" serve "$name" --key-file "$TMP/key" \
		--nbd "unix:$TMP/b.sock" --readonly
done
refused "add-key: $img: $busy$" "$CRYPTBLK" add-key "$img" --key-file "$TMP/key" \
	--new-key-file "$TMP/key" --pbkdf pbkdf2 --pbkdf-force-iterations 1000
refused "remove-key: $img: $busy$" "$CRYPTBLK" remove-key "$img" --key-file "$TMP/key"
refused "format: $img: $busy$" "$CRYPTBLK" format "$img" --key-file "$TMP/key" --batch-mode \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000
# Reading the header does not need the lock.
"$CRYPTBLK" test-key "$img" --key-file "$TMP/key" >/dev/null || fail "test-key refused"
"$CRYPTBLK" dump "$img" >/dev/null || fail "dump refused"
nbdinfo --size "nbd+unix:///?socket=$TMP/a.sock" >/dev/null || fail "first server broken"
# --no-image-lock (benchmarks on a throwaway image) neither takes nor
# honours the lock.
start n --no-image-lock
nbdinfo --size "nbd+unix:///?socket=$TMP/n.sock" >/dev/null || fail "--no-image-lock server"
stop_all

# The lock went with the server: changes work again.
"$CRYPTBLK" add-key "$img" --key-file "$TMP/key" --new-key-file "$TMP/key" --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 >/dev/null || fail "add-key after the server stopped"

# Shared read-only serves coexist; writers are refused while they run.
start r1 --readonly --shared-readonly
start r2 --readonly --shared-readonly
for s in r1 r2; do
	nbdinfo --size "nbd+unix:///?socket=$TMP/$s.sock" >/dev/null || fail "shared server $s"
done
refused "serve: $img: $busy \(serves share" "$CRYPTBLK" serve "$img" --key-file "$TMP/key" \
	--nbd "unix:$TMP/b.sock"
refused "remove-key: $img: $busy$" "$CRYPTBLK" remove-key "$img" --key-file "$TMP/key"
stop_all

# --shared-readonly without --readonly is a usage error (exit 1).
rc=0
"$CRYPTBLK" serve "$img" --key-file "$TMP/key" --nbd "unix:$TMP/b.sock" --shared-readonly \
	2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] || fail "--shared-readonly alone: exit $rc"
grep -q "^cryptblk: serve: --shared-readonly needs --readonly$" "$TMP/err" ||
	fail "--shared-readonly alone: $(cat "$TMP/err")"

rc=0
"$CRYPTBLK" serve "$img" --key-file "$TMP/key" --nbd "unix:$TMP/b.sock" --readonly \
	--shared-readonly --no-image-lock 2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] || fail "--shared-readonly --no-image-lock: exit $rc"
grep -q "exclude each other" "$TMP/err" || fail "--shared-readonly --no-image-lock: $(cat "$TMP/err")"

# A kill -9 releases the lock too (the kernel drops it with the process).
start k
kill -KILL "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
pids=()
"$CRYPTBLK" remove-key "$img" --key-file "$TMP/key" >/dev/null ||
	fail "remove-key after kill -9 of the server"
echo "PASS"
