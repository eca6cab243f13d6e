.PHONY: run dev test lint bench

run:  ## install what is missing, migrate, start finapp on $PORT (default 3000)
	./scripts/run.sh

dev:  ## the same with hot reload
	./scripts/run.sh --dev

test:  ## install test dependencies (Python, bun, chromium, postgresql) and run the whole suite
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:  ## every benchmark, one after the other (each prints its figures and its baseline's)
	.venv/bin/python -m tests.bench.bench_aggregation
	.venv/bin/python -m tests.bench.bench_batch
	.venv/bin/python -m tests.bench.bench_email
	.venv/bin/python -m tests.bench.bench_webhooks
