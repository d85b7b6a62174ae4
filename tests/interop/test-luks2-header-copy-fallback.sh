#!/usr/bin/env bash
# One intact LUKS2 header copy is enough to open the volume, dump names
# the damaged copy, writes refuse to go over it, and of two valid copies the
# one with the higher seqid is used.
. "$(dirname "$0")/lib/luks2-bad-common.sh"

# One intact copy is enough: the damaged one is reported by dump, the volume
# opens, and nothing is written over the damage.
for which in primary secondary; do
	fresh
	$DAMAGE "$img" flip "$which" 300
	"$CRYPTBLK" test-key "$img" --key-file "$TMP/k2" >/dev/null || fail "$which damaged: no open"
	"$CRYPTBLK" dump --json "$img" >"$TMP/d.json" || fail "$which damaged: no dump"
	python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['header_copies']; \
assert [x['valid'] for x in c] == [sys.argv[2] != 'primary', sys.argv[2] == 'primary'], c; \
assert 'checksum mismatch' in [x for x in c if not x['valid']][0]['error'], c" "$TMP/d.json" "$which" ||
		fail "$which damaged: dump does not say so"
	sum=$(sha256sum <"$img")
	rc=0
	"$CRYPTBLK" add-key "$img" --key-file "$TMP/k1" --new-key-file "$TMP/k2" \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 2>"$TMP/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "add-key over a damaged $which copy exited $rc"
	grep -q "checksum mismatch; not writing over a damaged header" "$TMP/err" ||
		fail "add-key message: $(cat "$TMP/err")"
	[ "$(sha256sum <"$img")" = "$sum" ] || fail "add-key wrote over a damaged $which copy"
done

# The valid copy with the higher seqid wins: a secondary without keyslot 1
# and a higher seqid hides keyslot 1.
fresh
$DAMAGE "$img" json secondary "del j['keyslots']['1']; j['digests']['0']['keyslots'] = ['0']"
$DAMAGE "$img" seqid secondary 100
"$CRYPTBLK" test-key "$img" --key-file "$TMP/k1" >/dev/null || fail "seqid: k1"
rc=0
"$CRYPTBLK" test-key "$img" --key-file "$TMP/k2" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "the older primary copy was used (exit $rc)"
[ "$(cb_json "$img" "j['seqid'], j['active_copy']")" = "100 1" ] || fail "active copy"
echo "PASS"
