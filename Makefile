# The two set-up commands of the README: `make run` (the app on the bundled demo) and `make test`.
.PHONY: deps run test

deps:
	@bash scripts/install-deps.sh

run: deps
	cargo run --release --

test: deps
	cargo test
