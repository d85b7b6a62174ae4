#!/usr/bin/env bash
# The remote dies (SIGKILL) and comes back while fio writes and verifies
# through cryptblk: the I/Os it carried are sent again on a new connection,
# fio sees no error, and every write fio was told had completed reads back
# (crc32c verify). nbdkit's file plugin keeps the data across the restart.
# Killed once while fio writes and once while it reads back.
# shellcheck disable=SC2119 # remote_format and remote_serve take optional arguments
. "$SRCDIR/tests/interop/lib/remote.sh"
remote_need_fio

truncate -s 40M "$TMP/remote.img"
remote_start file "$TMP/remote.img"
remote_format --sector-size 4096
remote_serve --threads 1 --reconnect-timeout 30

restart_after() { # seconds: kill the remote then, bring it back half a second later
	sleep "$1"
	remote_kill
	sleep 0.5
	remote_start
}

fio_opts=(--ioengine=nbd --uri="$URI" --bs=4k --iodepth=16 --size=8m --verify=crc32c
	--verify_fatal=1 --verify_state_save=0)
# About two seconds of paced writes, each block once, then their verify;
# killed while writing.
fio --name=write "${fio_opts[@]}" --rw=randwrite --rate_iops=1000 --do_verify=1 \
	--output="$TMP/fio-write.txt" &
fio_pid=$!
restart_after 1
wait "$fio_pid" || fail "fio (killed while writing): $(cat "$TMP/fio-write.txt")"

# Every block read again and checked (a block never written has no valid
# header), paced over two seconds; killed while reading.
fio --name=read "${fio_opts[@]}" --rw=randread --rate_iops=1000 \
	--output="$TMP/fio-read.txt" &
fio_pid=$!
restart_after 1
wait "$fio_pid" || fail "fio (killed while reading): $(cat "$TMP/fio-read.txt")"

nbd_stop
[ "$(grep -c 'connection lost' "$TMP/serve.err")" -eq 2 ] || fail "expected two lost connections"
[ "$(grep -c 'connected again' "$TMP/serve.err")" -eq 2 ] || fail "expected two reconnections"
echo ok
