"""The projected linear layer of a projected network (SLM-pn)."""

import keras
from keras import ops

from keras_pn.api_export import keras_pn_export
from keras_pn.backend_utils import concrete_value
from keras_pn.layers.orthogonal_codes import OrthogonalCodes

STRATEGIES = ("auto", "shared", "per_example")


@keras_pn_export("keras_pn.layers.ProjectedDense")
class ProjectedDense(keras.layers.Layer):
    """A dense layer whose kernel is a linear projection of shared bases.

    For expert code `e = E[i]` (from `ExpertEmbedding`), the layer mixes its
    `h` kernel bases `T[:, :, r]` with coefficients `alpha = e @ M`:

        W(i) = sum_r alpha[r] * T[:, :, r],   b(i) = sum_r alpha[r] * B[:, r]
        y = x @ W(i) + b(i)

    This is the paper's `W(l,i) = sum_q E[i,q] sum_r M(l)[q,r] T(l)[:,:,r]`
    (the bias is projected the same way). A soft code `e = p @ E` from a
    cluster histogram `p` gives the soft projection
    `alpha = sum_c p[c] E[c] M`.

    How a batch is computed:
    - one expert for the whole batch (a rank-1 code, `strategy="shared"`, or
      `"auto"` when every row of the code is equal): `W` is built once,
      costing `h * d_in * units` on top of a plain dense layer;
    - a different expert per example (`"per_example"`, or `"auto"` on a mixed
      batch): the einsum order is chosen by cost from the static shapes.
      For sequences (`seq > 1`) the per-example kernels are built first
      (`batch * (h + seq) * d_in * units` FLOPs); for single tokens
      (generation) the input is expanded by `alpha` and multiplied by the
      flattened bases (`batch * h * d_in * units`), never materializing a
      `(batch, d_in, units)` tensor.

    Hard mixture of experts is the special case `h = k`, `E = I`,
    `M = I` (frozen): pass `hard_mixture=True` (and `num_bases=expert_dim`).

    Args:
        units: int. Output size.
        num_bases: int. `h`, the number of kernel bases.
        expert_dim: int. `m`, the size of the expert code.
        use_bias: bool. Whether to add a projected bias.
        hard_mixture: bool. Freeze `M` to the identity (needs
            `expert_dim == num_bases`).
        strategy: `"auto"`, `"shared"` (the caller guarantees one expert per
            batch; the first row of the code is used) or `"per_example"`.
        kernel_initializer: initializer of the bases `T`; defaults to
            `RandomNormal(stddev=0.02)` (GPT-2's scale for each basis).
        mixing_initializer: initializer of `M`; defaults to
            `OrthogonalCodes()` so that orthonormal codes give
            orthonormal `alpha`: every expert's `W` starts with the scale of
            one basis (a plain layer's).
        bias_initializer: initializer of the bias bases `B`.

    Example:
    >>> layer = ProjectedDense(units=8, num_bases=4, expert_dim=3)
    >>> x = keras.random.normal((2, 5, 16))
    >>> code = keras.random.normal((2, 3))
    >>> layer(x, code).shape
    (2, 5, 8)
    """

    def __init__(
        self,
        units,
        num_bases,
        expert_dim,
        use_bias=True,
        hard_mixture=False,
        strategy="auto",
        kernel_initializer=None,
        mixing_initializer=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if strategy not in STRATEGIES:
            raise ValueError(
                f"Unknown `strategy`={strategy!r}. Use one of {STRATEGIES}."
            )
        if hard_mixture and num_bases != expert_dim:
            raise ValueError(
                "A hard mixture uses M = identity, so `num_bases` must equal "
                f"`expert_dim`. Received: num_bases={num_bases}, "
                f"expert_dim={expert_dim}."
            )
        self.units = units
        self.num_bases = num_bases
        self.expert_dim = expert_dim
        self.use_bias = use_bias
        self.hard_mixture = hard_mixture
        self.strategy = strategy
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        if mixing_initializer is None:
            mixing_initializer = OrthogonalCodes()
        self.mixing_initializer = keras.initializers.get(mixing_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, inputs_shape, expert_code_shape=None):
        input_dim = inputs_shape[-1]
        if input_dim is None:
            raise ValueError(
                "The last dimension of the inputs to `ProjectedDense` must be "
                f"known. Received: inputs_shape={inputs_shape}."
            )
        self.input_dim = input_dim
        self.kernel_bases = self.add_weight(
            name="kernel_bases",
            shape=(input_dim, self.units, self.num_bases),
            initializer=self.kernel_initializer,
        )
        self.mixing = self.add_weight(
            name="mixing",
            shape=(self.expert_dim, self.num_bases),
            initializer=(
                keras.initializers.Identity()
                if self.hard_mixture
                else self.mixing_initializer
            ),
            trainable=not self.hard_mixture,
        )
        self.bias_bases = None
        if self.use_bias:
            self.bias_bases = self.add_weight(
                name="bias_bases",
                shape=(self.units, self.num_bases),
                initializer=self.bias_initializer,
            )
        self.built = True

    # --- Closed-form experts -------------------------------------------------

    def coefficients(self, expert_code):
        """`alpha = code @ M`: `(m,)` -> `(h,)` or `(batch, m)` -> `(batch, h)`."""
        mixing = ops.cast(self.mixing, self.compute_dtype)
        return ops.matmul(ops.cast(expert_code, self.compute_dtype), mixing)

    def expert_kernel(self, coefficients):
        """Kernel(s) for coefficients `(h,)` -> `(d_in, units)`, or `(b, h)`."""
        bases = ops.cast(self.kernel_bases, self.compute_dtype)
        if len(coefficients.shape) == 1:
            return ops.matmul(bases, coefficients)  # (d_in, units)
        return ops.einsum("ioh,bh->bio", bases, coefficients)  # (b, d_in, units)

    def expert_bias(self, coefficients):
        """Bias for coefficients `(h,)` -> `(units,)`, or `(b, h)` -> `(b, units)`."""
        if self.bias_bases is None:
            return None
        bias_bases = ops.cast(self.bias_bases, self.compute_dtype)
        return ops.matmul(coefficients, ops.transpose(bias_bases))

    # --- Forward ------------------------------------------------------------

    def call(self, inputs, expert_code):
        alpha = self.coefficients(expert_code)
        if len(alpha.shape) == 1 or self.strategy == "shared":
            if len(alpha.shape) == 2:
                alpha = alpha[0]
            return self._call_shared(inputs, alpha)
        if self.strategy == "per_example":
            return self._call_per_example(inputs, alpha)
        code = ops.cast(expert_code, "float32")
        one_expert = ops.all(ops.equal(code, code[:1]))
        known = concrete_value(one_expert)
        if known is not None:
            # Eager: branch in Python (a traced cond would compile both sides).
            if bool(known):
                return self._call_shared(inputs, alpha[0])
            return self._call_per_example(inputs, alpha)
        return ops.cond(
            one_expert,
            lambda: self._call_shared(inputs, alpha[0]),
            lambda: self._call_per_example(inputs, alpha),
        )

    def _call_shared(self, inputs, alpha):
        # alpha: (h,) -- one expert for every example. A rank-2 matmul: a rank-3
        # one is a Tensordot on TensorFlow, whose gradient inside the `cond` of
        # `call` needs static shapes under XLA (it failed once a new batch size
        # was traced with an unknown batch dimension).
        x = ops.reshape(inputs, (-1, self.input_dim))  # (b * ..., d_in)
        outputs = ops.matmul(x, self.expert_kernel(alpha))  # (b * ..., units)
        if self.bias_bases is not None:
            outputs = outputs + self.expert_bias(alpha)
        return ops.reshape(outputs, tuple(ops.shape(inputs)[:-1]) + (self.units,))

    def _call_per_example(self, inputs, alpha):
        # alpha: (b, h) -- one expert per example.
        batch_shape = ops.shape(inputs)
        x = ops.reshape(inputs, (batch_shape[0], -1, self.input_dim))  # (b, s, i)
        seq = inputs.shape[1] if len(inputs.shape) == 3 else 1
        if seq == 1:
            # Expand the input by alpha, then one flat matmul over the bases:
            # (b, s, i, h) @ (i*h, units); no per-example kernel is built.
            expanded = ops.expand_dims(x, -1) * alpha[:, None, None, :]
            expanded = ops.reshape(
                expanded, (batch_shape[0], -1, self.input_dim * self.num_bases)
            )
            bases = ops.cast(self.kernel_bases, self.compute_dtype)
            bases = ops.transpose(bases, (0, 2, 1))  # (i, h, units)
            bases = ops.reshape(bases, (self.input_dim * self.num_bases, self.units))
            outputs = ops.matmul(expanded, bases)  # (b, s, units)
        else:
            kernels = self.expert_kernel(alpha)  # (b, i, units)
            outputs = ops.matmul(x, kernels)  # (b, s, units)
        if self.bias_bases is not None:
            outputs = outputs + self.expert_bias(alpha)[:, None, :]
        out_shape = tuple(batch_shape[:-1]) + (self.units,)
        return ops.reshape(outputs, out_shape)

    def compute_output_shape(self, inputs_shape, expert_code_shape=None):
        return tuple(inputs_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_bases": self.num_bases,
                "expert_dim": self.expert_dim,
                "use_bias": self.use_bias,
                "hard_mixture": self.hard_mixture,
                "strategy": self.strategy,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "mixing_initializer": keras.initializers.serialize(
                    self.mixing_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config


def make_dense(units, projection, name, kernel_initializer, use_bias=True, dtype=None):
    """A plain `keras.layers.Dense`, or a `ProjectedDense` when `projection`.

    Args:
        units: int. Output size.
        projection: `None` for a plain layer, or a dict with `num_bases`,
            `expert_dim`, `hard_mixture` and optionally `strategy`.
        name: the layer name (plain layers keep names LoRA can target).
        kernel_initializer: initializer of the kernel (or kernel bases).
        use_bias: bool.
        dtype: dtype policy of the layer (the parent's, e.g. mixed_bfloat16).
    """
    if projection is None:
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            dtype=dtype,
            name=name,
        )
    return ProjectedDense(
        units,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        dtype=dtype,
        name=name,
        **projection,
    )


def apply_dense(layer, inputs, expert_code):
    """Call a layer made by `make_dense`, passing the code if it is projected."""
    if isinstance(layer, ProjectedDense):
        if expert_code is None:
            raise ValueError(
                f"Layer '{layer.name}' is projected and needs an expert code. "
                "Pass `cluster_ids` (or a cluster histogram) to the model."
            )
        return layer(inputs, expert_code)
    return layer(inputs)
