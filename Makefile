# Thin driver around CMake. `make` builds build/cryptblk; `make test` builds
# the normal and the sanitizer trees, runs the unit and interop suites in the
# sanitizer tree (any ASan/LSan/UBSan report fails a test:
# tests/sanitizer-run.sh) and every suite in the normal one (the kernel tests
# only there), then fuzzes each target for 30 s; `make fuzz` fuzzes for
# FUZZ_SECONDS (docs/fuzzing.md); `make run` serves a demo volume over NBD on
# a unix socket; `make install` installs build/cryptblk into $(PREFIX)/bin and
# the nbdkit filter (when built) into nbdkit's filter directory.
BUILD      ?= build
ASAN_BUILD ?= build/asan
JOBS       ?= $(shell nproc)
MAKEFLAGS  += --no-print-directory
FUZZ_BUILD ?= build/fuzz
FUZZ_SECONDS ?= 300
FUZZ_JOBS  ?= 2
PREFIX     ?= /usr/local
NBDKIT_FILTERDIR ?= $(shell pkg-config nbdkit --variable=filterdir 2>/dev/null || \
	echo /usr/lib/x86_64-linux-gnu/nbdkit/filters)

.PHONY: all deps install run test test-unit test-asan fuzz fuzz-build format format-check clean

all: $(BUILD)/build.ninja-or-make
	cmake --build $(BUILD) -j$(JOBS)

$(BUILD)/build.ninja-or-make:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRYPTBLK_SANITIZE=OFF >/dev/null
	@touch $@

$(ASAN_BUILD)/configured:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCRYPTBLK_SANITIZE=ON >/dev/null
	@touch $@

deps:
	@bash scripts/deps.sh

install: all
	install -D -m 0755 $(BUILD)/cryptblk $(DESTDIR)$(PREFIX)/bin/cryptblk
	@if [ -f $(BUILD)/nbdkit-cryptblk-filter.so ]; then \
		echo install -D -m 0755 $(BUILD)/nbdkit-cryptblk-filter.so \
			$(DESTDIR)$(NBDKIT_FILTERDIR)/nbdkit-cryptblk-filter.so; \
		install -D -m 0755 $(BUILD)/nbdkit-cryptblk-filter.so \
			$(DESTDIR)$(NBDKIT_FILTERDIR)/nbdkit-cryptblk-filter.so; \
	else echo "nbdkit filter not built (no nbdkit development files): not installed"; fi

run: deps all
	CRYPTBLK=$(BUILD)/cryptblk DEMO_DIR=$(BUILD)/demo bash scripts/run-demo.sh

test: deps all $(ASAN_BUILD)/configured format-check
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	@echo "== sanitizer build (ASan + UBSan, LSan on): unit and interop suites"
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -L 'unit|interop' -j$(JOBS)
	@echo "== release build: every suite"
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@echo "== libFuzzer targets, 30 s each"
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

# The fuzz targets build with clang in a tree of their own (tests/fuzz).
$(FUZZ_BUILD)/configured:
	CC=clang cmake -S tests/fuzz -B $(FUZZ_BUILD) >/dev/null
	@touch $@

fuzz-build: deps $(FUZZ_BUILD)/configured
	cmake --build $(FUZZ_BUILD) -j$(JOBS)

fuzz: fuzz-build
	FUZZ_JOBS=$(FUZZ_JOBS) bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@bad=$$(for f in $$(git ls-files '*.c' '*.h'); do \
		clang-format --dry-run -Werror $$f >/dev/null 2>&1 || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "not clang-format clean: $$bad" >&2; exit 1; fi

clean:
	rm -rf $(BUILD)
