"""Root pytest configuration: the model zoo as parametrized cases.

``zoo_case`` tests are parametrized over framework x model x opset x device from the zoo
catalogue. The whole zoo runs only when asked for — ``--zoo``, any of ``--framework``,
``--model``, ``--opset``, ``--device``, or a ``-k`` expression (``pytest -k resnet50``
selects one model in every framework); a plain ``pytest``/``make test`` runs just the smoke
case (harness.cases.SMOKE_CANDIDATES) so CI exercises the harness end to end; it reads its
export from the session's cache (``zoo_cache_dir``), shared with the other tests of that cell.
"""
from __future__ import annotations

import os

import pytest

from harness import cases as zoo_cases
from harness import records
from harness.paths import DEFAULT_OUT
from harness.runner import RunOptions
from harness.selectors import add_selector_arguments, parse_timeouts

# Catalogue marks that are pytest markers (pyproject declares them; --strict-markers).
CATALOGUE_MARKS = {"slow", "big"}
# Tests carrying a source-framework marker run an exporter process or import a framework:
# the long ones. They start first (below), so no xdist worker ends the run on a long tail.
SOURCE_FRAMEWORK_MARKS = ("torch", "tensorflow", "paddle", "oneflow")
# The xdist group (pyproject: --dist loadgroup) of the tests that share the session's torch
# squeezenet1_1 opset-13 export (zoo_cache_dir): one worker, one export. Same name as
# tests/zoo_export_checks.py's TORCH_SMOKE_GROUP.
TORCH_SMOKE_GROUP = "torch-squeezenet1_1-export"


try:
    from xdist.scheduler import LoadGroupScheduling
except ImportError:   # pytest without xdist: no scheduler to replace
    LoadGroupScheduling = None
else:
    class CrashSafeLoadGroupScheduling(LoadGroupScheduling):
        """xdist 3.8's loadgroup scheduler, except when a worker dies (docs/design.md §8).

        Stock, a dead worker's whole work unit goes back on the queue, the test it died in
        included: the replacement worker runs that test again (and dies again), and with
        groups the run can wait for ever on a replacement that is never given work. Here the
        test in flight is marked done before the unit is re-queued, so xdist reports it once
        as crashed and the unit's other tests run on the replacement."""

        def remove_node(self, node):
            crashed = None
            workload = self.assigned_work.get(node, {})
            for unit in workload.values():
                crashed = next((nodeid for nodeid, done in unit.items() if not done), None)
                if crashed is not None:
                    unit[crashed] = True
                    break
            for scope in [scope for scope, unit in workload.items() if all(unit.values())]:
                del workload[scope]
            super().remove_node(node)
            return crashed

        def _reschedule(self, node):
            """A replacement worker still collecting has no registered collection yet: stock
            xdist 3.8 hands it work anyway when another replacement finishes collecting
            (schedule() reschedules every node) and dies of KeyError in _assign_work_unit, an
            INTERNALERROR that ended the planted-crash run (two fresh-clone runs, 2026-12-08).
            It gets its work when its own collection is in (that schedules again)."""
            if node in self.registered_collections:
                super()._reschedule(node)

        def _assign_work_unit(self, node):
            """Two workers dying together: re-queueing the first one's work reschedules onto the
            second, whose death may not be processed yet; sending to its closed channel raises
            OSError, which would end the run with INTERNALERROR. The unit stays assigned to the
            dead node, and that node's remove_node re-queues it."""
            try:
                super()._assign_work_unit(node)
            except OSError:
                pass


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if LoadGroupScheduling is not None and config.getvalue("dist") == "loadgroup":
        return CrashSafeLoadGroupScheduling(config, log)
    return None


