"""Running a downloaded ``.pt2`` program as a user would: a fresh Python without relearn."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

PT2_CHECK = """
import sys
sys.modules["app"] = None  # relearn must not be needed to run the exported program
sys.modules["worker"] = None
import numpy as np, torch
program = torch.export.load(sys.argv[1]).module()
x = np.load(sys.argv[2])
for n in (1, 7, len(x)):
    out = program(torch.from_numpy(x[:n]))
    assert out.shape == (n, int(sys.argv[3])), out.shape
np.save(sys.argv[4], program(torch.from_numpy(x)).detach().numpy())
"""


def download_program(client: httpx.Client, path: str, wait: float = 120) -> bytes:
    """A version's ``.pt2``, waiting while the server answers 409 + Retry-After (the
    program follows the version's publication)."""
    deadline = time.monotonic() + wait
    while True:
        response = client.get(path, params={"format": "pt2"})
        if response.status_code != 409 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.content
        time.sleep(float(response.headers["retry-after"]))


def logits_without_relearn(
    program: bytes, x: np.ndarray, num_classes: int, folder: Path
) -> np.ndarray:
    """The program's logits on ``x`` (float32), after checking batch sizes 1, 7 and N."""
    (folder / "model.pt2").write_bytes(program)
    np.save(folder / "x.npy", x.astype(np.float32))
    subprocess.run(
        [
            sys.executable, "-c", PT2_CHECK, str(folder / "model.pt2"), str(folder / "x.npy"),
            str(num_classes), str(folder / "out.npy"),
        ],
        check=True, cwd=folder,
    )  # fmt: skip
    return np.load(folder / "out.npy")
