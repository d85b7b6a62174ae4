#!/usr/bin/env bash
# Volumes made by `cryptblk format` pass cryptsetup: luksDump reads them,
# --test-passphrase accepts the right key file and refuses a wrong one,
# luksAddKey works on them, both tools see the same volume key, and
# `cryptblk dump --json` agrees with cryptsetup's JSON metadata.
. "$(dirname "$0")/lib/luks-common.sh"
need cryptsetup python3

printf 'format me' >"$TMP/k"
printf 'not me' >"$TMP/bad"
printf 'added by cryptsetup' >"$TMP/k2"
CB_PBKDF2=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
CB_ARGON=(--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1)

compare_metadata() { # image
	cryptsetup luksDump --dump-json-metadata "$1" >"$TMP/cs.json"
	"$CRYPTBLK" dump --json "$1" >"$TMP/cb.json"
	python3 - "$TMP/cs.json" "$TMP/cb.json" <<'PY'
import json, sys
cs = json.load(open(sys.argv[1]))
cb = json.load(open(sys.argv[2]))
seg = cs["segments"]["0"]
assert cb["cipher"] == seg["encryption"], (cb["cipher"], seg)
assert cb["sector_size"] == seg["sector_size"], (cb["sector_size"], seg)
assert cb["data_offset"] == int(seg["offset"]), (cb["data_offset"], seg)
assert cb["data_size"] == seg["size"], (cb["data_size"], seg)
assert cb["iv_tweak"] == int(seg["iv_tweak"])
assert cb["keyslots_size"] == int(cs["config"]["keyslots_size"])
assert cb["hdr_size"] == int(cs["config"]["json_size"]) + 4096
slots = {str(s["id"]): s for s in cb["keyslots"]}
assert sorted(slots) == sorted(cs["keyslots"]), (sorted(slots), sorted(cs["keyslots"]))
for sid, k in cs["keyslots"].items():
    s = slots[sid]
    assert s["key_size"] == k["key_size"] == cb["key_size"]
    assert s["area_offset"] == int(k["area"]["offset"])
    assert s["area_size"] == int(k["area"]["size"])
    assert s["cipher"] == k["area"]["encryption"]
    assert s["af_stripes"] == k["af"]["stripes"] and s["af_hash"] == k["af"]["hash"]
    assert s["kdf"]["type"] == k["kdf"]["type"]
    for field in ("time", "memory", "cpus", "iterations", "hash"):
        if field in k["kdf"]:
            assert s["kdf"][field] == k["kdf"][field], (field, s, k)
PY
}

check_format() { # size expected-sector expected-key-bytes cryptblk-options...
	local size=$1 sector=$2 keybytes=$3 img="$TMP/f.img"
	shift 3
	rm -f "$img"
	"$CRYPTBLK" format "$img" --size "$size" --key-file "$TMP/k" "$@" || fail "format $*"
	cryptsetup luksDump "$img" >/dev/null || fail "luksDump refused: $*"
	cryptsetup open --test-passphrase --key-file "$TMP/k" "$img" || fail "test-passphrase: $*"
	rc=0
	cryptsetup open --test-passphrase --key-file "$TMP/bad" "$img" 2>/dev/null || rc=$?
	[ "$rc" -eq 2 ] || fail "cryptsetup accepted a wrong passphrase (exit $rc): $*"
	[ "$(cs_json "$img" "j['segments']['0']['sector_size']")" = "$sector" ] || fail "sector: $*"
	[ "$(cs_json "$img" "j['keyslots']['0']['key_size']")" = "$keybytes" ] || fail "key: $*"
	cryptsetup luksAddKey --batch-mode --key-file "$TMP/k" "${CS_PBKDF2[@]}" "$img" "$TMP/k2" ||
		fail "luksAddKey: $*"
	cs_volume_key "$img" "$TMP/k2" "$TMP/cs.key"
	cb_volume_key "$img" "$TMP/k" "$TMP/cb.key" || fail "cryptblk reopen: $*"
	cmp -s "$TMP/cs.key" "$TMP/cb.key" || fail "volume keys differ: $*"
	compare_metadata "$img" || fail "metadata differs: $*"
}

# Defaults: 512-bit key, 4096-byte sectors when the data area allows them.
check_format 20M 4096 64 "${CB_ARGON[@]}" --label cryptblk-test
[ "$(cs_json "$TMP/f.img" "j['segments']['0']['offset']")" = 16777216 ] || fail "data offset"
cryptsetup luksDump "$TMP/f.img" | grep -q 'Label:.*cryptblk-test' || fail "label"
# A data area that is not whole 4096-byte sectors gets 512-byte ones.
check_format $((17 * 1048576 + 1536)) 512 64 "${CB_PBKDF2[@]}"
check_format 20M 512 32 "${CB_PBKDF2[@]}" --key-size 256 --sector-size 512
check_format 20M 4096 32 --pbkdf argon2i --pbkdf-force-iterations 4 --pbkdf-memory 64 \
	--pbkdf-parallel 2 --key-size 256
# Calibrated costs (short target): argon2id with memory and threads chosen.
check_format 20M 4096 64 --iter-time 50
[ "$(cs_json "$TMP/f.img" "j['keyslots']['0']['kdf']['type']")" = argon2id ] || fail "default kdf"
echo "PASS"
