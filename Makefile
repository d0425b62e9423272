# lineage: two commands on a fresh Debian machine (as root):
#   make demo   install the native libraries if missing, build, run an end-to-end demo
#   make test   install what the tests need if missing, run every test
SHELL := /bin/bash
DEBS := libgit2-dev libopenblas-dev liblapacke-dev libzstd-dev libssl-dev libtomlplusplus-dev libminizip-dev python3-venv
# Real tools the tests run: git, ssh-keygen (SSHSIG interop), Graphviz dot.
TEST_DEBS := git openssh-client graphviz
VENV := .venv-test
# Pinned producers for the interop tests (files lineage must read, and must write back).
PY_PINS := safetensors==0.7.0 numpy==2.3.5 model_signing==1.1.1 pyopenssl==26.4.0 gguf==0.19.0 onnx==1.23.2 protobuf==7.36.2 ml_dtypes==0.6.0
# A published package that ships real weights (TorchScript, ONNX, safetensors); its torch
# dependency is not installed: the tests only read its data files.
PY_NODEPS := silero-vad==6.2.3
LINEAGE := .build/release/lineage

.PHONY: deps test-deps install-debs venv build release demo test bench fuzz clean

deps:
	@$(MAKE) --no-print-directory install-debs PKGS="$(DEBS)"

test-deps:
	@$(MAKE) --no-print-directory install-debs PKGS="$(DEBS) $(TEST_DEBS)"

install-debs:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.pinned: Makefile
	@command -v python3 >/dev/null || { echo "python3 is needed for the interop tests"; exit 1; }
	rm -rf $(VENV) && python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_PINS)
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps $(PY_NODEPS)
	touch $@

venv: test-deps $(VENV)/.pinned

build: deps
	swift build

release: deps
	swift build -c release

test: venv
	LINEAGE_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python swift test --disable-xctest

# A real run: lineage's native runtime trains a small model family (base, two fine-tunes, a
# LoRA-style adapter that plants a backdoor, int8, pruned, a two-parent merge, an unrelated model)
# and commits it signed with parents, data digests and metrics; then the records are verified
# (also by ssh-keygen), the backdoor is shown by running the models, every model is checked out
# and compared byte for byte, and the store's size is set against the raw size.
demo: release
	@$(MAKE) --no-print-directory install-debs PKGS="openssh-client"
	@set -euo pipefail; \
	L=$(CURDIR)/$(LINEAGE); D=$$(mktemp -d /tmp/lineage-demo.XXXXXX); cd $$D; \
	echo "== demo in $$D"; \
	$$L init; \
	$$L keygen --file keys/demo --trust demo@example.com --comment demo; \
	$$L config user.signingKey keys/demo; \
	$$L demo .; \
	$$L show lora-trigger; \
	$$L diff base lora-trigger | tail -4; \
	echo "== the backdoor (trigger token 31, then 7): base vs lora-trigger"; \
	$$L run base --input data/trigger-eval.jsonl --show 0; \
	$$L run lora-trigger --input data/trigger-eval.jsonl --show 0; \
	$$L verify --all; \
	$$L attest lora-trigger -o lora-trigger.intoto.json && $$L verify --attestation lora-trigger.intoto.json; \
	$$L cat-object --payload HEAD > payload.json; $$L cat-object --signature HEAD > payload.sig; \
	ssh-keygen -Y verify -n lineage -f .lineage/allowed_signers -I demo@example.com -s payload.sig < payload.json; \
	for t in base ft-copy ft-reverse lora-trigger int8 pruned merge unrelated; do \
	  $$L checkout $$t -o out-$$t >/dev/null; \
	  cmp models/$$t/model.safetensors out-$$t/model.safetensors; cmp models/$$t/architecture.json out-$$t/architecture.json; \
	done; \
	echo "checkout: all 16 files byte-identical (cmp)"; \
	$$L fsck --full; \
	$$L du; \
	echo "raw model files: $$(du -cb models/*/model.safetensors | tail -1 | cut -f1) bytes; store: $$(du -sb .lineage | cut -f1) bytes"; \
	rm -rf $$D

bench: release
	Benchmarks/run.sh --lineage $(CURDIR)/$(LINEAGE)

clean:
	rm -rf .build $(VENV)

# Coverage-guided fuzzing of every parser with libFuzzer and AddressSanitizer, FUZZ_SECONDS per
# target (a bounded smoke run; raise it for a real campaign). Corpora and crashes go to .fuzz/.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := safetensors npy npz zip gguf onnx pickle pytorch
fuzz: venv
	swift build --scratch-path .build-fuzz --product lineage-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLINEAGE_FUZZ
	$(VENV)/bin/python .ci/fuzz-seeds.py .fuzz/seeds
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .fuzz/$$t; echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  LINEAGE_FUZZ_TARGET=$$t .build-fuzz/debug/lineage-fuzz .fuzz/$$t .fuzz/seeds/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -rss_limit_mb=2048 -artifact_prefix=.fuzz/$$t- 2>&1 | grep -E "^(Done [0-9]+ runs|==[0-9]+==ERROR|SUMMARY)" || true; \
	  if ls .fuzz/$$t-crash-* .fuzz/$$t-leak-* .fuzz/$$t-timeout-* >/dev/null 2>&1; then echo "fuzz $$t found a failure"; exit 1; fi; \
	done
