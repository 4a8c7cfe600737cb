"""Notifications: encrypted SNS topic for approvals, alarms and failed pipeline executions."""
from __future__ import annotations

import json
from typing import Optional

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget, CloudwatchEventTargetInputTransformer)
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription

from infra.environment import DeploymentTarget
from infra.iam import policy_document, statement


class Notifications(Construct):
    def __init__(self, scope: Construct, id_: str, *, target: DeploymentTarget,
                 key_arn: str) -> None:
        super().__init__(scope, id_)
        names = target.names
        self.topic = SnsTopic(self, "topic", name=names.topic, kms_master_key_id=key_arn,
                              display_name=f"{names.prefix} MLOps")
        self.topic_arn = self.topic.arn
        this_account = {"StringEquals": {"aws:SourceAccount": target.account_id}}
        SnsTopicPolicy(self, "policy", arn=self.topic.arn, policy=policy_document([
            statement("EventBridgeRulesOfThisAccountPublish", ["sns:Publish"], [self.topic.arn],
                      principal={"Service": "events.amazonaws.com"}, conditions=this_account),
            statement("AlarmsOfThisAccountPublish", ["sns:Publish"], [self.topic.arn],
                      principal={"Service": "cloudwatch.amazonaws.com"},
                      conditions=this_account),
            statement("DenyInsecureTransport", ["sns:Publish"], [self.topic.arn],
                      effect="Deny", principal={"AWS": "*"},
                      conditions={"Bool": {"aws:SecureTransport": "false"}}),
        ]))
        email: Optional[str] = target.config.notification_email
        if email:
            # The recipient must confirm the subscription e-mail before anything arrives.
            SnsTopicSubscription(self, "email", topic_arn=self.topic.arn, protocol="email",
                                 endpoint=email)

    def notify_failed_executions(self, *, target: DeploymentTarget,
                                 pipeline_names: list[str]) -> None:
        """One rule for every pipeline of the environment: a pull request's failed run (its gate
        or its build) is reported nowhere else, since CodePipeline posts no status to GitHub."""
        names = target.names
        rule = CloudwatchEventRule(
            self, "pipeline_failed", name=names.rule("pipeline-failed"),
            description=f"Notify when an execution of {' or '.join(pipeline_names)} fails",
            event_pattern=json.dumps({
                "source": ["aws.codepipeline"],
                "detail-type": ["CodePipeline Pipeline Execution State Change"],
                "detail": {"pipeline": pipeline_names, "state": ["FAILED"]},
            }, indent=2))
        CloudwatchEventTarget(
            self, "pipeline_failed_target", rule=rule.name, arn=self.topic_arn,
            target_id="notify",
            input_transformer=CloudwatchEventTargetInputTransformer(
                input_paths={"pipeline": "$.detail.pipeline",
                             "execution": "$.detail.execution-id"},
                input_template=json.dumps(
                    "Pipeline <pipeline> execution <execution> FAILED. Open the CodePipeline "
                    "console for the failed action's message.")))

    def notify_experiment_steps(self, *, target: DeploymentTarget, bucket_name: str,
                                prefix: str) -> None:
        """Champion vs challenger: a message when an experiment starts, is decided or ends. The
        controller records each step as a new object under `prefix` in the artifact bucket
        (lambda_deploy/experiment.py), whose object events go to EventBridge; the message names
        the object, which holds the outcome, the interval and the sample sizes."""
        names = target.names
        # 6-live / 7-live-decided: the optional live phase began / was decided.
        steps = ("1-started", "2-decided", "6-live", "7-live-decided", "4-ended")
        rule = CloudwatchEventRule(
            self, "experiment_steps", name=names.rule("experiment-steps"),
            description="Notify when a champion vs challenger experiment starts, is decided or "
                        "ends",
            event_pattern=json.dumps({
                "source": ["aws.s3"], "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": [bucket_name]},
                           "object": {"key": [{"wildcard": f"{prefix}/*/*/{step}.json"}
                                              for step in steps]}},
            }, indent=2))
        CloudwatchEventTarget(
            self, "experiment_steps_target", rule=rule.name, arn=self.topic_arn,
            target_id="notify",
            input_transformer=CloudwatchEventTargetInputTransformer(
                input_paths={"bucket": "$.detail.bucket.name", "key": "$.detail.object.key"},
                input_template=json.dumps(
                    "Champion vs challenger experiment step recorded: s3://<bucket>/<key> "
                    "(experiments/<endpoint>/<experiment id>/<step>.json; 2-decided holds the "
                    "outcome, interval and sample sizes, 6-live the challenger's live share, "
                    "7-live-decided the live phase's outcome, 4-ended what serves now).")))
