"""Microsoft's ``adaptivecards`` parser, run under Node on rendered cards."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.js"
SCRIPT = Path(__file__).with_name("parse_cards.js")


def parser_messages(cards: list[Any]) -> list[list[str]]:
    """For each card, what the parser warned about (empty: it parsed cleanly)."""
    node = shutil.which("node")
    assert node and BUNDLE.exists(), "needs Node.js and `npm install` (scripts/setup.sh)"
    done = subprocess.run(
        [node, str(SCRIPT), str(BUNDLE)],
        input=json.dumps(cards),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    reports: list[list[str]] = json.loads(done.stdout)
    return reports
