"""Export a GPT preset to where small models run, and check it in that runtime.

    python -m recipes.export --preset=zoo/python/pn_tiny_python --format=hf --output=out/hf
    python -m recipes.export --preset=pn_tiny_python --format=onnx --quantize=int8 \
        --output=out/onnx_int8 --check_domain_dir=my_texts/
    python -m recipes.export --preset=pn_tiny_python --format=litert --output=out/litert
    python -m recipes.export --preset=pn_tiny_python --format=keras --quantize=int8 \
        --output=out/pn_tiny_python_int8

Formats: keras (a preset; int8 with --quantize), hf (transformers GPT-2 checkpoint),
onnx (onnxruntime), litert (.tflite, ai-edge-litert). gguf is refused with the reason.
The onnx and litert files hold one decode step over a key/value cache;
`keras_pn.export.runtimes.load_runtime(OUTPUT).generate(prompt_ids, n)` runs it.
After writing, the artifact is loaded in its runtime and its logits compared with
keras_pn's (max |dlogit|); with --check_domain_dir (a directory holding test.jsonl, or a
folder of .txt files whose test files, split as recipes.specialize splits them, are read)
the perplexities of both on that text are printed, and the size of the weights.
An existing --output is refused unless --overwrite; the export is built in a
staging directory and renamed at the end.
"""

from absl import flags

from recipes import cli

flags.DEFINE_string("preset", None, "Preset directory or built-in name to export.", required=True)
flags.DEFINE_string("format", None, "keras, hf, onnx, litert (gguf: refused, see the error).",
                    required=True)
flags.DEFINE_string("output", None, "Directory to create.", required=True)
flags.DEFINE_enum("quantize", None, ["int8"], "int8 weights (keras, onnx, litert).")
flags.DEFINE_boolean("overwrite", False, "Replace an existing --output once the new one is done.")
flags.DEFINE_string("check_domain_dir", None, "A domain directory with test.jsonl or .txt files (or a .jsonl "
                    "file): print keras_pn vs runtime perplexity on it.")
flags.DEFINE_integer("check_windows", 16, "Windows of --check_domain_dir scored.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from keras_pn.export import check_request
    from keras_pn.export.checked_export import export_and_check
    from keras_pn.export.checked_export import summary_lines

    check_request(FLAGS.format, FLAGS.quantize)  # before loading anything
    result = export_and_check(
        FLAGS.preset, FLAGS.format, FLAGS.output, quantize=FLAGS.quantize,
        overwrite=FLAGS.overwrite, check_domain=FLAGS.check_domain_dir,
        max_windows=FLAGS.check_windows,
    )
    for line in summary_lines(result, FLAGS.check_domain_dir):
        print(line)


if __name__ == "__main__":
    cli.run(main)
