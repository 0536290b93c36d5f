"""How the README test picks its blocks: languages, markers, headings, the server address."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.readme_blocks import pointed_at, read_blocks

SAMPLE = """# Title

## Start

<!-- readme-test: skip serves until stopped -->
```sh
make serve
```

## Use

```bash
ID=$(curl -s localhost:8000/v1/models | head -1)
```

<!-- readme-test: own-server -->

```sh
relearn keys create --tenant acme
```

```toml
[x]
```

- a list item:

  ```python
  print("indented")
  ```
"""


def test_blocks_are_read_with_their_markers_and_headings(tmp_path: Path) -> None:
    # given
    readme = tmp_path / "README.md"
    readme.write_text(SAMPLE)

    # when
    blocks = read_blocks(readme)

    # then
    assert [(b.language, b.marker, b.runs, b.heading) for b in blocks] == [
        ("sh", "skip", False, "Start"),
        ("bash", None, True, "Use"),
        ("sh", "own-server", True, "Use"),
        ("toml", None, False, "Use"),
        ("python", None, True, "Use"),
    ]
    assert blocks[0].reason == "serves until stopped"
    assert blocks[4].code == 'print("indented")\n'
    assert blocks[1].line == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [("```sh\nls\n", "never closed"), ("<!-- readme-test: maybe -->\n```sh\nls\n```\n", "maybe")],
)
def test_a_broken_readme_is_named_not_skipped(tmp_path: Path, text: str, message: str) -> None:
    # given
    readme = tmp_path / "README.md"
    readme.write_text(text)

    # when / then
    with pytest.raises(ValueError, match=message):
        read_blocks(readme)


def test_the_readmes_address_points_at_the_test_server() -> None:
    code = "curl localhost:8000/healthz; Client('http://127.0.0.1:8000')"
    assert pointed_at(code, "http://127.0.0.1:5123") == (
        "curl 127.0.0.1:5123/healthz; Client('http://127.0.0.1:5123')"
    )
