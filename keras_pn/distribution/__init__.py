"""Multi-device and multi-host training on the engines Keras supports.

keras_pn's backend-specific distribution code lives in this package, one
module per backend (`jax_backend`, `tensorflow_backend`, `torch_backend`),
each importing its framework only when called; `layout` (where each weight
lives on the mesh), `mesh` (mesh shapes), `context` (`configure_distribution`)
and `backends` (which module serves the running backend) are shared. What
each backend gets (Keras 3.15.1):

| backend | `data_parallel` | `model_parallel` | multi-host |
|---|---|---|---|
| JAX | `keras.distribution.DataParallel` | `keras.distribution.ModelParallel` with `layout_map` | `jax.distributed.initialize` |
| TensorFlow | `tf.distribute.MirroredStrategy` (`TPUStrategy` with `tpu=`) | not supported (error) | `MultiWorkerMirroredStrategy` from `TF_CONFIG` (untested here) |
| torch | `keras.distribution` is not implemented for torch in Keras 3.15.1; `torch_data_parallel` averages gradients over a `torch.distributed` process group (torchrun) | not supported (error) | torchrun |

The model must be *built* (and on TensorFlow compiled and fitted) inside the
context returned by `configure_distribution`: variables take their layout, or
become mirrored, when they are created. `layout_map`'s table of layouts is in
`keras_pn.distribution.layout`; TensorFlow's XLA caveats in
`keras_pn.distribution.tensorflow_backend`.

Example (JAX, 8 devices):

```python
import keras_pn
from keras_pn import distribution as kd

with kd.configure_distribution("model_parallel", mesh_shape=(2, 4)):
    model = keras_pn.models.ProjectedGPT.from_preset("pn_tiny", load_weights=False)
    model.compile(...)
    model.fit(dataset)                # batches of a multiple of 2 examples
print(kd.sharding_report(model)["transformer_layer_0/mlp_intermediate_dense/kernel_bases"])
# P(None, 'model', None)   (a jax.sharding.PartitionSpec)
```

**Data on several hosts.** Every host runs the same command. With JAX,
`keras.distribution` shards a `tf.data` batch of the global size over the
processes itself (`auto_shard_dataset=True`): each host may read the same
global stream. To read only this host's share instead, pass
`num_hosts=jax.process_count(), host_index=jax.process_index()` to
`keras_pn.data.streams.generic_dataset` / `resampled_dataset` and build the
distribution with `auto_shard_dataset=False`.

**Pretraining on a cluster** (the recipes' flags; `METHOD` is a method id):

```bash
# One host, 8 GPUs (or a TPU VM), JAX: replicate the model, split the batch.
KERAS_BACKEND=jax python -m recipes.pretrain --method=METHOD --data_dir=D --workdir=W \
    --pn_preset=pn_paper --batch_size=64 --distribution=data_parallel
# Shard the weights too: 2 data replicas x 4-way model parallelism.
    ... --distribution=model_parallel --mesh_shape=2,4
# 4 GPU hosts, JAX: the same command on every host, with its own --process_id
# (or --coordinator_address=auto on Cloud TPU pods, SLURM and Open MPI).
    ... --distribution=data_parallel --coordinator_address=10.0.0.1:1234 \
        --num_processes=4 --process_id=$RANK
# TensorFlow: MirroredStrategy over the local GPUs; several workers through
# TF_CONFIG (MultiWorkerMirroredStrategy); a TPU with --tpu=local (or its name).
KERAS_BACKEND=tensorflow python -m recipes.pretrain ... --distribution=data_parallel
```

`--batch_size` is the global batch: it must be a multiple of the data-parallel
replicas (checked, with the fix in the error).
"""

from keras_pn.distribution.backends import data_parallel
from keras_pn.distribution.backends import initialize_multi_host
from keras_pn.distribution.backends import split_host_cpu
from keras_pn.distribution.context import KINDS
from keras_pn.distribution.context import DistributionContext
from keras_pn.distribution.context import configure_distribution
from keras_pn.distribution.errors import DistributionError
from keras_pn.distribution.jax_backend import model_parallel
from keras_pn.distribution.layout import layout_map
from keras_pn.distribution.layout import sharding_report
from keras_pn.distribution.mesh import parse_mesh_shape
from keras_pn.distribution.tensorflow_backend import distributable_dataset
from keras_pn.distribution.tensorflow_backend import xla_compatible
from keras_pn.distribution.torch_backend import torch_data_parallel

__all__ = [
    "KINDS",
    "DistributionContext",
    "DistributionError",
    "configure_distribution",
    "data_parallel",
    "distributable_dataset",
    "initialize_multi_host",
    "layout_map",
    "model_parallel",
    "parse_mesh_shape",
    "sharding_report",
    "split_host_cpu",
    "torch_data_parallel",
    "xla_compatible",
]
