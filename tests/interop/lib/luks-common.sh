# Shared setup of the LUKS interop tests: a scratch directory removed on exit,
# skip (77) when a peer is missing, and low KDF costs so each test takes
# seconds.
set -euo pipefail

: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"
TMP=$(mktemp -d "${BUILDDIR:-/tmp}/luks-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Fast KDF settings for cryptsetup and cryptblk.
CS_PBKDF2=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
CS_ARGON=(--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1)

need() {
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "SKIP: $tool not installed"
			exit 77
		fi
	done
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# cryptsetup's idea of the volume key, as raw bytes in file $3.
cs_volume_key() { # image keyfile out (cryptsetup will not overwrite it)
	rm -f "$3"
	cryptsetup luksDump --dump-volume-key --volume-key-file "$3" --batch-mode \
		--key-file "$2" "$1" >/dev/null
}

# cryptblk's, the same way.
cb_volume_key() { # image keyfile out
	"$CRYPTBLK" test-key "$1" --key-file "$2" --volume-key-file "$3" >/dev/null
}

# cryptsetup's JSON metadata as one field, via python.
cs_json() { # image python-expression-on-j
	cryptsetup luksDump --dump-json-metadata "$1" |
		python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}

cb_json() { # image python-expression-on-j
	"$CRYPTBLK" dump --json "$1" | python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}
