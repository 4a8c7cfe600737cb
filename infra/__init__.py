"""CDKTF constructs for the SageMaker MLOps pipeline, one module per concern."""
from infra import bindings as _bindings

_bindings.use_supported_node()
LAZY_PROVIDER_IMPORT = _bindings.install()
