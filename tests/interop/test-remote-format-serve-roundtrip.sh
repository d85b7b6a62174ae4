#!/usr/bin/env bash
# A volume on a remote NBD export (nbdkit's memory plugin): cryptblk formats
# it over the URI, dump, test-key, add-key and remove-key work over the URI,
# and serve over the URI (two threads, one connection each) returns what
# nbdcopy and fio wrote. The remote holds a real LUKS2 volume (cryptsetup
# reads its copy) and only ciphertext: the same bytes served from a file
# copy decrypt to the same plaintext.
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
nbd_need nbdcopy cmp

remote_start memory 40M
remote_format --sector-size 4096
"$CRYPTBLK" dump "$REMOTE_URI" | grep -Eq '^Version:[[:space:]]*2' || fail "dump over the URI"
"$CRYPTBLK" test-key "$REMOTE_URI" --key-file "$TMP/key" | grep -q 'Key slot 0 unlocked' ||
	fail "test-key over the URI"
printf 'second passphrase' >"$TMP/key2"
"$CRYPTBLK" add-key "$REMOTE_URI" --key-file "$TMP/key" --new-key-file "$TMP/key2" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 | grep -q 'Key slot 1 created' ||
	fail "add-key over the URI"
"$CRYPTBLK" test-key "$REMOTE_URI" --key-file "$TMP/key2" >/dev/null || fail "new key"
"$CRYPTBLK" remove-key "$REMOTE_URI" --key-file "$TMP/key2" | grep -q 'Key slot 1 removed' ||
	fail "remove-key over the URI"
rc=0
"$CRYPTBLK" test-key "$REMOTE_URI" --key-file "$TMP/key2" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "removed key still opens (exit $rc)"

remote_serve --threads 2
size=$(nbdinfo --size "$URI")
[ "$size" -eq $((24 * 1024 * 1024)) ] || fail "served size $size"
# A recognisable plaintext: it must never reach the remote as is.
head -c $((8 * 1024 * 1024)) < <(yes 'PLAINTEXT-MARKER-0123456789') >"$TMP/in"
nbdcopy --connections=2 "$TMP/in" "$URI"
nbdcopy --connections=2 "$URI" "$TMP/out"
cmp -n $((8 * 1024 * 1024)) "$TMP/in" "$TMP/out" || fail "nbdcopy round trip"
if fio --enghelp=nbd >/dev/null 2>&1; then
	fio --name=verify --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=16 \
		--offset=16m --size=4m --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--verify_state_save=0 --output="$TMP/fio.txt" >/dev/null ||
		fail "fio verify: $(cat "$TMP/fio.txt")"
fi
nbd_stop

# The remote's bytes: LUKS2 for cryptsetup, ciphertext, and the same
# plaintext when served from a file.
nbdcopy "$REMOTE_URI" "$TMP/remote.img"
if grep -q 'PLAINTEXT-MARKER' "$TMP/remote.img"; then
	fail "plaintext on the remote"
fi
if command -v cryptsetup >/dev/null 2>&1; then
	cryptsetup luksDump "$TMP/remote.img" | grep -Eq '^Version:[[:space:]]*2' || fail "cryptsetup luksDump"
	cryptsetup open --test-passphrase --key-file "$TMP/key" "$TMP/remote.img" ||
		fail "cryptsetup does not open the remote's volume"
fi
SOCK="$TMP/file.sock"
"$CRYPTBLK" serve "$TMP/remote.img" --key-file "$TMP/key" --nbd "unix:$SOCK" --readonly &
SERVER_PID=$!
nbd_wait_socket
nbdcopy "nbd+unix:///?socket=$SOCK" "$TMP/out2"
cmp -n $((8 * 1024 * 1024)) "$TMP/in" "$TMP/out2" || fail "file copy decrypts differently"
nbd_stop
echo ok
