# Guest helpers for the scenarios that go through `cryptblk serve` and the
# kernel's NBD client (nbd-*.sh, dmcrypt-*.sh). Copied to /vm/nbd-lib.sh by
# tests/vm/lib/nbd-common.sh; a scenario sources it after /vm/lib.sh.
#
# One server and one /dev/nbd0 at a time: nbd_serve, nbd_attach, ...,
# nbd_detach, nbd_serve_stop.

NBD_SOCK=/run/cryptblk.sock
NBD_PIDFILE=/run/cryptblk.pid
NBD_DEV=/dev/nbd0
nbd_pid=

# Start `cryptblk serve IMAGE` in the background on $NBD_SOCK and return once
# it listens (its pid file is written after the socket is bound).
nbd_serve() { # image keyfile [serve options...]
	nbd_img=$1
	nbd_key=$2
	shift 2
	rm -f "$NBD_PIDFILE"
	cryptblk serve "$nbd_img" --key-file "$nbd_key" --nbd "unix:$NBD_SOCK" \
		--pid-file "$NBD_PIDFILE" --export-name vm "$@" &
	nbd_pid=$!
	n=300
	while [ ! -s "$NBD_PIDFILE" ]; do
		if ! kill -0 "$nbd_pid" 2>/dev/null; then
			wait "$nbd_pid"
			fail "cryptblk serve $nbd_img $* exited with $? before listening"
		fi
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "cryptblk serve $nbd_img: no pid file after 30 s"
		usleep 100000
	done
	[ "$(cat "$NBD_PIDFILE")" = "$nbd_pid" ] ||
		fail "pid file says $(cat "$NBD_PIDFILE"), the server is $nbd_pid"
	[ -S "$NBD_SOCK" ] || fail "no unix socket at $NBD_SOCK while the server runs"
}

# Connect /dev/nbd0 to the server with 4096-byte blocks (or $2) and check
# the size the kernel sees (the volume's plaintext bytes). A file system
# made with smaller blocks than the device's mounts nowhere: ext4 on a
# small volume with 512-byte sectors has 1024-byte blocks.
nbd_attach() { # expected-size [block-size]
	bs=${2:-4096}
	run nbd-client -unix "$NBD_SOCK" "$NBD_DEV" -N vm -b "$bs"
	got=$(blockdev --getsize64 "$NBD_DEV")
	[ "$got" = "$1" ] || fail "$NBD_DEV has $got bytes, the volume $1"
	[ "$(blockdev --getss "$NBD_DEV")" = "$bs" ] || fail "$NBD_DEV: logical block size not $bs"
}

# Disconnect /dev/nbd0 and wait until the kernel has let go of it; drop
# the caches so that what is read next comes from the server.
nbd_detach() {
	run nbd-client -d "$NBD_DEV"
	n=100
	while [ -e "/sys/block/${NBD_DEV#/dev/}/pid" ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "$NBD_DEV still connected 10 s after nbd-client -d"
		usleep 100000
	done
	echo 3 >/proc/sys/vm/drop_caches
}

# SIGTERM the server: it must exit 0 within 20 s and leave neither its
# socket nor its pid file behind.
nbd_serve_stop() {
	run kill -TERM "$nbd_pid"
	(
		sleep 20
		echo "cryptblk serve $nbd_pid still running 20 s after SIGTERM: SIGKILL"
		kill -KILL "$nbd_pid"
	) 2>/dev/null &
	dog=$!
	wait "$nbd_pid"
	rc=$?
	kill "$dog" 2>/dev/null
	[ "$rc" = 0 ] || fail "cryptblk serve $nbd_img exited with $rc after SIGTERM"
	[ ! -e "$NBD_SOCK" ] || fail "cryptblk serve left its socket $NBD_SOCK"
	[ ! -e "$NBD_PIDFILE" ] || fail "cryptblk serve left its pid file $NBD_PIDFILE"
	nbd_pid=
}

# Files of several shapes on a mounted file system, and their checksums.
# The marker is plain text the host looks for in the image afterwards.
files_write() { # mountpoint sums-file
	mkdir -p "$1/dir/sub"
	yes cryptblk-vm-plaintext-marker | head -c 1048576 >"$1/marker"
	run dd if=/dev/urandom of="$1/random" bs=65536 count=48 2>/dev/null
	run dd if=/dev/urandom of="$1/dir/odd" bs=12345 count=1 2>/dev/null
	echo "small file" >"$1/dir/sub/small"
	(cd "$1" && sha256sum marker random dir/odd dir/sub/small) >"$2" ||
		fail "sha256sum of the files written"
	run sync
}

files_check() { # mountpoint sums-file what
	(cd "$1" && sha256sum -c "$2") || fail "$3: files differ from what was written"
}
