"""The client package on its own: it imports without torch or the server's code, and an
absent server is reported as such."""

from __future__ import annotations

import subprocess
import sys

import pytest

from relearn import Client, ServerUnreachable
from tests.services import free_port

WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now fails
sys.modules["app"] = None    # nor does the client need the server package
sys.modules["worker"] = None
from relearn import Client
Client("http://127.0.0.1:9").close()
print("ok")
"""


def test_the_client_imports_without_torch_and_without_the_server() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCH], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_no_server_is_unreachable_not_an_httpx_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retries=0) as client, pytest.raises(ServerUnreachable) as caught:
        client.list_models()
    assert caught.value.url == url


def test_health_and_architectures_answer_from_the_service(client: Client) -> None:
    assert client.health()["status"] == "ok"
    architectures = {a.name: a for a in client.list_architectures()}
    assert "mlp" in architectures and architectures["mlp"].params_schema
