"""Deterministic train/valid/test split by group (never by line or document).

Groups are ordered by a seeded hash of their key, then test and valid are filled in
that order until each holds about `fraction` of the domain's bytes (and at least
`min_bytes` where the domain allows); every other group goes to train. A group that
would push a held-out split above `max_fraction` of the domain is left to train, so a
single huge group (the Psalms with their commentaries) never becomes the whole test set.
"""

import hashlib

MB = 1 << 20


def _order(group, seed):
    return hashlib.sha256(f"{seed}\x00{group}".encode()).hexdigest()


def split_by_group(docs, *, fraction=0.1, min_bytes=MB // 4, max_fraction=0.2, seed=0):
    """Splits documents into train/valid/test so that no group spans two splits.

    Args:
        docs: List of `Document`s; `group=None` makes each document its own group.
        fraction: Target share of bytes for valid and for test (~80/10/10).
        min_bytes: Minimum size of valid and test where the domain allows.
        max_fraction: Largest share of bytes a held-out split may take.
        seed: Seed of the group order.

    Returns:
        `{"train": [...], "valid": [...], "test": [...]}`, documents in input order.

    Raises:
        ValueError: fewer than 3 groups (nothing to hold out).
    """
    sizes, keys = {}, []
    for i, doc in enumerate(docs):
        key = doc.group if doc.group is not None else f"\x00doc{i}"
        keys.append(key)
        sizes[key] = sizes.get(key, 0) + len(doc.text.encode("utf-8"))
    if len(sizes) < 3:
        raise ValueError(
            f"cannot split {len(sizes)} group(s) into train/valid/test: a domain needs "
            "at least 3 groups (give documents distinct 'group' values)."
        )
    total = sum(sizes.values())
    target = min(max(fraction * total, min_bytes), max_fraction * total)
    cap = max(max_fraction * total, target)
    held = {"test": 0, "valid": 0}
    assignment = {}
    for group in sorted(sizes, key=lambda g: _order(g, seed)):
        size = sizes[group]
        for split in ("test", "valid"):
            if held[split] < target and held[split] + size <= cap:
                assignment[group] = split
                held[split] += size
                break
        else:
            assignment[group] = "train"
    for split in ("test", "valid"):
        if (
            held[split] == 0
        ):  # every group was too large for the cap: take the smallest.
            candidates = [g for g, s in assignment.items() if s == "train"]
            if len(candidates) > 1:
                smallest = min(candidates, key=lambda g: (sizes[g], _order(g, seed)))
                assignment[smallest] = split
    out = {"train": [], "valid": [], "test": []}
    for key, doc in zip(keys, docs):
        out[assignment[key]].append(doc)
    return out
