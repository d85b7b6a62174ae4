#!/usr/bin/env bash
# add-key and remove-key killed at every metadata write (CRYPTBLK_TEST_CRASH_AT,
# test only: the N-th write is cut at a 512-byte boundary, then SIGKILL) and
# at random moments (kill -9 after a delay from the printed seed), for LUKS2
# and LUKS1. After each kill: every passphrase that opened the volume before
# still opens it with the same volume key (cryptblk test-key, and cryptsetup
# open --test-passphrase on a copy agrees); the passphrase being added or
# removed opens it or not, as cryptsetup also says, and flips at exactly one
# write; the data area is byte-identical.
. "$SRCDIR/tests/interop/lib/luks-common.sh"
need cryptsetup

SEED=${CRYPTBLK_CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
RANDOM=$SEED
echo "seed $SEED (rerun with CRYPTBLK_CRASH_SEED=$SEED)"
FAST=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
KILLS=0

for k in A B C F2 F3 F4 F5; do printf 'passphrase %s' "$k" >"$TMP/k$k"; done

# The operation under test on IMG, as an argument vector in CMD.
cmd_of() { # img op
	if [ "$2" = add ]; then
		CMD=("$CRYPTBLK" add-key "$1" --key-file "$TMP/kA" --new-key-file "$TMP/kC" "${FAST[@]}")
	else
		CMD=("$CRYPTBLK" remove-key "$1" --key-file "$TMP/kC")
	fi
}

# Run it; its exit status (137 when it was killed), without the shell's
# "Killed" notice.
run_cmd() { # img op
	cmd_of "$1" "$2"
	{ "${CMD[@]}" >/dev/null 2>"$TMP/cmd.err"; } 2>/dev/null
}

# LUKS1: the image outside keyslot 6 (its 48-byte descriptor at 496 and its
# key material) is byte-identical to BASE, so the slots of F2..F5, proved
# at setup, still open (A and B are also tried for real).
luks1_outside_slot6_same() { # img
	python3 - "$1" "$BASE" "$DATA" <<'PY'
import struct, sys
img, base, data = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read(), int(sys.argv[3])
key_bytes = struct.unpack(">I", base[108:112])[0]
km, stripes = struct.unpack(">II", base[496 + 40:496 + 48])
start, end = km * 512, km * 512 + -(-key_bytes * stripes // 512) * 512
for a, b in ((0, 496), (544, start), (end, data)):
    if img[a:b] != base[a:b]:
        sys.exit("bytes %d..%d changed" % (a, b))
PY
}

# check IMG WHAT: the required passphrases open IMG with the volume key, in
# cryptblk and in cryptsetup; C's state is the same in both (set in OPENS).
check() {
	local img=$1 what=$2 k rc cs cs_keys=(A B C)
	cmp -s -i "$DATA:$DATA" "$img" "$BASE" || fail "$what: the data area changed"
	if [ "$TYPE" = luks1 ]; then
		luks1_outside_slot6_same "$img" || fail "$what: bytes outside keyslot 6 changed"
		cs_keys=(A C)
	fi
	cp "$img" "$TMP/cs.img" # cryptsetup may repair a header copy: not ours
	for k in A B C; do
		rc=0
		rm -f "$TMP/vk.out"
		"$CRYPTBLK" test-key "$img" --key-file "$TMP/k$k" --volume-key-file "$TMP/vk.out" \
			>/dev/null 2>"$TMP/tk.err" || rc=$?
		if [ "$k" != C ] && [ "$rc" -ne 0 ]; then
			cp "$img" "$BUILDDIR/keys-killed-failed.img" # kept to look at
			fail "$what: passphrase $k no longer opens the volume (exit $rc): $(cat "$TMP/tk.err")"
		fi
		[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || fail "$what: test-key $k: exit $rc: $(cat "$TMP/tk.err")"
		[ "$rc" -ne 0 ] || cmp -s "$TMP/vk.out" "$TMP/vk" || fail "$what: passphrase $k opens another volume key"
		[ "$k" != C ] || OPENS=$([ "$rc" -eq 0 ] && echo yes || echo no)
		[[ " ${cs_keys[*]} " == *" $k "* ]] || continue
		cs=0
		cryptsetup open --test-passphrase --key-file "$TMP/k$k" "$TMP/cs.img" \
			>/dev/null 2>"$TMP/cs.err" || cs=$?
		[ "$cs" -eq "$rc" ] || fail "$what: passphrase $k: cryptblk says $rc, cryptsetup $cs: $(cat "$TMP/cs.err")"
	done
}

# Every write of OP, cut before it and at TEAR bytes into it: the new
# passphrase's state may change once, from BEFORE to the other, and no more.
crash_points() {
	local type=$1 op=$2 start=$3 before=$4 after n tear rc flips=0 last
	[ "$before" = yes ] && after=no || after=yes
	last=$before
	for n in $(seq 1 50); do
		tears=(0)
		[ "$n" -le 3 ] && tears+=("$TEAR") # the header writes and the first after
		for tear in "${tears[@]}"; do
			cp "$start" "$TMP/img"
			rc=0
			CRYPTBLK_TEST_CRASH_AT=$n:$tear run_cmd "$TMP/img" "$op" || rc=$?
			if [ "$rc" -eq 0 ]; then
				check "$TMP/img" "$type $op completed"
				[ "$OPENS" = "$after" ] || fail "$type $op completed, yet C opens: $OPENS"
				echo "$type $op: $((n - 1)) metadata writes, killed before each (and $TEAR bytes into the first 3); passphrase C flipped at one point"
				return
			fi
			[ "$rc" -eq 137 ] || fail "$type $op crash at $n:$tear: exit $rc: $(cat "$TMP/cmd.err")"
			KILLS=$((KILLS + 1))
			check "$TMP/img" "$type $op killed in write $n after $tear bytes"
			[ "$OPENS" = "$last" ] || { flips=$((flips + 1)); last=$OPENS; }
			[ "$flips" -le 1 ] || fail "$type $op: passphrase C flipped back at write $n:$tear"
		done
	done
	fail "$type $op never completed"
}

# kill -9 after a random delay within the command's usual run time.
random_kills() {
	local type=$1 op=$2 start=$3 rounds=$4 pid t0 t1 ms delay rc
	cp "$start" "$TMP/img"
	t0=$(date +%s%N)
	run_cmd "$TMP/img" "$op" || fail "$type $op failed: $(cat "$TMP/cmd.err")"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000 + 1))
	for _ in $(seq 1 "$rounds"); do
		delay=$((RANDOM % ms))
		cp "$start" "$TMP/img"
		cmd_of "$TMP/img" "$op"
		"${CMD[@]}" >/dev/null 2>"$TMP/cmd.err" & # the command itself, not a subshell
		pid=$!
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		kill -9 "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		[ "$rc" -ne 137 ] || KILLS=$((KILLS + 1))
		check "$TMP/img" "$type $op killed after ${delay} ms (exit $rc)"
		echo "$type $op: kill -9 after $delay of ~$ms ms: exit $rc, passphrase C opens: $OPENS"
	done
}

for TYPE in luks2 luks1; do
	type=$TYPE
	# The volume: A and B (LUKS1: and F2..F5, so that C lands in slot 6,
	# whose fields straddle the header's first 512-byte sector).
	BASE="$TMP/base-$type"
	"$CRYPTBLK" format "$BASE" --type "$type" --size 20M --key-file "$TMP/kA" "${FAST[@]}" \
		--batch-mode >/dev/null
	keys=(A B)
	[ "$type" = luks1 ] && keys+=(F2 F3 F4 F5)
	for k in "${keys[@]:1}"; do
		"$CRYPTBLK" add-key "$BASE" --key-file "$TMP/kA" --new-key-file "$TMP/k$k" \
			"${FAST[@]}" >/dev/null
	done
	for k in "${keys[@]}"; do
		"$CRYPTBLK" test-key "$BASE" --key-file "$TMP/k$k" >/dev/null ||
			fail "$type: passphrase $k does not open the fresh volume"
	done
	DATA=$(cb_json "$BASE" 'j["data_offset"]')
	python3 -c '
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    f.write(os.urandom(1024 * 1024))' "$BASE" "$DATA"
	cb_volume_key "$BASE" "$TMP/kA" "$TMP/vk"
	[ "$type" = luks2 ] && TEAR=4096 || TEAR=512
	cp "$BASE" "$TMP/with-c"
	run_cmd "$TMP/with-c" add || fail "add-key C: $(cat "$TMP/cmd.err")"
	[ "$type" = luks2 ] || grep -q . <("$CRYPTBLK" dump --json "$TMP/with-c" | grep '"id":6') ||
		fail "luks1: C did not land in keyslot 6"

	crash_points "$type" add "$BASE" no
	crash_points "$type" remove "$TMP/with-c" yes
	if [ "$type" = luks2 ]; then
		# A torn copy 1 is left alone: cryptblk refuses to write the
		# metadata until cryptsetup repair has restored it from copy 2.
		cp "$BASE" "$TMP/img"
		CRYPTBLK_TEST_CRASH_AT=2:4096 run_cmd "$TMP/img" add || true
		run_cmd "$TMP/img" add && fail "add-key wrote over a torn header copy"
		grep -q "not writing over a damaged header" "$TMP/cmd.err" ||
			fail "add-key over a torn copy: $(cat "$TMP/cmd.err")"
		cryptsetup repair --batch-mode "$TMP/img" >/dev/null 2>&1 || fail "cryptsetup repair failed"
		run_cmd "$TMP/img" add || fail "add-key after repair: $(cat "$TMP/cmd.err")"
		check "$TMP/img" "luks2 add-key after a torn copy 1 and cryptsetup repair"
		[ "$OPENS" = yes ] || fail "C does not open after add-key following the repair"
	fi
	# A slow keyslot for C gives the random kills a window.
	FAST_SAVED=("${FAST[@]}")
	FAST=(--pbkdf pbkdf2 --pbkdf-force-iterations 20000)
	random_kills "$type" add "$BASE" 2
	cp "$BASE" "$TMP/with-slow-c"
	run_cmd "$TMP/with-slow-c" add || fail "add-key C: $(cat "$TMP/cmd.err")"
	FAST=("${FAST_SAVED[@]}")
	random_kills "$type" remove "$TMP/with-slow-c" 2
done
echo "$KILLS commands killed: no passphrase lost, no volume key changed, data area intact"
echo ok
