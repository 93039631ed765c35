"""What ``llmlingstral serve`` sets up before the service starts (serve/runner.py)."""

from __future__ import annotations

import pytest


_SERVE_UNTIL_THE_APP = """
import os, sys
import llmlingstral.serve.app as app
from llmlingstral.cli import main

class WhenTorchLoads:  # notes the policy torch is loaded under
    seen = None
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and self.seen is None:
            WhenTorchLoads.seen = os.environ.get("OMP_WAIT_POLICY", "unset")
        return None

def stop_here(config):
    print(WhenTorchLoads.seen)
    raise SystemExit(0)

sys.meta_path.insert(0, WhenTorchLoads())
app.create_app = stop_here
assert "torch" not in sys.modules
main(["serve", "--port", "1", "--device", "cpu"])
"""


@pytest.mark.parametrize("given, kept", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_serve_lets_torchs_idle_threads_sleep_unless_the_operator_says(given, kept):
    """`llmlingstral serve` sets OpenMP's wait policy before anything loads torch (which
    reads it once, when it loads): idle threads that spin take the cores the event loop
    and the prepare lane need. An operator's own setting is kept."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    done = subprocess.run([sys.executable, "-c", _SERVE_UNTIL_THE_APP], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [kept]   # torch was loaded, under the policy
