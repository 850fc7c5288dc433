# am - governed local execution for AI agents.  See README.md.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
DATADIR  = $(PREFIX)/share/am

PKGS     = libcjson libgit2 libarchive libzstd libsodium libseccomp zlib nettle libssh2
# Debian packages that provide the libraries and the tools make check uses.
DEB_PKGS = build-essential pkg-config libcjson-dev libgit2-dev libarchive-dev \
           libzstd-dev libsodium-dev libseccomp-dev zlib1g-dev nettle-dev libssh2-1-dev bats mandoc git \
           openssh-client python3-jwt python3-jsonschema zstd jq util-linux passwd

CC      ?= cc
VERSION := 0.1.0
CFLAGS  ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
           -Wformat=2 -Wshadow -Wpointer-arith -fno-strict-aliasing \
           -D_GNU_SOURCE -DAM_VERSION='"$(VERSION)"' \
           -DAM_DATADIR='"$(DATADIR)"' -Icore
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libarchive,$(PKGS)) 2>/dev/null)
# libarchive is dlopen()ed by core/bundle.c when a bundle is written or
# read (it brings 17 shared libraries every other command would load): its
# headers at build time, its soname at run time.
LIBARCHIVE_SONAME := $(shell objdump -p "$$(pkg-config --variable=libdir libarchive 2>/dev/null)/libarchive.so" 2>/dev/null | awk '$$1 == "SONAME" { print $$2 }')
override CFLAGS += $(PKG_CFLAGS) -DAM_LIBARCHIVE='"$(or $(LIBARCHIVE_SONAME),libarchive.so.13)"'
override LDLIBS += $(PKG_LIBS) -lpthread

CORE_SRC = $(sort $(wildcard core/*.c))
CMD_SRC  = $(sort $(wildcard cmd/*.c))
CORE_OBJ = $(CORE_SRC:.c=.o)
CMD_OBJ  = $(CMD_SRC:.c=.o)
UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN = $(UNIT_SRC:.c=)
BENCH_SRC = $(sort $(wildcard bench/*.c))
BENCH_BIN = $(BENCH_SRC:.c=)

all: am

am: $(CMD_OBJ) libam.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CMD_OBJ) libam.a $(LDLIBS)

libam.a: $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $(CORE_OBJ)

$(CORE_OBJ) $(CMD_OBJ): $(wildcard core/*.h cmd/*.h) Makefile

tests/unit/%: tests/unit/%.c tests/unit/t.h libam.a
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< libam.a $(LDLIBS)

bench/%: bench/%.c libam.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< libam.a $(LDLIBS)

units: $(UNIT_BIN)

# Install missing Debian packages (as root), or say exactly what to run.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing; }; \
	else \
	  echo "make deps: missing packages; run as root:"; \
	  echo "  apt-get install -y$$missing"; exit 1; \
	fi

# The tests: C unit tests for core and the bats suites (run through bats, so
# one runner counts everything), then the man page lint.
check: deps
	$(MAKE) all units
	bats --tap tests
	$(MAKE) lint

lint:
	mandoc -Tlint -Wwarning man/*.[1-8]

check-asan: deps
	$(MAKE) clean
	$(MAKE) all units CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
	  LDFLAGS='-fsanitize=address,undefined'
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 bats tests
	$(MAKE) clean

# A sub-make builds, as for check: the compiler and linker flags come from
# pkg-config, which knows the libraries only once deps installed them.
demo: deps
	$(MAKE) all
	sh tests/demo.sh

bench: deps
	$(MAKE) all $(BENCH_BIN)
	sh bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(DATADIR)/profiles \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 am $(DESTDIR)$(BINDIR)/am
	for f in man/*.1; do install -m 644 $$f $(DESTDIR)$(MANDIR)/man1/; done
	for f in man/*.5; do install -m 644 $$f $(DESTDIR)$(MANDIR)/man5/; done
	for f in $(wildcard man/*.7); do install -m 644 $$f $(DESTDIR)$(MANDIR)/man7/; done
	for f in $(wildcard profiles/*.json); do install -m 644 $$f $(DESTDIR)$(DATADIR)/profiles/; done
	install -m 644 completions/am.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/am
	install -m 644 completions/_am $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_am
	install -m 644 completions/am.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/am.fish

clean:
	rm -f am libam.a core/*.o cmd/*.o $(UNIT_BIN) $(BENCH_BIN)

.PHONY: all deps check check-asan lint demo bench install clean units
