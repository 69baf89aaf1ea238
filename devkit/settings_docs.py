"""``python -m devkit.settings_docs``: write the README's settings table and
``local.settings.example.json`` from the settings' one declaration (:data:`shared.settings.SETTINGS`).

Run it after adding or changing a setting; ``tests/test_settings.py`` fails until the committed files
equal what the declaration generates.
"""

from __future__ import annotations

from pathlib import Path

from shared.settings import example_json, markdown_table

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the settings markers replaced by ``table``."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main() -> int:
    readme = ROOT / "README.md"
    readme.write_text(with_table(readme.read_text(), markdown_table()))
    (ROOT / "local.settings.example.json").write_text(example_json())
    print(f"wrote the settings table into {readme.name} and local.settings.example.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
