"""`lilbench claims`: the paper's claims, one row each, with the verdict the results give.

The claims are data (`suites/paper-claims.yaml`): each names its text, a short quotation and
where it stands in the paper, the suites whose results answer it, and the kind of evidence
(one module of this package, registered by name with `@evidence`, with its typed
parameters). Nothing here computes a model
or an attack: the rows are read from the runs directory, the way `lilbench report` reads it,
and a claim whose results are missing says "not run" with the command that runs it.

Verdicts, in words: "holds"; "holds only under the authors' attacks" (their attacks show the
rise, the strong protocol does not); "holds in part" (of a claim with two parts, one holds;
or of a claim several suites answer, it holds in some and not in others); "does not hold";
"not run here".
"""

# The kinds of evidence: each module registers its own (one file per kind).
from lilbench.reports.claims import (  # noqa: F401  (imported to register)
    activation,
    clean_cost,
    collapse,
    hierarchy,
    isometry,
    mechanism,
    perturbations,
    robustness,
    smoothing,
    topology,
)
from lilbench.reports.claims.base import (
    AUTHORS_ONLY,
    EVIDENCE,
    FAILS,
    HOLDS,
    IN_PART,
    NOT_RUN,
    ClaimEntry,
    ClaimsFile,
    Finding,
    NoParams,
    NotComputed,
    SuiteResults,
    combined_verdict,
    evidence,
)
from lilbench.reports.claims.table import (
    ClaimRow,
    build_claims,
    claim_row,
    load_claims,
    report_name,
)

__all__ = [
    "AUTHORS_ONLY",
    "EVIDENCE",
    "FAILS",
    "HOLDS",
    "IN_PART",
    "NOT_RUN",
    "ClaimEntry",
    "ClaimRow",
    "ClaimsFile",
    "Finding",
    "NoParams",
    "NotComputed",
    "SuiteResults",
    "build_claims",
    "claim_row",
    "combined_verdict",
    "evidence",
    "load_claims",
    "report_name",
]
