#!/usr/bin/env python3
"""Write docs/sources.md from skn_connector/engine/rules/sources.toml, the one place the
sources are written down. tests/test_sources.py fails while the page is out of date.

    .venv/bin/python scripts/sources_md.py
"""

from pathlib import Path

from skn_connector.engine.sources import render_markdown

if __name__ == "__main__":
    page = Path(__file__).resolve().parent.parent / "docs" / "sources.md"
    page.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {page}")
