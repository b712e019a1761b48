# audit-sieve: the module Fluent Bit loads, and the host that runs it without Fluent Bit.
CARGO  ?= cargo
TARGET := wasm32-wasip1
WASM   := build/audit_sieve.wasm
# Where cargo builds: CARGO_TARGET_DIR when it is set.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: all wasm demo test lint bench soak fuzz clean playground test-playground

all: wasm

# The module, in the size-and-speed profile `wasm` (Cargo.toml).
wasm: $(WASM)
$(WASM): Cargo.toml $(shell find src -type f) .cargo/config.toml
	@rustup target list --installed 2>/dev/null | grep -qx $(TARGET) || rustup target add $(TARGET)
	$(CARGO) build --lib --target $(TARGET) --profile wasm
	@mkdir -p build
	cp $(TARGET_DIR)/$(TARGET)/wasm/audit_sieve.wasm $@
	@echo "built $@ ($$(wc -c < $@) bytes)"

# The main job: filter the bundled sample (or FILE=...) through the module.
demo: $(WASM)
	$(CARGO) run --quiet --release -p audit-sieve-host -- run $(FILE)

# Every test: unit tests natively, integration tests through the built module.
test: $(WASM)
	$(CARGO) test --release --workspace

# One instance, 1,000,000 mixed records: memory flat after warm-up, no drift (200,000 in `make test`).
soak: $(WASM)
	AUDIT_SIEVE_SOAK_RECORDS=1000000 $(CARGO) test --release --test soak -- --nocapture

# libFuzzer through cargo-fuzz (`cargo install cargo-fuzz`); on a stable toolchain the
# nightly flags it passes are allowed by RUSTC_BOOTSTRAP. FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 300
fuzz:
	cd fuzz && for t in json_entry msgpack_entry config; do \
	  mkdir -p corpus/$$t && \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 || exit 1; \
	done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	$(CARGO) clippy --lib --target $(TARGET) --profile wasm -- -D warnings

# Per-record cost per workload, beside three reference modules built here (bench/baselines).
bench: $(WASM)
	$(CARGO) build --quiet -p audit-sieve-baselines --target $(TARGET) --profile wasm
	cp $(TARGET_DIR)/$(TARGET)/wasm/audit_sieve_baselines.wasm build/baseline_copy.wasm
	$(CARGO) build --quiet -p audit-sieve-baselines --target $(TARGET) --profile wasm --features value
	cp $(TARGET_DIR)/$(TARGET)/wasm/audit_sieve_baselines.wasm build/baseline_value.wasm
	$(CARGO) build --quiet -p audit-sieve-baselines --target $(TARGET) --profile wasm --features touch
	cp $(TARGET_DIR)/$(TARGET)/wasm/audit_sieve_baselines.wasm build/baseline_touch.wasm
	$(CARGO) run --quiet --release --example bench

# The browser playground: the same core crate, built for wasm32-unknown-unknown with
# wasm-bindgen (the CLI's version must equal the crate's pin in playground/Cargo.toml).
WASM_BINDGEN ?= wasm-bindgen
PLAYGROUND   := build/playground
playground:
	$(CARGO) build -p audit-sieve-playground --lib --target wasm32-unknown-unknown --profile wasm
	rm -rf $(PLAYGROUND) && mkdir -p $(PLAYGROUND)
	$(WASM_BINDGEN) --target web --no-typescript --out-dir $(PLAYGROUND) \
		$(TARGET_DIR)/wasm32-unknown-unknown/wasm/audit_sieve_playground.wasm
	cp playground/www/* examples/sample.ndjson $(PLAYGROUND)/
	@echo "built $(PLAYGROUND)/ (serve it, e.g. python3 -m http.server -d $(PLAYGROUND))"

# The playground end to end in headless Chromium (CHROMIUM=... to choose the binary).
test-playground: playground
	PLAYGROUND_DIR=$(abspath $(PLAYGROUND)) $(CARGO) test --release -p audit-sieve-playground --test browser -- --ignored

clean:
	rm -rf build target
