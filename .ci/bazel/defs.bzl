"""keras_multibackend_test: one pytest-run py_test per Keras backend, plus a test_suite.

    keras_multibackend_test(name = "layers/test_projected_dense",
                            srcs = ["layers/test_projected_dense.py"], deps = [...])

makes //tests:layers/test_projected_dense_jax, ..._tensorflow, ..._torch (each runs
`pytest <file>` under .venv's Python with KERAS_BACKEND set; main: pytest_runner.py) and
the test_suite //tests:layers/test_projected_dense of the three. Each py_test is tagged
with its backend (`bazel test --config=jax //tests/...` keeps the JAX ones).
"""

BACKENDS = ["jax", "tensorflow", "torch"]

_RUNNER = "//.ci/bazel:pytest_runner.py"

# The environment of every test, besides KERAS_BACKEND (the same as .ci/run's).
TEST_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
}

def keras_multibackend_test(
        name,
        srcs,
        deps = [],
        data = [],
        backends = BACKENDS,
        size = "large",
        tags = [],
        env = {},
        args = [],
        **kwargs):
    """One py_test per backend (`<name>_<backend>`) and the test_suite `<name>`.

    Args:
      name: base name, e.g. "layers/test_projected_dense" (usually the file less ".py").
      srcs: the pytest files (run together by one pytest call).
      deps: py_library targets the tests import.
      data: runtime files (e.g. //:pytest_config, pytest's configuration).
      backends: the Keras backends to make a target for.
      size: Bazel test size; its default timeout: medium 5 min, large 15 min,
        enormous 60 min ("large" by default: each file starts a framework from cold).
      tags: extra tags of every py_test (e.g. "slow"); the backend name is added.
      env: extra environment variables.
      args: extra pytest arguments (after the files).
      **kwargs: passed on to every py_test (e.g. timeout, flaky, shard_count).
    """
    tests = []
    for backend in backends:
        test_name = "%s_%s" % (name, backend)
        test_env = dict(TEST_ENV)
        test_env.update(env)
        test_env["KERAS_BACKEND"] = backend
        native.py_test(
            name = test_name,
            srcs = srcs + [_RUNNER],
            main = _RUNNER,
            args = ["$(rootpath %s)" % src for src in srcs] + args,
            data = data,
            deps = deps,
            env = test_env,
            size = size,
            tags = tags + [backend],
            python_version = "PY3",
            srcs_version = "PY3",
            legacy_create_init = False,
            **kwargs
        )
        tests.append(":" + test_name)

    # No tags here: a test_suite's tags would filter its tests.
    native.test_suite(
        name = name,
        tests = tests,
    )
