# Booting the guest and reading its verdict. Sourced by vm.sh.
#
# The guest's /init prints "VM-BOOTED: <uptime>" before the scenario and
# "VM-RESULT: <status>" after it, then powers off; qemu then exits.

VM_QEMU_EXTRA=() # more qemu arguments, for scenarios that need devices
VM_APPEND_EXTRA= # more kernel command line
# Console lines that fail a test whatever the scenario said.
VM_KERNEL_TROUBLE='Kernel panic|BUG:|Oops:|general protection fault|WARNING: CPU:|blocked for more than'

vm_qemu_args() { VM_QEMU_EXTRA+=("$@"); }
vm_append() { VM_APPEND_EXTRA="$VM_APPEND_EXTRA $*"; }

vm_now() { date +%s.%N; }
vm_elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }

# The qemu command line for the prepared kernel and initrd, in VM_QEMU.
vm_qemu_command() { # console-log
	local accel=${VM_ACCEL:-tcg,thread=single} img append
	# The soft-lockup and RCU-stall watchdogs measure a guest CPU against
	# wall time; under TCG on a loaded host the guest clock can leap ahead
	# (seen: "booted at 203 s" after 31 s of qemu) and they report lockups
	# that are only the host's load. Real hangs still fail: the hung-task
	# report stays on, and every test has a timeout.
	append="console=ttyS0 panic=-1 quiet loglevel=5 nosoftlockup nowatchdog"
	append="$append rcupdate.rcu_cpu_stall_suppress=1$VM_APPEND_EXTRA"
	[ "$VM_SHELL" = 1 ] && append="$append vmshell"
	VM_QEMU=(qemu-system-x86_64 -machine q35 -accel "$accel" -cpu max -m 1G -smp 2
		-nodefaults -no-user-config -display none -no-reboot
		-kernel "$VM_VMLINUZ" -initrd "$VM_INITRD" -append "$append")
	if [ "$VM_SHELL" = 1 ]; then
		VM_QEMU+=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$1"
			-serial chardev:con -mon chardev=con)
	else
		VM_QEMU+=(-serial "file:$1")
	fi
	for img in "${VM_DISKS[@]}"; do
		VM_QEMU+=(-drive "file=$img,if=virtio,format=raw,cache=unsafe")
	done
	if [ -n "$VM_SHARE" ]; then
		VM_QEMU+=(-fsdev "local,id=share,path=$VM_SHARE,security_model=none"
			-device virtio-9p-pci,fsdev=share,mount_tag=share)
	fi
	VM_QEMU+=("${VM_QEMU_EXTRA[@]}")
}

vm_console_show() { # log
	echo "---- guest console ($1) ----" >&2
	tr -d '\r' <"$1" >&2 || true
	echo "---- end of guest console ----" >&2
}

# One run of qemu with its console in $1; qemu's own stderr is appended.
vm_boot_once() { # console-log
	local rc=0
	: >"$1"
	if [ "$VM_SHELL" = 1 ]; then
		echo "vm: shell after the scenario; leave with 'exit' (or Ctrl-A x)" >&2
		"${VM_QEMU[@]}" || rc=$?
	else
		timeout -k 10 "$VM_TIMEOUT" "${VM_QEMU[@]}" </dev/null >"$VM_TMP/qemu.err" 2>&1 || rc=$?
	fi
	if [ -s "$VM_TMP/qemu.err" ]; then
		{
			echo "---- qemu stderr ----"
			cat "$VM_TMP/qemu.err"
		} >>"$1"
	fi
	return "$rc"
}

# Build, boot, wait (at most VM_TIMEOUT seconds) and judge. Returns only when
# the scenario passed; exits 1 on failure and 77 when the scenario skipped.
vm_run() { # scenario [args...]
	local log=$VM_CACHE/logs/$VM_NAME.log t0 t1 t2 booted result qrc=0 attempt
	vm_need qemu-system-x86_64 cpio xz flock timeout ldd
	t0=$(vm_now)
	vm_kernel_prepare
	[ ${#VM_DISKS[@]} -eq 0 ] || VM_MODULES=(virtio_blk "${VM_MODULES[@]}")
	[ -z "$VM_SHARE" ] || VM_MODULES=(9pnet_virtio 9p "${VM_MODULES[@]}")
	vm_initramfs_build "$@"
	vm_qemu_command "$log"
	for attempt in 1 2 3; do
		qrc=0
		t1=$(vm_now)
		vm_boot_once "$log" || qrc=$?
		t2=$(vm_now)
		booted=$(sed -n 's/^VM-BOOTED: \([0-9.]*\).*/\1/p' "$log" | tail -n 1)
		# A guest kernel that fails before /init starts the scenario
		# (seen once under TCG on a loaded host, VFIO machine) has not
		# tested anything: boot it again, saying so. Trouble after
		# VM-BOOTED is a finding and fails below.
		if [ -n "$booted" ] || ! grep -qE "$VM_KERNEL_TROUBLE" "$log" || [ "$attempt" = 3 ]; then
			break
		fi
		cp "$log" "$log.boot-failure-$attempt"
		echo "vm: $VM_NAME: the guest kernel failed before the scenario started" \
			"(console in $log.boot-failure-$attempt); booting again" >&2
	done
	result=$(sed -n 's/^VM-RESULT: \([0-9]\{1,3\}\).*/\1/p' "$log" | tail -n 1)
	echo "vm: $VM_NAME: kernel $VM_KVER; initramfs $(vm_elapsed "$t0" "$t1") s," \
		"guest booted in ${booted:-?} s (guest clock), qemu ran $(vm_elapsed "$t1" "$t2") s"
	# loglevel=5 lets warnings through: a WARN() the scenario provokes is a finding.
	if grep -qE "$VM_KERNEL_TROUBLE" "$log"; then
		vm_console_show "$log"
		vm_fail "guest kernel reported a bug (log: $log)"
	fi
	if [ -z "$result" ]; then
		vm_console_show "$log"
		[ "$qrc" -eq 124 ] && vm_fail "guest gave no result within $VM_TIMEOUT s (log: $log)"
		vm_fail "guest gave no result; qemu exited with $qrc (log: $log)"
	fi
	case $result in
	0) ;;
	77) vm_skip "the guest scenario skipped: $(grep '^SKIP' "$log" | tr -d '\r' | tail -n 1)" ;;
	*)
		vm_console_show "$log"
		vm_fail "guest scenario $1 exited with $result (log: $log)"
		;;
	esac
}
