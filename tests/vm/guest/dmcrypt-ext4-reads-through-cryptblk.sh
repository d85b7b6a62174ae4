# Guest side of test-vm-dmcrypt-ext4-reads-through-cryptblk-*: a LUKS volume
# that cryptsetup formatted in the guest and filled through the kernel's
# dm-crypt (ext4, files) reads back the same through `cryptblk serve
# --readonly` and /dev/nbd0: e2fsck -fn clean, checksums equal, the device
# read-only, and not one byte of the disk changed by the server. The client
# uses dm-crypt's logical block size (the volume's sector size).
#
# usage: dmcrypt-ext4-reads-through-cryptblk.sh KEYFILE DEV:TYPE:SECTOR:KEYBITS...
#   DEV      a blank disk; TYPE luks2 or luks1; SECTOR the LUKS2 sector size
#            (ignored for luks1); KEYBITS the volume key size.
. /vm/lib.sh
. /vm/nbd-lib.sh

keyfile=$1
shift

one() { # dev type sector keybits
	name=dm-${1##*/}
	sums=/tmp/$name.sums
	sector_opt=
	[ "$2" = luks2 ] && sector_opt="--sector-size $3"

	step "$1: cryptsetup luksFormat --type $2 $sector_opt --key-size $4"
	# shellcheck disable=SC2086
	run cryptsetup luksFormat -q --type "$2" $sector_opt --key-size "$4" \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$keyfile" "$1"
	step "$1: write ext4 and files through dm-crypt"
	run cryptsetup open --key-file "$keyfile" "$1" "$name"
	size=$(blockdev --getsize64 "/dev/mapper/$name")
	# /dev/nbd0 gets dm-crypt's block size, which mkfs.ext4 took into account.
	bs=$(blockdev --getss "/dev/mapper/$name")
	run mkfs.ext4 -q -F "/dev/mapper/$name"
	run mount -t ext4 "/dev/mapper/$name" /mnt
	files_write /mnt "$sums"
	run umount /mnt
	run cryptsetup close "$name"
	before=$(sha256sum <"$1")

	step "$1: cryptblk serve --readonly, e2fsck -fn, mount read-only, compare"
	nbd_serve "$1" "$keyfile" --readonly
	nbd_attach "$size" "$bs"
	[ "$(blockdev --getro "$NBD_DEV")" = 1 ] ||
		fail "$1: $NBD_DEV is writable although the server is --readonly"
	run e2fsck -fn "$NBD_DEV"
	run mount -t ext4 -o ro "$NBD_DEV" /mnt
	files_check /mnt "$sums" "$1 through cryptblk"
	run umount /mnt
	nbd_detach
	nbd_serve_stop
	[ "$(sha256sum <"$1")" = "$before" ] || fail "$1: the disk changed while cryptblk served it read-only"
}

for spec in "$@"; do
	old_ifs=$IFS
	IFS=:
	# shellcheck disable=SC2086
	set -- $spec
	IFS=$old_ifs
	one "$@"
done
step "all volumes passed"
