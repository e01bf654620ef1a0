# Every target installs what it is missing (virtualenv, requirements,
# PostgreSQL, Redis) before it runs; see scripts/.
.PHONY: run test schema bench arch

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

schema:
	bash scripts/schema.sh

bench:
	bash scripts/bench.sh

arch:
	bash scripts/arch.sh
