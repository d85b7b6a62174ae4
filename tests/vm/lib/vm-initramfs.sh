# The guest's initramfs, built fresh for every run under $VM_TMP/stage: a
# merged-/usr tree with busybox and its applet links, the host binaries a
# test named (at /usr/bin/<name>, with their shared libraries and the
# dynamic loader at the paths ldd gives), the kernel modules decompressed in
# load order, the guest's /init and the scenario. Sourced by vm.sh.

# Copy a host file into the stage at the same path (or $2). The merged-/usr
# links in the stage send /lib/... into /usr/lib/... as on the host.
vm_stage_copy() { # host-path [guest-path]
	local dst=${2:-$1}
	mkdir -p "$VM_STAGE$(dirname "$dst")"
	rm -f "$VM_STAGE$dst"
	cp -L "$1" "$VM_STAGE$dst"
}

# A dynamically linked program and every library ldd finds for it. glibc
# loads libgcc_s by hand (pthread_cancel, backtraces): bring it along too.
vm_stage_binary() { # host-path guest-path
	local lib
	vm_stage_copy "$1" "$2"
	{ ldd "$1" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
		while read -r lib; do
			[ -e "$VM_STAGE$lib" ] || vm_stage_copy "$lib"
		done
	if ! [ -e "$VM_STAGE/usr/lib/x86_64-linux-gnu/libgcc_s.so.1" ] &&
		[ -e /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 ]; then
		vm_stage_copy /usr/lib/x86_64-linux-gnu/libgcc_s.so.1
	fi
}

vm_stage_busybox() {
	local bb applet
	bb=$(command -v busybox) || vm_skip "busybox not installed (busybox-static)"
	vm_stage_binary "$bb" /usr/bin/busybox
	"$bb" --list-full | while read -r applet; do
		[ -e "$VM_STAGE/$applet" ] || [ -L "$VM_STAGE/$applet" ] ||
			ln -s /usr/bin/busybox "$VM_STAGE/$applet"
	done
}

# Every module named, after its dependencies, each once: decompressed into
# /lib/modules/vm/ and listed in /vm/modules in the order to insmod them.
vm_stage_modules() {
	local m f name files
	local -A seen=()
	mkdir -p "$VM_STAGE/lib/modules/vm"
	: >"$VM_STAGE/vm/modules"
	for m in "${VM_MODULES[@]}"; do
		files=$(vm_kernel_module_files "$m")
		while read -r f; do
			[ -n "$f" ] || continue
			name=$(basename "$f")
			name=${name%%.ko*}
			[ -z "${seen[$name]:-}" ] || continue
			seen[$name]=1
			case $f in
			*.ko.xz) xz -dc "$f" ;;
			*.ko.zst) zstd -qdc "$f" ;;
			*.ko.gz) gzip -dc "$f" ;;
			*) cat "$f" ;;
			esac >"$VM_STAGE/lib/modules/vm/$name.ko"
			echo "$name" >>"$VM_STAGE/vm/modules"
		done <<<"$files"
	done
}

# Arguments for the scenario as a line of single-quoted words for `eval set --`.
vm_stage_args() { # args...
	local a q=
	for a in "$@"; do
		q="$q '${a//\'/\'\\\'\'}'"
	done
	printf '%s\n' "$q" >"$VM_STAGE/vm/args"
}

vm_initramfs_build() { # scenario args... ; sets VM_INITRD
	local scenario=$1 d i
	shift
	# A bare name is a file of tests/vm/guest/; a path is taken as it is.
	case $scenario in
	*/*) ;;
	*) scenario=$VM_GUEST_DIR/$scenario ;;
	esac
	[ -r "$scenario" ] || vm_fail "no guest scenario $scenario"
	VM_STAGE=$VM_TMP/stage
	rm -rf "$VM_STAGE"
	mkdir -p "$VM_STAGE"/usr/{bin,sbin,lib,lib64}
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$VM_STAGE/$d"; done
	mkdir -p "$VM_STAGE"/{dev,proc,sys,tmp,run,mnt,share,root,etc,vm}
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$VM_STAGE/etc/passwd"
	printf 'root:x:0:\n' >"$VM_STAGE/etc/group"
	[ -r /etc/mke2fs.conf ] && vm_stage_copy /etc/mke2fs.conf

	vm_stage_busybox
	for d in "${VM_BINARIES[@]}"; do
		vm_stage_binary "$d" "/usr/bin/$(basename "$d")"
	done
	vm_stage_modules
	for ((i = 0; i < ${#VM_FILES[@]}; i += 2)); do
		vm_stage_copy "${VM_FILES[i]}" "${VM_FILES[i + 1]}"
	done

	install -m 755 "$VM_GUEST_DIR/init" "$VM_STAGE/init"
	install -m 644 "$VM_GUEST_DIR/lib.sh" "$VM_STAGE/vm/lib.sh"
	install -m 755 "$scenario" "$VM_STAGE/vm/scenario"
	vm_stage_args "$@"
	[ -z "$VM_SHARE" ] || touch "$VM_STAGE/vm/share"

	# Uncompressed: under TCG the guest unpacks a plain cpio faster than it
	# inflates a compressed one, and the image never leaves this machine.
	VM_INITRD=$VM_TMP/initrd.cpio
	(cd "$VM_STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) \
		>"$VM_INITRD"
}
