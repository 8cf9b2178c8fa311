"""The claims table: the claims file read and checked, one `ClaimRow` per claim from its
suites' findings, and the markdown and JSON both rendered from those rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lilbench.errors import ConfigError
from lilbench.io import sha256_file, write_bytes_atomic
from lilbench.reports.claims.base import (
    EVIDENCE,
    NOT_RUN,
    ClaimEntry,
    ClaimsFile,
    NotComputed,
    SuiteResults,
    combined_verdict,
)
from lilbench.results.suite_results import collect_suite
from lilbench.suites import load_suite, read_yaml


def load_claims(path: Path) -> ClaimsFile:
    """The claims file, checked: its schema, unique ids, known kinds of evidence with their
    parameters as each kind types them, and suite files beside it."""
    if not Path(path).is_file():
        raise ConfigError(
            f"no claims file at {path}; give a YAML file like suites/paper-claims.yaml"
        )
    raw = read_yaml(Path(path))
    try:
        parsed = ClaimsFile.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        key = ".".join(str(p) for p in e["loc"]) or "claims"
        raise ConfigError(f"{path}: {key}: {e['msg']}") from None
    ids = [c.id for c in parsed.claims]
    for c in parsed.claims:
        if ids.count(c.id) > 1:
            raise ConfigError(f"{path}: two claims are both {c.id!r}; keep one")
        if c.evidence not in EVIDENCE:
            raise ConfigError(f"{path}: claim {c.id}: {EVIDENCE.unknown(c.evidence)}")
        _params(path, c)
        for s in c.suites:
            _confined(Path(path), c.id, s)
            if not (Path(path).parent / s).is_file():
                raise ConfigError(f"{path}: claim {c.id}: no suite file {s}")
    return parsed


def _params(path: Path, entry: ClaimEntry) -> Any:
    """The claim's parameters as its kind of evidence types them; a misspelt or unknown key,
    or a value of the wrong type, in one line naming the claim."""
    kind = EVIDENCE.get(entry.evidence)
    try:
        return kind.params.model_validate(entry.params)
    except ValidationError as exc:
        e = exc.errors()[0]
        key = ".".join(str(p) for p in e["loc"]) or "params"
        known = ", ".join(kind.params.model_fields) or "none"
        raise ConfigError(
            f"{path}: claim {entry.id}: params.{key}: {e['msg']} ({entry.evidence} takes: {known})"
        ) from None


def _confined(path: Path, claim: str, suite: str) -> None:
    """A claims file names suites beside it or below it, never elsewhere on the machine (a
    claims file from someone else must not make lilbench read arbitrary files)."""
    base = path.parent.resolve()
    target = (path.parent / suite).resolve()
    if Path(suite).is_absolute() or not target.is_relative_to(base):
        raise ConfigError(
            f"{path}: claim {claim}: suite {suite!r} lies outside the claims file's folder "
            f"{path.parent}; name a suite file in that folder or below it"
        )


def report_name(claims_path: Path) -> str:
    """The claims table's file name: the claims file's own stem (paper-claims.yaml ->
    paper-claims.md), so another claims file never overwrites the paper's table."""
    return f"{Path(claims_path).stem}.md"


def _suite_results(path: Path, runs_dir: Path, shown: str) -> SuiteResults:
    suite = load_suite(path)
    results, missing = collect_suite(suite, runs_dir=runs_dir)
    return SuiteResults(suite, f"lilbench run {shown}", results, missing, runs_dir, shown)


def _settings(res: SuiteResults) -> str:
    s = res.suite
    labels = ", ".join(x.label for x in s.settings)
    if not s.has_methods:
        labels = "beta " + labels
    # Reports sit beside this table: the suite's name links its report.
    return (
        f"[{s.name}]({s.name}.md): {s.dataset}, {labels}; {len(s.seeds)} seed(s); "
        f"{s.test_limit or 'all'} test images"
    )


