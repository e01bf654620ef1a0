# Every target installs what it is missing (virtualenv, requirements,
# PostgreSQL, Redis) before it runs; see scripts/.
.PHONY: run test schema bench arch test-citus citus-start citus-stop

# CITUS=1: on the loopback Citus cluster (database zentra on its coordinator).
run:
ifeq ($(CITUS),1)
	bash scripts/citus_cluster.sh start
	bash scripts/citus_cluster.sh ensure-db zentra
	DATABASE_URL=postgres://postgres@127.0.0.1:9700/zentra ZENTRA_CITUS=1 bash scripts/run.sh
else
	bash scripts/run.sh
endif

test:
	bash scripts/test.sh

schema:
	bash scripts/schema.sh

bench:
	bash scripts/bench.sh

arch:
	bash scripts/arch.sh
# A coordinator and two workers on loopback (scripts/citus_cluster.sh; Citus is
# built once and cached outside the clone). CITUS_TESTS picks the tests.
test-citus:
	bash scripts/test_citus.sh $(CITUS_TESTS)

citus-start:
	bash scripts/citus_cluster.sh start

citus-stop:
	bash scripts/citus_cluster.sh stop
