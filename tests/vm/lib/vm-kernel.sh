# The guest kernel: Debian's linux-image-6.12.*+deb12-amd64-unsigned, fetched
# with apt-get download once and extracted under $VM_CACHE/kernel/<release>/,
# with modules.dep made by depmod (the package leaves that to its postinst).
# Sourced by vm.sh.

VM_KERNEL_PATTERN='^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$'

# The newest matching package apt knows, or nothing.
vm_kernel_newest() {
	apt-cache pkgnames linux-image-6.12. 2>/dev/null | grep -E "$VM_KERNEL_PATTERN" | sort -V |
		tail -n 1 || true
}

# A release already extracted and ready, newest first; nothing when none is.
vm_kernel_cached() {
	local d
	for d in "$VM_CACHE"/kernel/*/ready; do
		if [ -e "$d" ]; then basename "$(dirname "$d")"; fi
	done | sort -V | tail -n 1
}

vm_kernel_download() { # into-dir
	local pkg deb dir=$1
	vm_need apt-get apt-cache dpkg-deb depmod modprobe
	pkg=$(vm_kernel_newest)
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
		echo "vm: no $VM_KERNEL_PATTERN known to apt; apt-get update" >&2
		apt-get update -qq >&2 || true
		pkg=$(vm_kernel_newest)
	fi
	[ -n "$pkg" ] || vm_skip "no linux-image-6.12.*+deb12-amd64-unsigned package available"
	echo "vm: fetching $pkg" >&2
	# As root apt drops to _apt, which cannot write into our private directory.
	(cd "$dir" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "$pkg" >&2) ||
		vm_skip "apt-get download $pkg failed"
	deb=$(ls "$dir"/*.deb)
	dpkg-deb -x "$deb" "$dir/root"
	rm -f "$deb"
}

# Sets VM_KVER, VM_KROOT (the extracted package) and VM_VMLINUZ.
vm_kernel_prepare() {
	local rel tmp lockfd
	exec {lockfd}>"$VM_CACHE/kernel.lock"
	flock "$lockfd"
	rel=$(vm_kernel_cached)
	if [ -z "$rel" ]; then
		# Inside VM_TMP, so a failed fetch leaves nothing behind.
		tmp=$VM_TMP/kernel-fetch
		mkdir -p "$tmp"
		vm_kernel_download "$tmp"
		rel=$(basename "$(ls -d "$tmp"/root/lib/modules/*/)")
		depmod -b "$tmp/root" "$rel" || vm_fail "depmod for $rel failed"
		mkdir -p "$VM_CACHE/kernel"
		rm -rf "${VM_CACHE:?}/kernel/$rel"
		mv "$tmp" "$VM_CACHE/kernel/$rel"
		touch "$VM_CACHE/kernel/$rel/ready"
	fi
	exec {lockfd}>&-
	VM_KVER=$rel
	VM_KROOT=$VM_CACHE/kernel/$rel/root
	VM_VMLINUZ=$VM_KROOT/boot/vmlinuz-$rel
	[ -r "$VM_VMLINUZ" ] || vm_fail "$VM_VMLINUZ missing; remove $VM_CACHE/kernel and retry"
}

# The module files that loading $1 takes, dependencies first, one per line;
# built-in modules give nothing. Ignores the host's modprobe configuration.
vm_kernel_module_files() { # module
	local out
	mkdir -p "$VM_TMP/modprobe.d"
	out=$(modprobe -d "$VM_KROOT" -S "$VM_KVER" -C "$VM_TMP/modprobe.d" --show-depends "$1" 2>&1) ||
		vm_fail "module $1 not in kernel $VM_KVER: $out"
	printf '%s\n' "$out" | awk '$1 == "insmod" {print $2}'
}
