"""Build the Cython extensions of mempool_fast.

Every ``mempool_fast/*.pyx`` becomes an extension module (C++17, ``csrc/`` on the include path).
``MEMPOOL_FAST_ANNOTATE=1`` writes Cython's HTML annotation beside each source;
``MEMPOOL_FAST_DEBUG=1`` builds without optimisation, with debug symbols and bounds checks.
"""

import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("MEMPOOL_FAST_DEBUG") == "1"
ANNOTATE = os.environ.get("MEMPOOL_FAST_ANNOTATE") == "1"


def extensions():
    compile_args = ["-std=c++17"] + (["-O0", "-g"] if DEBUG else ["-O2"])
    return [
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


directives = {"language_level": 3}
if DEBUG:
    directives.update(boundscheck=True, wraparound=True, initializedcheck=True)

setup(
    ext_modules=cythonize(extensions(), compiler_directives=directives, annotate=ANNOTATE),
)
