# Shared setup of the nbdkit filter tests (tests/interop/test-filter-*.sh),
# on top of lib/luks-common.sh: skip (77) without nbdkit or without the
# filter built in this tree (never in the sanitizer build, see CMakeLists.txt), and run nbdkit with the filter from the build
# tree in captive mode (--run).
#
#   FILTER                        the built nbdkit-cryptblk-filter.so
#   filter_run CMD PLUGIN ARGS... nbdkit -U - --filter=$FILTER PLUGIN ARGS --run CMD
#   filter_run_cow CMD PLUGIN ARGS...   the same with --filter=cow above the filter
. "$(dirname "${BASH_SOURCE[0]}")/luks-common.sh"
: "${BUILDDIR:?BUILDDIR must name the build tree}"

need nbdkit
FILTER="$BUILDDIR/nbdkit-cryptblk-filter.so"
if [ ! -f "$FILTER" ]; then
	echo "SKIP: $FILTER not built (no nbdkit development files, or the sanitizer build," \
		"whose module nbdkit cannot load)"
	exit 77
fi

filter_run() { # cmd plugin args...
	local cmd=$1
	shift
	nbdkit -U - --filter="$FILTER" "$@" --run "$cmd"
}

filter_run_cow() { # cmd plugin args...
	local cmd=$1
	shift
	nbdkit -U - --filter=cow --filter="$FILTER" "$@" --run "$cmd"
}

# Fast keyslots for volumes the filter formats.
FILTER_FAST_KDF=(cryptblk-pbkdf=pbkdf2 cryptblk-pbkdf-force-iterations=1000)
