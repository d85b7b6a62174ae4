#!/usr/bin/env bash
# The NBD checks on volumes cryptblk did not make: a LUKS2 volume from
# `cryptsetup luksFormat` (4096-byte sectors) and a LUKS1 volume from
# `qemu-img create -f luks`. nbdinfo sees the data segment's size, nbdcopy
# round-trips random data, fio verifies 4 KiB random writes at QD 32, and
# qemu-io writes and reads back at unaligned offsets.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need cryptsetup qemu-img qemu-io nbdinfo nbdcopy fio cmp python3

data=$((16 * 1024 * 1024))
printf 'peer passphrase' >"$TMP/key"

serve_checks() { # image label
	local img=$1 label=$2
	SOCK="$TMP/$label.sock"
	"$CRYPTBLK" serve "$img" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 2 &
	SERVER_PID=$!
	nbd_wait_socket
	URI="nbd+unix:///?socket=$SOCK"

	[ "$(nbdinfo --size "$URI")" -eq "$data" ] || { echo "$label: size" >&2; exit 1; }
	head -c "$data" /dev/urandom >"$TMP/in"
	nbdcopy "$TMP/in" "$URI"
	nbdcopy "$URI" "$TMP/back"
	cmp "$TMP/in" "$TMP/back" || { echo "$label: nbdcopy round trip differs" >&2; exit 1; }

	fio --name=randrw --ioengine=nbd --uri="$URI" --rw=randrw --bs=4k --iodepth=32 \
		--size=8m --verify=crc32c --verify_fatal=1 --do_verify=1 --randrepeat=1 \
		--verify_state_save=0 --output="$TMP/fio-$label.txt"

	qemu-io -f raw -c 'write -P 0x5a 4097 3000' -c 'write -P 0xa5 12287 2' \
		"nbd+unix:///?socket=$SOCK" >/dev/null
	qemu-io -f raw -c 'read -P 0x5a 4097 3000' -c 'read -P 0xa5 12287 2' \
		"nbd+unix:///?socket=$SOCK" >"$TMP/qemu-io-$label.txt"
	if grep -q 'Pattern verification failed' "$TMP/qemu-io-$label.txt"; then
		echo "$label: unaligned qemu-io data differs" >&2
		exit 1
	fi
	nbd_stop
}

# LUKS2 by cryptsetup: 16 MiB header area, 4096-byte sectors.
truncate -s $((data + 16 * 1024 * 1024)) "$TMP/cs.img"
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$TMP/key" --sector-size 4096 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$TMP/cs.img"
serve_checks "$TMP/cs.img" cryptsetup-luks2

# LUKS1 by qemu-img: its size is the plaintext size. qemu-img's PBKDF
# calibration fails now and then ("Unable to get accurate CPU usage") in
# milliseconds; try again.
for try in $(seq 20); do
	qemu-img create -q -f luks --object "secret,id=sec0,file=$TMP/key" \
		-o key-secret=sec0,iter-time=20 "$TMP/q.img" "$data" 2>"$TMP/qemu-img.err" && break
	[ "$try" -lt 20 ] || { cat "$TMP/qemu-img.err" >&2; exit 1; }
done
serve_checks "$TMP/q.img" qemu-luks1
echo ok
