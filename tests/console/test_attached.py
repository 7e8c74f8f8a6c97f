"""Item 8 of issue 9: a console started without --server on a data dir a running server owns
attaches to that server, and its top bar says so (the real CLI in a pty; a real server on the dir)."""

from __future__ import annotations

from tests.console.conftest import FedServer
from tests.console.test_cli import Terminal


def test_a_console_on_a_data_dir_in_use_attaches_to_its_server_and_says_so(tmp_path):
    data = tmp_path / "data"
    server = FedServer(data).start()
    term = None
    try:
        term = Terminal([], {"DATA_DIR": str(data)}, columns=120, rows=40)
        term.wait_for(f"attached 127.0.0.1:{server.port}", "● live")
        term.wait_for("instead of starting a second engine")  # the notice, said once at start
        term.press(b"q")
        assert term.proc.wait(30) == 0, (data / "console.log").read_text()[-3000:] + term.text[-1500:]
    finally:
        if term is not None:
            term.close()
        server.stop()
