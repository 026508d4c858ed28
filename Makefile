# Sampark: every target works on a fresh Debian 12 machine; each installs what is missing.
# The servers (private RabbitMQ and PostgreSQL on 127.0.0.1) are started and stopped by
# scripts/services.sh; see docs/development.md.

SHELL := /bin/bash

ifneq ($(wildcard /opt/swift/usr/bin/swift),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

.PHONY: help test bench demo deps services-up services-down services-status clean

help:
	@echo "make test            install what is missing, start private servers, build, run all tests, stop"
	@echo "make bench           the same, then the release benchmark beside the rabbitmq-c baseline (BENCH_ARGS=...)"
	@echo "make demo            smoke run of the foundation (the end-to-end demo comes with the workers)"
	@echo "make deps            install missing Debian and PyPI packages only"
	@echo "make services-up     start the private RabbitMQ and PostgreSQL and print their environment"
	@echo "make services-down   stop them"
	@echo "make services-status"
	@echo "make clean           stop the servers, remove .run/ (their data) and .build/"

test:
	scripts/test.sh

bench:
	scripts/bench.sh

demo:
	scripts/demo.sh

deps:
	scripts/install-deps.sh

services-up: deps
	scripts/services.sh start
	@echo
	@echo '# For this shell:  eval "$$(scripts/services.sh env)"'
	@scripts/services.sh env

services-down:
	scripts/services.sh stop

services-status:
	scripts/services.sh status

clean:
	scripts/services.sh clean
	rm -rf .build
