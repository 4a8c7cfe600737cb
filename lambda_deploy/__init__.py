"""CodePipeline deploy step: model package -> Model -> EndpointConfig -> endpoint, with guardrails.

Runs in AWS Lambda (python3.13) with boto3 and the standard library only. The entry point is
``lambda_deploy.handler.handler``.
"""
