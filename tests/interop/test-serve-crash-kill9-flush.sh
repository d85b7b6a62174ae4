#!/usr/bin/env bash
# Crash consistency of `cryptblk serve`: at least 20 rounds of SIGKILL at a
# random moment while a libnbd client writes unique 4 KiB blocks (some FUA)
# and flushes now and then, and fio writes with verify beside it. After
# each restart every write acknowledged before the last completed FLUSH,
# and every acknowledged FUA write, reads back intact (and, stricter, every
# acknowledged write: the server has no cache of its own); the LUKS
# metadata area is byte-identical. Seeds are printed; CRYPTBLK_CRASH_SEED
# reruns one sequence. The model is in lib/crash_serve.py.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need fio
nbd_need_serve
python3 -c 'import nbd' 2>/dev/null || { echo "skip: python3-libnbd not installed" >&2; exit 77; }

SIZE=$((8 * 1024 * 1024))
nbd_luks_image "$TMP/img" "$SIZE" 4096
HDR=$("$CRYPTBLK" dump --json "$TMP/img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_offset"])')

crash_serve() {
	python3 "$SRCDIR/tests/interop/lib/crash_serve.py" --cryptblk "$CRYPTBLK" \
		--image "$TMP/img" --key "$TMP/key" --sock "$TMP/nbd.sock" \
		--fio-out "$TMP/fio.out" --data-offset "$HDR" --volume-size "$SIZE" \
		--region $((2 * 1024 * 1024)) "$@"
}

seed_opt=()
[ -n "${CRYPTBLK_CRASH_SEED:-}" ] && seed_opt=(--seed "$CRYPTBLK_CRASH_SEED")
crash_serve --rounds "${CRYPTBLK_CRASH_ROUNDS:-20}" "${seed_opt[@]}"

# The check can fail: one covered write undone behind the server's back
# (its block's ciphertext put back) must be reported as lost.
rc=0
crash_serve --rounds 1 --no-fio --inject-loss >"$TMP/selftest.out" 2>&1 || rc=$?
cat "$TMP/selftest.out"
if [ "$rc" -ne 1 ] || ! grep -q "lost write" "$TMP/selftest.out"; then
	echo "an undone write went unnoticed (exit $rc)" >&2
	exit 1
fi
echo ok
