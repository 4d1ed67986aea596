# Entry points. Each target installs missing Debian packages first (scripts/install-deps.sh is a no-op
# when everything is present), then configures and builds into build/.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps configure build demo test test-unit soak bench clean format package

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS) > /dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@$(BUILD_DIR)/services/demo/passage-demo

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

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
	rm -rf $(BUILD_DIR)

format:
	@git ls-files '*.h' '*.cc' '*.proto' | xargs clang-format -i
