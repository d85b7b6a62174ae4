# Shared by the VFIO guest scenarios (busybox sh).
#   vfio_find          sets VFIO_ADDR to the virtio-crypto device (1af4:1054)
#   vfio_bind          binds it to vfio-pci (virtio_pci, built in, has it)

vfio_find() {
	VFIO_ADDR=
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1054 ]; then
			VFIO_ADDR=${d##*/}
			break
		fi
	done
	[ -n "$VFIO_ADDR" ] || fail "no virtio-crypto device in the guest"
}

vfio_bind() {
	d=/sys/bus/pci/devices/$VFIO_ADDR
	echo vfio-pci >"$d/driver_override" || fail "driver_override"
	if [ -e "$d/driver" ]; then
		echo "$VFIO_ADDR" >"$d/driver/unbind" || fail "unbind from $(basename "$(readlink "$d/driver")")"
	fi
	echo "$VFIO_ADDR" >/sys/bus/pci/drivers_probe || fail "drivers_probe"
	[ "$(basename "$(readlink "$d/driver")")" = vfio-pci ] || fail "$VFIO_ADDR did not bind to vfio-pci"
	group=$(basename "$(readlink "$d/iommu_group")")
	wait_for "/dev/vfio/$group" 5
}
