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

# A real run on generated checkpoints: a base, a fine-tuned child (every tensor takes a small
# step) and a grandchild (5% of tensors change), committed with declared parents, checked out
# and compared byte for byte, then the store's size against the raw size.
demo: release
	@$(MAKE) --no-print-directory install-debs PKGS="openssh-client"
	@set -euo pipefail; \
	L=$(CURDIR)/$(LINEAGE); D=$$(mktemp -d /tmp/lineage-demo.XXXXXX); cd $$D; \
	echo "== demo in $$D"; \
	$$L init; \
	$$L keygen --file keys/demo --trust demo@example.com --comment demo; \
	$$L config user.signingKey keys/demo; \
	$$L fixture generate base.safetensors --size 64MiB --dtype BF16 --seed 1; \
	$$L fixture derive base.safetensors finetune.safetensors --fraction 1 --scale 0.02 --seed 2; \
	$$L fixture derive finetune.safetensors grandchild.safetensors --fraction 0.05 --seed 3; \
	echo '{"model_type": "llama", "torch_dtype": "bfloat16"}' > config.json; \
	mkdir -p data/chats && seq 1 1000 | sed 's/.*/{"text": "chat &"}/' > data/chats/part-0.jsonl; \
	printf 'lr: 0.0003\nepochs: 2\nscheduler: cosine\n' > train.yaml; \
	$$L commit base.safetensors config.json -m "pretrain" --tag base; \
	$$L commit finetune.safetensors -m "fine-tune on chats" --parent base:finetune --tag finetune \
	  --data data/chats --params train.yaml --metric eval_loss=1.92 --command "python train.py"; \
	$$L commit grandchild.safetensors -m "patch 5% of tensors" --parent finetune:finetune --tag grandchild; \
	$$L log --graph; \
	$$L show finetune; \
	$$L diff finetune grandchild | tail -5; \
	$$L graph --format mermaid; \
	$$L verify --all; \
	$$L attest grandchild -o grandchild.intoto.json && $$L verify --attestation grandchild.intoto.json; \
	$$L cat-object --payload HEAD > payload.json; $$L cat-object --signature HEAD > payload.sig; \
	ssh-keygen -Y verify -n lineage -f .lineage/allowed_signers -I demo@example.com -s payload.sig < payload.json; \
	$$L ls grandchild --files-only; \
	for t in base finetune grandchild; do $$L checkout $$t -o out-$$t >/dev/null; done; \
	cmp base.safetensors out-base/base.safetensors; cmp config.json out-base/config.json; \
	cmp finetune.safetensors out-finetune/finetune.safetensors; \
	cmp grandchild.safetensors out-grandchild/grandchild.safetensors; \
	echo "checkout: all files byte-identical (cmp)"; \
	$$L fsck --full; \
	$$L du; \
	echo "raw files: $$(du -cb base.safetensors config.json finetune.safetensors grandchild.safetensors | tail -1 | cut -f1) bytes; store: $$(du -sb .lineage | cut -f1) bytes"; \
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
