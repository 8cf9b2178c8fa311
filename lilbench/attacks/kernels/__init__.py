"""The attack members in plain PyTorch, without ART's per-step bookkeeping.

`apgd` follows ART's Auto-PGD step for step (bit-identical from the same start, tested);
`fab` is FAB-T, which ART lacks; `square` is the Square attack with a square drawn per image;
`autoattack` runs the standard members in AutoAttack's order. Each works on one torch model
that maps flat float32 inputs in [0, 1] to logits.
"""
