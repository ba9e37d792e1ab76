"""torch: gradient averaging over a `torch.distributed` process group (torchrun).

`keras.distribution` is not implemented for torch in Keras 3.15.1, so
`data_parallel` and `model_parallel` are refused with the fix in the error;
`torch_data_parallel` gives synchronous data parallelism instead.
"""

import keras

from keras_pn.distribution.errors import DistributionError
from keras_pn.distribution.errors import unsupported


def _process_group_backend():
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def data_parallel(devices=None, data_axis="data", tpu=None):
    """Refused: no torch `keras.distribution` (see `torch_data_parallel`)."""
    del devices, data_axis, tpu
    unsupported("data_parallel")


def configure(kind, mesh_shape, *, devices, backbone, strict, tpu):
    """Refused: no torch `keras.distribution` (see `torch_data_parallel`)."""
    del mesh_shape, devices, backbone, strict, tpu
    unsupported(f"--distribution={kind}")


def initialize_multi_host(coordinator_address=None, num_processes=None, process_id=None):
    """`torch.distributed.init_process_group` from torchrun's environment; `(rank, world)`."""
    del coordinator_address, num_processes, process_id  # torchrun's environment
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(_process_group_backend())
    return dist.get_rank(), dist.get_world_size()


def split_host_cpu(num_devices):
    """Refused: torch has no logical CPU devices (use torchrun)."""
    del num_devices
    raise DistributionError(
        "split_host_cpu: torch has no logical CPU devices. Fix: launch N processes "
        "with `torchrun --nproc_per_node=N` (see torch_data_parallel)."
    )


def torch_data_parallel(model, broadcast=True):
    """Synchronous data parallelism for a Keras model on the torch backend.

    Keras 3.15.1 has no torch `keras.distribution`, and `model.fit` calls the
    Keras model itself, so wrapping it in
    `torch.nn.parallel.DistributedDataParallel` does not reach `fit`. This
    registers a post-accumulate-grad hook on every trainable parameter that
    all-reduces (averages) its gradient over the default process group, which
    is what DDP computes: with each process fed its own equal share of every
    global batch (e.g. `generic_dataset(..., num_hosts=world, host_index=rank)`),
    `fit` takes the steps a single process would take on the global batch.
    Launch with `torchrun --nproc_per_node=N` (gloo on CPU, nccl on GPU).

    Args:
        model: a built Keras model (torch backend).
        broadcast: copy process 0's weights to every process first.

    Returns:
        `model`, with hooks attached (call once per model).

    Example:
    ```python
    # torchrun --nproc_per_node=2 train.py
    initialize_multi_host()
    model = torch_data_parallel(build_model())
    model.compile(...)
    model.fit(dataset.shard(world, rank))
    ```
    """
    if keras.config.backend() != "torch":
        raise DistributionError(
            "torch_data_parallel is for KERAS_BACKEND=torch; use "
            "configure_distribution('data_parallel') on JAX or TensorFlow."
        )
    import torch.distributed as dist

    if not dist.is_initialized():
        raise DistributionError(
            "No torch.distributed process group. Fix: launch with torchrun and call "
            "keras_pn.distribution.initialize_multi_host() first."
        )
    if getattr(model, "_keras_pn_ddp", False):
        return model
    world = dist.get_world_size()
    if broadcast:
        for variable in model.variables:
            dist.broadcast(variable.value.data, src=0)

    def average(parameter):
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad.div_(world)

    for variable in model.trainable_variables:
        variable.value.register_post_accumulate_grad_hook(average)
    model._keras_pn_ddp = True
    return model
