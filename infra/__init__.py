"""CDKTF constructs for the SageMaker MLOps pipeline, one module per concern.

Importing this package does nothing else: synthesis (infra.app.synthesize) installs the fast
provider-binding loader and picks the Node.js for jsii (infra/bindings.py) before cdktf loads.
"""
