"""Build the Cython extensions of mempool_fast.

Every ``mempool_fast/*.pyx`` becomes an extension module (C++17, ``csrc/`` on the include path).
``MEMPOOL_FAST_NO_EXTENSIONS=1`` builds the pure-Python package (no compiler, no Cython needed);
a build whose compiler fails falls back to it with a warning. ``MEMPOOL_FAST_ANNOTATE=1`` writes
Cython's HTML annotation beside each source; ``MEMPOOL_FAST_DEBUG=1`` builds without
optimisation, with debug symbols and bounds checks. Extensions built for a wheel (not in place)
are stripped on Linux.
"""

import glob
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("MEMPOOL_FAST_DEBUG") == "1"
ANNOTATE = os.environ.get("MEMPOOL_FAST_ANNOTATE") == "1"
NO_EXTENSIONS = os.environ.get("MEMPOOL_FAST_NO_EXTENSIONS") == "1"

FALLBACK_WARNING = """
********************************************************************************
WARNING: mempool_fast's Cython extensions could not be built ({error}).
Installing the pure-Python implementation: same API and behaviour, slower
(mempool_fast.IMPLEMENTATION == "python"). Install a C++17 compiler and the
Python headers, then reinstall, for the Cython core.
********************************************************************************
"""


class OptionalBuildExt(build_ext):
    """build_ext that installs the pure package when the extensions cannot be compiled."""

    def run(self):
        # setuptools builds an in-place or editable build with `inplace` cleared, then copies
        # the result: decide the stripping from what was asked for, before that
        self._for_wheel = not (self.inplace or getattr(self, "editable_mode", False))
        try:
            super().run()
        except Exception as exc:  # setuptools raises several unrelated types (Platform, Exec…)
            self._fall_back(exc)

    fell_back = False

    def build_extension(self, ext):
        if self.fell_back:
            return
        if (getattr(self, "_for_wheel", not self.inplace) and not DEBUG
                and sys.platform.startswith("linux")):
            ext.extra_link_args = [*ext.extra_link_args, "-s"]  # wheels ship stripped
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fall_back(exc)

    def _fall_back(self, exc):
        if os.environ.get("MEMPOOL_FAST_REQUIRE_EXTENSIONS") == "1":
            raise exc
        if not self.fell_back:
            error = f"{type(exc).__name__}: {str(exc)[:160]}"
            sys.stderr.write(FALLBACK_WARNING.format(error=error))
        self.fell_back = True
        self.extensions = []


def extensions():
    from Cython.Build import cythonize

    compile_args = ["-std=c++17"] + (["-O0", "-g"] if DEBUG else ["-O2"])
    exts = [
        Extension(
            path[:-len(".pyx")].replace(os.sep, "."),
            [path],
            include_dirs=["csrc"],
            depends=sorted(glob.glob(os.path.join("csrc", "**", "*.h*"), recursive=True)),
            language="c++",
            extra_compile_args=compile_args,
        )
        for path in sorted(glob.glob(os.path.join("mempool_fast", "*.pyx")))
    ]
    directives = {"language_level": 3, "embedsignature": True}
    if DEBUG:
        directives.update(boundscheck=True, wraparound=True, initializedcheck=True)
    return cythonize(exts, compiler_directives=directives, annotate=ANNOTATE)


setup(
    ext_modules=[] if NO_EXTENSIONS else extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
)
