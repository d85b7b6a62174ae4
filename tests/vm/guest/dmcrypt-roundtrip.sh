# Guest side of test-vm-dmcrypt-opens-cryptblk-*: each LUKS volume that
# cryptblk formatted opens through the kernel's dm-crypt with the volume key,
# data offset and sector size cryptblk reports; an ext4 made on it keeps its
# files across close and reopen, and e2fsck finds it clean.
#
# usage: dmcrypt-roundtrip.sh KEYFILE DEV:SECTOR:OFFSET:VKHEX...
#   SECTOR  the volume's sector size; OFFSET its data offset in bytes;
#   VKHEX   a file with the volume key in hex, as `cryptblk test-key` gave it.
. /vm/lib.sh

keyfile=$1
shift

# The kernel's table for the mapping must be the one cryptblk's header means
# (cryptsetup open --disable-keyring puts the key itself in the table):
# "0 LEN crypt CIPHER KEY IV_OFFSET DEV OFFSET [N OPTION...]".
check_table() { # name dev sector offset vkhex
	# shellcheck disable=SC2046
	set -- "$@" $(dmsetup table --showkeys "$1")
	[ "$8" = crypt ] || fail "$2: target is $8, not crypt"
	[ "$9" = aes-xts-plain64 ] || fail "$2: cipher is $9"
	case ${10} in
	:*) fail "$2: the table names a keyring key (${10%%:logon*}), not the key itself" ;;
	esac
	[ "${10}" = "$(cat "$5")" ] ||
		fail "$2: dm-crypt's key (${#10} hex digits) differs from cryptblk's volume key"
	[ "${11}" = 0 ] || fail "$2: IV offset ${11}"
	[ "${13}" = $(($4 / 512)) ] || fail "$2: data at sector ${13}, cryptblk says byte $4"
	opts=" $(echo "$*" | cut -d' ' -f14-) "
	case $opts in
	*iv_large_sectors*) fail "$2: iv_large_sectors set: IVs would not be plain64 in 512-byte units" ;;
	esac
	if [ "$3" = 4096 ]; then
		case $opts in
		*" sector_size:4096 "*) ;;
		*) fail "$2: no sector_size:4096 in the table:$opts" ;;
		esac
	fi
	[ "$(blockdev --getss "/dev/mapper/$1")" = "$3" ] || fail "$2: logical sector size differs"
	size=$(blockdev --getsize64 "$2")
	[ "$(blockdev --getsize64 "/dev/mapper/$1")" = $((size - $4)) ] ||
		fail "$2: mapping is not the disk after the data offset"
}

roundtrip() { # dev sector offset vkhex
	dev=$1
	name=cb-${dev##*/}
	sums=/tmp/$name.sums

	step "$dev: cryptsetup open (sector $2, data at $3)"
	run cryptsetup open --disable-keyring --key-file "$keyfile" "$dev" "$name"
	check_table "$name" "$@"
	step "$dev: mkfs.ext4, write files"
	run mkfs.ext4 -q -F "/dev/mapper/$name"
	run mount -t ext4 "/dev/mapper/$name" /mnt
	mkdir -p /mnt/dir/sub
	# Plain text the host looks for in the image afterwards: it must not be there.
	yes cryptblk-vm-plaintext-marker | head -c 1048576 >/mnt/marker
	run dd if=/dev/urandom of=/mnt/random bs=65536 count=48 2>/dev/null
	run dd if=/dev/urandom of=/mnt/dir/odd bs=12345 count=1 2>/dev/null
	echo "small file" >/mnt/dir/sub/small
	(cd /mnt && sha256sum marker random dir/odd dir/sub/small) >"$sums"
	run umount /mnt
	run cryptsetup close "$name"
	echo 3 >/proc/sys/vm/drop_caches

	step "$dev: reopen read-only, e2fsck, compare"
	run cryptsetup open --readonly --key-file "$keyfile" "$dev" "$name"
	run e2fsck -fn "/dev/mapper/$name"
	run mount -t ext4 -o ro "/dev/mapper/$name" /mnt
	(cd /mnt && sha256sum -c "$sums") || fail "$dev: files changed across close and reopen"
	run umount /mnt
	run cryptsetup close "$name"
	[ ! -e "/dev/mapper/$name" ] || fail "$dev: /dev/mapper/$name left after close"
}

for spec in "$@"; do
	old_ifs=$IFS
	IFS=:
	# shellcheck disable=SC2086
	set -- $spec
	IFS=$old_ifs
	roundtrip "$@"
done
step "all volumes passed"