@dataclass(frozen=True)
class ClaimRow:
    """One claim's row: what each suite found, joined, and the verdict in words with its
    reasons. The markdown cells and the JSON are both rendered from it."""

    id: str
    claim: str
    where: str
    quote: str
    authors: str  # the evidence under the authors' attacks ("-" where none)
    strong: str  # under the strong protocol, or the measurement
    certified: str  # the certified bracket ("-" where none)
    settings: str  # the suites' settings, with links to their reports
    verdict: str  # HOLDS, AUTHORS_ONLY, IN_PART, FAILS or NOT_RUN
    why: str  # the reasons, suite by suite, and what is missing

    def cells(self) -> list[str]:
        claim = f"**{self.claim}** ({self.where}): \u201c{self.quote}\u201d"
        verdict = f"**{self.verdict}**: {self.why}"
        return [claim, self.authors, self.strong, self.certified, self.settings, verdict]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def claim_row(entry: ClaimEntry, inputs: list[SuiteResults]) -> ClaimRow:
    """The row of one claim from the results of its suites."""
    kind = EVIDENCE.get(entry.evidence)
    params = kind.params.model_validate(entry.params)
    ran = [r for r in inputs if r.complete]
    lost = [r for r in inputs if not r.complete]
    findings, uncomputed = [], []
    for r in ran:
        try:
            findings.append((r, kind.find(r, params)))
        except NotComputed as exc:
            uncomputed.append(f"`{r.suite.name}` lacks {exc.what}: run `{exc.command}`")

    def joined(attr: str) -> str:
        cells = [
            (f"{r.suite.name}: " if len(findings) > 1 else "") + getattr(f, attr)
            for r, f in findings
            if getattr(f, attr)
        ]
        return "<br>".join(cells) or "-"

    notes = []
    for r in lost:
        reason = f"{entry.not_run} " if entry.not_run else ""
        notes.append(
            f"`{r.suite.name}` not run ({len(r.missing)} result(s) missing): {reason}"
            f"run `{r.command}`"
        )
    notes += uncomputed
    if findings:
        verdict = combined_verdict([f.verdict for _, f in findings])
        why = "; ".join(
            (f"{r.suite.name}: " if len(findings) > 1 else "") + f.why for r, f in findings
        )
        if notes:
            why += " (" + "; ".join(notes) + ")"
    else:
        verdict, why = NOT_RUN, "; ".join(notes)
    return ClaimRow(
        id=entry.id,
        claim=entry.claim,
        where=entry.where,
        quote=entry.quote,
        authors=joined("authors"),
        strong=joined("strong"),
        certified=joined("certified"),
        settings="<br>".join(_settings(r) for r in inputs),
        verdict=verdict,
        why=why,
    )


HEADER = [
    "claim (where in the paper)",
    "under the authors' attacks",
    "under the strong protocol / measured",
    "certified bracket [proven, not broken]",
    "settings measured in",
    "verdict",
]


def build_claims(
    claims_path: Path, *, runs_dir: Path, out_dir: Path, shown_as: str | None = None
) -> tuple[Path, list[ClaimRow]]:
    """Write <out_dir>/<claims file's stem>.md from the results in `runs_dir`; returns its
    rows."""
    claims_path = Path(claims_path)
    spec = load_claims(claims_path)
    base = claims_path.parent
    shown_base = Path(shown_as).parent if shown_as else base
    cache: dict[str, SuiteResults] = {}
    rows = []
    for entry in spec.claims:
        inputs = []
        for s in entry.suites:
            if s not in cache:
                cache[s] = _suite_results(base / s, runs_dir, str(shown_base / s))
            inputs.append(cache[s])
        rows.append(claim_row(entry, inputs))
    shown = shown_as or str(claims_path)
    lines = [
        f"# {spec.title}",
        "",
        f"Generated by `lilbench claims {shown}` from the results in the runs directory (no "
        f"number typed by hand); claims file SHA-256 `{sha256_file(claims_path)[:16]}`. Each "
        "row's evidence is the suite's own report's: robust changes from plain cross-entropy "
        "(beta 0) in percentage points with the 95% interval of the paired hierarchical "
        "bootstrap over seeds and test images; * marks a change significant after Holm's "
        "correction over every comparison of that suite's report. The strong protocol is the "
        "per-image worst case of all attacks at eps 0.1 where the suite ran several, else its "
        "strongest attack. Certified brackets: the share of test images proven robust and the "
        "share no attack broke, at the largest certified eps (means over seeds).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *["| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |" for row in rows],
        "",
    ]
    path = Path(out_dir) / report_name(claims_path)
    write_bytes_atomic(path, "\n".join(lines).encode())
    return path, rows
