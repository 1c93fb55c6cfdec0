#!/usr/bin/env python3
"""Analyze pprof profiles and write <stem>_analysis.md next to each.

A thin wrapper around `simex analyze` (the analysis itself lives in the Rust crate
profile-tools, so the CLI, the gallery and this script always agree).

    python3 scripts/ai-flamegraph-analyzer.py flamegraphs/cpu_profile_trading-api_*.pb.gz
    python3 scripts/ai-flamegraph-analyzer.py PROFILE --verbose
    python3 scripts/ai-flamegraph-analyzer.py PROFILE --json
    python3 scripts/ai-flamegraph-analyzer.py NEW.pb.gz --base OLD.pb.gz

The simex binary is looked up in $SIMEX_BIN, then the workspace's target directories
($CARGO_TARGET_DIR, target/release, target/debug), then PATH. If none exists it is built with
`cargo build --release -p simex` (takes a few minutes the first time).
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def candidates():
    """Places a simex binary may already be, best first."""
    if os.environ.get("SIMEX_BIN"):
        yield Path(os.environ["SIMEX_BIN"])
    target_dirs = []
    if os.environ.get("CARGO_TARGET_DIR"):
        target_dirs.append(Path(os.environ["CARGO_TARGET_DIR"]))
    target_dirs.append(ROOT / "target")
    for target in target_dirs:
        for profile in ("release", "debug"):
            yield target / profile / "simex"
    on_path = shutil.which("simex")
    if on_path:
        yield Path(on_path)


def find_simex(verbose):
    for path in candidates():
        if path.is_file() and os.access(path, os.X_OK):
            if verbose:
                print(f"analyzer: using {path}", file=sys.stderr)
            return path
    cargo = shutil.which("cargo")
    if cargo is None:
        sys.exit(
            "error: the simex binary was not found (looked in $SIMEX_BIN, target/release, "
            "target/debug and PATH) and cargo is not installed to build it.\n"
            "Install Rust from https://rustup.rs, then run: cargo build --release -p simex"
        )
    print(
        "analyzer: simex binary not found; building it with `cargo build --release -p simex` "
        "(first build takes a few minutes)...",
        file=sys.stderr,
    )
    build = subprocess.run([cargo, "build", "--release", "-p", "simex"], cwd=ROOT)
    if build.returncode != 0:
        sys.exit("error: building simex failed (see cargo's output above)")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    built = target / "release" / "simex"
    if not built.is_file():
        sys.exit(f"error: cargo finished but {built} does not exist")
    return built


def main():
    parser = argparse.ArgumentParser(
        description="Analyze a pprof profile (CPU, heap, allocs, mutex, block, goroutine) "
        "and write <stem>_analysis.md next to it."
    )
    parser.add_argument(
        "profiles", nargs="+", metavar="PROFILE", help="profile(s): .pb.gz, .pprof or .pb"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="print progress")
    parser.add_argument("--json", action="store_true", help="print JSON instead of writing Markdown")
    parser.add_argument("--base", metavar="OTHER", help="compare with an earlier profile")
    parser.add_argument("--sample-index", help="sample type by position or name")
    args = parser.parse_args()

    for profile in args.profiles:
        if not Path(profile).is_file():
            sys.exit(f"error: profile not found: {profile}")
    if args.base and not Path(args.base).is_file():
        sys.exit(f"error: base profile not found: {args.base}")

    command = [str(find_simex(args.verbose)), "analyze", *args.profiles]
    if args.verbose:
        command.append("--verbose")
    if args.json:
        command.append("--json")
    if args.base:
        command += ["--base", args.base]
    if args.sample_index:
        command += ["--sample-index", args.sample_index]
    if args.verbose:
        print("analyzer: running " + " ".join(command), file=sys.stderr)
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
