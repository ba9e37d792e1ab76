"""The test case of keras_pn's layer, backbone, task and preset tests."""

from keras_pn.private_api import hub_test_case


class TestCase(hub_test_case()):
    """keras-hub's `TestCase`, for keras_pn's layers, backbones, tasks and presets.

    It gives keras-hub's checks: `run_layer_test` (config round trip, weight
    counts after `build`, symbolic and eager calls, a compiled `fit` step,
    mixed precision), `run_backbone_test` (adds variable lengths, `predict`,
    the class name and quantization), `run_task_test` (`predict` and `fit`
    with and without preprocessing) and `run_preset_test` (pinned outputs).

    A layer with several call arguments takes `input_data` as a dict keyed by
    argument name (`{"inputs": x, "expert_code": code}`); a backbone takes its
    dict of model inputs. A `ProjectedGPTBackbone` test passes
    `variable_length_data` itself: its `cluster_ids` have no sequence axis.

    pytest collects subclasses like any `unittest.TestCase`, and the suite's
    autouse fixtures apply to them; TensorFlow's `setUp` then re-seeds Python's
    and NumPy's generators with its own fixed seed, so each test is still
    deterministic.
    """

    # TensorFlow's deprecated `test_session` context manager is not a test, but
    # pytest would collect it (and skip it) in every subclass.
    test_session = None
