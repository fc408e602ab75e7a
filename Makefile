# Two entry points on a fresh clone: `make serve` and `make test`.

VENV := .venv
PYTEST_FLAGS := -q -ra -p no:cacheprovider --durations=25

.PHONY: serve test

# The console is rebuilt only when its sources or schema.graphql changed (a hash stamp in
# jobtower/console/dist/); a fresh machine without a recent Node gets one from PyPI.
serve: $(VENV)/.serve-deps
	bash scripts/build-console
	$(VENV)/bin/jobtower serve $(ARGS)

# Reinstalled whenever pyproject.toml is newer than the last install.
$(VENV)/.serve-deps: pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

# Extra arguments: make test ARGS="-k cli -x", make serve ARGS="--port 9000".
# pytest exit status 5 means it collected no tests: fail, and say so.
test:
	bash scripts/install-test-deps
	@echo "$(VENV)/bin/pytest $(PYTEST_FLAGS) $(ARGS)"
	@$(VENV)/bin/pytest $(PYTEST_FLAGS) $(ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; fi; \
	exit $$status
