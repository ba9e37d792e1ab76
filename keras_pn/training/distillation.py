"""Knowledge distillation (SLM-d): a student learns from labels and a teacher."""

import keras
from keras import ops

from keras_pn.api_export import keras_pn_export


@keras_pn_export("keras_pn.training.Distiller")
class Distiller(keras.Model):
    """Train `student` on a mix of hard labels and the teacher's distributions.

    loss = (1 - alpha) * CE(y, student) + alpha * T^2 * KL(teacher_T || student_T)

    averaged over real target tokens (`sample_weight`). The teacher is frozen
    and runs in inference mode; only the student's weights are trained.
    `evaluate()` reports the student's plain cross-entropy (the quantity
    early stopping should watch). After `fit`, use `distiller.student`.

    Args:
        student: a CausalLM (returns logits).
        teacher: a CausalLM with the same vocabulary, typically fine-tuned on
            the domain.
        alpha: float in [0, 1]. Weight of the teacher term.
        temperature: float. Softening temperature `T`.

    Example:
    ```python
    distiller = Distiller(student=slm, teacher=llm, alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4))
    distiller.fit(domain_batches, steps_per_epoch=100)
    slm = distiller.student
    ```
    """

    def __init__(self, student, teacher, alpha=0.5, temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1]. Received: {alpha}.")
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0. Received: {temperature}.")
        student_vocab = student.backbone.vocabulary_size
        teacher_vocab = teacher.backbone.vocabulary_size
        if student_vocab != teacher_vocab:
            raise ValueError(
                f"Student and teacher vocabularies differ ({student_vocab} vs "
                f"{teacher_vocab}); distillation needs the same tokenizer."
            )
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.alpha = float(alpha)
        self.temperature = float(temperature)

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        student_logits = ops.cast(y_pred, "float32")  # (B, T, V)
        log_p_student = ops.log_softmax(student_logits, axis=-1)
        hard = -ops.take_along_axis(
            log_p_student, ops.expand_dims(ops.cast(y, "int32"), -1), axis=-1
        )[..., 0]  # (B, T)
        if not training:
            return _masked_mean(hard, sample_weight)
        teacher_logits = ops.stop_gradient(
            ops.cast(self.teacher(x, training=False), "float32")
        )
        t = self.temperature
        log_q_teacher = ops.log_softmax(teacher_logits / t, axis=-1)
        log_q_student = ops.log_softmax(student_logits / t, axis=-1)
        soft = ops.sum(
            ops.exp(log_q_teacher) * (log_q_teacher - log_q_student), axis=-1
        ) * (t * t)  # (B, T)
        return _masked_mean((1.0 - self.alpha) * hard + self.alpha * soft, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "student": keras.saving.serialize_keras_object(self.student),
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "alpha": self.alpha,
                "temperature": self.temperature,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)


def _masked_mean(per_token, sample_weight):
    if sample_weight is None:
        return ops.mean(per_token)
    weights = ops.cast(sample_weight, "float32")
    return ops.sum(per_token * weights) / ops.maximum(ops.sum(weights), 1.0)
