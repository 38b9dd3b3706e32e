"""Score one held-out batch: how many of its samples the scanner blocks (infected or review).

    .venv/bin/python tests/scanners/score_heldout.py tests/corpus/heldout/batch-1 [--clamd URL]
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from scanners.findings import Verdict
from tests.scanners.support import make_scanner, verdicts_by_file


def main(argv: list[str]) -> int:
    batch = Path(argv[0])
    clamd_url = argv[argv.index("--clamd") + 1] if "--clamd" in argv else None
    scanner = make_scanner(clamd_url)
    with tempfile.TemporaryDirectory(prefix="wadah-heldout-") as work:
        tree = Path(work) / batch.name
        shutil.copytree(batch, tree)
        report = scanner.scan(tree)
        verdicts = verdicts_by_file(scanner.policy, report.findings)
        files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
        blocked = 0
        for name in files:
            verdict = verdicts.get(name, Verdict.CLEAN)
            blocked += verdict != Verdict.CLEAN
            rules = sorted({f.rule for f in report.findings if f.path == name})
            print(f"  {verdict.value:9s} {name}  {', '.join(rules)}")
        print(f"blocked {blocked}/{len(files)} ({100 * blocked / len(files):.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
