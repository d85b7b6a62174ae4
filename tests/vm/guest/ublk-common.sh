# Shared by the ublk guest scenarios: start and stop `cryptblk serve` over
# ublk in the background.
#   ublk_serve IMAGE KEY ID [serve options...]   sets UBLK_PID; waits for /dev/ublkbID
#   ublk_stop ID                                 SIGTERM, exit 0, both device nodes gone

ublk_serve() { # image key id options...
	img=$1 key=$2 id=$3
	shift 3
	cryptblk serve "$img" --key-file "$key" --ublk="$id" "$@" &
	UBLK_PID=$!
	n=200
	while [ ! -b "/dev/ublkb$id" ]; do
		kill -0 "$UBLK_PID" 2>/dev/null || fail "server for /dev/ublkb$id exited early"
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "/dev/ublkb$id did not appear"
		usleep 100000
	done
}

ublk_stop() { # id
	kill -TERM "$UBLK_PID"
	rc=0
	wait "$UBLK_PID" || rc=$?
	[ "$rc" -eq 0 ] || fail "server of /dev/ublkb$1 exited with $rc after SIGTERM"
	[ ! -e "/dev/ublkb$1" ] || fail "/dev/ublkb$1 still there after the server exited"
	[ ! -e "/dev/ublkc$1" ] || fail "/dev/ublkc$1 still there after the server exited"
}
