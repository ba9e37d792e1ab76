"""The units of a preparation, in execution order, with their parameters and outputs.

Stages, in execution order (`STAGES` names them): tokenizer, windows (with the
held-out generic validation split), subsets, embeddings of the generic windows,
clusters and shards per k, embeddings of the domain train windows and their cluster
assignments, histograms, statistics.
"""

from __future__ import annotations

import functools

from keras_pn.data.embedding import SPHERICAL_CLUSTERING
from keras_pn.data.prepare import clustering, heldout, stats, subsets, tokenizing
from keras_pn.data.prepare.context import StageContext
from keras_pn.data.prepare.layout import SPLITS
from keras_pn.data.prepare.units import Unit, UnitName, UnitPlan, file_signature


def plan_units(ctx: StageContext) -> list[Unit]:
    """Every unit of the call's inputs, fingerprinted, in execution order."""
    inputs, cfg, layout = ctx.inputs, ctx.config, ctx.layout
    domains = list(inputs.domain_dirs)
    bind = functools.partial
    plan = UnitPlan()
    generic_sig = file_signature(inputs.generic_files)
    plan.add(
        Unit(
            UnitName.TOKENIZER,
            "tokenizer",
            {
                "generic": generic_sig,
                "vocabulary_size": cfg.vocabulary_size,
                "tokenizer_sentences": cfg.tokenizer_sentences,
                "seed": cfg.seed,
            },
            (layout.tokenizer,),
            bind(tokenizing.run_tokenizer, ctx),
        )
    )
    for d in domains:
        plan.add(
            Unit(
                UnitName.domain_windows(d),
                "windows",
                {
                    "files": file_signature([inputs.split_file(d, s) for s in SPLITS]),
                    "context_length": cfg.context_length,
                    **(
                        {"max_train_tokens": cfg.max_domain_train_tokens, "seed": cfg.seed}
                        if cfg.max_domain_train_tokens is not None
                        else {}
                    ),
                },
                (layout.domain_windows(d),),
                bind(tokenizing.run_domain_windows, ctx, d),
                deps=(UnitName.TOKENIZER,),
            )
        )
    plan.add(
        Unit(
            UnitName.GENERIC_WINDOWS,
            "windows",
            {
                "generic": generic_sig,
                "context_length": cfg.context_length,
                "max_generic_tokens": cfg.max_generic_tokens,
                "seed": cfg.seed,
            },
            (layout.generic_windows,),
            bind(tokenizing.run_generic_windows, ctx),
            deps=(UnitName.TOKENIZER,),
        )
    )
    # The held-out generic validation split: read by no k-means fit, no shard.
    plan.add(
        Unit(
            UnitName.GENERIC_VALID,
            "windows",
            {"generic_valid_windows": cfg.generic_valid_windows},
            (layout.generic_valid_rows(),),
            bind(heldout.run_generic_valid, ctx),
            deps=(UnitName.GENERIC_WINDOWS,),
        )
    )
    for d in domains:
        plan.add(
            Unit(
                UnitName.subsets(d),
                "subsets",
                {"caps": list(cfg.specialization_tokens), "seed": cfg.seed},
                (layout.subsets_dir(d),),
                bind(subsets.run_subsets, ctx, d),
                deps=(UnitName.domain_windows(d),),
            )
        )
    embedder = clustering.embedder_fingerprint(cfg.embedder)
    plan.add(
        Unit(
            UnitName.GENERIC_EMBEDDINGS,
            "embeddings",
            {"embedder": embedder},
            (layout.generic_embeddings_dir,),
            bind(clustering.run_generic_embeddings, ctx),
            deps=(UnitName.GENERIC_WINDOWS,),
            resumable=True,
        )
    )
    # The generic-only units first: the clustering of the generic set does not
    # wait for the domains' embeddings.
    for k in cfg.cluster_counts:
        plan.add(
            Unit(
                UnitName.clusters(k),
                "clusters",
                {
                    "k": k,
                    "seed": cfg.seed,
                    "iterations": cfg.kmeans_iterations,
                    "points_per_centroid": cfg.kmeans_points_per_centroid,
                    "spherical": SPHERICAL_CLUSTERING,
                },
                (layout.clusters_dir(k),),
                bind(clustering.run_clusters, ctx, k),
                deps=(UnitName.GENERIC_EMBEDDINGS, UnitName.GENERIC_VALID),
                check=bind(clustering.check_k, ctx, k),
            )
        )
        plan.add(
            Unit(
                UnitName.shards(k),
                "shards",
                {},
                (layout.shards_dir(k),),
                bind(clustering.run_shards, ctx, k),
                deps=(
                    UnitName.clusters(k),
                    UnitName.GENERIC_WINDOWS,
                    UnitName.GENERIC_VALID,
                ),
            )
        )
    for d in domains:
        plan.add(
            Unit(
                UnitName.domain_embeddings(d),
                "embeddings",
                {"embedder": embedder},
                (layout.domain_embeddings_dir(d),),
                bind(clustering.run_domain_embeddings, ctx, d),
                deps=(UnitName.domain_windows(d),),
                resumable=True,
            )
        )
    for k in cfg.cluster_counts:
        for d in domains:
            plan.add(
                Unit(
                    UnitName.assign(k, d),
                    "clusters",
                    {},
                    (layout.assign_dir(k, d),),
                    bind(clustering.run_assign, ctx, k, d),
                    deps=(UnitName.clusters(k), UnitName.domain_embeddings(d)),
                )
            )
    for k in cfg.cluster_counts:
        for d in domains:
            plan.add(
                Unit(
                    UnitName.histograms(k, d),
                    "stats",
                    {},
                    (layout.histogram(k, d),),
                    bind(subsets.run_histograms, ctx, k, d),
                    deps=(UnitName.assign(k, d), UnitName.subsets(d)),
                )
            )
    plan.add(
        Unit(
            UnitName.STATS,
            "stats",
            {
                "domains": domains,
                "cluster_counts": list(cfg.cluster_counts),
                "resampling_draws": cfg.resampling_draws,
                "seed": cfg.seed,
            },
            (layout.stats_dir,),
            bind(stats.run_stats, ctx),
            deps=tuple(
                [UnitName.histograms(k, d) for k in cfg.cluster_counts for d in domains]
                + [UnitName.shards(k) for k in cfg.cluster_counts]
                + [UnitName.GENERIC_WINDOWS, UnitName.GENERIC_VALID]
            ),
        )
    )
    return plan.units
