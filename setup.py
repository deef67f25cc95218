"""Build hook for editable installs of the native engine (everything else is in pyproject.toml).

setuptools-rust builds ``slawatch._native`` in place (next to ``slawatch/__init__.py``)
for an editable install, but does not name the file among the build's outputs, so a
*strict* editable install (the project's: ``--config-settings editable_mode=strict``)
would not link it into its package tree and ``import slawatch._native`` would fail.
This ``build_ext`` (which setuptools-rust extends to run its own build) names it.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext


class build_ext_with_native(build_ext):
    def _native_outputs(self) -> dict[str, str]:
        """Output path in build_lib -> the file setuptools-rust built in place."""
        if not self.inplace:
            return {}
        build_py = self.get_finalized_command("build_py")
        found = {}
        for ext in getattr(self.distribution, "rust_extensions", None) or []:
            package, _, module = ext.name.rpartition(".")
            for path in Path(build_py.get_package_dir(package)).glob(f"{module}.*.so"):
                found[str(Path(self.build_lib).joinpath(*package.split("."), path.name))] = str(path)
        return found

    def get_outputs(self) -> list[str]:
        return [*super().get_outputs(), *self._native_outputs()]

    def get_output_mapping(self) -> dict[str, str]:
        return {**super().get_output_mapping(), **self._native_outputs()}


setup(cmdclass={"build_ext": build_ext_with_native})
