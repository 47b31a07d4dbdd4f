"""Writes the docs' support matrix (family x step) from the tests' own results.

Runs the tests parametrized over every tiny family (each against its slow reference) with a
JUnit XML report, marks a cell passed only when every test of that step passed on that family,
and replaces the block between the support-matrix markers of docs/families.md (the docs page
"Models and families"). Run from the repository:

    python experiments/support_matrix.py            # rewrites docs/families.md's matrix
    python experiments/support_matrix.py --check    # exits 1 if the page's matrix differs
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from sycolens.models.tiny import TINY_FAMILIES

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "families.md"
START, END = "<!-- support-matrix:start -->", "<!-- support-matrix:end -->"
# column -> the per-family tests (file::function) that must all pass for a tick.
STEPS: dict[str, tuple[str, ...]] = {
    "loads (bridge = HF)": (
        "tests/models/test_load.py::test_tiny_family_logits_match_hf",
        "tests/models/test_save.py::test_saved_checkpoint_reloads_with_the_same_weights_and_logits",
    ),
    "head slices": (
        "tests/models/test_head_access.py::test_query_key_value_slices_move_only_their_own_head",
        "tests/models/test_head_access.py::test_zeroed_output_slice_equals_zeroed_hook_z",
        "tests/models/test_head_access.py::test_hooked_head_outputs_sees_and_rewrites_hook_z",
    ),
    "direct = Algorithm 1": (
        "tests/patching/test_patching.py::test_final_norm_recomputation_reproduces_the_logits",
        "tests/patching/test_patching.py::test_direct_mode_matches_literal_algorithm_1",
        "tests/patching/test_patching.py::test_output_weight_views_equal_the_bridges_W_O",
    ),
    "plain capture = bridge": (
        "tests/patching/test_plain_capture.py::test_plain_equals_bridge_on_every_family",
    ),
    "total = one head per forward": (
        "tests/patching/test_patching.py::test_batched_total_mode_matches_one_head_per_forward",
        "tests/patching/test_patching.py::test_total_mode_all_positions_on_equal_length_pairs",
        "tests/patching/test_answer_cache.py::"
        "test_both_paths_equal_one_head_per_forward_on_every_family",
        "tests/models/test_layer_calls.py::"
        "test_re_running_the_recorded_calls_gives_the_forward_and_its_first_rows",
        "tests/models/test_layer_calls.py::test_re_running_on_the_first_sequences_gives_their_forward",
    ),
    "knockouts = hand-edited": (
        "tests/ablation/test_knockout.py::test_mean_knockout_matches_hand_edited_reference",
        "tests/ablation/test_knockout.py::test_knockout_under_cached_generation_matches_full_recompute",
    ),
    "SPT deltas = merged weights": (
        "tests/tuning/test_head_deltas.py::"
        "test_applied_deltas_equal_the_base_with_deltas_added_to_its_weights",
        "tests/tuning/test_head_deltas.py::test_each_delta_gradient_is_its_slice_of_the_full_gradient",
        "tests/tuning/test_head_deltas.py::"
        "test_checkpointed_layers_recompute_and_give_the_same_delta_gradients",
        "tests/tuning/test_head_deltas.py::"
        "test_low_rank_factor_gradients_follow_from_the_full_delta_gradient",
    ),
    "generation = reference": (
        "tests/models/test_generate.py::test_batched_generation_matches_the_reference_on_tiny_models",
    ),
    "loud head found first; evaluation runs": (
        "tests/test_families.py::"
        "test_a_loud_head_ranks_first_and_knockouts_spt_and_evaluation_run_on_it",
    ),
}


def run_tests(report: Path) -> None:
    """Runs every test the matrix reads, writing a JUnit XML report (failures are data)."""
    tests = sorted({test for tests in STEPS.values() for test in tests})
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-m", "slow or not slow", f"--junitxml={report}", *tests]  # both tiers  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=environment, check=False)


def outcomes(report: Path) -> dict[tuple[str, str], list[bool]]:
    """Returns pass/fail of each (test function, family) case in the report."""
    found: dict[tuple[str, str], list[bool]] = {}
    longest_first = sorted(TINY_FAMILIES, key=len, reverse=True)  # llama-gqa before llama
    for case in ElementTree.parse(report).iter("testcase"):
        match = re.fullmatch(r"(\w+)\[(.*)\]", case.get("name", ""))
        if match is None:
            continue
        function, ids = match.groups()
        family = next((f for f in longest_first if ids == f or ids.endswith(f"-{f}")), None)
        if family is None:
            continue
        passed = not any(child.tag in ("failure", "error", "skipped") for child in case)
        found.setdefault((function, family), []).append(passed)
    return found


def matrix(found: dict[tuple[str, str], list[bool]]) -> str:
    """Returns the markdown table: a tick where every test of the step passed on the family."""
    lines = ["| family | " + " | ".join(STEPS) + " |", "|---" * (len(STEPS) + 1) + "|"]
    for family in TINY_FAMILIES:
        cells: list[str] = []
        for tests in STEPS.values():
            results = [r for t in tests for r in found.get((t.split("::")[1], family), [])]
            cells.append("yes" if results and all(results) else "**no**")
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not rewrite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.xml"
        run_tests(report)
        table = matrix(outcomes(report))
    text = PAGE.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    updated = f"{before}{START}\n{table}\n{END}{after}"
    print(table)
    if args.check:
        sys.exit(0 if updated == text else 1)
    PAGE.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
