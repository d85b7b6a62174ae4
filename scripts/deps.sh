#!/usr/bin/env bash
# Install the Debian packages that building and testing cryptblk needs.
# Returns at once when every package is already installed, so `make` targets
# can call it every time.
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config clang-format
	liburing-dev libssl-dev check libjson-c-dev libargon2-dev libnbd-dev
	# fuzz targets: clang and libFuzzer's runtime (with ASan and UBSan)
	clang libclang-rt-14-dev
	# peers used by the tests
	cryptsetup-bin python3-cryptography qemu-utils nbdkit libnbd-bin python3-libnbd fio
	# certificates for the TLS tests
	openssl
	# kernel tests (tests/vm): the guest, its initramfs and what runs in it
	qemu-system-x86 busybox-static cpio xz-utils kmod dmsetup e2fsprogs nbd-client
	# the nbdkit filter (issue 10): nbdkit's filter API headers
	nbdkit-plugin-dev
	# key exposure (gcore of a serving process) and memory checking
	gdb valgrind
	# a throwaway single-node Ceph behind qemu-storage-daemon (remote backend test)
	ceph-mon ceph-osd ceph-base ceph-common qemu-block-extra
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
