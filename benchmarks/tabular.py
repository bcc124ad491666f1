"""The issue's name for the HyperTab benchmark: runs ``benchmarks/hypertab.py`` with the same arguments.

Usage::

    python benchmarks/tabular.py                 # same as python benchmarks/hypertab.py
    python benchmarks/tabular.py --help
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from hypertab import main

if __name__ == "__main__":
    main()
