"""Exercise 2: one prefix per branch, for CI jobs that share a PostgreSQL server.

Every branch's CI job runs the suite with ``-n 2`` against the same server, at the same time.
labsupport names each run's databases after its prefix (``<prefix>_template_test``,
``<prefix>_gw0_test`` ...; section 2). Write ``ci_prefix`` so that the prefix
- is one labsupport accepts: lower-case letters, digits and underscores, starting with a letter,
  not ending in "_", at most 40 bytes (so "<prefix>_template_test" fits PostgreSQL's 63);
- starts with ``project`` and an underscore, then a readable start of the branch name
  ("feature/Login-Page" -> "feature_login_page"), so a person can tell whose databases they are;
- differs for any two branches, even branches whose names start with the same 50 characters, or
  differ only in case or punctuation ("fix/a-b" and "fix/a_b");
- is the same for the same branch every time, in every process: the next run of a branch must
  find, and remove, what a crashed run of that branch left (section 2, step 1).
``project`` is at most 16 bytes of lower-case letters, digits and underscores. The check calls
your function with other branches than the visible tests, and runs two workers under its prefix.
"""


def ci_prefix(project: str, branch: str) -> str:
    # your code here; this first try is the case file's: one name for every branch
    return project
