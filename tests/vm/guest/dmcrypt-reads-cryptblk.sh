# Guest side of test-vm-dmcrypt-reads-cryptblk-ext4-*: the files of an ext4
# written through `cryptblk serve` and /dev/nbd0 read back the same through
# the kernel's dm-crypt (cryptsetup open --readonly), and e2fsck finds the
# file system clean there.
#
# usage: dmcrypt-reads-cryptblk.sh KEYFILE DEV:SIZE...
#   DEV   a disk holding a LUKS volume cryptblk formatted; SIZE its
#         plaintext bytes.
. /vm/lib.sh
. /vm/nbd-lib.sh

keyfile=$1
shift

one() { # dev size
	name=cb-${1##*/}
	sums=/tmp/$name.sums

	step "$1: write ext4 and files through cryptblk serve and /dev/nbd0"
	nbd_serve "$1" "$keyfile"
	nbd_attach "$2"
	run mkfs.ext4 -q -F "$NBD_DEV"
	run mount -t ext4 "$NBD_DEV" /mnt
	files_write /mnt "$sums"
	run umount /mnt
	nbd_detach
	nbd_serve_stop

	step "$1: cryptsetup open --readonly, e2fsck -fn, mount read-only, compare"
	run cryptsetup open --readonly --key-file "$keyfile" "$1" "$name"
	got=$(blockdev --getsize64 "/dev/mapper/$name")
	[ "$got" = "$2" ] || fail "$1: dm-crypt maps $got bytes, cryptblk served $2"
	run e2fsck -fn "/dev/mapper/$name"
	run mount -t ext4 -o ro "/dev/mapper/$name" /mnt
	files_check /mnt "$sums" "$1 through dm-crypt"
	run umount /mnt
	run cryptsetup close "$name"
}

for spec in "$@"; do
	one "${spec%%:*}" "${spec#*:}"
done
step "all volumes passed"
