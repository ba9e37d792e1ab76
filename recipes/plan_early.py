"""The main job: SLM, SLM-nopt, LLM, LLM-LoRA, SLM-mix, SLM-pn, SLM-is, SLM-d on real domains.

    python -m recipes.build_corpus && python -m recipes.plan_early --workdir=runs/plan_early
    python -m recipes.plan_early --workdir=runs/mine --domain_dirs=data/law,data/med
    # paper scale on an accelerator:
    python -m recipes.plan_early --workdir=runs/paper --slm_preset=slm_paper \
        --llm_preset=llm_paper --pn_preset=pn_paper --vocabulary_size=32000 \
        --context_length=1024 --embedder=minilm --pretrain_tokens=2000000000 \
        --specialization_tokens=1000000,8000000,64000000 --learning_rate=1e-4

Writes `<workdir>/results.json` ({"perplexity": {method: {domain: ppl}},
"macro": {method: ppl}, "cost": {method: {...}}, ...}), `results.md` and
plots. Every stage is cached: run the same command again to resume.
"""

from absl import app
from absl import flags

from keras_pn.data.embedding import EMBEDDERS

from recipes import common

flags.DEFINE_string("workdir", "runs/plan_early", "Where everything is written.")
flags.DEFINE_string("cache_dir", None, "Corpus cache of `recipes.build_corpus` (default $KERAS_PN_CACHE or ~/.cache/keras_pn).")
flags.DEFINE_string("generic_dir", None, "Generic mix directory (default: <cache>/generic).")
flags.DEFINE_list("domain_dirs", [], "Domain directories (train/valid/test.jsonl); replace --domains.")
flags.DEFINE_list("domains", ["religion", "licenses", "medicine", "python"], "Domains of the corpus cache.")
flags.DEFINE_list("methods", ["slm", "slm_nopt", "llm", "llm_lora", "mix", "pn", "pn_histogram", "is", "distill"], "Methods to run.")
flags.DEFINE_list("specialization_tokens", ["10000"], "Specialization-set sizes (tokens); keep --pretrain_tokens >= 20x the largest.")
flags.DEFINE_integer("vocabulary_size", 4096, "SentencePiece vocabulary (paper: 32000).")
flags.DEFINE_integer("context_length", 128, "Tokens per window (paper: 1024).")
flags.DEFINE_enum("embedder", "hashed", list(EMBEDDERS), "Window embedder for clustering (paper: Sentence-BERT = minilm).")
flags.DEFINE_integer("max_generic_tokens", 2_000_000, "Cap on generic tokens prepared (a seeded document sample).")
flags.DEFINE_integer("tokenizer_sentences", 10_000, "Chunks (<= 2 KB) given to SentencePiece: enough for the tiny 4k vocabulary; give the paper's 32k vocabulary 50k or more.")
common.define_run_flags()
common.define_distribution_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.start_logging()
    from keras_pn.data.pipeline import resolve_corpus_dirs
    from keras_pn.plan_early import run_plan_early

    generic_dir, domain_dirs = resolve_corpus_dirs(
        FLAGS.cache_dir, FLAGS.generic_dir, FLAGS.domain_dirs, FLAGS.domains
    )
    with common.distribution_scope():
        run_plan_early(
            FLAGS.workdir,
            generic_dir=generic_dir,
            domain_dirs=domain_dirs,
            methods=FLAGS.methods,
            specialization_tokens=[int(s) for s in FLAGS.specialization_tokens],
            config=common.run_config(),
            vocabulary_size=FLAGS.vocabulary_size,
            context_length=FLAGS.context_length,
            embedder=FLAGS.embedder,
            max_generic_tokens=FLAGS.max_generic_tokens,
            tokenizer_sentences=FLAGS.tokenizer_sentences,
        )
    with open(f"{FLAGS.workdir}/results.md") as f:
        print(f.read())


if __name__ == "__main__":
    app.run(main)
