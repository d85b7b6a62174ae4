# Guest side of test-vm-nbd-ext4-*: ext4 made on /dev/nbd0 through
# `cryptblk serve --crypto ENGINE` keeps its files across a server stopped by
# SIGTERM and a fresh one: e2fsck finds it clean, the checksums match.
#
# usage: nbd-ext4-roundtrip.sh KEYFILE ENGINE DEV:SIZE...
#   DEV   a disk holding a LUKS volume; SIZE its plaintext bytes.
. /vm/lib.sh
. /vm/nbd-lib.sh

keyfile=$1
engine=$2
shift 2

roundtrip() { # dev size
	sums=/tmp/${1##*/}.sums

	step "$1: serve --crypto $engine, nbd-client, mkfs.ext4, write files"
	nbd_serve "$1" "$keyfile" --crypto "$engine"
	nbd_attach "$2"
	run mkfs.ext4 -q -F "$NBD_DEV"
	run mount -t ext4 "$NBD_DEV" /mnt
	files_write /mnt "$sums"
	run umount /mnt
	nbd_detach
	step "$1: SIGTERM the server"
	nbd_serve_stop

	step "$1: fresh serve, e2fsck -fn, mount, compare"
	nbd_serve "$1" "$keyfile" --crypto "$engine"
	nbd_attach "$2"
	run e2fsck -fn "$NBD_DEV"
	run mount -t ext4 "$NBD_DEV" /mnt
	files_check /mnt "$sums" "$1 after a restart of the server"
	run umount /mnt
	nbd_detach
	nbd_serve_stop
}

for spec in "$@"; do
	roundtrip "${spec%%:*}" "${spec#*:}"
done
step "all volumes passed"
