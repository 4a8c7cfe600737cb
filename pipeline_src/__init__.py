"""The ML code the pipeline runs: data contract, training entry point, inference handlers,
evaluation and quality gate, the CodeBuild jobs, and a local end-to-end run."""

# scikit-learn version of the SageMaker container the jobs train and serve with
# (infra reads it from here). A model must be loaded by the version that saved it.
SKLEARN_FRAMEWORK_VERSION = "1.4-2-py312"
SKLEARN_VERSION = "1.4.2"
