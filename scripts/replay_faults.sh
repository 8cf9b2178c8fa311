#!/usr/bin/env bash
# Replays the faults of issue 10 against this checkout and prints, per fault, the exit code
# and the first line lilbench printed. Run from the repository root after `make data`:
#     bash scripts/replay_faults.sh
# Everything is written under a fresh temporary directory; runs/ and reports/ are not touched.
set -u
LB=${LB:-.venv/bin/lilbench}
T=$(mktemp -d)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
TINY=(--epochs 1 --train-limit 300 --width 16 --depth 1)

show() { # show "what" cmd...: run it; print the exit code and the error line (else the first)
    local what=$1
    shift
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    local line
    line=$(grep -m1 '^error:' <<<"$out" || grep -m1 'reusing result' <<<"$out" ||
        grep -v '^\s*$' <<<"$out" | grep -v '^note:' | head -1)
    printf '%-50s exit=%s | %s\n' "$what" "$rc" "$(cut -c1-160 <<<"$line")"
}

suite() { # suite NAME TEXT: write a suite file, echo its path
    printf '%s' "$2" >"$T/$1.yaml"
    echo "$T/$1.yaml"
}

R=$T/runs
# A record reused for the wrong model: flipped weight bytes and no meta.json.
$LB train --beta 1 "${TINY[@]}" --runs-dir "$R" --json >/dev/null 2>&1
CK=$(ls -d "$R"/models/*)
cp -r "$CK" "$T/bad" && rm "$T/bad/meta.json"
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-100]^=0xFF; open(p,'wb').write(b)" "$T/bad/model.safetensors"
show "corrupt weights, no meta.json" $LB attack fgsm --checkpoint "$T/bad" --runs-dir "$R" --test-limit 50
cp "$CK/meta.json" "$T/bad/meta.json"
show "corrupt weights, meta.json beside them" $LB attack fgsm --checkpoint "$T/bad" --runs-dir "$R" --test-limit 50

# The same weights, a different key: retraining to the same bits keeps the records.
A=(attack fgsm --beta 1 "${TINY[@]}" --runs-dir "$R" --test-limit 50 --eps 0.1)
$LB "${A[@]}" >/dev/null 2>&1
H1=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tensors_sha256'][:16])" "$CK/meta.json")
$LB train --beta 1 "${TINY[@]}" --runs-dir "$R" --force >/dev/null 2>&1
H2=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tensors_sha256'][:16])" "$CK/meta.json")
echo "train --force: tensor hash before $H1, after $H2"
show "attack after train --force" $LB "${A[@]}"

# Poisoned settings.
for opt in "--beta nan" "--beta inf" "--alpha nan" "--k nan" "--lr inf"; do
    # shellcheck disable=SC2086
    show "train $opt" $LB train $opt "${TINY[@]}" --runs-dir "$T/poison"
done
show "suite betas: [.nan]" $LB run "$(suite nan 'name: nan
betas: [.nan]
')" --runs-dir "$T/poison"
show "suite test_limit: true" $LB run "$(suite tl 'name: tl
betas: [0]
test_limit: true
')" --runs-dir "$T/poison"
show "train --lr 10 (diverges; --json diverged flag)" bash -c "$LB train --lr 10 --epochs 1 --train-limit 1000 --width 16 --depth 1 --runs-dir $T/div --json | python3 -c 'import json,sys; print(\"diverged:\", json.load(sys.stdin)[\"metrics\"][\"diverged\"])'"

# YAML traps.
show "suite with betas twice" $LB run "$(suite dup 'name: dup
betas: [0]
betas: [1]
')" --runs-dir "$T/y"
show "suite with name: ../../x" $LB run "$(suite dots 'name: ../../x
betas: [0]
')" --runs-dir "$T/y"
show "suite with lr: 1e-3 (a float; loads)" .venv/bin/python -c "from lilbench.suites import load_suite; print('lr =', load_suite('$(suite lr 'name: lr
betas: [0]
train: {lr: 1e-3}
')').train['lr'])"

# Tracebacks, after the compute is spent.
mkdir -p "$T/dir.yaml"
show "suite path that is a directory" $LB run "$T/dir.yaml"
head -c 512 /dev/urandom >"$T/bin.yaml"
show "suite path that is a binary file" $LB run "$T/bin.yaml"
REC=$(ls "$R"/attacks/*/*.json | head -1)
cp "$REC" "$T/rec.bak"
echo '[]' >"$REC"
show "attack record that is []" $LB "${A[@]}"
echo '{"schema": 1}' >"$REC"
show "attack record that is {\"schema\": 1}" $LB "${A[@]}"
show "  ... and with --force" $LB "${A[@]}" --force
touch "$T/afile"
show "--runs-dir that is a file" $LB train "${TINY[@]}" --runs-dir "$T/afile"
show "--data-dir that is a file" $LB train "${TINY[@]}" --data-dir "$T/afile" --runs-dir "$T/r2"
show "--out-dir that is a file" $LB report suites/ci.yaml --out-dir "$T/afile" --runs-dir "$R"
# chmod does not stop root, so as root a directory no one may write in stands in: /sys.
if [ "$(id -u)" = 0 ]; then RO=/sys; else RO=$T/ro && mkdir -p "$RO" && chmod 555 "$RO"; fi
show "read-only --runs-dir" $LB train "${TINY[@]}" --runs-dir "$RO/runs"
show "read-only --out-dir" $LB report suites/ci.yaml --out-dir "$RO" --runs-dir "$R"

# One vocabulary for subsets.
show "train --limit 5000" $LB train --limit 5000 --runs-dir "$T/l"
show "attack fgsm --limit 5000" $LB attack fgsm --limit 5000 --runs-dir "$T/l"

# report with results missing leaves the report as it is.
mkdir -p "$T/out" && echo "committed" >"$T/out/ci.md"
show "report on an empty runs directory" $LB report suites/ci.yaml --runs-dir "$T/empty" --out-dir "$T/out"
echo "report file afterwards: $(cat "$T/out/ci.md")"
