"""Flags shared by the training recipes: run-level knobs only (architecture is in presets)."""

import logging as std_logging

from absl import flags
from absl import logging

from keras_pn.training.methods import RunConfig

FLAGS = flags.FLAGS


def define_run_flags():
    """Flags that fill a `keras_pn.training.methods.RunConfig`."""
    defaults = RunConfig()
    flags.DEFINE_string("slm_preset", defaults.slm_preset, "Architecture of the small model.")
    flags.DEFINE_string("llm_preset", defaults.llm_preset, "Architecture of the large model.")
    flags.DEFINE_string("pn_preset", defaults.pn_preset, "Architecture of the projected network.")
    flags.DEFINE_integer("batch_size", defaults.batch_size, "Windows per pretraining batch (global).")
    flags.DEFINE_integer("finetune_batch_size", defaults.finetune_batch_size, "Windows per fine-tuning batch (global; default: --batch_size).")
    flags.DEFINE_integer("pretrain_tokens", defaults.pretrain_tokens, "Generic pretraining budget per model (tokens).")
    flags.DEFINE_integer("is_tokens", None, "Importance-sampled pretraining budget per domain (default: --pretrain_tokens).")
    flags.DEFINE_float("learning_rate", defaults.learning_rate, "Peak pretraining learning rate (Adam, warm-up, cosine, clip 5.0).")
    flags.DEFINE_float("finetune_learning_rate", None, "Fine-tuning learning rate (default: learning_rate / 3, as the paper).")
    flags.DEFINE_integer("finetune_max_steps", defaults.finetune_max_steps, "Upper bound on fine-tuning steps.")
    flags.DEFINE_integer("finetune_eval_every", defaults.finetune_eval_every, "Steps between validation checks.")
    flags.DEFINE_integer("patience", defaults.patience, "Validation checks without improvement before early stopping.")
    flags.DEFINE_integer("valid_windows", defaults.valid_windows, "Cap on validation windows for early stopping (a fixed seeded sample; default: all).")
    flags.DEFINE_integer("test_windows", defaults.test_windows, "Cap on test windows for reported perplexities (same sample for every method; default: all).")
    flags.DEFINE_integer("pn_clusters", defaults.pn_clusters, "k of the projected network and the hard mixture.")
    flags.DEFINE_integer("is_clusters", defaults.is_clusters, "k of importance sampling.")
    flags.DEFINE_enum("select", defaults.expert_selection, ["most_frequent", "best_pretrained", "finetune_all"], "PN / mixture expert selection.")
    flags.DEFINE_integer("lora_rank", defaults.lora_rank, "LoRA rank of LLM-LoRA (paper: 64).")
    flags.DEFINE_float("distill_alpha", defaults.distill_alpha, "Weight of the teacher term in SLM-d.")
    flags.DEFINE_integer("checkpoints", defaults.checkpoints, "Checkpoints per pretraining run.")
    flags.DEFINE_integer("seed", defaults.seed, "Random seed.")
    flags.DEFINE_integer("verbose", defaults.verbose, "Keras progress-bar verbosity (0, 1, 2).")


def run_config():
    """The `RunConfig` described by the flags."""
    return RunConfig(
        slm_preset=FLAGS.slm_preset,
        llm_preset=FLAGS.llm_preset,
        pn_preset=FLAGS.pn_preset,
        batch_size=FLAGS.batch_size,
        finetune_batch_size=FLAGS.finetune_batch_size,
        pretrain_tokens=FLAGS.pretrain_tokens,
        is_tokens=FLAGS.is_tokens,
        learning_rate=FLAGS.learning_rate,
        finetune_learning_rate=FLAGS.finetune_learning_rate,
        finetune_max_steps=FLAGS.finetune_max_steps,
        finetune_eval_every=FLAGS.finetune_eval_every,
        patience=FLAGS.patience,
        valid_windows=FLAGS.valid_windows,
        test_windows=FLAGS.test_windows,
        pn_clusters=FLAGS.pn_clusters,
        is_clusters=FLAGS.is_clusters,
        expert_selection=FLAGS.select,
        lora_rank=FLAGS.lora_rank,
        distill_alpha=FLAGS.distill_alpha,
        checkpoints=FLAGS.checkpoints,
        seed=FLAGS.seed,
        verbose=FLAGS.verbose,
    )


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
