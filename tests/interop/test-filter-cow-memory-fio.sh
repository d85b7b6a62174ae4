#!/usr/bin/env bash
# The filter in nbdkit's compositions, in captive mode (--run): over the
# memory plugin formatted by the filter's own cryptblk-format option (with
# the threads:2 engine), and under the cow filter (client -> cow ->
# cryptblk -> file). cow opens the layers below read-only, so its volume is
# one the filter formatted in an earlier run; the image must not change.
# Each time nbdinfo sees the data segment's size, nbdcopy round-trips
# random data, and fio's nbd engine with four jobs (four connections)
# verifies crc32c of 4 KiB random writes at QD 16.
. "$(dirname "$0")/lib/filter.sh"
need nbdinfo nbdcopy fio cmp sha256sum
fio --enghelp=nbd >/dev/null 2>&1 || { echo "SKIP: fio has no nbd engine"; exit 77; }

printf 'memory passphrase' >"$TMP/k"
data=$((48 * 1024 * 1024))
head -c 8M /dev/urandom >"$TMP/in"

cat >"$TMP/check.sh" <<CHECK
set -e
uri=\$1
[ "\$(nbdinfo --size "\$uri")" -eq $data ] || { echo "size \$(nbdinfo --size "\$uri")" >&2; exit 1; }
nbdcopy '$TMP/in' "\$uri"
nbdcopy "\$uri" '$TMP/out'
cmp -n 8388608 '$TMP/in' '$TMP/out'
fio --name=verify --ioengine=nbd --uri="\$uri" --rw=randwrite --bs=4k --iodepth=16 \
	--numjobs=4 --size=8m --offset=8m --offset_increment=8m --verify=crc32c \
	--verify_fatal=1 --do_verify=1 --randrepeat=1 --verify_state_save=0 \
	--output='$TMP/fio.txt'
CHECK

rm -f "$TMP/out"
filter_run "bash '$TMP/check.sh' \"\$uri\"" memory 64M cryptblk-key-file="$TMP/k" \
	cryptblk-format=luks2 "${FILTER_FAST_KDF[@]}" cryptblk-crypto=threads:2 ||
	fail "cryptblk (threads:2) over memory"
echo "ok: cryptblk -> memory, threads:2"

truncate -s 64M "$TMP/v.img"
filter_run "nbdinfo --size \"\$uri\" >/dev/null" file "$TMP/v.img" cryptblk-key-file="$TMP/k" \
	cryptblk-format=luks2 "${FILTER_FAST_KDF[@]}" || fail "format the file"
before=$(sha256sum <"$TMP/v.img")
rm -f "$TMP/out"
filter_run_cow "bash '$TMP/check.sh' \"\$uri\"" file "$TMP/v.img" cryptblk-key-file="$TMP/k" ||
	fail "cow over cryptblk over file"
[ "$(sha256sum <"$TMP/v.img")" = "$before" ] || fail "cow: the image below changed"
echo "ok: cow -> cryptblk -> file"
echo "PASS"
