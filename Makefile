# Everyday commands. `make test` is the README's test command; CI (.ci/run) also runs `lint`.
.PHONY: run demo test test-postgres lint bench

run demo:
	pip install -e . && flask --app dashboard demo

test:
	pip install -e '.[test]' && python -m pytest -q

test-postgres:
	TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test DASHBOARD_FORBID_SKIPS=1 \
		python -m pytest -q

lint:
	ruff check dashboard tests bench scripts

bench:
	pip install -e '.[bench]' && python -m bench.run
