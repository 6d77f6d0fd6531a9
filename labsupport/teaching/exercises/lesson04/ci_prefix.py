"""Lesson 04, exercise 2, a reference answer: the project, a readable start of the branch, and a
digest of the exact branch name (hashlib: the same in every process, unlike hash())."""

import hashlib
import re

MAX_BYTES = 40
DIGEST = 8  # hex characters: 32 bits, plenty for the branches of one project


def ci_prefix(project: str, branch: str) -> str:
    digest = hashlib.blake2b(branch.encode("utf-8"), digest_size=DIGEST // 2).hexdigest()
    readable = re.sub(r"[^a-z0-9]+", "_", branch.lower()).strip("_")
    room = MAX_BYTES - len(project) - len(digest) - 2  # two underscores
    readable = readable[:max(room, 0)].rstrip("_")
    return "_".join(part for part in (project, readable, digest) if part)
