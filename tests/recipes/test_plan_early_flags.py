"""`recipes.plan_early`'s corpus flags, parsed as a user types them (nothing is trained).

The recipe defines its flags at import, as every recipe does, so it is imported in a
child process of its own (the test process may hold other recipes' flags).
"""

import json
import subprocess
import sys
from pathlib import Path

from keras_pn.plan_early import DEFAULT_DOMAINS

ROOT = Path(__file__).resolve().parents[2]

_PARSE = """
import json, sys
from recipes import plan_early as recipe
out = []
for args in json.loads(sys.argv[1]):
    recipe.FLAGS.unparse_flags()
    try:
        recipe.FLAGS(["plan_early", *args])
        generic, domains = recipe.corpus_dirs(recipe.FLAGS)
        out.append({"generic": str(generic), "domains": {k: str(v) for k, v in domains.items()}})
    except Exception as error:
        out.append({"error": type(error).__name__, "message": str(error)})
print("PARSED " + json.dumps(out))
"""


def _parse(*argsets):
    done = subprocess.run(
        [sys.executable, "-c", _PARSE, json.dumps(argsets)], cwd=ROOT,
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = [l for l in done.stdout.splitlines() if l.startswith("PARSED ")][-1]
    return json.loads(line[len("PARSED "):])


def test_corpus_flags_as_a_user_types_them(tmp_path):
    cache = f"--cache_dir={tmp_path / 'cache'}"
    law, med = tmp_path / "law", tmp_path / "med"
    dirs_alone, neither, both = _parse(
        [cache, f"--domain_dirs={law},{med}"],
        [cache],
        [cache, f"--domain_dirs={law}", "--domains=religion"],
    )
    # README's "your domains" command: the directories alone are the domains.
    assert dirs_alone == {
        "generic": str(tmp_path / "cache" / "generic"),
        "domains": {"law": str(law), "med": str(med)},
    }
    # With neither flag, the default domains are asked for (here: not built).
    assert neither["error"] == "PreparationError" and "are not built" in neither["message"]
    for domain in DEFAULT_DOMAINS:
        assert domain in neither["message"]
    assert both["error"] == "PreparationError" and "not both" in both["message"]


_QUICK = """
import json, sys
from recipes import plan_early as recipe
from recipes import common
out = []
for args in json.loads(sys.argv[1]):
    recipe.FLAGS.unparse_flags()
    recipe.FLAGS(["plan_early", *args])
    if recipe.FLAGS.quick:
        recipe.apply_quick()
    config = common.run_config()
    out.append({"workdir": recipe.FLAGS.workdir, "embedder": recipe.FLAGS.embedder,
                "sizes": recipe.FLAGS.specialization_tokens,
                "pretrain_tokens": config.pretrain_tokens, "is_tokens": config.is_tokens})
print("PARSED " + json.dumps(out))
"""


def test_quick_sets_small_budgets_unless_a_flag_is_given(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _QUICK, json.dumps([[], ["--quick"], ["--quick", "--pretrain_tokens=1000", "--workdir=x"]])],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = [l for l in done.stdout.splitlines() if l.startswith("PARSED ")][-1]
    default, quick, explicit = json.loads(line[len("PARSED "):])
    assert default["embedder"] == "minilm" and default["workdir"] == "runs/plan_early"
    assert quick == {"workdir": "runs/plan_early_quick", "embedder": "hashed",
                     "sizes": ["20000"], "pretrain_tokens": 400_000, "is_tokens": 200_000}
    assert explicit["pretrain_tokens"] == 1000 and explicit["workdir"] == "x"
    assert explicit["embedder"] == "hashed"
