"""The main job: SLM, SLM-nopt, LLM, LLM-LoRA, SLM-mix, SLM-pn, SLM-is, SLM-d on real domains.

    python -m recipes.build_corpus && python -m recipes.plan_early --workdir=runs/plan_early
    python -m recipes.plan_early --workdir=runs/mine --domain_dirs=data/law,data/med
    python -m recipes.plan_early --quick   # every method in minutes: a smoke run
    # paper scale on an accelerator:
    python -m recipes.plan_early --workdir=runs/paper --slm_preset=slm_paper \
        --llm_preset=llm_paper --pn_preset=pn_paper --vocabulary_size=32000 \
        --context_length=1024 --embedder=minilm --pretrain_tokens=2000000000 \
        --specialization_tokens=1000000,8000000,64000000 --learning_rate=1e-4

Writes `<workdir>/results.json` ({"perplexity": {method: {domain: ppl}},
"macro": {method: ppl}, "cost": {method: {...}}, ...}), `results.md` and
plots. Every stage is cached: run the same command again to resume.
"""

from absl import flags

from keras_pn import methods
from keras_pn.data.prepare import PrepareConfig

from recipes import cli
from recipes import common
from recipes.config_flags import define_flags
from recipes.config_flags import from_flags

# The data knobs are PrepareConfig's; the main job caps the generic text it prepares
# (a seeded document sample) so that the default run fits in minutes on a CPU. Its
# k-means k's and seed are the run's (--pn_clusters, --is_clusters, --seed).
MAIN_JOB_PREPARE = {"max_generic_tokens": 2_000_000}
RUN_OWNED_PREPARE_FIELDS = ("cluster_counts", "seed")

flags.DEFINE_string("workdir", "runs/plan_early", "Where everything is written.")
flags.DEFINE_string("cache_dir", None, "Corpus cache of `recipes.build_corpus` (default $KERAS_PN_CACHE or ~/.cache/keras_pn).")
flags.DEFINE_string("generic_dir", None, "Generic mix directory (default: <cache>/generic).")
flags.DEFINE_list("domain_dirs", [], "Domain directories (train/valid/test.jsonl); replace --domains.")
flags.DEFINE_list("domains", [], "Domains of the corpus cache (with neither flag: keras_pn.plan_early.DEFAULT_DOMAINS).")
flags.DEFINE_list("methods", list(methods.ids()), "Methods to run.")
# `--quick`: every method on the same domains with small budgets and hashed
# clusters, in minutes. Each value applies unless its flag is given; the table shows
# that everything runs, not the paper's orderings (the default run does).
QUICK_RUN = {
    "workdir": "runs/plan_early_quick",
    "embedder": "hashed",
    "max_generic_tokens": 400_000,
    "max_domain_train_tokens": 20_000,
    "specialization_tokens": ["20000"],
    "pretrain_tokens": 400_000,
    "is_tokens": 200_000,
    "finetune_max_steps": 200,
}

define_flags(PrepareConfig, exclude=RUN_OWNED_PREPARE_FIELDS, defaults=MAIN_JOB_PREPARE)
common.define_run_flags()
common.define_distribution_flags()
flags.DEFINE_boolean(
    "quick", False,
    "A smoke run of every method in minutes (small budgets, hashed clusters, "
    "workdir runs/plan_early_quick; flags given explicitly win). Its table is not "
    "the paper's result: the default run's is.",
)
FLAGS = flags.FLAGS


def apply_quick(flag_values=FLAGS):
    """Gives every `QUICK_RUN` flag the user did not pass its quick value."""
    for name, value in QUICK_RUN.items():
        if not flag_values[name].present:
            flag_values[name].value = value


def corpus_dirs(flag_values=FLAGS):
    """`(generic_dir, {domain: dir})` the flags name; the default domains with neither flag."""
    from keras_pn.data.prepare import resolve_corpus_dirs
    from keras_pn.plan_early import DEFAULT_DOMAINS

    domains = flag_values.domains
    if not domains and not flag_values.domain_dirs:
        domains = list(DEFAULT_DOMAINS)
    return resolve_corpus_dirs(
        flag_values.cache_dir, flag_values.generic_dir, flag_values.domain_dirs, domains
    )


def main(argv):
    del argv
    common.start_logging()
    from keras_pn.plan_early import run_plan_early

    if FLAGS.quick:
        apply_quick()

    generic_dir, domain_dirs = corpus_dirs()
    with common.distribution_scope():
        run_plan_early(
            FLAGS.workdir,
            generic_dir=generic_dir,
            domain_dirs=domain_dirs,
            methods=FLAGS.methods,
            config=common.run_config(),
            prepare=from_flags(PrepareConfig, exclude=RUN_OWNED_PREPARE_FIELDS),
        )
    with open(f"{FLAGS.workdir}/results.md") as f:
        print(f.read())


if __name__ == "__main__":
    cli.run(main)
