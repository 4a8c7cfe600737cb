"""CodeBuild jobs: python -m pipeline_src.jobs.train / python -m pipeline_src.jobs.test."""
