"""The verdict in words: the answer paragraph written from the comparisons' numbers."""

from __future__ import annotations

from collections.abc import Callable, Collection

from lilbench.threats import ThreatModel


def answer(
    verdicts: dict[str, tuple[str, list[str], list[str]]],
    best: dict[str, tuple[float, str, str, str]],
    said: Callable[[str], str],
    header_key: str,
    *,
    strong: str | None,
    single: str | None,
    cells: dict[tuple[str, str], str] | None = None,
    masking: list[bool] | None = None,
    indicators: tuple[int, int, list[str]] | None = None,
    paper_families: Collection[str] = (),
) -> str:
    """A few sentences: the strongest standard attack's answer, its best change and clean
    cost, what FGSM shows and how much of it the strongest attack leaves, what the
    gradient-masking check and the indicators of attack failure say (`indicators`: models
    whose runs carry them, those where an indicator of unusable gradients fired, which), and
    what the paper's own attacks show."""
    if strong is None:
        return "No standard attack ran: no answer about robustness."
    where, rises, falls = verdicts[strong]
    _, setting, change, clean = best[strong]
    what = "beta" if header_key == "beta" else "setting"
    if rises:
        first = (
            f"Under {strong.upper()} {where}, robust accuracy rises significantly "
            f"(after Holm's correction) for {', '.join(said(s) for s in rises)}."
        )
    else:
        first = (
            f"Under {strong.upper()} {where}, robust accuracy does not rise significantly for "
            f"any {what} (after Holm's correction over every comparison)."
        )
    parts = [
        "**Answer.** " + first,
        f"The largest change is {change} pp at {said(setting)}, where clean accuracy "
        f"changes by {clean} pp.",
    ]
    if falls:
        parts.append(f"It falls significantly for {', '.join(said(s) for s in falls)}.")
    if single is not None and single in verdicts and strong != single and cells is not None:
        f_where, f_rises, _ = verdicts[single]
        name = single.upper()
        pairs = [
            f"{said(s)} {cells.get((single, s), '-').rstrip(' *')} -> "
            f"{cells.get((strong, s), '-').rstrip(' *')}"
            for s in f_rises
        ]
        parts.append(
            f"{name} {f_where} rises significantly for {', '.join(said(s) for s in f_rises)}; "
            f"the change in pp under {name} -> under {strong.upper()}: {'; '.join(pairs)}."
            if f_rises
            else f"{name} {f_where} shows no significant rise either."
        )
    if masking:
        parts += _masking_sentences(masking, indicators)
    paper = [f for f in verdicts if f in paper_families]
    if paper:
        risen = sorted({s for f in paper for s in verdicts[f][1]})
        parts.append(
            "The paper's own attacks ("
            + ", ".join(paper)
            + ") "
            + (
                f"show significant rises for {', '.join(said(s) for s in risen)}."
                if risen
                else "show no significant rise either."
            )
        )
    return " ".join(parts)


def _masking_sentences(
    masking: list[bool], indicators: tuple[int, int, list[str]] | None
) -> list[str]:
    """What the gradient-masking check (`masking`: passed per model) and the indicators of
    attack failure say."""
    out: list[str] = []
    text = (
        "The gradient-masking check (the gradient-free Square attack does not beat the "
        f"gradient attacks) passes on {sum(masking)} of {len(masking)} models"
    )
    if not all(masking):
        text += ": gradient masking is flagged where it fails (see the sanity checks)."
    elif indicators is not None and indicators[1]:
        text += "."
    else:
        if indicators is not None:
            text += (
                ", and no indicator of unusable gradients (unavailable gradients, "
                "unstable predictions, unconstrained failure) fires on the "
                f"{indicators[0]} models whose runs record them"
            )
        text += (
            ": no model hides its gradients; where FGSM's gain shrinks under the "
            "iterated attacks, it is what one step misses, not robustness."
        )
    out.append(text)
    if indicators is None:
        out.append(
            "The indicators of attack failure were not recorded (records by an earlier "
            "lilbench): the masking check rests on the Square comparison alone."
        )
    elif indicators[1]:
        fired = ", ".join(n.replace("-", " ") for n in indicators[2])
        out.append(
            f"But indicators of unusable gradients fire on {indicators[1]} of "
            f"{indicators[0]} models ({fired}): their robust accuracy may be overstated "
            "(see the sanity checks)."
        )
    return out


def answer_in_norm(
    verdicts: dict[str, tuple[str, list[str], list[str]]],
    best: dict[str, tuple[float, str, str, str]],
    said: Callable[[str], str],
    header_key: str,
    *,
    strong: str,
    threat: ThreatModel,
    alone: bool = False,
) -> str:
    """The same answer in another norm (L2, L1), from its strongest family (`alone`: no
    L-inf answer before it)."""
    where, rises, falls = verdicts[strong]
    _, setting, change, _ = best[strong]
    what = "beta" if header_key == "beta" else "setting"
    label = threat.label
    head = f"In {threat.prose_name}, under {strong.upper()} {where}, robust accuracy "
    if rises:
        head += f"rises significantly for {', '.join(said(s) for s in rises)}."
    else:
        either = "" if alone else " either"
        head += f"does not rise significantly for any {what}{either} (Holm over the same family)."
    parts = [head, f"The largest change in {label} is {change} pp at {said(setting)}."]
    if falls:
        parts.append(f"It falls significantly for {', '.join(said(s) for s in falls)}.")
    return " ".join(parts)


def family_sentences(
    verdicts: dict[str, tuple[str, list[str], list[str]]], header_key: str
) -> list[str]:
    """One bold sentence per attack family: where robust accuracy rises or falls
    significantly."""
    at = "at beta = " if header_key == "beta" else "for "
    out = []
    for family, (where, rises, falls) in verdicts.items():
        if rises:
            summary = f"rises significantly {at}{', '.join(rises)}"
        else:
            anywhere = "at any beta" if header_key == "beta" else "for any method"
            summary = f"does not rise significantly {anywhere}"
        if falls:
            summary += f"; falls significantly {at}{', '.join(falls)}"
        out.append(f"**{family.upper()} {where}: robust accuracy {summary}.**")
    return out
