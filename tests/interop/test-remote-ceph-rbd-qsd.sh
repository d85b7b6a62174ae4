#!/usr/bin/env bash
# A volume on Ceph RBD through an existing engine: a throwaway single-node
# cluster (one monitor, one OSD on memstore, no authentication), an RBD
# image exported over NBD by qemu-storage-daemon, and cryptblk formatting
# and serving it by URI; data written through cryptblk reads back, and the
# RBD image holds a LUKS2 header, not the plaintext. Skipped unless Ceph's
# daemons (ceph-mon, ceph-osd, ceph-common: not in scripts/deps.sh) and
# qemu's rbd driver are installed.
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
nbd_need ceph-mon ceph-osd ceph rbd monmaptool qemu-storage-daemon nbdcopy cmp python3
qemu_modules=$(dirname "$(readlink -f "$(command -v qemu-storage-daemon)")")/../lib/x86_64-linux-gnu/qemu
if ! ls /usr/lib/*/qemu/block-rbd.so "$qemu_modules"/block-rbd.so >/dev/null 2>&1; then
	echo "skip: qemu without the rbd block driver (qemu-block-extra)" >&2
	exit 77
fi

CEPH="$TMP/ceph"
mkdir -p "$CEPH/mon" "$CEPH/osd0" "$CEPH/run"
CEPH_PIDS=()
QSD_PID=
ceph_cleanup() {
	# The server first (remote_cleanup), while its remote still answers.
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	fi
	for pid in $QSD_PID "${CEPH_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	remote_cleanup
}
trap ceph_cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fsid=$(cat /proc/sys/kernel/random/uuid)
cat >"$CEPH/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd objectstore = memstore
memstore device bytes = 268435456
osd crush chooseleaf type = 0
run dir = $CEPH/run
log file = $CEPH/\$name.log
admin socket = $CEPH/run/\$name.asok
osd data = $CEPH/osd\$id
mon data = $CEPH/mon
EOF
conf=(-c "$CEPH/ceph.conf")
start=$SECONDS
monmaptool --create --add a "v1:127.0.0.1:$port" --fsid "$fsid" "$CEPH/monmap" >/dev/null
ceph-mon "${conf[@]}" --mkfs -i a --monmap "$CEPH/monmap"
ceph-mon "${conf[@]}" -f -i a 2>>"$CEPH/daemons.err" &
CEPH_PIDS+=($!)
[ "$(timeout 30 ceph "${conf[@]}" osd create)" = 0 ] || fail "ceph osd create"
ceph-osd "${conf[@]}" -i 0 --mkfs --osd-uuid "$(cat /proc/sys/kernel/random/uuid)" \
	2>>"$CEPH/daemons.err"
ceph-osd "${conf[@]}" -f -i 0 2>>"$CEPH/daemons.err" &
CEPH_PIDS+=($!)
# Each step waits for the one before: the OSD up, the pool's placement
# groups active, then the image (a loaded machine makes each slower).
ceph_retry() {
	local what=$1
	shift
	for _ in $(seq 1 60); do
		"$@" >"$CEPH/step.out" 2>&1 && return 0
		sleep 1
	done
	cat "$CEPH/step.out" >&2
	ceph "${conf[@]}" osd dump >&2 || true
	fail "$what"
}
osd_up() { timeout 30 ceph "${conf[@]}" osd dump | grep -q '^osd\.0 up'; }
ceph_retry "osd.0 up" osd_up
ceph_retry "pool create" timeout 30 ceph "${conf[@]}" osd pool create rbd 8
ceph_retry "pool application" timeout 30 ceph "${conf[@]}" osd pool application enable rbd rbd
ceph_retry "rbd create" timeout 60 rbd "${conf[@]}" create rbd/vol --size 64M
echo "single-node Ceph up with an RBD image in $((SECONDS - start)) s"

qemu-storage-daemon --blockdev "driver=rbd,node-name=r0,pool=rbd,image=vol,conf=$CEPH/ceph.conf" \
	--nbd-server "addr.type=unix,addr.path=$TMP/remote.sock" \
	--export type=nbd,id=e0,node-name=r0,name=vol,writable=on 2>"$TMP/qsd.err" &
QSD_PID=$!
for _ in $(seq 1 200); do
	[ -S "$TMP/remote.sock" ] && break
	sleep 0.05
done
REMOTE_URI="nbd+unix:///vol?socket=$TMP/remote.sock"
remote_format --sector-size 4096
remote_serve
head -c $((8 * 1024 * 1024)) </dev/urandom >"$TMP/in"
nbdcopy "$TMP/in" "$URI"
nbdcopy "$URI" "$TMP/out"
cmp -n $((8 * 1024 * 1024)) "$TMP/in" "$TMP/out" || fail "round trip through RBD"
nbd_stop
rbd "${conf[@]}" export rbd/vol "$TMP/vol.img" >/dev/null 2>&1 || fail "rbd export"
[ "$(head -c 6 "$TMP/vol.img" | od -An -tx1 | tr -d ' ')" = 4c554b53babe ] ||
	fail "no LUKS header on the RBD image"
if cmp -s -i $((16 * 1024 * 1024)):0 -n $((8 * 1024 * 1024)) "$TMP/vol.img" "$TMP/in"; then
	fail "plaintext on the RBD image"
fi
echo ok
