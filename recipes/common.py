"""Flags shared by the training recipes: run-level knobs only (architecture is in presets).

The run flags are generated from `keras_pn.methods.RunConfig`, one per field:

>>> from absl import flags
>>> values = flags.FlagValues()
>>> define_run_flags(values)
>>> _ = values(["prog", "--select=best_pretrained", "--learning_rate=0.006"])
>>> config = run_config(values)
>>> config.expert_selection, config.finetune_learning_rate, config.is_tokens
('best_pretrained', 0.002, 200000)
"""

import logging as std_logging

from absl import flags
from absl import logging

from keras_pn.methods import RunConfig
from recipes import config_flags

FLAGS = flags.FLAGS


def define_run_flags(flag_values=FLAGS):
    """Flags that fill a `keras_pn.methods.RunConfig` (names, defaults, help: its fields)."""
    config_flags.define_flags(RunConfig, flag_values=flag_values)


def run_config(flag_values=FLAGS):
    """The `RunConfig` described by the flags."""
    return config_flags.from_flags(RunConfig, flag_values=flag_values)


def define_distribution_flags():
    """Flags of multi-device / multi-host training (`keras_pn.distribution`)."""
    flags.DEFINE_enum(
        "distribution", "none", ["none", "data_parallel", "model_parallel"],
        "none: one device. data_parallel: replicate the model, split the batch (JAX "
        "DataParallel, TensorFlow MirroredStrategy). model_parallel: JAX only, shard "
        "weights over the 'model' axis of --mesh_shape.")
    flags.DEFINE_list("mesh_shape", None, "DATA,MODEL device mesh (e.g. 2,4 on 8 devices) for model_parallel; N (first N devices) for data_parallel.")
    flags.DEFINE_string("coordinator_address", None, "Multi-host JAX: host:port of process 0, or 'auto' (Cloud TPU, SLURM, Open MPI).")
    flags.DEFINE_integer("num_processes", None, "Multi-host JAX: number of processes (hosts).")
    flags.DEFINE_integer("process_id", None, "Multi-host JAX: this process, in [0, num_processes).")
    flags.DEFINE_string("tpu", None, "TensorFlow only: TPUStrategy target ('local' on a TPU VM).")
    flags.DEFINE_integer("cpu_devices", None, "Split the host CPU into N logical devices (JAX, TensorFlow) to try --distribution without accelerators.")


def distribution_scope():
    """The `keras_pn.distribution` context described by the flags; build models in it."""
    from keras_pn.distribution import configure_distribution
    from keras_pn.distribution import split_host_cpu

    if FLAGS.cpu_devices:
        split_host_cpu(FLAGS.cpu_devices)
    context = configure_distribution(
        FLAGS.distribution,
        FLAGS.mesh_shape,
        coordinator_address=FLAGS.coordinator_address,
        num_processes=FLAGS.num_processes,
        process_id=FLAGS.process_id,
        tpu=FLAGS.tpu,
        batch_size=FLAGS.batch_size,
    )
    if "finetune_batch_size" in FLAGS and FLAGS.finetune_batch_size:
        context.check_batch_size(FLAGS.finetune_batch_size, "--finetune_batch_size")
    return context


def start_logging():
    """INFO logs from absl and keras_pn; the backend and devices first."""
    import keras

    logging.set_verbosity(logging.INFO)
    std_logging.getLogger("keras_pn").setLevel(std_logging.INFO)
    logging.info("Keras %s, backend %s", keras.version(), keras.config.backend())
