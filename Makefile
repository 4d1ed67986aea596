# Entry points. Each target installs missing Debian packages first (scripts/install-deps.sh is a no-op
# when everything is present), then configures and builds into build/.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
# The clang build with AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer (docs/testing.md):
# -O1 keeps the sanitized suite fast enough for CI, line tables suffice for stack traces.
ASAN_DIR ?= build-asan
ASAN_CMAKE_ARGS = -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
	"-DCMAKE_C_FLAGS_DEBUG=-O1 -gline-tables-only" "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" \
	-DPASSAGE_ASAN=ON -DPASSAGE_FUZZ=ON -DPASSAGE_BUILD_BENCH=OFF
# ThreadSanitizer build for the broker and node tests (not in CI; docs/testing.md).
TSAN_DIR ?= build-tsan
TSAN_CMAKE_ARGS = -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
	"-DCMAKE_C_FLAGS_DEBUG=-O1 -gline-tables-only" "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" \
	-DPASSAGE_TSAN=ON -DPASSAGE_BUILD_BENCH=OFF
# What test-tsan builds and runs: the broker's process tests (tests/integration) and the pipeline
# flows through broker, router and nodes (tests/e2e/e2e_flows_test), as a ctest -R regex.
TSAN_TARGETS ?= broker_test publish_dedup_test security_test malformed_test redelivery_test \
	offline_agency_test broker_crash_test e2e_flows_test
TSAN_TESTS ?= ^(Broker|BrokerCrash|E2eFlows|Malformed|OfflineAgency|PublishDedup|Redelivery|Security)\.
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/sanitizers/tsan.supp \
	PASSAGE_WEBHOOK_OUTAGE_S=20
FUZZ_SECONDS ?= 25

.PHONY: all deps configure build demo test test-unit fuzz test-sanitize test-tsan soak bench clean \
	format package

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@$(BUILD_DIR)/services/demo/passage-demo

# The suite, then a short libFuzzer run of every fuzz target (make fuzz).
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz

# Each fuzz target of tests/fuzz: its corpus and regressions replayed, then FUZZ_SECONDS of fuzzing.
# Builds only the fuzz targets and the libraries they link in $(ASAN_DIR).
fuzz: deps
	@cmake -S . -B $(ASAN_DIR) -G Ninja $(ASAN_CMAKE_ARGS) -DPASSAGE_FUZZ_SECONDS=$(FUZZ_SECONDS) > /dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS) --target fuzz_targets
	@cd $(ASAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS) -L fuzz

# The whole suite built with ASan + UBSan (clang), the webhook outage cut to 20 s. The fuzz runs
# are make fuzz's; their replays run here too.
test-sanitize: deps
	@cmake -S . -B $(ASAN_DIR) -G Ninja $(ASAN_CMAKE_ARGS) > /dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	@cd $(ASAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS) -LE fuzz-run $(CTEST_ARGS)

# The broker and node tests under ThreadSanitizer: TSAN_TARGETS built, TSAN_TESTS run.
test-tsan: deps
	@cmake -S . -B $(TSAN_DIR) -G Ninja $(TSAN_CMAKE_ARGS) > /dev/null
	@cmake --build $(TSAN_DIR) -j $(JOBS) --target $(TSAN_TARGETS)
	@cd $(TSAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)' $(CTEST_ARGS)

test-unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

# Long crash loops: SOAK_CYCLES SIGKILL cycles of the log writer (default 200), then
# BROKER_SOAK_KILLS SIGKILL+restart cycles of the whole broker under four publishers (default 100).
soak: build
	@PASSAGE_SOAK_CYCLES=$${SOAK_CYCLES:-200} $(BUILD_DIR)/tests/broker/log/log_crash_test --gtest_filter='*Crash*'
	@PASSAGE_BROKER_SOAK_KILLS=$${BROKER_SOAK_KILLS:-100} $(BUILD_DIR)/tests/integration/broker_crash_test --gtest_filter='BrokerCrash.*UnderLoad:BrokerCrash.*Sigkills'

# Debian 12 packages in build/packages (docs/operations.md): apt install ./build/packages/*.deb
package: build
	@rm -rf $(BUILD_DIR)/packages
	@cd $(BUILD_DIR) && cpack -G DEB > /dev/null
	@ls -1 $(BUILD_DIR)/packages/*.deb

bench: build
	@bash bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)

format:
	@git ls-files '*.h' '*.cc' '*.proto' | xargs clang-format -i
