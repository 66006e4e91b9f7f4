"""A throwaway environment for tests that install packages for real, without the network.

``ChildEnv(folder)`` is a virtual environment (no pip of its own, made in milliseconds) that
also sees the test environment's packages through a ``.pth`` file: imgen, torch, pip and
hatchling come from there, while whatever pip installs lands in the child and disappears
with ``tmp_path``. Local projects then install with ``--no-deps --no-build-isolation``
(hatchling from the parent), so nothing is downloaded and the test environment is untouched.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class ChildEnv:
    def __init__(self, root: Path) -> None:
        self.root = root
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
        child = Path(sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)}))
        parent = sysconfig.get_path("purelib")  # this interpreter's (the test venv's)
        # addsitedir, unlike a plain path line, also runs the parent's own .pth files (the
        # editable install of imgen is one).
        (child / "zz_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
        self.site_packages = child
        self.python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 300):
        """Run this environment's python with ``args``; returns the CompletedProcess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IMGEN_", "PYTHON"))}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=timeout,
            check=False,
        )

    def imgen(self, *args: str, **kwargs):
        return self.run("-m", "imgen", *args, **kwargs)

    def install_local(self, path: Path, *, editable: bool = False):
        """``imgen install --no-deps --no-build-isolation [-e] PATH``, checked."""
        flags = ["-e", str(path)] if editable else [str(path)]
        proc = self.imgen("install", "--no-deps", "--no-build-isolation", *flags)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc
