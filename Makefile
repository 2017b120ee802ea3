# omni: make demo | make test   (see README.md)

SHELL := /bin/bash
CC ?= gcc

DEBS := nginx nginx-dev postgresql postgresql-contrib libpq-dev \
        libjansson-dev libpcre2-dev libssl-dev libcmocka-dev \
        libpng-dev libjpeg62-turbo-dev \
        libdbd-pg-perl libio-socket-ssl-perl openssl wrk chromium gcc make \
        curl

CORE_SRC := $(wildcard ngx_omni_module/core/omni_*.c)
CORE_TESTS := $(wildcard ngx_omni_module/core/test/test_*.c)
CORE_CFLAGS := -std=c99 -pedantic -Wall -Wextra -Werror -g \
               -Ingx_omni_module/core

.PHONY: all build asan-build deps unit fuzz test test-asan demo demo-stop \
        bench clean

all: build

deps:
	@missing=$$(for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || echo $$p; done); \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if [ -f t/browser/package.json ] && [ ! -d t/browser/node_modules ]; then \
	    npm ci --prefix t/browser --no-audit --no-fund --silent; \
	fi

build:
	bin/omni-build build

asan-build:
	bin/omni-build build-asan "-fsanitize=address -fno-omit-frame-pointer"

# every core/test/test_X.c links the pure-C core, once plain, once with
# AddressSanitizer and UBSan
unit:
	@mkdir -p build/unit
	@for t in $(CORE_TESTS); do \
	    n=$$(basename $$t .c); \
	    $(CC) $(CORE_CFLAGS) -o build/unit/$$n $(CORE_SRC) $$t \
	        -lcmocka -ljansson -lcrypto || exit 1; \
	    $(CC) $(CORE_CFLAGS) -fsanitize=address,undefined \
	        -fno-sanitize-recover=all -o build/unit/$$n.san $(CORE_SRC) $$t \
	        -lcmocka -ljansson -lcrypto || exit 1; \
	    build/unit/$$n >/dev/null && build/unit/$$n.san >/dev/null \
	        || { build/unit/$$n; exit 1; }; \
	    echo "unit: $$n ok"; \
	done

# libFuzzer over the parsers of untrusted input (clang), 60 s each,
# starting from core/fuzz/seeds/NAME (documented examples) where there are any
fuzz:
	@mkdir -p build/fuzz
	@for f in ngx_omni_module/core/fuzz/fuzz_*.c; do \
	    n=$$(basename $$f .c); \
	    clang -g -O1 -fsanitize=fuzzer,address,undefined \
	        -Ingx_omni_module/core $(CORE_SRC) $$f -ljansson -lcrypto \
	        -o build/fuzz/$$n || exit 1; \
	    rm -rf build/fuzz/$$n.corpus; mkdir -p build/fuzz/$$n.corpus; \
	    if [ -d ngx_omni_module/core/fuzz/seeds/$$n ]; then \
	        cp ngx_omni_module/core/fuzz/seeds/$$n/* build/fuzz/$$n.corpus/; \
	    fi; \
	    build/fuzz/$$n build/fuzz/$$n.corpus -max_total_time=60 \
	        -max_len=4096 \
	        -artifact_prefix=build/fuzz/ > build/fuzz/$$n.log 2>&1 \
	        || { grep -v INFO build/fuzz/$$n.log | head -30; exit 1; }; \
	    echo "$$n: $$(tail -1 build/fuzz/$$n.log)"; \
	done

test: deps build unit
	prove -j2 -r t/

test-asan: deps asan-build unit
	OMNI_MODULE=build-asan/ngx_http_omni_module.so OMNI_ASAN=1 prove -j2 -r t/

demo: deps build
	bin/omni-demo start

demo-stop:
	bin/omni-demo stop

bench: deps build
	bench/pixel
	bench/guard
	bench/webhooks
	bench/outbox
	bench/saved-replies

clean:
	rm -rf build build-asan