def pytest_addoption(parser):
    group = parser.getgroup("zoo", "model-zoo cases (harness)")
    group.addoption("--zoo", action="store_true", default=False,
                    help="run every zoo case the other selectors allow (default: only the smoke case)")
    add_selector_arguments(group.addoption)
    group.addoption("--results", default=None,
                    help="JSON-lines file for the zoo case records (started afresh by each run)")
    group.addoption("--zoo-out", default=DEFAULT_OUT, help="output root for the export cache and repro bundles")
    group.addoption("--zoo-cache", default=None, help="export cache (default ZOO_OUT/cache)")
    group.addoption("--zoo-timeout", action="append", default=[], metavar="STAGE=SECONDS",
                    help="per-stage timeout override for zoo cases (repeatable)")


def zoo_selected(config) -> bool:
    o = config.option
    return bool(o.zoo or o.framework or o.model or o.opset or o.device or o.keyword)


def pytest_configure(config):
    results = config.getoption("results")
    # Only the controller starts the file afresh; xdist workers append to it.
    if results and not hasattr(config, "workerinput"):
        if os.path.exists(results):
            os.remove(results)
        # the xdist workers, started after this, inherit the run id through the environment
        os.environ[records.RUN_ID_ENV] = records.new_run_id()
        records.append(results, records.run_header(" ".join(["python -m pytest", *config.invocation_params.args]),
                                                   os.environ[records.RUN_ID_ENV]))


def pytest_sessionfinish(session):
    results = session.config.getoption("results")
    if results and not hasattr(session.config, "workerinput"):
        records.close_unfinished(results)   # a crashed xdist worker's case still gets its record


def _param(case, limit, group=None):
    marks = [getattr(pytest.mark, case.framework), pytest.mark.timeout(limit)]
    marks += [pytest.mark.xdist_group(group)] if group else []
    marks += [getattr(pytest.mark, m) for m in case.marks if m in CATALOGUE_MARKS]
    if case.device == "cuda":
        marks.append(pytest.mark.cuda)
    return pytest.param(case, id=case.case_id, marks=marks)


def pytest_generate_tests(metafunc):
    if "zoo_case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    # A zoo case's own stage timeouts end it first; pytest-timeout is the backstop above them.
    limit = sum(parse_timeouts(config.option.zoo_timeout).values()) + 120
    if zoo_selected(config):
        selected = zoo_cases.select(config.option.framework, config.option.model,
                                    config.option.opset, config.option.device)
        metafunc.parametrize("zoo_case", [_param(c, limit) for c in selected])
    else:   # the smoke case (torch squeezenet1_1) reuses the session's export of that cell
        metafunc.parametrize("zoo_case", [_param(c, limit, TORCH_SMOKE_GROUP) for c in zoo_cases.smoke_cases()])


def pytest_collection_modifyitems(items):
    # Stable: the exporter tests first, each part in collection order (the same on every worker).
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in SOURCE_FRAMEWORK_MARKS))


@pytest.fixture(scope="session")
def zoo_cache_dir(tmp_path_factory):
    """The export cache of the tests' zoo exports: $ZOO_CACHE_DIR when set, so re-runs reuse
    exports, else one temporary directory per session (per xdist worker: tests sharing an
    export are put in one xdist group)."""
    return os.environ.get("ZOO_CACHE_DIR") or str(tmp_path_factory.mktemp("zoo-cache"))


@pytest.fixture(scope="session")
def zoo_run_options(pytestconfig, zoo_cache_dir) -> RunOptions:
    o = pytestconfig.option
    # A zoo selection uses the harness's cache (<zoo-out>/cache) as `make matrix` does; the
    # smoke case shares the session's cache with the other tests of its cell.
    cache = o.zoo_cache or (None if zoo_selected(pytestconfig) else zoo_cache_dir)
    return RunOptions(out_dir=o.zoo_out, results=o.results, keep=o.keep, timeouts=parse_timeouts(o.zoo_timeout),
                      cache=cache, run_id=os.environ.get(records.RUN_ID_ENV),
                      # a test that cannot run on this machine's GPU is a pytest skip with the
                      # reason; `python -m harness matrix` makes it infra (docs/design.md §7)
                      allow_skip_device=True)


def pytest_report_header(config):
    return f"zoo cases: {'as selected' if zoo_selected(config) else 'smoke only (use --zoo or a selector for more)'}"
