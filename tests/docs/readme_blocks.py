"""The code blocks of README.md that the README test runs, and how each is to be run.

Which blocks run is said in the README itself, by an HTML comment on a line of its own
just before the block (blank lines between are allowed):

- ```` ```sh ````, ```` ```bash ````, ```` ```shell ```` and ```` ```python ```` blocks run;
  other languages (toml, yaml, text) and blocks without a language do not;
- ``<!-- readme-test: skip REASON -->``: the block does not run (it installs, serves,
  needs docker or a GPU...); say why;
- ``<!-- readme-test: own-server -->``: the block runs against a fresh server of its own,
  because it changes the server for every block after it (it makes an API key, say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
RUNNABLE = {"sh": "bash", "bash": "bash", "shell": "bash", "python": "python"}
FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*([\w-]+)\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    heading: str
    marker: str | None  # "skip", "own-server" or None
    reason: str

    @property
    def runner(self) -> str | None:
        return RUNNABLE.get(self.language)

    @property
    def runs(self) -> bool:
        return self.runner is not None and self.marker != "skip"

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")[:40]
        return f"line{self.line}-{slug or 'top'}"


def read_blocks(path: Path = README) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    heading, i = "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        opening = FENCE.match(line)
        if opening is None:
            i += 1
            continue
        indent, language = opening.group(1), opening.group(2).lower()
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"README.md:{i + 1}: a code block is never closed")
        code = "\n".join(text.removeprefix(indent) for text in lines[i + 1 : end]) + "\n"
        marker, reason = marker_before(lines, i)
        blocks.append(Block(i + 1, language, code, heading, marker, reason))
        i = end + 1
    return blocks


def marker_before(lines: list[str], fence: int) -> tuple[str | None, str]:
    j = fence - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    found = MARKER.match(lines[j]) if j >= 0 else None
    if found is None:
        return None, ""
    kind = found.group(1)
    if kind not in ("skip", "own-server"):
        raise ValueError(f"README.md:{j + 1}: unknown readme-test marker {kind!r}")
    return kind, found.group(2)


def pointed_at(code: str, url: str) -> str:
    """The block with the README's server address (port 8000) replaced by ``url``."""
    host_port = url.removeprefix("http://")
    for written in ("localhost:8000", "127.0.0.1:8000"):
        code = code.replace(written, host_port)
    return code
