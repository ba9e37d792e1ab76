"""Export, then check the artifact in its runtime: what `recipes.export` runs and prints."""

import os

from keras_pn.export.runtimes import RUNTIME_NAMES

# Files beside the model that are not its weights.
_NOT_WEIGHTS = ("export.json", "vocabulary.spm", "tokenizer.model", "tokenizer_config.json",
                "special_tokens_map.json", "config.json", "generation_config.json",
                "tokenizer.json", "preprocessor.json", "task.json", "metadata.json")


def weights_size(directory):
    """Bytes of an export's weight files (the model, not its tokenizer or configs)."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            if name not in _NOT_WEIGHTS and not root.endswith(os.path.join("assets", "tokenizer")):
                total += os.path.getsize(os.path.join(root, name))
    return total


def export_and_check(preset, export_format, output_dir, *, quantize=None,
                     overwrite=False, check_domain=None, max_windows=16):
    """`keras_pn.export.export`, then parity in the artifact's runtime.

    Returns:
        dict: the manifest, `weights_bytes`, `float32_bytes` (4 bytes a
        parameter) and the `check_export` numbers (`max_abs_logit_diff`, and
        with `check_domain` the perplexities).
    """
    from keras_pn.export import export
    from keras_pn.export.parity import check_export
    from keras_pn.export.parity import domain_windows
    from keras_pn.export.source import load_causal_lm

    manifest = export(preset, export_format, output_dir, quantize=quantize,
                      overwrite=overwrite)
    reference, _ = load_causal_lm(preset)
    windows = domain_windows(reference, check_domain, max_windows=max_windows) if check_domain else None
    result = dict(manifest)
    result.update(check_export(reference, output_dir, windows=windows))
    result["weights_bytes"] = weights_size(output_dir)
    result["float32_bytes"] = 4 * reference.backbone.count_params()
    result["runtime"] = RUNTIME_NAMES[export_format]
    return result


def summary_lines(result, domain=None):
    """The lines `recipes.export` prints for `export_and_check`'s result."""
    kind = result["quantization"] or "float32"
    ratio = result["weights_bytes"] / max(result["float32_bytes"], 1)
    lines = [
        f"wrote {result['path']} ({result['format']}, {kind}): weights "
        f"{result['weights_bytes']:,} bytes on disk, {ratio:.2f} x float32's "
        f"{result['float32_bytes']:,}",
        f"{result['runtime']}: max |dlogit| vs keras_pn float32 = "
        f"{result['max_abs_logit_diff']:.3e}",
    ]
    if "perplexity_change" in result:
        lines.append(
            f"perplexity on {domain} test ({result['windows']} windows, "
            f"{result['tokens']} tokens): keras_pn float32 {result['keras_perplexity']:.4f}, "
            f"{result['runtime']} {kind} {result['export_perplexity']:.4f} "
            f"({100 * result['perplexity_change']:+.3f}%)"
        )
    return lines
